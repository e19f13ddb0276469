"""[l2norm]: pjreddie's L2 normalisation of every pixel's channel vector.

    n = sqrt(sum_k x_k^2)   (over the C channels of one pixel of one image)
    y_k = x_k / n

The output has the input's shape; the layer has no parameters and reads no keys of its own
(parse_l2norm takes only the input size). After a [connected] layer (1x1xC) it normalises the
whole feature vector, an embedding. The float32 sum runs in channel order, so results equal
darknet's CPU loop bit for bit. One deliberate difference: a pixel whose n is 0 (all channels
0, common after relu) gives y = 0, where darknet divides 0 by 0 and outputs NaN.

Backward, the true derivative (darknet's is not one: its CPU pass hands delta through
unchanged, its GPU pass adds (1 - y)/n to it):
    dx = (g - y (g . y)) / n          (g = dL/dy; 0 where n = 0)
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
l2norm_kernels = kernels("l2norm")


class L2Norm(Layer):
    kind = "l2norm"
    summary = "divides each pixel's channel vector by its L2 norm"
    fork = PJREDDIE
    keys: dict = {}  # only the keys every section has (config/common_keys.py)

    def forward(self, inputs, train=False):
        x = np.ascontiguousarray(inputs[0], dtype=compute_dtype(inputs[0]))
        return l2norm_kernels.l2_normalize(x)

    def backward(self, delta, inputs, output):
        dtype = compute_dtype(inputs[0])

        def contiguous(a):
            return np.ascontiguousarray(a, dtype=dtype)

        return [l2norm_kernels.l2_normalize_gradient(contiguous(delta), contiguous(inputs[0]),
                                                     contiguous(output))]

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return 3 * h * w * c  # square, add, divide per value (one sqrt per pixel)
