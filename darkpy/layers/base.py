"""What every layer kind provides. One module per kind subclasses `Layer`.

Conventions (read these before writing a layer):
- Activations are NHWC float32, C-contiguous; a shape is (h, w, c) without the batch.
- `keys` is the schema: every key darknet's parsers read for the section. Unused ones carry
  `used=False`; they are accepted and kept so real cfgs load and round-trip.
  Every Key has a one-line `doc`, the darknet that reads it (`fork`) and when it matters
  (`phase`); with the class's `summary` and `fork` they make `darkpy keys` and
  docs/cfg-reference.md (regenerate it with tools/make_cfg_reference.py).
- `references(opts)` lists the raw layer references the section makes, in the order the layer
  wants its inputs, each with the key it came from: `[(-1, None)]` (the previous layer,
  implicitly) by default, `[(-1, None), (from, "from")]` for a shortcut, `layers` for a
  route. The Network turns them into absolute indices (negative = relative to this layer,
  non-negative = absolute) and checks them, naming the key; -1 as a resolved implicit index
  is the network input itself.
- `__init__(opts, input_shapes, index, origin)` checks the options and works out the
  geometry. `input_shapes` are for the [net] default size; parameters may depend only on
  channels, spatial sizes may change later (super-resolution networks run on any image
  size), so `output_shape` is a pure function. A layer with parameters ends its __init__
  with `initialise_params()`.
- `params` holds float32 arrays in darkpy's own memory layout (e.g. convolution weights as
  (K, K, Cin/groups, Cout)); `param_layout()` lists them in darknet file order with darknet
  shapes, and `get_param`/`set_param` convert between the two (transposes happen only there).
- One initialisation: `init_params(seed)` sets every parameter to `initial_value` (darknet's:
  weights uniform in +-sqrt(2 / fan_in), batch-norm scales and variances 1, the rest 0; a
  layer that starts differently overrides `initial_value`). Construction draws with the layer
  index as seed, `darkpy train` with ([net] seed, index). Inside `deferred_params()` (a
  Network whose weights come from a file) nothing is allocated until the file gives them.
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

import os
import threading
from contextlib import contextmanager
from typing import ClassVar

import numpy as np

from darkpy.config.schema import BOTH, Key, Options
from darkpy.errors import ConfigError, ShapeMismatchError

Shape = tuple  # (h, w, c)

_building = threading.local()


@contextmanager
def deferred_params():
    """Layers built inside allocate no parameters (initialise_params does nothing): a weights
    file is about to give them their values, or only their shapes are wanted."""
    previous = getattr(_building, "deferred", False)
    _building.deferred = True
    try:
        yield
    finally:
        _building.deferred = previous


def memory_bytes() -> int:
    """The machine's physical memory (a parameter set larger than this cannot be allocated)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 1 << 62


def size_text(n_bytes: int) -> str:
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:.1f} {unit}"
    return f"{n_bytes} bytes"


def compute_dtype(x: np.ndarray) -> np.dtype:
    """The dtype a layer computes in for input x: float64 stays float64 (gradient checks),
    anything else is float32."""
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


class Layer:
    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""  # one line for `darkpy keys` and docs/cfg-reference.md
    fork: ClassVar[str] = BOTH  # which darknet has this section kind (config/schema.py FORKS)
    keys: ClassVar[dict[str, Key]] = {}
    # [net] options the layer needs, copied into its `opts` by the Network (as darknet's
    # size_params hands time_steps to the recurrent layers)
    net_options: ClassVar[tuple[str, ...]] = ()
    # training with darknet's formulas where they are not the exact math (batch norm's
    # approximate backward), set on every layer by detector training (darkpy.train.darknet):
    # "fast" computes them in darkpy's own float arithmetic (BLAS/Winograd, float64 sums);
    # "exact" in darknet's, bit for bit (kernels/conv/darknet.py,
    # kernels/batchnorm_darknet.py). float64 gradient checks and SR training leave it False.
    darknet_training: bool | str = False

    @property
    def darknet_exact(self) -> bool:
        """Whether training must repeat darknet's float arithmetic bit for bit."""
        return self.darknet_training == "exact"
    # whose darknet that arithmetic follows where the forks differ: "pjreddie", "alexeyab"
    # (batch norm's epsilons) or "alexeyab-cpu" (his CPU build: also batch norm's rolling
    # rate and no bias gradient under batch norm); set with darknet_training
    darknet_flavor: str = "pjreddie"

    def __init__(self, opts: Options, input_shapes: list[Shape], index: int, origin: str):
        self.opts = opts
        self.index = index
        self.origin = origin
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    # --- graph -------------------------------------------------------------------------
    @classmethod
    def references(cls, opts: Options) -> list[tuple[int, str | None]]:
        """(layer reference, the option it came from) per input; None for the implicit
        previous layer, which may be the network input itself."""
        return [(-1, None)]

    def output_shape(self, input_shapes: list[Shape]) -> Shape:
        return tuple(input_shapes[0])

    def link(self, layers: list["Layer"]) -> None:
        """Called by the Network right after building this layer, with the layers before it
        (index order). A layer that uses another layer's parameters rather than data (AlexeyAB's
        share_index) finds that layer here; most layers need nothing."""

    # --- parameters ----------------------------------------------------------------------
    def param_layout(self) -> list[tuple[str, tuple]]:
        """(name, darknet shape) in the order darknet's .weights file stores them; known from
        the options alone (layers with parameters override this)."""
        return []

    def initial_value(self, name: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
        """The starting value of parameter `name` (darknet layout `shape`), darknet's: weights
        uniform in +-sqrt(2 / fan_in), fan_in = the values feeding one output (shape[1:]);
        batch-norm scales and rolling variances 1; everything else 0."""
        if name == "weights":
            fan_in = int(np.prod(shape[1:])) or 1
            return (np.sqrt(2.0 / fan_in) * rng.uniform(-1.0, 1.0, size=shape)).astype(np.float32)
        if name in ("scales", "rolling_variance"):
            return np.ones(shape, np.float32)
        return np.zeros(shape, np.float32)

    def init_params(self, seed, names=None) -> None:
        """Every parameter (or those in `names`) set to its initial_value, drawn from
        np.random.default_rng(seed) (seed: an int or a list of ints). ConfigError naming the
        section when they cannot fit in memory."""
        n_bytes = 4 * self.num_params()
        if n_bytes > memory_bytes():
            raise self.error(f"its parameters need {size_text(n_bytes)} ({self.num_params():,} "
                             f"float32 values), more than this machine's "
                             f"{size_text(memory_bytes())} of memory")
        rng = np.random.default_rng(seed)
        try:
            for name, shape in self.param_layout():
                if names is None or name in names:
                    self.set_param(name, self.initial_value(name, shape, rng))
        except MemoryError:
            raise self.error(f"its parameters need {size_text(n_bytes)} ({self.num_params():,} "
                             "float32 values): not enough memory") from None

    def initialise_params(self) -> None:
        """The end of a constructor: darknet's initial values seeded by the layer index,
        unless the layer is built inside deferred_params()."""
        if not getattr(_building, "deferred", False):
            self.init_params(self.index)

    def missing_params(self) -> list[str]:
        """The parameters without a value yet (built deferred, and no file gave them one)."""
        return [name for name, _ in self.param_layout() if name not in self.params]

    def get_param(self, name: str) -> np.ndarray:
        """The parameter in darknet layout."""
        return self.params[name]

    def set_param(self, name: str, value: np.ndarray) -> None:
        """Store a parameter given in darknet layout (shape must match `param_layout`)."""
        self.params[name] = np.ascontiguousarray(self.checked_value(name, value))
        self.invalidate()

    def checked_value(self, name: str, value) -> np.ndarray:
        """`value` for parameter `name` as an array of the parameter dtype in its darknet shape
        (ValueError naming both shapes when the sizes differ): what set_param starts from."""
        shape = dict(self.param_layout())[name]
        value = np.asarray(value, dtype=self.param_dtype())
        if value.size != int(np.prod(shape)):
            raise ValueError(f"{name}: expected {shape}, got {value.shape}")
        return value.reshape(shape)

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

    # --- random numbers drawn in training (dropout's masks; most layers draw none) ---------
    def reseed(self, seed) -> None:
        """Restart the layer's generator from `seed` (an int or a sequence of ints)."""

    def rng_state(self) -> dict | None:
        """The generator's state, a plain dict to store in a checkpoint; None: no generator."""
        return None

    def set_rng_state(self, state: dict) -> None:
        """Continue drawing exactly where the run that produced `state` was."""

    # --- compute -------------------------------------------------------------------------
    def forward(self, inputs: list[np.ndarray], train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, delta: np.ndarray, inputs: list[np.ndarray],
                 output: np.ndarray) -> list[np.ndarray | None]:
        raise self.error("is inference only: it has no backward pass, so a network containing "
                         "it cannot be trained")

    def backward_params(self, delta: np.ndarray, inputs: list[np.ndarray],
                        output: np.ndarray) -> None:
        """backward's parameter gradients only, for a layer whose input gradients nobody wants
        (Network.backward(input_gradient=False) on the layers reading the network input);
        layers that can skip computing dL/dinput override it."""
        self.backward(delta, inputs, output)

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

    def mismatch(self, message: str, reason: str) -> ShapeMismatchError:
        """The error for inputs whose shapes do not fit together: `message` stands alone,
        `reason` ("spatial sizes differ") is what the Network puts after the layers it names."""
        return ShapeMismatchError(f"{self.origin}: [{self.kind}] layer {self.index}: {message}",
                                  reason)
