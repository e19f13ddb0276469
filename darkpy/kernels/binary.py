"""Binarisation for darknet's binary (`binary=1`) and XNOR (`xnor=1`) convolutions.

binarize_filters, darknet's binarize_weights: for output channel f with weights w_f (all
Cin/groups*K*K of them)

    mean_f = sum |w_f| / (Cin/groups*K*K),    wb_f = mean_f where w_f > 0, else -mean_f

(0 counts as negative). darknet sums in its (Cin, ky, kx) order in float and divides in
float; the kernel does the same in the weights' precision, so the float32 result is darknet's
bit for bit.

sign_input, darknet's binarize_cpu: out = high where x > 0, else low (0 and NaN count as
negative; darknet's CPU writes +1 / -1, its GPU kernel tests x >= 0 instead).

offset_scale_shift: y = (y + offset) * scale + shift per channel, rounded after each step as
darknet's (2*count - K) * mean + bias is.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_CHUNK = 16384


@njit(parallel=True, cache=True, error_model="numpy")
def _binarize_filters(w, out, means, zero):
    kh, kw, cg, n = w.shape
    size = kh * kw * cg
    for f in prange(n):
        total = zero  # keeps the sum in w's precision, added in darknet's order
        for c in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    total += abs(w[ky, kx, c, f])
        means[f] = total / size  # one rounding to w's dtype: darknet's float division
        mean = means[f]
        for c in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    out[ky, kx, c, f] = mean if w[ky, kx, c, f] > 0 else -mean


@njit(parallel=True, cache=True, error_model="numpy")
def _sign_input(x, out, low, high):
    n = x.size
    for k in prange((n + _CHUNK - 1) // _CHUNK):
        for i in range(k * _CHUNK, min(n, (k + 1) * _CHUNK)):
            out[i] = high if x[i] > 0 else low


def binarize_filters(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(binarized weights, per-filter means) for weights in darkpy's (K, K, Cin/groups, Cout)
    layout; both in the weights' dtype."""
    w = np.ascontiguousarray(weights)
    if w.ndim != 4 or w.dtype not in (np.float32, np.float64):
        raise ValueError("weights must be a (K, K, Cin/groups, Cout) float32 or float64 array")
    out = np.empty_like(w)
    means = np.empty(w.shape[3], w.dtype)
    if w.size:
        _binarize_filters(w, out, means, w.dtype.type(0))
    return out, means


def sign_input(x: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """A new array of x's shape and dtype: `high` where x > 0, else `low`."""
    x = np.ascontiguousarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise ValueError("x must be float32 or float64")
    out = np.empty_like(x)
    if x.size:
        _sign_input(x.reshape(-1), out.reshape(-1), x.dtype.type(low), x.dtype.type(high))
    return out


@njit(parallel=True, cache=True, error_model="numpy")
def _offset_scale_shift(y, offset, scale, shift):
    rows, cols = y.shape
    for r in prange(rows):
        for c in range(cols):
            t = y[r, c] + offset[c]
            t = t * scale[c]
            y[r, c] = t + shift[c]


def offset_scale_shift(y: np.ndarray, offset: np.ndarray, scale: np.ndarray,
                       shift: np.ndarray) -> None:
    """In place on a C-contiguous (rows, C) array; offset, scale, shift: (C,) of y's dtype."""
    if y.ndim != 2 or not y.flags.c_contiguous:
        raise ValueError("y must be a C-contiguous (rows, channels) array")
    vectors = [np.ascontiguousarray(v, y.dtype).reshape(-1) for v in (offset, scale, shift)]
    if any(v.size != y.shape[1] for v in vectors):
        raise ValueError(f"offset, scale and shift need {y.shape[1]} values each")
    if y.size:
        _offset_scale_shift(y, *vectors)
