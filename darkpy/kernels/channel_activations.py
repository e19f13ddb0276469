"""AlexeyAB's channel-wise activations: the C values of each pixel are normalised together.

For one pixel (a row of an (rows, C) array: the last axis of NHWC data) with values x_1..x_C:

- normalize_channels                 S = eps + sum_{x_j > 0} x_j,   y_k = x_k / S (x_k > 0), else 0
- normalize_channels_softmax         S = eps + sum_j e^{x_j},        y_k = e^{x_k} / S
- normalize_channels_softmax_maxval  m = max_j x_j,  S = eps + sum_j e^{x_j - m},
                                     y_k = e^{x_k - m} / S

with darknet's eps = 0.0001 (activate_array_normalize_channels[_softmax] in AlexeyAB's
activations.c), the sums accumulated in channel order in the data's precision. Without the
max the exponentials overflow for x > 88 (NaN output), as in darknet. The eps makes the two
softmax variants different functions: eps counts relative to e^m in the second.

Backward: the true derivatives, with g = dL/dy and G = sum_k g_k y_k,

- normalize_channels                 dL/dx_j = [x_j > 0] (g_j - G) / S
- normalize_channels_softmax         dL/dx_j = y_j (g_j - G)
- normalize_channels_softmax_maxval  dL/dx_j = y_j (g_j - G) - [j = a] eps y_a G

(a = the first arg max: y = e^{x_k} / (eps e^m + sum e^{x_j}) and e^m follows x_a). AlexeyAB's
own backward is not the derivative (delta_k *= G, for normalize_channels only where x_k > 0),
so training from darkpy's gradients differs from training in darknet.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from darkpy.kernels.activation_codes import (  # noqa: F401 (names and codes: numba-free)
    CHANNEL_ACTIVATION_NAMES,
    NORM_CHAN,
    NORM_CHAN_SOFTMAX,
    NORM_CHAN_SOFTMAX_MAXVAL,
    channel_activation_code,
)

EPS = np.float32(0.0001)  # darknet's `const float eps = 0.0001` (a float32)


@njit(cache=True, error_model="numpy")
def _first_argmax(x, r):
    best, where = x[r, 0], 0
    for k in range(1, x.shape[1]):
        if x[r, k] > best:
            best, where = x[r, k], k
    return where


@njit(parallel=True, cache=True, error_model="numpy")
def _forward_kernel(x, out, code, zero):
    # `zero` is 0 in x's dtype: it keeps the sums in x's precision
    rows, channels = x.shape
    for r in prange(rows):
        total = zero + EPS
        if code == NORM_CHAN:
            for k in range(channels):
                if x[r, k] > 0:
                    total += x[r, k]
            for k in range(channels):
                if x[r, k] > 0:
                    out[r, k] = x[r, k] / total
                else:
                    out[r, k] = zero
        else:
            shift = x[r, _first_argmax(x, r)] if code == NORM_CHAN_SOFTMAX_MAXVAL else zero
            for k in range(channels):
                total += math.exp(x[r, k] - shift)
            for k in range(channels):
                out[r, k] = math.exp(x[r, k] - shift) / total


@njit(parallel=True, cache=True, error_model="numpy")
def _gradient_kernel(delta, y, x, code, zero):
    rows, channels = delta.shape
    for r in prange(rows):
        dot = zero
        for k in range(channels):
            dot += delta[r, k] * y[r, k]
        if code == NORM_CHAN:
            total = zero + EPS
            for k in range(channels):
                if x[r, k] > 0:
                    total += x[r, k]
            for k in range(channels):
                if x[r, k] > 0:
                    delta[r, k] = (delta[r, k] - dot) / total
                else:
                    delta[r, k] = zero
        else:
            for k in range(channels):
                delta[r, k] = y[r, k] * (delta[r, k] - dot)
            if code == NORM_CHAN_SOFTMAX_MAXVAL:
                a = _first_argmax(x, r)
                delta[r, a] -= EPS * y[r, a] * dot


_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check(a: np.ndarray, name: str, like: np.ndarray | None = None) -> None:
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype not in _DTYPES \
            or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous (rows, channels) float32 or float64 "
                         "array")
    if like is not None and (a.shape != like.shape or a.dtype != like.dtype):
        raise ValueError(f"{name} has shape {a.shape} {a.dtype}, expected {like.shape} "
                         f"{like.dtype}")


def _check_code(code: int) -> int:
    code = int(code)
    if not 0 <= code < len(CHANNEL_ACTIVATION_NAMES):
        raise ValueError(f"channel activation code {code} out of range")
    return code


def activate_channels(x: np.ndarray, code: int, out: np.ndarray | None = None) -> np.ndarray:
    """y = f(x) row by row for x (rows, C); `out` may be x itself (in place)."""
    code = _check_code(code)
    _check(x, "x")
    if out is None:
        out = np.empty_like(x)
    _check(out, "out", x)
    if x.size:
        _forward_kernel(x, out, code, x.dtype.type(0))
    return out


def channel_gradient(delta: np.ndarray, y: np.ndarray, x: np.ndarray, code: int) -> None:
    """delta = dL/dx in place, given delta = dL/dy, the output y and the input x (rows, C)."""
    code = _check_code(code)
    _check(delta, "delta")
    _check(y, "y", delta)
    _check(x, "x", delta)
    if delta.size:
        _gradient_kernel(delta, y, x, code, delta.dtype.type(0))
