"""[gru]: darknet's gated recurrent unit, six linear [connected] sub-layers.

For each time step t (rows t*batch .. t*batch+batch-1, see layers/recurrent.py), with s the
state carried over (zeros at first), u* reading the input and w* the state:

    z = logistic(uz(x_t) + wz(s))
    r = logistic(ur(x_t) + wr(s))
    h = act(uh(x_t) + wh(s * r))
    s = y_t = z * s + (1 - z) * h

Every sub-layer is a [connected] layer with linear activation, its own biases and optional
batch norm; u*: inputs -> output, w*: output -> output. act is logistic, or tanh with
pjreddie's `tanh=1`.

pjreddie vs AlexeyAB: the .weights order differs, pjreddie stores wz, wr, wh, uz, ur, uh,
AlexeyAB (who calls them input_z/r/h_layer and state_z/r/h_layer) uz, ur, uh, wz, wr, wh;
AlexeyAB does not read `tanh` (his USET switch is not defined for this file, so act is
logistic). The float counts agree whenever the two orders do not, so a file cannot tell:
flavor=auto means pjreddie here; set flavor=alexeyab for weights trained with AlexeyAB's.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE, Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.recurrent import FLAVOR_KEY, Recurrent

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
cells = kernels("recurrent")

_GATES = ("z", "r", "h")


class GRU(Recurrent):
    kind = "gru"
    summary = "gated recurrent unit over the time steps"
    keys = {
        "output": Key("int", 1, minimum=1, doc="output (state) size"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation in the six dense "
                                             "sub-layers"),
        "tanh": Key("int", 0, fork=PJREDDIE,
                    doc="1: tanh instead of logistic for the candidate state"),
        "flavor": FLAVOR_KEY,
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.outputs = opts.output
        self.flavor = self._resolve_flavor(False)
        use_tanh = bool(opts.tanh) and self.flavor == "pjreddie"
        self.code = codes.TANH if use_tanh else codes.LOGISTIC
        bn = opts.batch_normalize
        for gate in _GATES:
            self._add_connected("u" + gate, self.input_shapes[0], self.outputs, "linear", bn)
        for gate in _GATES:
            self._add_connected("w" + gate, (1, 1, self.outputs), self.outputs, "linear", bn)
        state_side = ["w" + g for g in _GATES]
        input_side = ["u" + g for g in _GATES]
        self._set_file_order(state_side + input_side if self.flavor == "pjreddie"
                             else input_side + state_side)

    def output_shape(self, input_shapes):
        self.sublayers["uz"].output_shape(input_shapes)  # fixed size: checks it
        return (1, 1, self.outputs)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n, units = x.shape[0], self.outputs
        batch = self.time_batch(x)
        sub = self.sublayers
        u = {g: sub["u" + g].forward([x]).reshape(n, units) for g in _GATES}
        state = self.carried_state((batch,), {"s": (batch, units)})
        s = state["s"]
        out = np.empty((n, units), np.float32)

        def w(gate, value):
            state_input = value.reshape(batch, 1, 1, units)
            return sub["w" + gate].forward([state_input]).reshape(batch, units)

        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            z = np.ascontiguousarray(u["z"][rows] + w("z", s))
            r = np.ascontiguousarray(u["r"][rows] + w("r", s))
            forgot = np.empty_like(s)
            cells.gru_gates(z, r, s, forgot)
            h = np.ascontiguousarray(u["h"][rows] + w("h", forgot))
            new = np.empty_like(s)
            cells.gru_output(h, z, s, new, self.code)
            out[rows] = new
            s = new
        state["s"] = s
        return out.reshape(n, 1, 1, units)

    def flops(self, input_shapes):
        return sum(layer.flops(layer.input_shapes) for layer in self.sublayers.values())
