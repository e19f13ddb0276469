"""Batch normalisation in training mode (darknet's definition) and its exact backward.

darknet's forward_batchnorm_layer with train=1, per channel over the m = N*H*W values of a
batch (x here is the (m, C) matrix of an NHWC tensor):

    mean = sum(x) / m
    var  = sum((x - mean)^2) / (m - 1)                  (variance_cpu: the unbiased estimate)
    xhat = (x - mean) / s,   s = sqrt(var) + 1e-6       (normalize_cpu: epsilon on the std)
    y    = scales * xhat  (the caller adds biases, fused with its activation)
    rolling_mean     = .99 * rolling_mean     + .01 * mean
    rolling_variance = .99 * rolling_variance + .01 * var

backward is the exact derivative of that forward, so finite differences confirm it (darknet's
own backward_batchnorm_layer approximates it: it takes var + 1e-5 and 1/m where its forward
has 1e-6 and 1/(m-1), which differ by O(1/m)). With g = dL/dy and sigma = sqrt(var):

    dL/dbiases = sum(g),   dL/dscales = sum(g * xhat)
    dL/dx = scales / s * (g - sum(g) / m - xhat * sum(g * xhat) * s / (sigma * (m - 1)))

Channel sums are taken in float64 over fixed-size row chunks whose partials are added in a
fixed order, so results do not depend on the number of threads. Training that must give
darknet's weights uses darknet's own arithmetic instead (kernels/batchnorm_darknet.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from darkpy.kernels.normalize import BN_EPSILON

ROLLING_KEEP = 0.99  # darknet: rolling = .99 * rolling + .01 * batch statistic
ROLLING_TAKE = 0.01
_CHUNK_ROWS = 256


@njit(parallel=True, cache=True, fastmath=False)
def _centred_partials(x, centre, squared, partial):
    """partial[k, c] = sum over chunk k's rows of (x - centre) (or its square), in float64."""
    rows, cols = x.shape
    for k in prange(partial.shape[0]):
        acc = partial[k]
        acc[:] = 0.0
        r1 = min(rows, (k + 1) * _CHUNK_ROWS)
        if squared:
            for r in range(k * _CHUNK_ROWS, r1):
                for c in range(cols):
                    v = np.float64(x[r, c]) - centre[c]
                    acc[c] += v * v
        else:
            for r in range(k * _CHUNK_ROWS, r1):
                for c in range(cols):
                    acc[c] += np.float64(x[r, c]) - centre[c]


@njit(parallel=True, cache=True, fastmath=False)
def _product_partials(g, xhat, partial_g, partial_gx):
    rows, cols = g.shape
    for k in prange(partial_g.shape[0]):
        acc_g = partial_g[k]
        acc_gx = partial_gx[k]
        acc_g[:] = 0.0
        acc_gx[:] = 0.0
        for r in range(k * _CHUNK_ROWS, min(rows, (k + 1) * _CHUNK_ROWS)):
            for c in range(cols):
                v = np.float64(g[r, c])
                acc_g[c] += v
                acc_gx[c] += v * xhat[r, c]


@njit(parallel=True, cache=True, fastmath=False)
def _normalize_scale(x, mean, s, scales, xhat, y):
    """xhat = (x - mean) / s and y = scales * xhat, row chunks in parallel."""
    rows, cols = x.shape
    for k in prange((rows + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        for r in range(k * _CHUNK_ROWS, min(rows, (k + 1) * _CHUNK_ROWS)):
            for c in range(cols):
                v = (x[r, c] - mean[c]) / s[c]
                xhat[r, c] = v
                y[r, c] = v * scales[c]


@njit(parallel=True, cache=True, fastmath=False)
def _input_gradient(g, xhat, a, b, k, dx):
    """dx = a * (g - b - xhat * k) with per-channel a, b, k."""
    rows, cols = g.shape
    for q in prange((rows + _CHUNK_ROWS - 1) // _CHUNK_ROWS):
        for r in range(q * _CHUNK_ROWS, min(rows, (q + 1) * _CHUNK_ROWS)):
            for c in range(cols):
                dx[r, c] = a[c] * (g[r, c] - b[c] - xhat[r, c] * k[c])


def _chunks(rows: int) -> int:
    return max(1, (rows + _CHUNK_ROWS - 1) // _CHUNK_ROWS)


def channel_sum(x2d: np.ndarray, centre: np.ndarray | None = None, squared: bool = False):
    """Per-channel float64 sum of (x - centre) (or of its square) over the rows of (m, C) x."""
    cols = x2d.shape[1]
    if centre is None:
        centre = np.zeros(cols, np.float64)
    partial = np.empty((_chunks(x2d.shape[0]), cols), np.float64)
    _centred_partials(x2d, np.ascontiguousarray(centre, np.float64), squared, partial)
    return partial.sum(axis=0)


def batch_statistics(x2d: np.ndarray):
    """(mean, unbiased variance) per channel of the (m, C) matrix, float64, two passes."""
    m = x2d.shape[0]
    mean = channel_sum(x2d) / m
    # the mean of the residuals corrects the float rounding of the first pass
    mean = mean + channel_sum(x2d, mean) / m
    var = channel_sum(x2d, mean, squared=True) / (m - 1)
    return mean, var


class BatchNormState:
    """What backward needs from a training forward: xhat, s and sigma per channel, m."""

    __slots__ = ("xhat", "s", "sigma", "m")

    def __init__(self, xhat, s, sigma, m):
        self.xhat, self.s, self.sigma, self.m = xhat, s, sigma, m


def train_forward(x2d, scales, rolling_mean, rolling_variance):
    """(y, state): y = scales * xhat for the (m, C) matrix x2d, in x2d's dtype.

    Updates rolling_mean and rolling_variance in place (darknet's .99/.01 rule, in their
    dtype). m must be at least 2 (the variance divides by m - 1); the caller checks.
    """
    dtype = x2d.dtype
    mean, var = batch_statistics(x2d)
    sigma = np.sqrt(var)
    s = sigma + BN_EPSILON
    rolling_mean *= rolling_mean.dtype.type(ROLLING_KEEP)
    rolling_mean += rolling_mean.dtype.type(ROLLING_TAKE) * mean.astype(rolling_mean.dtype)
    rolling_variance *= rolling_variance.dtype.type(ROLLING_KEEP)
    rolling_variance += (rolling_variance.dtype.type(ROLLING_TAKE)
                         * var.astype(rolling_variance.dtype))
    xhat = np.empty_like(x2d)
    y = np.empty_like(x2d)
    _normalize_scale(x2d, mean.astype(dtype), s.astype(dtype),
                     np.ascontiguousarray(scales, dtype), xhat, y)
    return y, BatchNormState(xhat, s, sigma, x2d.shape[0])


def backward(g2d, state: BatchNormState, scales):
    """(dx, dscales, dbiases) for g2d = dL/dy; dscales and dbiases in float64."""
    dtype = g2d.dtype
    cols = g2d.shape[1]
    partial_g = np.empty((_chunks(g2d.shape[0]), cols), np.float64)
    partial_gx = np.empty_like(partial_g)
    _product_partials(g2d, state.xhat, partial_g, partial_gx)
    sum_g = partial_g.sum(axis=0)
    sum_gx = partial_gx.sum(axis=0)
    m = state.m
    # sigma = 0 (a constant channel) gives xhat = 0 there: the term vanishes
    safe_sigma = np.where(state.sigma > 0, state.sigma, 1.0)
    k = np.where(state.sigma > 0, sum_gx * state.s / (safe_sigma * (m - 1)), 0.0)
    a = np.asarray(scales, np.float64) / state.s
    dx = np.empty_like(g2d)
    _input_gradient(g2d, state.xhat, a.astype(dtype), (sum_g / m).astype(dtype),
                    k.astype(dtype), dx)
    return dx, sum_gx, sum_g
