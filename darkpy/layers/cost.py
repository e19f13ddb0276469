"""[cost]: a training loss on the previous layer's output; identity otherwise.

    forward: out = x  (the input array itself; layers never write to their inputs)

In training, `loss(x, truth)` gives darknet's cost and the gradient backward starts from.
With d = truth - x per value (darknet's forward_cost_layer, CPU):

    type     error e(d) summed into the cost      darknet delta D (= -dL/dx / scale here)
    sse      d^2                                  d
    masked   as sse, but values whose truth is SECRET_NUM (-1234) count 0 and get 0
    smooth   d^2 if |d| < 1, else 2|d| - 1        d if |d| < 1, else sign(d)
    L1       |d|                                  1 if d > 0, else -1

The cost is the sum of e over the whole batch (darknet's l.cost, not scaled); the gradient is
dL/dx = -scale * D, which for sse is the gradient of scale * sum(d^2) / 2 (darknet's deltas
are half the derivative of its reported cost for sse and smooth, the full one for L1).
smooth follows darknet's GPU kernel: its CPU smooth_l1_cpu has the sign of the |d| >= 1
branch flipped. `seg` and `wgan` exist only on darknet's GPU and are not supported in
training; `ratio`, `noobj` and `thresh` act only there too.

In darknet-exact training (darkpy.train.darknet; layers/truth_loss.py) the truth comes from
the trainer (`set_truth`, a classifier's one-hot rows) instead of `loss()`: the training
forward computes D and darknet's l.cost (a float32 sum), and the backward adds -scale * D to
whatever gradient reaches it (darknet's axpy of scale * l.delta into the previous delta).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE, TRAINING, Key
from darkpy.errors import InputError
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.truth_loss import TruthLoss

SECRET_NUM = -1234.0  # darknet's "no truth here" marker for the masked cost
TRAINABLE_TYPES = ("sse", "masked", "smooth", "L1")


class Cost(TruthLoss, Layer):
    kind = "cost"
    summary = "training loss on the previous output; identity at inference"
    keys = {
        "type": Key("str", "sse", choices=("sse", "masked", "smooth", "L1", "seg", "wgan"),
                    phase=TRAINING, doc="the loss: sse, masked (sse ignoring truth -1234), "
                                        "smooth (smooth L1), L1; seg and wgan are GPU-only"),
        "scale": Key("float", 1.0, phase=TRAINING,
                     doc="multiplies the gradient (not the reported cost)"),
        "ratio": Key("float", 0.0, used=False, phase=TRAINING,
                     doc="GPU hard-example mining of the largest errors (darknet forces its "
                         "threshold to 0: no effect)"),
        "noobj": Key("float", 1.0, used=False, fork=PJREDDIE, phase=TRAINING,
                     doc="type=seg on the GPU: scales the error where the truth is 0"),
        "thresh": Key("float", 0.0, used=False, fork=PJREDDIE, phase=TRAINING,
                      doc="GPU: gradients below thresh/inputs are zeroed"),
    }

    def forward(self, inputs, train=False):
        self._start_loss()
        if train and self._truth is not None:
            x = np.asarray(inputs[0], np.float32)
            errors, darknet_delta = self._errors(x, self._truth_like(x))
            self._finish_loss(darknet_delta, errors)
        return inputs[0]

    def loss(self, x: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray]:
        """(cost, dL/dx) of prediction x against truth (same shape, NHWC)."""
        dtype = compute_dtype(x)
        x = np.asarray(x, dtype)
        truth = np.asarray(truth, dtype)
        if truth.shape != x.shape:
            raise InputError(f"{self.origin}: [cost] layer {self.index}: truth has shape "
                             f"{truth.shape}, the prediction {x.shape}")
        error, darknet_delta = self._errors(x, truth)
        grad = (dtype.type(-self.opts.scale) * darknet_delta).astype(dtype, copy=False)
        return float(error.sum(dtype=np.float64)), np.ascontiguousarray(grad)

    def _errors(self, x: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(e(d), darknet's D) per value (module docstring), in x's dtype."""
        kind = self.opts.type
        if kind not in TRAINABLE_TYPES:
            raise self.error(f"type={kind} cannot be trained on the CPU (darknet computes it "
                             f"only on its GPU); use one of {', '.join(TRAINABLE_TYPES)}")
        dtype = x.dtype
        d = truth - x
        if kind == "masked":
            d = np.where(truth == dtype.type(SECRET_NUM), dtype.type(0), d)
        if kind == "smooth":
            a = np.abs(d)
            small = a < 1
            error = np.where(small, d * d, 2 * a - 1)
            darknet_delta = np.where(small, d, np.where(d < 0, -1, 1).astype(dtype))
        elif kind == "L1":
            error = np.abs(d)
            darknet_delta = np.where(d > 0, 1, -1).astype(dtype)
        else:
            error = d * d
            darknet_delta = d
        return error, darknet_delta

    def backward(self, delta, inputs, output):
        if not self.has_loss():
            return [delta]
        grad = (np.float32(-self.opts.scale) * self._loss_delta).astype(output.dtype)
        return [grad if delta is None else delta + grad]

    def describe(self):
        return {"filters": "", "size": self.opts.type}
