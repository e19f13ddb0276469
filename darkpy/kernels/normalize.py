"""Inference batch normalisation as darknet computes it, folded to one scale and shift.

pjreddie's normalize_cpu followed by scale_bias and add_bias:

    y = (x - rolling_mean) / (sqrt(rolling_variance) + 0.000001) * scales + biases

(the epsilon is added to the standard deviation, not to the variance). Per channel this is
y = x * a + b with a = scales / (sqrt(var) + 1e-6) and b = biases - rolling_mean * a.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# darknet's .000001f, added to sqrt(variance)
BN_EPSILON = 0.000001


def fold_batchnorm(scales, rolling_mean, rolling_variance, biases=None):
    """(a, b) float64 per-channel scale and shift equal to darknet's inference batchnorm.

    darknet evaluates sqrt and the division in double precision, so the fold does too.
    """
    scales = np.asarray(scales, dtype=np.float64)
    a = scales / (np.sqrt(np.asarray(rolling_variance, dtype=np.float64)) + BN_EPSILON)
    b = -np.asarray(rolling_mean, dtype=np.float64) * a
    if biases is not None:
        b = b + np.asarray(biases, dtype=np.float64)
    return a, b


@njit(parallel=True, cache=True, fastmath=False)
def scale_shift(x, a, b, out):
    """out[r, c] = x[r, c] * a[c] + b[c] for (rows, C) float32 arrays (out may be x)."""
    rows, cols = x.shape
    step = max(1, 4096 // max(cols, 1))
    for k in prange((rows + step - 1) // step):
        for r in range(k * step, min(rows, (k + 1) * step)):
            for c in range(cols):
                out[r, c] = x[r, c] * a[c] + b[c]
