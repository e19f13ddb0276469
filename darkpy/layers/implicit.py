"""[implicit]: AlexeyAB's learned constant tensor (YOLOR's implicit knowledge).

The output ignores every input: each image gets the same (atoms, 1, filters) tensor,

    out[b, y, 0, k] = weights[k*atoms + y]

(darknet's output is that flat weight vector read as a CHW tensor with c=filters, h=atoms,
w=1). A later [shortcut] or [scale_channels] adds or multiplies it into a feature map.
darkpy still wires the layer to the previous one, only to know the batch size.

Weights in a .weights file: filters*atoms floats in that order. Initialisation follows
darknet: mean + uniform(-std, std). Backward: dW = delta summed over the batch; no gradient
reaches the input.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.layers.base import Layer


class Implicit(Layer):
    kind = "implicit"
    summary = "learned constant tensor (YOLOR's implicit knowledge)"
    fork = ALEXEYAB
    keys = {
        "filters": Key("int", 128, minimum=1, fork=ALEXEYAB, doc="output channels"),
        "atoms": Key("int", 1, minimum=1, fork=ALEXEYAB, doc="output height"),
        "mean": Key("float", 0.0, fork=ALEXEYAB, phase=TRAINING,
                    doc="initial value of the weights"),
        "std": Key("float", 0.2, fork=ALEXEYAB, phase=TRAINING,
                   doc="half-width of the uniform initial noise"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.filters, self.atoms = opts.filters, opts.atoms
        self.initialise_params()

    def output_shape(self, input_shapes):
        return (self.atoms, 1, self.filters)

    def param_layout(self):
        return [("weights", (self.filters * self.atoms,))]

    def initial_value(self, name, shape, rng):
        return (self.opts.mean + rng.uniform(-self.opts.std, self.opts.std, size=shape)).astype(np.float32)

    def get_param(self, name):
        return np.ascontiguousarray(self.params[name].transpose(2, 0, 1)).reshape(-1)

    def set_param(self, name, value):
        chw = self.checked_value(name, value).reshape(self.filters, self.atoms, 1)
        self.params[name] = np.ascontiguousarray(chw.transpose(1, 2, 0))

    def forward(self, inputs, train=False):
        n_img = inputs[0].shape[0]
        w = self.params["weights"]
        return np.ascontiguousarray(np.broadcast_to(w, (n_img, *w.shape)))

    def backward(self, delta, inputs, output):
        self.grad("weights")[...] += delta.sum(axis=0)
        return [None]

    def describe(self):
        return {"filters": str(self.filters), "size": f"{self.atoms}x1"}
