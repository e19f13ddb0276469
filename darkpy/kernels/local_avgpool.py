"""AlexeyAB's [local_avgpool]: a windowed mean that counts only cells inside the image.

    out[b, oy, ox, k] = mean of x[b, oy*stride_y + off + dy, ox*stride_x + off + dx, k]
                        over 0 <= dy, dx < size with the cell inside the image,
    off = -(padding / 2)  (C division)

The divisor is the number of cells that fell inside (darknet's `counter`), not size*size, so
padding never dilutes the mean; a window entirely outside the image divides 0 by 0 (NaN), as
darknet's float arithmetic does. The gradient gives each inside cell delta / counter.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy")
def local_avgpool(x, size, stride_y, stride_x, offset, out_h, out_w):
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c), dtype=x.dtype)
    for job in prange(n * out_h):
        b = job // out_h
        oy = job - b * out_h
        for ox in range(out_w):
            acc = out[b, oy, ox]
            count = 0
            for dy in range(size):
                iy = offset + oy * stride_y + dy
                if iy < 0 or iy >= h:
                    continue
                for dx in range(size):
                    ix = offset + ox * stride_x + dx
                    if ix < 0 or ix >= w:
                        continue
                    count += 1
                    src = x[b, iy, ix]
                    for k in range(c):
                        acc[k] += src[k]
            # darknet divides the float sum by the int count; dividing in float64 and rounding
            # once gives the same float32 as a float32 division
            for k in range(c):
                acc[k] = acc[k] / count
    return out


@njit(parallel=True, cache=True, fastmath=False)
def local_avgpool_backward(delta, h, w, size, stride_y, stride_x, offset):
    """dx[b, iy, ix, k] = sum over the windows holding (iy, ix) of delta / that window's count.

    Windows overlap when stride < size, so the work is split by image and channel."""
    n, out_h, out_w, c = delta.shape
    dx = np.zeros((n, h, w, c), dtype=delta.dtype)
    for job in prange(n * c):
        b = job // c
        k = job - b * c
        for oy in range(out_h):
            y0 = offset + oy * stride_y
            ny = min(y0 + size, h) - max(y0, 0)
            for ox in range(out_w):
                x0 = offset + ox * stride_x
                nx = min(x0 + size, w) - max(x0, 0)
                if ny <= 0 or nx <= 0:
                    continue
                share = delta[b, oy, ox, k] / (ny * nx)
                for iy in range(max(y0, 0), min(y0 + size, h)):
                    for ix in range(max(x0, 0), min(x0 + size, w)):
                        dx[b, iy, ix, k] += share
    return dx
