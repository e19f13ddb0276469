"""Unit-length rows: pjreddie's l2normalize_cpu on NHWC data viewed as (rows, C).

For each row (one pixel's C channel values)
    n = sqrt(sum_k x_k^2),    y_k = x_k / n
with the sum accumulated in channel order in the data's precision, as darknet does in float32
(so float32 results equal darknet's loop bit for bit). A row whose n is 0 gets y = 0, where
darknet divides by zero (NaN, or +-inf when the squares underflow).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(inline="always", cache=True, fastmath=False, error_model="numpy")
def _row_norm(x, r, zero):
    """sqrt of the sum of row r's squares, accumulated in channel order in x's precision."""
    total = zero
    for k in range(x.shape[1]):
        total += x[r, k] * x[r, k]
    return math.sqrt(total)


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _normalize_kernel(x, out, zero):
    # `zero` is 0 in x's dtype: it keeps the sum in x's precision (float32, or float64 in
    # gradient checks)
    rows, channels = x.shape
    for r in prange(rows):
        norm = _row_norm(x, r, zero)
        for k in range(channels):
            out[r, k] = zero if norm == 0 else x[r, k] / norm


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def _gradient_kernel(x, y, g, out, zero):
    # dx = (g - y (g . y)) / n, the derivative of x / |x|; 0 where n = 0 (no direction there)
    rows, channels = x.shape
    for r in prange(rows):
        norm = _row_norm(x, r, zero)
        dot = zero
        for k in range(channels):
            dot += g[r, k] * y[r, k]
        for k in range(channels):
            out[r, k] = zero if norm == 0 else (g[r, k] - y[r, k] * dot) / norm


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """A new array: every pixel's channel vector (last axis) of the C-contiguous x scaled to
    unit length (0 where its length is 0)."""
    out = np.empty_like(x)
    if x.size:
        _normalize_kernel(_rows(x), _rows(out), x.dtype.type(0))
    return out


def l2_normalize_gradient(delta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dx for y = l2_normalize(x) given dL/dy (all C-contiguous, one dtype)."""
    out = np.empty_like(delta)
    if delta.size:
        _gradient_kernel(_rows(x), _rows(y), _rows(delta), _rows(out), delta.dtype.type(0))
    return out
