"""[logistic]: pjreddie's logistic cross-entropy layer ("logistic x entropy" in its log).

At inference it is an element-wise sigmoid over the whole input:

    y = 1 / (1 + e^-x)            (output shape = input shape; no parameters, no keys)

In darknet's training it is also the loss: with truth t of the output's size it reports
    cost = sum(-t log y - (1 - t) log(1 - y))
and hands the previous layer delta = t - y unchanged (no sigmoid derivative is applied):
that is the true gradient of the cross-entropy with respect to x (dL/dx = y - t).

darkpy trains it as darknet does (darkpy.train.darknet gives the truth; layers/truth_loss.py):
the training forward computes l.delta = t - y and the cost above (each term's log in double,
the sum in float32), and the backward returns minus that delta plus whatever gradient
reaches the layer, unchanged (darknet's axpy of l.delta, which later layers may have added
to). A training forward without truth (outside darknet's trainer) is refused: darknet's
backward would pass gradients through the sigmoid unchanged, which is no gradient of
anything; for a trainable sigmoid write [activation] activation=logistic.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE
from darkpy.kernels.activation_codes import LOGISTIC
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.truth_loss import TruthLoss

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class Logistic(TruthLoss, Layer):
    kind = "logistic"
    summary = "logistic (sigmoid) with darknet's cross-entropy loss"
    fork = PJREDDIE
    keys: dict = {}  # only the keys every section has (config/common_keys.py)

    def forward(self, inputs, train=False):
        self._start_loss()
        if train and self._truth is None:
            raise self.error("trains only as darknet's logistic cross-entropy loss, with truth "
                             "from darknet's trainer (`darkpy train CFG --data X.data`); for a "
                             "trainable sigmoid use [activation] activation=logistic")
        out = np.array(inputs[0], dtype=compute_dtype(inputs[0]), order="C", copy=True)
        activations.activate(out, LOGISTIC)
        if train:
            t = self._truth_like(out)
            y = out.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                errors = (-t * np.log(y) - (1 - t) * np.log(1 - y)).astype(np.float32)
            self._finish_loss(t - out.astype(np.float32), errors)
        return out

    def backward(self, delta, inputs, output):
        grad = -self._loss_delta.astype(output.dtype)
        return [grad if delta is None else delta + grad]

    def describe(self):
        return {"filters": "", "size": "sigmoid"}
