"""[batchnorm]: darknet's stand-alone inference batch normalisation, per channel k:

    y = (x - rolling_mean[k]) / (sqrt(rolling_variance[k]) + 0.000001) * scales[k]

(evaluated as one folded scale and shift, kernels/normalize.py). Parameters in pjreddie's
.weights order: scales, rolling_mean, rolling_variance. pjreddie's layer also adds `biases`,
but never loads or saves them, so they stay 0 and are left out here. AlexeyAB's fork writes
biases first (four arrays): its files do not load into this layer.

Training (train=True) normalises with the batch's own statistics over images and pixels and
updates the rolling values (darknet's rule and backward: kernels/batchnorm.py); `scales` is
learned, as in AlexeyAB's update_batchnorm_layer.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.common_keys import reject_weight_loading_keys
from darkpy.errors import InputError
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
bn = kernels("batchnorm")
normalize = kernels("normalize")


class BatchNorm(Layer):
    kind = "batchnorm"
    summary = "batch normalisation of the previous output"
    keys: dict = {}  # only the keys every section has (config/common_keys.py)

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        reject_weight_loading_keys(self)
        self.channels = self.input_shapes[0][2]
        self._saved = None  # training forward -> backward: the batch-norm state
        self.initialise_params()

    def param_layout(self):
        c = self.channels
        return [("scales", (c,)), ("rolling_mean", (c,)), ("rolling_variance", (c,))]

    def forward(self, inputs, train=False):
        dtype = compute_dtype(inputs[0])
        x = np.ascontiguousarray(inputs[0], dtype=dtype)
        c = x.shape[-1]
        if c != self.channels:
            raise InputError(f"{self.origin}: [batchnorm] layer {self.index} was built for "
                             f"{self.channels} channels, got {c}")
        p = self.params
        if train:
            if x.size // c < 2:
                raise InputError(f"{self.origin}: [batchnorm] layer {self.index}: batch norm "
                                 "in training needs at least 2 values per channel")
            y, self._saved = bn.train_forward(x.reshape(-1, c), p["scales"].astype(dtype),
                                              p["rolling_mean"], p["rolling_variance"])
            return y.reshape(x.shape)
        a, b = normalize.fold_batchnorm(p["scales"], p["rolling_mean"], p["rolling_variance"])
        out = np.empty_like(x)
        normalize.scale_shift(x.reshape(-1, c), a.astype(dtype), b.astype(dtype),
                              out.reshape(-1, c))
        return out

    def backward(self, delta, inputs, output):
        if self._saved is None:
            raise self.error("backward needs a forward with train=True first")
        c = self.channels
        g = np.ascontiguousarray(delta, dtype=compute_dtype(inputs[0])).reshape(-1, c)
        dx, dscales, _ = bn.backward(g, self._saved, self.params["scales"])
        self.grad("scales")[...] += dscales
        return [dx.reshape(delta.shape)]

    def flops(self, input_shapes):
        return 2 * int(np.prod(input_shapes[0]))
