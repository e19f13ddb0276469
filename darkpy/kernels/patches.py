"""Whole-image patch extraction (im2col) and its transpose (col2im, a scatter-add) on NHWC data.

A patch of output cell (oy, ox) is the size x size window whose top-left input pixel is
(oy*stride - pad, ox*stride - pad); it is stored as one row of size*size*C values ordered
(ky, kx, c), taps outside the image reading zero:

    cols[b, oy*out_w + ox, (ky*size + kx)*C + c] = x[b, oy*stride - pad + ky, ox*stride - pad + kx, c]

`scatter_patches` is the exact transpose: every row value is added back to the pixel it came
from, taps outside the image dropped. The [local] layer uses the pair for its forward and
backward; [deconvolutional] runs them the other way round (its forward is a scatter-add).
Kernels return new arrays of their input's dtype and never write to their inputs.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=False)
def extract_patches(x, size, stride, pad, out_h, out_w):
    """(n, h, w, c) -> (n, out_h*out_w, size*size*c), rows as in the module docstring."""
    n, h, w, c = x.shape
    k = size * size * c
    cols = np.zeros((n, out_h * out_w, k), dtype=x.dtype)
    for job in prange(n * out_h):
        b = job // out_h
        oy = job - b * out_h
        for ox in range(out_w):
            row = cols[b, oy * out_w + ox]
            for ky in range(size):
                iy = oy * stride - pad + ky
                if iy < 0 or iy >= h:
                    continue
                for kx in range(size):
                    ix = ox * stride - pad + kx
                    if ix < 0 or ix >= w:
                        continue
                    base = (ky * size + kx) * c
                    src = x[b, iy, ix]
                    for ch in range(c):
                        row[base + ch] = src[ch]
    return cols


@njit(parallel=True, cache=True, fastmath=False)
def scatter_patches(cols, out_h, out_w, h, w, c, size, stride, pad):
    """Transpose of extract_patches: (n, out_h*out_w, size*size*c) -> (n, h, w, c) sums.

    Windows overlap when stride < size, so the work is split by image and channel, never by
    pixel rows (two rows may add into the same pixel).
    """
    n = cols.shape[0]
    out = np.zeros((n, h, w, c), dtype=cols.dtype)
    for job in prange(n * c):
        b = job // c
        ch = job - b * c
        for oy in range(out_h):
            for ox in range(out_w):
                row = cols[b, oy * out_w + ox]
                for ky in range(size):
                    iy = oy * stride - pad + ky
                    if iy < 0 or iy >= h:
                        continue
                    for kx in range(size):
                        ix = ox * stride - pad + kx
                        if ix < 0 or ix >= w:
                            continue
                        out[b, iy, ix, ch] += row[(ky * size + kx) * c + ch]
    return out
