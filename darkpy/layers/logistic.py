"""[logistic]: pjreddie's logistic cross-entropy layer ("logistic x entropy" in its log).

At inference it is an element-wise sigmoid over the whole input:

    y = 1 / (1 + e^-x)            (output shape = input shape; no parameters, no keys)

In darknet's training it is also the loss: with truth t of the output's size it reports
    cost = sum(-t log y - (1 - t) log(1 - y))
and hands the previous layer delta = t - y unchanged (the cross-entropy gradient taken with
respect to x, so no sigmoid derivative is applied). darkpy's trainer takes its loss from a
[cost] layer only, so this layer is inference only: training a network that holds it raises
an error naming it. For a trainable sigmoid write [activation] activation=logistic.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE
from darkpy.kernels.activation_codes import LOGISTIC
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class Logistic(Layer):
    kind = "logistic"
    summary = "logistic (sigmoid) with darknet's cross-entropy loss"
    fork = PJREDDIE
    keys: dict = {}  # only the keys every section has (config/common_keys.py)

    def forward(self, inputs, train=False):
        if train:
            raise self.error("is inference only: it is darknet's logistic cross-entropy loss, "
                             "which darkpy does not train; for a trainable sigmoid use "
                             "[activation] activation=logistic (the loss then comes from [cost])")
        out = np.array(inputs[0], dtype=compute_dtype(inputs[0]), order="C", copy=True)
        activations.activate(out, LOGISTIC)
        return out

    def describe(self):
        return {"filters": "", "size": "sigmoid"}
