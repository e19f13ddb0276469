"""What darknet's recurrent layers share: time steps, state carried between calls, sub-layers.

Time layout. darknet feeds a recurrent network batch*time_steps rows per forward ([net]
`time_steps`; the parser multiplies the batch by it), in time-major order: the rows of step t
are t*batch .. t*batch + batch - 1, and each recurrent layer walks the steps in order. darkpy
reads an NHWC input (N, H, W, C) the same way: N = batch * time_steps, row t*batch + b is
sample b at step t, and every output has the same row order. `steps` starts at the [net]
value; `set_time_steps(network, 1)` gives frame-by-frame inference (AlexeyAB's detector forces
time_steps=1 when it loads a network for inference; pjreddie's `rnn generate` uses a cfg with
time_steps=1). N must be a multiple of `steps`.

State. Each layer keeps its recurrent state (for every sample of the batch) from one forward
call to the next, as darknet keeps it in the layer: `darknet rnn generate` feeds one character
per call and the state carries the text so far; AlexeyAB's video detector feeds frame after
frame. `reset_state()` (or `reset_state(network)`) starts again from zeros, which also happens
when the batch size or the spatial size changes. [rnn] and [crnn] with train=True start from
zeros on every call, as darknet's training forward does.

Sub-layers. darknet builds these layers from [connected] or [convolutional] layers, each with
its own biases, batch norm and weights, stored one after the other in .weights files. darkpy
composes the same classes (their kernels and their .weights layout) and names the parameters
"<sub-layer>.<param>" (e.g. "input_layer.weights"), listed in darknet's file order.

Where pjreddie's and AlexeyAB's darknet disagree (keys read, hidden size, weight order) a layer
has the darkpy key `flavor` = auto | pjreddie | alexeyab; darknet itself ignores it.
Inference only: backward raises (see Layer.backward).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.common_keys import reject_weight_loading_keys
from darkpy.config.schema import DARKPY, Key, Options
from darkpy.errors import InputError
from darkpy.layers.base import Layer, deferred_params
from darkpy.layers.connected import Connected
from darkpy.layers.convolutional import Convolutional

FLAVORS = ("auto", "pjreddie", "alexeyab")
FLAVOR_KEY = Key("str", "auto", choices=FLAVORS, fork=DARKPY,
                 doc="follow pjreddie's or AlexeyAB's darknet where they differ; auto decides "
                     "from the keys given")
_STATISTICS = ("rolling_mean", "rolling_variance")


def _defaults(keys: dict[str, Key]) -> dict:
    return {name: list(key.default) if isinstance(key.default, (list, tuple)) else key.default
            for name, key in keys.items()}


def to_chw_flat(a: np.ndarray) -> np.ndarray:
    """An NHWC batch as darknet's memory: samples one after the other, each C, H, W."""
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2)).reshape(-1)


def from_chw_flat(flat: np.ndarray, shape) -> np.ndarray:
    """Inverse of to_chw_flat for an NHWC `shape`."""
    n, h, w, c = shape
    return np.ascontiguousarray(flat.reshape(n, c, h, w).transpose(0, 2, 3, 1))


class Recurrent(Layer):
    """Base of the recurrent layers: steps, carried state and composed sub-layers."""

    net_options = ("time_steps",)

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        reject_weight_loading_keys(self)
        self.steps = int(opts.get("time_steps", 1) or 1)
        if self.steps < 1:
            raise self.error(f"[net] time_steps must be >= 1, got {self.steps}")
        self.sublayers: dict[str, Layer] = {}
        self.file_order: list[str] = []
        self._state: dict[str, np.ndarray] | None = None
        self._state_key = None

    # --- building -------------------------------------------------------------------------
    def _resolve_flavor(self, alexeyab_evidence: bool, pjreddie_evidence: bool = False) -> str:
        flavor = self.opts.get("flavor", "auto")
        if flavor != "auto":
            return flavor
        if alexeyab_evidence and pjreddie_evidence:
            raise self.error("mixes keys only pjreddie's darknet reads with keys only AlexeyAB's "
                             "reads; set flavor=pjreddie or flavor=alexeyab")
        return "alexeyab" if alexeyab_evidence else "pjreddie"

    def _sub_origin(self, name: str) -> str:
        return f"{self.origin} [{self.kind}].{name}"

    def _add_connected(self, name, in_shape, outputs, activation, batch_normalize) -> None:
        opts = Options({**_defaults(Connected.keys), "output": int(outputs),
                        "activation": activation, "batch_normalize": int(batch_normalize)})
        with deferred_params():  # init_params draws them, sub-layer by sub-layer
            self.sublayers[name] = Connected(opts, [tuple(in_shape)], self.index,
                                             self._sub_origin(name))

    def _add_conv(self, name, in_shape, filters, size, stride, padding, dilation, groups,
                  activation, batch_normalize) -> None:
        opts = Options({**_defaults(Convolutional.keys), "filters": int(filters),
                        "size": int(size), "stride": int(stride), "pad": 0,
                        "padding": int(padding), "dilation": int(dilation),
                        "groups": int(groups), "activation": activation,
                        "batch_normalize": int(batch_normalize)})
        with deferred_params():
            self.sublayers[name] = Convolutional(opts, [tuple(in_shape)], self.index,
                                                 self._sub_origin(name))

    def _set_file_order(self, names: list[str]) -> None:
        """The sub-layers are all built: their order in .weights files, then their values."""
        self.file_order = list(names)
        self._sync_params()
        self.initialise_params()

    def init_params(self, seed, names=None) -> None:
        """Each sub-layer from its own generator, seeded by (seed..., its number in building
        order): darknet draws each one's weights separately, and equal seeds would make
        equally shaped sub-layers start identical."""
        seed = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)]
        for k, (sub, layer) in enumerate(self.sublayers.items()):
            mine = None if names is None else [n.partition(".")[2] for n in names
                                               if n.partition(".")[0] == sub]
            if mine != []:
                layer.init_params([*seed, k], mine)
        self._sync_params()

    def _sync_params(self) -> None:
        self.params = {f"{sub}.{name}": value for sub in self.file_order
                       for name, value in self.sublayers[sub].params.items()}

    # --- parameters: delegated to the sub-layers, in darknet's file order -----------------
    def param_layout(self):
        return [(f"{sub}.{name}", shape) for sub in self.file_order
                for name, shape in self.sublayers[sub].param_layout()]

    def _split(self, name: str):
        sub, _, param = name.partition(".")
        if sub not in self.sublayers or not param:
            raise KeyError(name)
        return self.sublayers[sub], param

    def get_param(self, name):
        layer, param = self._split(name)
        return layer.get_param(param)

    def set_param(self, name, value):
        layer, param = self._split(name)
        layer.set_param(param, value)
        self._sync_params()

    def trainable(self):
        return [name for name in self.params if name.rpartition(".")[2] not in _STATISTICS]

    def astype(self, dtype):
        for layer in self.sublayers.values():
            layer.astype(dtype)
        self._sync_params()
        self.grads = {}
        self.reset_state()

    def invalidate(self):
        for layer in self.sublayers.values():
            layer.invalidate()

    # --- time and state --------------------------------------------------------------------
    def time_batch(self, x: np.ndarray) -> int:
        """The batch size of an input of batch*steps time-major rows."""
        n = x.shape[0]
        if n % self.steps:
            raise InputError(
                f"{self.origin}: [{self.kind}] layer {self.index}: the input has {n} rows, not a "
                f"multiple of time_steps={self.steps} (rows are batch*time_steps, time-major); "
                "set time_steps=1 in [net] or call darkpy.layers.recurrent.set_time_steps(net, 1) "
                "for step-by-step inference")
        return n // self.steps

    def reset_state(self) -> None:
        """Forget the carried state: the next forward starts from zeros."""
        self._state = None
        self._state_key = None

    def carried_state(self, key, shapes: dict, zero: bool = False) -> dict[str, np.ndarray]:
        """The state arrays for this call: last call's, or zeros when there were none, when
        `key` (batch and spatial size) changed, or when `zero` is asked for."""
        if zero or self._state is None or self._state_key != key:
            self._state = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
            self._state_key = key
        return self._state

    def describe(self):
        return {"filters": str(getattr(self, "outputs", "")), "size": ""}


def recurrent_layers(network) -> list[Recurrent]:
    return [layer for layer in network.layers if isinstance(layer, Recurrent)]


def reset_state(network) -> None:
    """Zero the carried state of every recurrent layer of `network`."""
    for layer in recurrent_layers(network):
        layer.reset_state()


def set_time_steps(network, steps: int) -> None:
    """Make every recurrent layer of `network` read its input as batch*`steps` rows."""
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"time steps must be >= 1, got {steps}")
    for layer in recurrent_layers(network):
        layer.steps = steps
