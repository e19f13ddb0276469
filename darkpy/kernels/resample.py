"""Kernels that move pixels between space and depth, on NHWC tensors, and their gradients.

Every kernel returns a new array of its input's dtype (float32 normally, float64 for gradient
checks) and never writes to its input. The forward kernels are serial numba loops over a
range of rows (or channels), run by workers.run_rows: on the calling thread for small
tensors, else on darkpy's workers, so that inference never wakes numba's thread pool.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from darkpy.kernels import aligned, recycle
from darkpy.kernels.workers import run_rows


def upsample_nearest(x, stride, scale):
    """out[b, y, x, k] = scale * x[b, y // stride, x // stride, k] (darknet's upsample_cpu)."""
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    out = np.empty((n, h * stride, w * stride, c), dtype=x.dtype)
    run_rows(n * h * stride, out.size, lambda r0, r1: _upsample_rows(x, stride, scale, r0, r1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _upsample_rows(x, stride, scale, r0, r1, out):
    """upsample_nearest for output rows [r0, r1); flat unsigned offsets (see im2col)."""
    _, h, w, c = x.shape
    out_h = h * stride
    out_w = w * stride
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    cu = uint64(c)
    for row in range(r0, r1):
        b = row // out_h
        y = row - b * out_h
        src_row = (b * h + y // stride) * w
        for ox in range(out_w):
            src = uint64((src_row + ox // stride) * c)
            dst = uint64((row * out_w + ox) * c)
            for k in range(cu):
                of[dst + k] = scale * xf[src + k]


def downsample_sum(x, stride, scale):
    """out[b, y, x, k] = sum over the stride x stride block of scale * x (darknet's upsample with
    a negative stride). The caller guarantees h and w are multiples of stride. Terms are added
    in row-major order starting from 0, as darknet accumulates them."""
    n, h, w, c = x.shape
    out = np.empty((n, h // stride, w // stride, c), dtype=x.dtype)
    run_rows(n * (h // stride), x.size,
             lambda r0, r1: _downsample_rows(x, stride, scale, r0, r1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _downsample_rows(x, stride, scale, r0, r1, out):
    out_h = out.shape[1]
    out_w = out.shape[2]
    c = x.shape[3]
    for row in range(r0, r1):
        b = row // out_h
        y = row - b * out_h
        for ox in range(out_w):
            acc = out[b, y, ox]
            for k in range(c):
                acc[k] = 0.0
            for dy in range(stride):
                for dx in range(stride):
                    src = x[b, y * stride + dy, ox * stride + dx]
                    for k in range(c):
                        acc[k] += scale * src[k]


def reorg(x, stride, reverse):
    """pjreddie's reorg_cpu, reproduced on NHWC data.

    darknet walks the input's (c, h, w) grid and pairs two flat CHW offsets:
      p = i + w*(j + h*k)                         (the input's own grid)
      q = w2 + w*s*(h2 + h*s*c2)                  (a grid s times larger with c/s^2 channels)
    with c2 = k % (c/s^2), o = k // (c/s^2), w2 = i*s + o % s, h2 = j*s + o // s.
    reverse=1 copies flat p -> flat q (a clean depth-to-space); reverse=0 (the usual YOLOv2
    layer) copies flat q -> flat p, reading the input buffer as if it had the larger grid and
    writing the output buffer with the input's grid. Each flat offset is decoded in the frame
    of the tensor it indexes, so this reproduces darknet's famously non-standard shuffle.
    The caller guarantees c % s^2 == 0 and, for reverse=0, h % s == w % s == 0.
    """
    n, h, w, c = x.shape
    s = stride
    if reverse:
        shape = (n, h * s, w * s, c // (s * s))
    else:
        shape = (n, h // s, w // s, c * s * s)
    out = np.empty(shape, dtype=x.dtype)
    run_rows(n * c, 4 * x.size, lambda j0, j1: _reorg_jobs(x, stride, reverse, j0, j1, out))
    return out


@njit(inline="always", cache=True)
def _reorg_pair(j, i, k, h, w, s, small_c, out_h, out_w, reverse):
    """The one (input cell, output cell) pair `reorg` links for input index (j, i, k): returns
    (iy, ix, ik, oy, ox, ok). Shared by the forward copy and its inverse in the backward."""
    c2 = k % small_c
    o = k // small_c
    h2 = j * s + o // s
    w2 = i * s + o % s
    if reverse:
        return j, i, k, h2, w2, c2
    p = i + w * (j + h * k)
    q = w2 + w * s * (h2 + h * s * c2)
    ox = p % out_w
    t = p // out_w
    oy = t % out_h
    ok = t // out_h
    ix = q % w
    t = q // w
    return t % h, ix, t // h, oy, ox, ok


@njit(nogil=True, cache=True, fastmath=False)
def _reorg_jobs(x, stride, reverse, j0, j1, out):
    """reorg for jobs [j0, j1), one per (image, input channel)."""
    _, h, w, c = x.shape
    small_c = c // (stride * stride)
    out_h = out.shape[1]
    out_w = out.shape[2]
    for job in range(j0, j1):
        b = job // c
        k = job - b * c
        for j in range(h):
            for i in range(w):
                iy, ix, ik, oy, ox, ok = _reorg_pair(j, i, k, h, w, stride, small_c,
                                                     out_h, out_w, reverse)
                out[b, oy, ox, ok] = x[b, iy, ix, ik]


def pixel_shuffle(x, r):
    """(h, w, c*r*r) -> (h*r, w*r, c): input channel cc*r*r + i*r + j goes to output pixel
    (y*r + i, x*r + j), channel cc -- the channel order of torch.nn.PixelShuffle."""
    n, h, w, c_in = x.shape
    out = recycle.empty((n, h * r, w * r, c_in // (r * r)), x.dtype)
    if r == 2:
        run_rows(n * h, x.size, lambda r0, r1: _pixel_shuffle_rows_2(x, r0, r1, out, False))
    else:
        run_rows(n * h * r, x.size, lambda r0, r1: _pixel_shuffle_rows(x, r, r0, r1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _pixel_shuffle_rows_2(x, r0, r1, out, inverse):
    """pixel_shuffle for r = 2 on input rows [r0, r1) (inverse: pixel_unshuffle, out the
    small array): each pixel's 4c channels and its 2x2 output pixels are one (c, 4) <-> (4,
    c) transpose, written as four loops' worth of assignments per channel, which LLVM turns
    into vector shuffles (the general loops read or write every 4th float one at a time:
    ~25% slower on EDSR's 64 -> 256 upsampler)."""
    if inverse:
        small, big = out, x
    else:
        small, big = x, out
    h = small.shape[1]
    w = small.shape[2]
    c = big.shape[3]
    for row in range(r0, r1):
        b = row // h
        y = row - b * h
        top = big[b, 2 * y]
        bottom = big[b, 2 * y + 1]
        for ix in range(w):
            s = small[b, y, ix]
            d0 = top[2 * ix]
            d1 = top[2 * ix + 1]
            d2 = bottom[2 * ix]
            d3 = bottom[2 * ix + 1]
            if inverse:
                for cc in range(c):
                    s[4 * cc] = d0[cc]
                    s[4 * cc + 1] = d1[cc]
                    s[4 * cc + 2] = d2[cc]
                    s[4 * cc + 3] = d3[cc]
            else:
                for cc in range(c):
                    d0[cc] = s[4 * cc]
                    d1[cc] = s[4 * cc + 1]
                    d2[cc] = s[4 * cc + 2]
                    d3[cc] = s[4 * cc + 3]


@njit(nogil=True, cache=True, fastmath=False)
def _pixel_shuffle_rows(x, r, r0, r1, out):
    out_h = out.shape[1]
    out_w = out.shape[2]
    c = out.shape[3]
    for row in range(r0, r1):
        b = row // out_h
        oy = row - b * out_h
        y = oy // r
        i = oy - y * r
        for ox in range(out_w):
            ix = ox // r
            j = ox - ix * r
            src = x[b, y, ix]
            dst = out[b, oy, ox]
            base = i * r + j
            for cc in range(c):
                dst[cc] = src[cc * r * r + base]


# --- gradients --------------------------------------------------------------------------------
# upsample_nearest and downsample_sum are each other's transposes (with the same scale), so the
# upsample layer's backward reuses them; reorg and pixel_shuffle are permutations, whose
# gradients are the inverse permutations below.


@njit(parallel=True, cache=True, fastmath=False)
def reorg_backward(delta, h, w, c, stride, reverse):
    """Gradient of `reorg` for an (n, h, w, c) input: every output cell's delta goes back to the
    single input cell `reorg` copied it from (the same index pairs, read the other way)."""
    n = delta.shape[0]
    small_c = c // (stride * stride)
    out_h = delta.shape[1]
    out_w = delta.shape[2]
    dx = np.empty((n, h, w, c), dtype=delta.dtype)
    for job in prange(n * c):
        b = job // c
        k = job - b * c
        for j in range(h):
            for i in range(w):
                iy, ix, ik, oy, ox, ok = _reorg_pair(j, i, k, h, w, stride, small_c,
                                                     out_h, out_w, reverse)
                dx[b, iy, ix, ik] = delta[b, oy, ox, ok]
    return dx


def pixel_unshuffle(x, r):
    """(h*r, w*r, c) -> (h, w, c*r*r), the inverse of pixel_shuffle (and so its gradient):
    out[b, y, ix, cc*r*r + i*r + j] = x[b, y*r + i, ix*r + j, cc]. On the convolution
    workers, as the forward kernels."""
    x = np.ascontiguousarray(x)
    n, big_h, big_w, c = x.shape
    out = aligned.empty((n, big_h // r, big_w // r, c * r * r), x.dtype)
    if r == 2:
        run_rows(n * (big_h // r), x.size,
                 lambda r0, r1: _pixel_shuffle_rows_2(x, r0, r1, out, True))
    else:
        run_rows(n * (big_h // r), x.size,
                 lambda r0, r1: _pixel_unshuffle_rows(x, r, r0, r1, out))
    return out


@njit(nogil=True, cache=True, fastmath=False)
def _pixel_unshuffle_rows(x, r, r0, r1, out):
    """pixel_unshuffle for output rows [r0, r1): each output pixel gathers its r*r input
    pixels, writing every r*r-th channel."""
    h = out.shape[1]
    w = out.shape[2]
    c = x.shape[3]
    rr = r * r
    for row in range(r0, r1):
        b = row // h
        y = row - b * h
        for ix in range(w):
            dst = out[b, y, ix]
            for i in range(r):
                for j in range(r):
                    src = x[b, y * r + i, ix * r + j]
                    base = i * r + j
                    for cc in range(c):
                        dst[cc * rr + base] = src[cc]
