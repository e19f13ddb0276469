"""[rnn]: darknet's vanilla recurrent layer, three [connected] sub-layers.

For each time step t (rows t*batch .. t*batch+batch-1, see layers/recurrent.py), with
s the hidden state carried over from the previous step (zeros at first):

    s = [s if shortcut] + input_layer(x_t) + self_layer(s)
    y_t = output_layer(s)

input_layer: inputs -> hidden, self_layer: hidden -> hidden, output_layer: hidden -> output,
each a [connected] layer with its own biases, optional batch norm and `activation` (the
self_layer's is logistic/loggy with AlexeyAB's `logistic`=1/2). The .weights file holds the
three connected layers in that order (biases, weights, [scales, rolling_mean,
rolling_variance] each).

pjreddie vs AlexeyAB: pjreddie's darknet has no hidden size (hidden = output) and ignores
`hidden` and `logistic`; AlexeyAB's reads `hidden` (default 1, not output) and `logistic`.
flavor=auto picks AlexeyAB's when `logistic` is set or `hidden` differs from `output`
(cfgs that set hidden = output, like pjreddie's rnn.cfg, mean the same in both).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.recurrent import FLAVOR_KEY, Recurrent

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class RNN(Recurrent):
    kind = "rnn"
    summary = "vanilla recurrent layer over the time steps"
    keys = {
        "output": Key("int", 1, minimum=1, doc="output size"),
        "hidden": Key("int", None, minimum=1, fork=ALEXEYAB, default_text="1",
                      doc="hidden state size (pjreddie: hidden = output)"),
        "activation": Key("str", "logistic", choices=codes.ACTIVATION_NAMES,
                          doc="activation of the three dense sub-layers"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation in the sub-layers"),
        "logistic": Key("int", None, fork=ALEXEYAB, default_text="activation",
                        doc="state activation: 1 = logistic, 2 = loggy"),
        "shortcut": Key("int", 0, doc="1: add the previous state into the new one"),
        "flavor": FLAVOR_KEY,
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.outputs = opts.output
        self.flavor = self._resolve_flavor(
            bool(opts.logistic) or (opts.hidden is not None and opts.hidden != opts.output))
        self_activation = opts.activation
        if self.flavor == "alexeyab":
            self.hidden = 1 if opts.hidden is None else opts.hidden
            if opts.logistic == 1:
                self_activation = "logistic"
            elif opts.logistic == 2:
                self_activation = "loggy"
        else:
            self.hidden = self.outputs
        self.shortcut = bool(opts.shortcut)
        bn = opts.batch_normalize
        self._add_connected("input_layer", self.input_shapes[0], self.hidden, opts.activation, bn)
        self._add_connected("self_layer", (1, 1, self.hidden), self.hidden, self_activation, bn)
        self._add_connected("output_layer", (1, 1, self.hidden), self.outputs, opts.activation, bn)
        self._set_file_order(["input_layer", "self_layer", "output_layer"])

    def output_shape(self, input_shapes):
        self.sublayers["input_layer"].output_shape(input_shapes)  # fixed size: checks it
        return (1, 1, self.outputs)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n = x.shape[0]
        batch = self.time_batch(x)
        sub = self.sublayers
        # the input side does not depend on the state: all steps in one GEMM
        pre = sub["input_layer"].forward([x]).reshape(n, self.hidden)
        state = self.carried_state((batch,), {"s": (batch, self.hidden)}, zero=train)
        s = state["s"]
        states = np.empty((n, self.hidden), np.float32)
        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            recurrent = sub["self_layer"].forward([s.reshape(batch, 1, 1, self.hidden)])
            recurrent = recurrent.reshape(batch, self.hidden)
            s = (s + pre[rows]) + recurrent if self.shortcut else pre[rows] + recurrent
            states[rows] = s
        # darknet's training forward keeps its per-step states elsewhere and leaves the
        # carried slot at zero
        state["s"] = np.zeros_like(s) if train else s
        return sub["output_layer"].forward([states.reshape(n, 1, 1, self.hidden)])

    def flops(self, input_shapes):
        return sum(layer.flops(layer.input_shapes) for layer in self.sublayers.values())
