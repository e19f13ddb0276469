"""[lstm]: darknet's long short-term memory layer, eight linear [connected] sub-layers.

For each time step t (rows t*batch .. t*batch+batch-1, see layers/recurrent.py), with h and c
the output and cell state carried over (zeros at first), u* reading the input and w* h:

    f = logistic(wf(h) + uf(x_t))        i = logistic(wi(h) + ui(x_t))
    g = tanh(wg(h) + ug(x_t))            o = logistic(wo(h) + uo(x_t))
    c = f * c + i * g
    h = y_t = o * tanh(c)

Every sub-layer is a [connected] layer with linear activation, its own biases and optional
batch norm; u*: inputs -> output, w*: output -> output. The state carries over between
calls in training too, as in darknet.

pjreddie vs AlexeyAB: only the .weights order differs, pjreddie stores wi, wf, wo, wg, ui,
uf, uo, ug and AlexeyAB wf, wi, wg, wo, uf, ui, ug, uo. The float count is the same, so a
file cannot tell: flavor=auto means pjreddie; set flavor=alexeyab for AlexeyAB's weights.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.recurrent import FLAVOR_KEY, Recurrent

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
cells = kernels("recurrent")

_ORDERS = {
    "pjreddie": ("wi", "wf", "wo", "wg", "ui", "uf", "uo", "ug"),
    "alexeyab": ("wf", "wi", "wg", "wo", "uf", "ui", "ug", "uo"),
}


class LSTM(Recurrent):
    kind = "lstm"
    summary = "LSTM over the time steps"
    keys = {
        "output": Key("int", 1, minimum=1, doc="output (state) size"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation in the eight dense "
                                             "sub-layers"),
        "flavor": FLAVOR_KEY,
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.outputs = opts.output
        self.flavor = self._resolve_flavor(False)
        bn = opts.batch_normalize
        for gate in "figo":
            self._add_connected("u" + gate, self.input_shapes[0], self.outputs, "linear", bn)
        for gate in "figo":
            self._add_connected("w" + gate, (1, 1, self.outputs), self.outputs, "linear", bn)
        self._set_file_order(list(_ORDERS[self.flavor]))

    def output_shape(self, input_shapes):
        self.sublayers["uf"].output_shape(input_shapes)  # fixed size: checks it
        return (1, 1, self.outputs)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n, units = x.shape[0], self.outputs
        batch = self.time_batch(x)
        sub = self.sublayers
        u = {g: sub["u" + g].forward([x]).reshape(n, units) for g in "figo"}
        state = self.carried_state((batch,), {"h": (batch, units), "c": (batch, units)})
        h, c = state["h"], state["c"]
        out = np.empty((n, units), np.float32)
        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            h4 = h.reshape(batch, 1, 1, units)
            pre = {g: np.ascontiguousarray(sub["w" + g].forward([h4]).reshape(batch, units)
                                           + u[g][rows]) for g in "figo"}
            cells.lstm_cell(pre["f"], pre["i"], pre["g"], c, codes.TANH)
            h = np.empty_like(c)
            cells.lstm_hidden(pre["o"], c, h, codes.TANH)
            out[rows] = h
        state["h"] = h
        return out.reshape(n, 1, 1, units)

    def flops(self, input_shapes):
        return sum(layer.flops(layer.input_shapes) for layer in self.sublayers.values())
