"""The float64 convolution the kernel tests compare with, worked with numpy alone."""
from __future__ import annotations

import numpy as np

from darkpy.kernels.activations import LEAKY, LINEAR, LOGISTIC, RELU

# darknet's activations the fused kernels apply, in float64
ACTIVATIONS = {
    LINEAR: lambda z: z,
    RELU: lambda z: np.maximum(z, 0),
    LEAKY: lambda z: np.where(z > 0, z, 0.1 * z),
    LOGISTIC: lambda z: 1 / (1 + np.exp(-z)),
}


def float64_conv(x, w, bias, stride=1, pad=0, code=LINEAR):
    """f(conv(x, w) + bias) for NHWC x and (K, K, C, F) w with zero padding, in float64, one
    kernel tap at a time (f the activation `code`)."""
    n, h, wd, _ = x.shape
    k = w.shape[0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, oh, ow, w.shape[3]))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out += np.einsum("nhwc,cf->nhwf", patch, w[i, j].astype(np.float64))
    return ACTIVATIONS[code](out + bias)
