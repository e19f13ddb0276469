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
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from darkpy.config.schema import Key, Options
from darkpy.errors import ConfigError

Shape = tuple  # (h, w, c)


class Layer:
    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    keys: ClassVar[dict[str, Key]] = {}

    def __init__(self, opts: Options, input_shapes: list[Shape], index: int, origin: str):
        self.opts = opts
        self.index = index
        self.origin = origin
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.params: dict[str, np.ndarray] = {}

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
        value = np.asarray(value, dtype=np.float32)
        if value.size != int(np.prod(expected)):
            raise ValueError(f"{name}: expected {expected}, got {value.shape}")
        self.params[name] = np.ascontiguousarray(value.reshape(expected))

    def num_params(self) -> int:
        return int(sum(int(np.prod(s)) for _, s in self.param_layout()))

    # --- compute -------------------------------------------------------------------------
    def forward(self, inputs: list[np.ndarray], train: bool = False) -> np.ndarray:
        raise NotImplementedError

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
