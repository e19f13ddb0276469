"""Element-wise kernels on NHWC tensors: the shortcut (generalised residual) sum and its gradient.

Every kernel returns new arrays of its inputs' dtype (float32 normally, float64 for gradient
checks) and never writes to its inputs. The forward kernel is a serial numba loop over rows run
by workers.run_rows (on the calling thread when small, else on darkpy's workers).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from darkpy.kernels import aligned
from darkpy.kernels.activations import LINEAR
# the scalar f(x) behind activations.activate, called per value to fuse the activation here
from darkpy.kernels.activations import act_scalar
# ... and the scalar f'(x) given y = f(x) (and x) behind activations.activate_gradient
from darkpy.kernels.activations import grad_scalar as act_grad_scalar
from darkpy.kernels.workers import run_rows


def shortcut(prev, add, alpha, beta, code, out=None):
    """out = f(alpha*prev + beta*add) in one pass (a new array, or `out`, which may be prev
    itself: each cell is read before it is written), with darknet's shortcut_cpu rules when the
    shapes differ (prev: (n, h2, w2, c2) fixes the output shape; add: (n, h1, w1, c1)).

    stride = max(w1 // w2, 1) and sample = max(w2 // w1, 1): `add` is read every `stride`
    pixels and written every `sample` pixels of the output, for the first min(h1, h2) x
    min(w1, w2) x min(c1, c2) of them; the caller checks h ratios equal w ratios as darknet
    asserts. Output cells no `add` cell reaches keep prev unscaled (darknet never multiplies
    them by alpha); the activation f (code from darkpy.kernels.activations) covers all cells.
    """
    n, h2, w2, c2 = prev.shape
    if out is None:
        out = aligned.empty((n, h2, w2, c2), prev.dtype)
    if prev.shape == add.shape and all(a.flags.c_contiguous for a in (prev, add, out)):
        # the plain residual sum: one flat loop, which vectorises whatever C is (per pixel,
        # WDSR-A's 3-channel 2040x1356 sum took 29 ms on one thread, numpy's add 9)
        p, a, o = prev.reshape(-1), add.reshape(-1), out.reshape(-1)
        size = o.size
        chunks = -(-size // FLAT_CHUNK)
        run_rows(chunks, 2 * size, lambda r0, r1: _shortcut_flat(
            p, a, alpha, beta, code, r0 * FLAT_CHUNK, min(size, r1 * FLAT_CHUNK), o))
        return out
    run_rows(n * h2, 2 * out.size,
             lambda r0, r1: _shortcut_rows(prev, add, alpha, beta, code, r0, r1, out))
    return out


# values per row of shortcut's flat path, for run_rows' split across the workers
FLAT_CHUNK = 1 << 14


@njit(nogil=True, cache=True, fastmath=False)
def _shortcut_flat(prev, add, alpha, beta, code, i0, i1, out):
    """shortcut of equal shapes for the flat values [i0, i1), with _shortcut_rows's
    arithmetic (the same bits)."""
    # slices indexed from 0: numba cannot tell that an index from range(i0, i1) is not
    # negative, and its wraparound check kept the loop from vectorising (3x slower)
    p, a, o = prev[i0:i1], add[i0:i1], out[i0:i1]
    for i in range(o.size):
        o[i] = alpha * p[i] + beta * a[i]
    if code != LINEAR:
        for i in range(o.size):
            o[i] = act_scalar(o[i], code)


@njit(nogil=True, cache=True, fastmath=False)
def _shortcut_rows(prev, add, alpha, beta, code, r0, r1, out):
    """shortcut for output rows [r0, r1) of out's (n*h2) rows."""
    h2 = prev.shape[1]
    w2 = prev.shape[2]
    c2 = prev.shape[3]
    h1 = add.shape[1]
    w1 = add.shape[2]
    c1 = add.shape[3]
    stride = max(w1 // w2, 1)
    sample = max(w2 // w1, 1)
    min_h = min(h1, h2)
    min_w = min(w1, w2)
    min_c = min(c1, c2)
    for row in range(r0, r1):
        b = row // h2
        y = row - b * h2
        row_hit = y % sample == 0 and y // sample < min_h
        add_y = (y // sample) * stride
        for x in range(w2):
            src = prev[b, y, x]
            dst = out[b, y, x]
            k0 = 0
            if row_hit and x % sample == 0 and x // sample < min_w:
                other = add[b, add_y, (x // sample) * stride]
                for k in range(min_c):
                    dst[k] = alpha * src[k] + beta * other[k]
                k0 = min_c
            for k in range(k0, c2):
                dst[k] = src[k]
            if code != LINEAR:
                for k in range(c2):
                    dst[k] = act_scalar(dst[k], code)


@njit(nogil=True, cache=True, fastmath=False)
def residual_rows(y, other, r0, r1, alpha, beta, code):
    """y[r] = f(alpha*y[r] + beta*other[r]) for rows [r0, r1) of two C-contiguous (rows, C)
    arrays of one shape: the shortcut of equal shapes in place (_shortcut_flat over those
    rows' values), for a convolution that finishes its output rows with the shortcut while
    they are in cache."""
    cols = y.shape[1]
    flat = y.reshape(y.size)
    _shortcut_flat(flat, other.reshape(other.size), alpha, beta, code, r0 * cols, r1 * cols,
                   flat)


@njit(parallel=True, cache=True, fastmath=False)
def shortcut_backward(delta, out, pre, h1, w1, c1, alpha, beta, code):
    """Gradients of `shortcut` for prev (the output's shape) and add (n, h1, w1, c1).

    With g = delta * f'(z), z the pre-activation sum (`pre`, read only by the activations
    whose derivative needs it: mish, swish, gelu; `out` = f(z) serves all others):
      cells `add` reaches:  d_prev = alpha * g,  d_add at the cell it was read from = beta * g
      all other cells:      d_prev = g (forward copied prev unscaled there)
    add cells no output reads get 0. Each add cell feeds at most one output cell, so rows of the
    output can run in parallel without two of them writing the same d_add cell.
    """
    n, h2, w2, c2 = delta.shape
    stride = max(w1 // w2, 1)
    sample = max(w2 // w1, 1)
    min_h = min(h1, h2)
    min_w = min(w1, w2)
    min_c = min(c1, c2)
    d_prev = np.empty((n, h2, w2, c2), dtype=delta.dtype)
    if h1 == h2 and w1 == w2 and c1 == c2:
        d_add = np.empty((n, h1, w1, c1), dtype=delta.dtype)  # every cell is written below
    else:
        d_add = np.zeros((n, h1, w1, c1), dtype=delta.dtype)
    for row in prange(n * h2):
        b = row // h2
        y = row - b * h2
        row_hit = y % sample == 0 and y // sample < min_h
        add_y = (y // sample) * stride
        for x in range(w2):
            grad_in = delta[b, y, x]
            g = d_prev[b, y, x]
            if code == LINEAR:
                for k in range(c2):
                    g[k] = grad_in[k]
            else:
                y_out = out[b, y, x]
                z = pre[b, y, x]
                for k in range(c2):
                    g[k] = grad_in[k] * act_grad_scalar(y_out[k], z[k], code)
            if row_hit and x % sample == 0 and x // sample < min_w:
                other = d_add[b, add_y, (x // sample) * stride]
                for k in range(min_c):
                    other[k] = beta * g[k]
                    g[k] = alpha * g[k]
    return d_prev, d_add


# channel_affine: pixels per row of its inner loop, so that a few channels (RGB) still make
# rows long enough to vectorise
AFFINE_PIXELS = 64


def channel_affine(x, scale, shift, reverse, out):
    """out = x * scale + shift (reverse) or (x - shift) / scale, per channel: shift (C,)
    float32, scale a float32; x and out float32 (N, H, W, C) C-contiguous. numpy's
    broadcasting over C = 3 runs an inner loop of three values (25 ms at 2040x1356); here
    rows of AFFINE_PIXELS pixels meet shift repeated as often, on the workers."""
    channels = x.shape[-1]
    flat_x = x.reshape(-1)
    flat_out = out.reshape(-1)
    pixels = flat_x.size // channels
    pattern = np.tile(np.broadcast_to(shift.astype(np.float32), (channels,)), AFFINE_PIXELS)
    rows = -(-pixels // AFFINE_PIXELS)
    run_rows(rows, 2 * flat_x.size,
             lambda r0, r1: _affine_rows(flat_x, scale, pattern, reverse, r0, r1, flat_out))


# error_model="numpy": no zero-divisor check per division (scale is never 0), which would
# keep the loop from vectorising, as would indices lo + i (see _shortcut_flat): the rows are
# slices instead. WDSR-A's 2040x1356 output, one thread: 5.4 vs 13.6 ms.
@njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
def _affine_rows(x, scale, pattern, reverse, r0, r1, out):
    width = pattern.size
    for r in range(r0, r1):
        lo = r * width
        src = x[lo:lo + width]
        dst = out[lo:lo + width]
        if reverse:
            for i in range(src.size):
                dst[i] = src[i] * scale + pattern[i]
        else:
            for i in range(src.size):
                dst[i] = (src[i] - pattern[i]) / scale
