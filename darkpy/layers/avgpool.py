"""[avgpool] / [avg]: global average pool, (h, w, c) -> (1, 1, c).

    out[0, 0, k] = (sum_{y, x} x[y, x, k]) / (h * w)

darknet's parsers read no keys for this section. The sum runs in float32 in row-major pixel
order before the division, as in darknet's forward_avgpool_layer.
"""
from __future__ import annotations

from darkpy.kernels import pooling
from darkpy.layers.base import Layer


class AvgPool(Layer):
    kind = "avgpool"
    aliases = ("avg",)
    keys = {}

    def output_shape(self, input_shapes):
        return (1, 1, input_shapes[0][2])

    def forward(self, inputs, train=False):
        return pooling.global_avgpool(inputs[0])

    def describe(self):
        return {"filters": "", "size": "global"}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return h * w * c + c  # the adds, then one division per channel
