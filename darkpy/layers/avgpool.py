"""[avgpool] / [avg]: global average pool, (h, w, c) -> (1, 1, c).

    out[0, 0, k] = (sum_{y, x} x[y, x, k]) / (h * w)

darknet's parsers read no keys for this section. The sum runs in the input's dtype (float32) in row-major pixel
order before the division, as in darknet's forward_avgpool_layer.

Backward: dx[y, x, k] = delta[0, 0, k] / (h * w) at every pixel.
"""
from __future__ import annotations

import numpy as np

from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
pooling = kernels("pooling")


class AvgPool(Layer):
    kind = "avgpool"
    aliases = ("avg",)
    summary = "global average pool: one value per channel"
    keys = {}

    def output_shape(self, input_shapes):
        return (1, 1, input_shapes[0][2])

    def forward(self, inputs, train=False):
        return pooling.global_avgpool(inputs[0])

    def backward(self, delta, inputs, output):
        n, h, w, c = inputs[0].shape
        share = delta / delta.dtype.type(h * w)
        return [np.ascontiguousarray(np.broadcast_to(share, (n, h, w, c)))]

    def describe(self):
        return {"filters": "", "size": "global"}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return h * w * c + c  # the adds, then one division per channel
