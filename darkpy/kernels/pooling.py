"""Pooling kernels on NHWC tensors, with darknet's arithmetic, and their gradients.

Every kernel returns a new array of its input's dtype (float32 normally, float64 for gradient
checks) and never writes to its inputs. The forward kernels are serial numba loops over a
range of rows, run by workers.run_rows: on the calling thread for small tensors, else on
darkpy's workers (so that inference never wakes numba's own thread pool; see workers.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from darkpy.kernels.workers import run_rows

# darknet starts every max at -FLT_MAX and lets a value win only when strictly greater, so
# NaN never wins and a window holding only -inf (or only padding) yields -FLT_MAX.
LOWEST = np.float32(-np.finfo(np.float32).max)

_CHANNEL_BLOCK = 16


def maxpool2d(x, size, stride_y, stride_x, offset_y, offset_x, out_h, out_w):
    """out[b, oy, ox, k] = max of x[b, offset_y + oy*stride_y + dy, offset_x + ox*stride_x + dx, k]
    over 0 <= dy, dx < size, cells outside the image excluded (darknet's -FLT_MAX padding)."""
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    out = np.empty((n, out_h, out_w, c), dtype=x.dtype)
    # every 2x2 window overlaps the image: clamping a coordinate into it repeats a cell of
    # the same window, which leaves the max unchanged (and the loops branch-free)
    overlaps = (offset_y >= -1 and offset_y + (out_h - 1) * stride_y < h
                and offset_x >= -1 and offset_x + (out_w - 1) * stride_x < w)
    if size == 2 and overlaps:
        def rows(r0, r1):
            _maxpool2x2_rows(x, stride_y, stride_x, offset_y, offset_x, r0, r1, out)
    else:
        def rows(r0, r1):
            _maxpool2d_rows(x, size, stride_y, stride_x, offset_y, offset_x, r0, r1, out)
    run_rows(n * out_h, out.size * size * size, rows)
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _maxpool2d_rows(x, size, stride_y, stride_x, offset_y, offset_x, r0, r1, out):
    """maxpool2d for output rows [r0, r1) of out's (n*out_h) rows.

    Per output pixel, one loop over the contiguous channels per window cell, with an
    unconditional select-and-store so that LLVM vectorises it, and flat unsigned offsets
    (numba's wraparound of signed indices blocks vectorisation; see im2col_pixels).
    """
    _, h, w, c = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    cu = uint64(c)
    for row in range(r0, r1):
        b = row // out_h
        oy = row - b * out_h
        y0 = offset_y + oy * stride_y
        dy0 = max(0, -y0)
        dy1 = min(size, h - y0)
        for ox in range(out_w):
            x0 = offset_x + ox * stride_x
            dx0 = max(0, -x0)
            dx1 = min(size, w - x0)
            d = uint64((row * out_w + ox) * c)
            for k in range(cu):
                of[d + k] = LOWEST
            for dy in range(dy0, dy1):
                for dx in range(dx0, dx1):
                    src = uint64(((b * h + y0 + dy) * w + x0 + dx) * c)
                    for k in range(cu):
                        v = xf[src + k]
                        m = of[d + k]
                        of[d + k] = v if v > m else m


@njit(nogil=True, cache=True, fastmath=False)
def _maxpool2x2_rows(x, stride_y, stride_x, offset_y, offset_x, r0, r1, out):
    """_maxpool2d_rows for 2x2 windows that all overlap the image: one loop over channels
    per output pixel, taking the four cells at once (short channel runs, 16 in
    yolov3-tiny's first pool, are dominated by per-loop costs otherwise)."""
    _, h, w, c = x.shape
    out_h = out.shape[1]
    out_w = out.shape[2]
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    cu = uint64(c)
    for row in range(r0, r1):
        b = row // out_h
        oy = row - b * out_h
        y0 = offset_y + oy * stride_y
        top = b * h + min(max(y0, 0), h - 1)
        bottom = b * h + min(max(y0 + 1, 0), h - 1)
        for ox in range(out_w):
            x0 = offset_x + ox * stride_x
            left = min(max(x0, 0), w - 1)
            right = min(max(x0 + 1, 0), w - 1)
            d = uint64((row * out_w + ox) * c)
            s00 = uint64((top * w + left) * c)
            s01 = uint64((top * w + right) * c)
            s10 = uint64((bottom * w + left) * c)
            s11 = uint64((bottom * w + right) * c)
            for k in range(cu):
                m = LOWEST
                v = xf[s00 + k]
                m = v if v > m else m
                v = xf[s01 + k]
                m = v if v > m else m
                v = xf[s10 + k]
                m = v if v > m else m
                v = xf[s11 + k]
                m = v if v > m else m
                of[d + k] = m


def maxpool_depth(x, out_channels):
    """AlexeyAB's maxpool_depth: out[..., g] = max over channels g, g+out_channels, g+2*out_channels..."""
    n, h, w, c = x.shape
    out = np.empty((n, h, w, out_channels), dtype=x.dtype)
    run_rows(n * h, x.size, lambda r0, r1: _maxpool_depth_rows(x, out_channels, r0, r1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _maxpool_depth_rows(x, out_channels, r0, r1, out):
    h = x.shape[1]
    w = x.shape[2]
    c = x.shape[3]
    for row in range(r0, r1):
        b = row // h
        y = row - b * h
        for ix in range(w):
            src = x[b, y, ix]
            dst = out[b, y, ix]
            for g in range(out_channels):
                best = LOWEST
                for k in range(g, c, out_channels):
                    if src[k] > best:
                        best = src[k]
                dst[g] = best


def global_avgpool(x):
    """Mean over all pixels per channel -> (n, 1, 1, c).

    Sums in the input's dtype in row-major pixel order, then divides by h*w: the same operations in the
    same order as darknet's forward_avgpool_layer, so results match it bit for bit."""
    n, _, _, c = x.shape
    out = np.empty((n, 1, 1, c), dtype=x.dtype)
    blocks = (c + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK
    run_rows(n * blocks, x.size, lambda j0, j1: _global_avgpool_jobs(x, j0, j1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _global_avgpool_jobs(x, j0, j1, out):
    """Jobs [j0, j1) of global_avgpool, one per (image, block of _CHANNEL_BLOCK channels)."""
    _, h, w, c = x.shape
    blocks = (c + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK
    count = np.float32(h * w)
    acc = np.zeros(_CHANNEL_BLOCK, dtype=x.dtype)
    for job in range(j0, j1):
        b = job // blocks
        k0 = (job - b * blocks) * _CHANNEL_BLOCK
        k1 = min(k0 + _CHANNEL_BLOCK, c)
        acc[:] = 0
        for y in range(h):
            for ix in range(w):
                src = x[b, y, ix]
                for k in range(k0, k1):
                    acc[k - k0] += src[k]
        for k in range(k0, k1):
            out[b, 0, 0, k] = acc[k - k0] / count


# --- gradients --------------------------------------------------------------------------------
# The max kernels' gradients find each window's winner again from the input, with the forward's
# comparisons in the forward's order, so no index buffer has to be kept between the passes.


def maxpool2d_backward(x, delta, size, stride_y, stride_x, offset_y, offset_x):
    """dx[b, iy, ix, k] = sum of delta[b, oy, ox, k] over the windows whose max is x[b, iy, ix, k].

    The winner is darknet's stored index: the first cell in row-major window order that is
    strictly greater than every earlier one (and than -FLT_MAX), so on ties the first wins and
    padding never does; a window with no winner (all NaN or <= -FLT_MAX) passes no gradient.
    Windows that tile the input (size = stride, no padding before: darknet's 2x2/2) are
    independent rows of windows, run on darkpy's workers; overlapping ones go by channel
    blocks (_maxpool2d_backward_overlapping).
    """
    x = np.ascontiguousarray(x)
    delta = np.ascontiguousarray(delta, x.dtype)
    n, h, w, c = x.shape
    out_h, out_w = delta.shape[1], delta.shape[2]
    if not (size == stride_y == stride_x and offset_y == 0 and offset_x == 0):
        return _maxpool2d_backward_overlapping(x, delta, size, stride_y, stride_x, offset_y,
                                               offset_x)
    covered = out_h * size >= h and out_w * size >= w
    dx = np.empty_like(x) if covered else np.zeros_like(x)
    run_rows(n * out_h, x.size, lambda r0, r1: _maxpool_tiles_backward(x, delta, size, r0, r1,
                                                                       dx))
    return dx


@njit(nogil=True, cache=True, fastmath=False)
def _maxpool_tiles_backward(x, delta, size, r0, r1, dx):
    """maxpool2d_backward for windows that tile the input, output rows [r0, r1) of the
    (n*out_h) rows: every cell of those windows written (the winner's gradient, or 0)."""
    _, h, w, c = x.shape
    out_h, out_w = delta.shape[1], delta.shape[2]
    best = np.empty(c, x.dtype)
    which = np.empty(c, np.int64)
    zero = np.zeros(1, x.dtype)[0]
    for row in range(r0, r1):
        b = row // out_h
        oy = row - b * out_h
        y0 = oy * size
        y1 = min(h, y0 + size)
        for ox in range(out_w):
            x0 = ox * size
            x1 = min(w, x0 + size)
            for k in range(c):
                best[k] = LOWEST
                which[k] = -1
            for iy in range(y0, y1):
                for ix in range(x0, x1):
                    cell = (iy - y0) * size + ix - x0
                    src = x[b, iy, ix]
                    for k in range(c):
                        v = src[k]
                        win = v > best[k]
                        best[k] = v if win else best[k]
                        which[k] = cell if win else which[k]
            g = delta[b, oy, ox]
            for iy in range(y0, y1):
                for ix in range(x0, x1):
                    cell = (iy - y0) * size + ix - x0
                    dst = dx[b, iy, ix]
                    for k in range(c):
                        dst[k] = g[k] if which[k] == cell else zero


@njit(parallel=True, cache=True, fastmath=False)
def _maxpool2d_backward_overlapping(x, delta, size, stride_y, stride_x, offset_y, offset_x):
    """maxpool2d_backward for any windows. They overlap when stride < size, so the work is
    split by channel blocks, never by rows."""
    n, h, w, c = x.shape
    out_h = delta.shape[1]
    out_w = delta.shape[2]
    dx = np.zeros((n, h, w, c), dtype=x.dtype)
    blocks = (c + _CHANNEL_BLOCK - 1) // _CHANNEL_BLOCK
    for job in prange(n * blocks):
        b = job // blocks
        k0 = (job - b * blocks) * _CHANNEL_BLOCK
        k1 = min(k0 + _CHANNEL_BLOCK, c)
        best = np.empty(_CHANNEL_BLOCK, dtype=x.dtype)
        best_y = np.empty(_CHANNEL_BLOCK, dtype=np.int64)
        best_x = np.empty(_CHANNEL_BLOCK, dtype=np.int64)
        for oy in range(out_h):
            y0 = offset_y + oy * stride_y
            for ox in range(out_w):
                x0 = offset_x + ox * stride_x
                for k in range(k1 - k0):
                    best[k] = LOWEST
                    best_y[k] = -1
                for wy in range(size):
                    iy = y0 + wy
                    if iy < 0 or iy >= h:
                        continue
                    for wx in range(size):
                        ix = x0 + wx
                        if ix < 0 or ix >= w:
                            continue
                        src = x[b, iy, ix]
                        for k in range(k0, k1):
                            v = src[k]
                            if v > best[k - k0]:
                                best[k - k0] = v
                                best_y[k - k0] = iy
                                best_x[k - k0] = ix
                grad = delta[b, oy, ox]
                for k in range(k0, k1):
                    if best_y[k - k0] >= 0:
                        dx[b, best_y[k - k0], best_x[k - k0], k] += grad[k]
    return dx


@njit(parallel=True, cache=True, fastmath=False)
def maxpool_depth_backward(x, delta):
    """Gradient of maxpool_depth: delta[..., g] goes to the first channel g + i*out_channels
    holding the group's max (darknet's index rule); every input channel is in one group only."""
    n, h, w, c = x.shape
    out_channels = delta.shape[3]
    dx = np.zeros((n, h, w, c), dtype=x.dtype)
    for row in prange(n * h):
        b = row // h
        y = row - b * h
        for ix in range(w):
            src = x[b, y, ix]
            for g in range(out_channels):
                best = LOWEST
                winner = -1
                for k in range(g, c, out_channels):
                    if src[k] > best:
                        best = src[k]
                        winner = k
                if winner >= 0:
                    dx[b, y, ix, winner] = delta[b, y, ix, g]
    return dx
