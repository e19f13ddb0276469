"""What every layer kind provides. One module per kind subclasses `Layer`.

Conventions (read these before writing a layer):
- Activations are NHWC float32, C-contiguous; a shape is (h, w, c) without the batch.
- `keys` is the schema: every key darknet's parsers read for the section. Unused ones carry
  `used=False`; they are accepted and kept so real cfgs load and round-trip.
- `references(opts)` lists the raw layer references the section makes, in the order the layer
  wants its inputs: `[-1]` (the previous layer) by default, `[-1, from]` for a shortcut,
  `layers` for a route. The Network turns them into absolute indices (negative = relative to
  this layer, non-negative = absolute) and checks them; -1 as a resolved index is the network
  input itself.
- `__init__(opts, input_shapes, index, origin)` sets up parameters. `input_shapes` are for the
  [net] default size; parameters may depend only on channels, spatial sizes may change later
  (super-resolution networks run on any image size), so `output_shape` is a pure function.
- `params` holds float32 arrays in darkpy's own memory layout (e.g. convolution weights as
  (K, K, Cin/groups, Cout)); `param_layout()` lists them in darknet file order with darknet
  shapes, and `get_param`/`set_param` convert between the two (transposes happen only there).
- `forward(inputs, train=False)` takes a list of NHWC arrays (one per resolved reference) and
  returns a new NHWC array; it must not modify its inputs (another layer may read them).
  With train=True a layer may keep on `self` what its backward needs (batch statistics,
  masks, pre-activation values); batch norm uses batch statistics and dropout is active.
- `backward(delta, inputs, output)` gets dL/d(output) and the forward's inputs and output and
  returns dL/d(input) for every input (None where an input provably needs none). It must
  not write into `delta`: a layer may hand the same array back as an input gradient (a
  plain shortcut gives `delta` itself to both of its inputs). Parameter
  gradients are ADDED to `self.grads[name]` (same shape and layout as `params[name]`; create
  them with `zero_grads()`): true gradients, not darknet's negated "delta"; the optimiser
  applies darknet's update rule. Training and inference keep the dtype of the input
  (float32 normally, float64 for finite-difference gradient checks).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from darkpy.config.schema import Key, Options
from darkpy.errors import ConfigError

Shape = tuple  # (h, w, c)


def compute_dtype(x: np.ndarray) -> np.dtype:
    """The dtype a layer computes in for input x: float64 stays float64 (gradient checks),
    anything else is float32."""
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


class Layer:
    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    keys: ClassVar[dict[str, Key]] = {}
    # [net] options the layer needs, copied into its `opts` by the Network (as darknet's
    # size_params hands time_steps to the recurrent layers)
    net_options: ClassVar[tuple[str, ...]] = ()
    # training in darknet's own arithmetic where it is not the exact math (batch norm's float
    # sums and approximate backward): set on every layer by darknet-exact training
    # (darkpy.train.darknet); float64 gradient checks and SR training leave it False
    darknet_training: bool = False

    def __init__(self, opts: Options, input_shapes: list[Shape], index: int, origin: str):
        self.opts = opts
        self.index = index
        self.origin = origin
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    # --- graph -------------------------------------------------------------------------
    @classmethod
    def references(cls, opts: Options) -> list[int]:
        return [-1]

    @classmethod
    def reference_keys(cls, opts: Options) -> list[str | None]:
        """The option each reference came from (None = the implicit previous layer).

        Used for error messages and to allow the network input as an implicit source.
        """
        return [None]

    def output_shape(self, input_shapes: list[Shape]) -> Shape:
        return tuple(input_shapes[0])

    def link(self, layers: list["Layer"]) -> None:
        """Called by the Network right after building this layer, with the layers before it
        (index order). A layer that uses another layer's parameters rather than data (AlexeyAB's
        share_index) finds that layer here; most layers need nothing."""

    # --- parameters ----------------------------------------------------------------------
    def param_layout(self) -> list[tuple[str, tuple]]:
        """(name, darknet shape) in the order darknet's .weights file stores them."""
        return [(name, arr.shape) for name, arr in self.params.items()]

    def get_param(self, name: str) -> np.ndarray:
        """The parameter in darknet layout."""
        return self.params[name]

    def set_param(self, name: str, value: np.ndarray) -> None:
        """Store a parameter given in darknet layout (shape must match `param_layout`)."""
        expected = dict(self.param_layout())[name]
        value = np.asarray(value, dtype=self.param_dtype())
        if value.size != int(np.prod(expected)):
            raise ValueError(f"{name}: expected {expected}, got {value.shape}")
        self.params[name] = np.ascontiguousarray(value.reshape(expected))

    def num_params(self) -> int:
        return int(sum(int(np.prod(s)) for _, s in self.param_layout()))

    def param_dtype(self):
        """The dtype parameters are kept in (float32 unless `astype` changed it)."""
        for value in self.params.values():
            return value.dtype
        return np.dtype(np.float32)

    def trainable(self) -> list[str]:
        """Names of the parameters the optimiser updates (batch-norm running statistics are
        estimated by forward, not learned)."""
        return [name for name in self.params if name not in ("rolling_mean", "rolling_variance")]

    def zero_grads(self) -> None:
        """Set every trainable parameter's gradient to zero (creating the arrays if needed)."""
        for name in self.trainable():
            self.grad(name).fill(0)

    def grad(self, name: str) -> np.ndarray:
        """The gradient array of parameter `name`, created (zero) on first use."""
        param = self.params[name]
        grad = self.grads.get(name)
        if grad is None or grad.shape != param.shape or grad.dtype != param.dtype:
            grad = self.grads[name] = np.zeros_like(param)
        return grad

    def astype(self, dtype) -> None:
        """Keep parameters in `dtype` (float64 for gradient checks); drops gradients and any
        cached derived tensors. Subclasses holding typed constants extend this."""
        dtype = np.dtype(dtype)
        for name, value in self.params.items():
            self.params[name] = np.ascontiguousarray(value, dtype=dtype)
        self.grads = {}
        self.invalidate()

    def invalidate(self) -> None:
        """Forget anything derived from `params` (folded weights...); call after changing
        parameters in place, as the optimiser does."""

    # --- compute -------------------------------------------------------------------------
    def forward(self, inputs: list[np.ndarray], train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, delta: np.ndarray, inputs: list[np.ndarray],
                 output: np.ndarray) -> list[np.ndarray | None]:
        raise self.error("is inference only: it has no backward pass, so a network containing "
                         "it cannot be trained")

    def has_loss(self) -> bool:
        """True when the last training forward computed a loss of the layer's own (a
        detection head given truth, as darknet's [yolo]): backward then runs even if no
        later layer sends it a gradient, and adds the loss's gradient."""
        return False

    # --- description for `darkpy info` -----------------------------------------------------
    def describe(self) -> dict:
        """Columns for `darkpy info`: 'filters' and 'size' (e.g. '3x3/1') as short strings."""
        return {"filters": "", "size": ""}

    def flops(self, input_shapes: list[Shape]) -> int:
        """Floating-point operations (multiply and add counted separately) for one image."""
        return 0

    # --- helpers for subclasses --------------------------------------------------------------
    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.origin}: [{self.kind}] layer {self.index}: {message}")
