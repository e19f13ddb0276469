"""darknet's training batch norm in darkpy's fast arithmetic, fused with the bias and activation
of its convolution (detector training's default; `darkpy train --exact` uses
kernels/batchnorm_darknet.py instead).

The formulas are darknet's, as kernels/batchnorm_darknet.py states them (forward: mean, the
unbiased variance, xn = (x - mean) / (sqrt(var) + 1e-6); backward: v = var + 1e-5 and 1/m),
followed here by y = f(xn * scales + biases) for the layer's activation f; with `alexeyab`
his epsilons instead (s = sqrt(var + 1e-5) forward, the first backward term over
sqrt(var) + 1e-5: batchnorm_darknet.py's module docstring). Only the
arithmetic differs: sums in float64 over fixed chunks of rows (their partials added in a
fixed order, so results do not depend on the thread count), the rows split across darkpy's
workers, and each value read as few times as possible:

forward: one pass for the per-channel sums of (x - c) and (x - c)^2 around c = the first row
(shifted sums keep the float64 variance exact to ~1e-16 relative unless the mean is ~1e8
standard deviations from c), one pass writing xn over x (x itself is not needed again) and y;

backward, for delta = dL/dy: one pass for sum(g) and sum(g * xn) with g = delta * f'(.),
one pass writing dL/dx over xn. Since x - mean = xn * s (s = sqrt(var) + 1e-6), darknet's

    dx = g * scales / sqrt(v) + var_delta * 2 (x - mean) / m + mean_delta / m
    mean_delta = -sum(g * scales) / sqrt(v),  var_delta = -.5 v^(-3/2) sum(g * scales (x - mean))

is dx = A g + B xn + C per channel with A = scales / sqrt(v), B = 2 s var_delta / m and
C = mean_delta / m; dbiases = sum(g), dscales = sum(g * xn). g is recomputed in the second
pass rather than stored; an activation whose derivative needs its input gets it recomputed
from xn as well.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from darkpy.kernels.activations import NEEDS_INPUT, activate_rows, gradient_rows
from darkpy.kernels.batchnorm_darknet import EPS_STD, EPS_VAR, ROLLING_KEEP, ROLLING_TAKE
from darkpy.kernels.workers import run_rows, scratch

# values (rows x channels) per chunk of rows: the unit of the partial sums
CHUNK_VALUES = 1 << 15


def _step(rows: int, cols: int) -> tuple[int, int]:
    step = max(1, CHUNK_VALUES // max(cols, 1))
    return step, -(-rows // step)


@njit(nogil=True, cache=True, fastmath=False)
def _sums(x, shift, k0, k1, step, s1, s2):
    """s1[k], s2[k] = per-channel sums of (x - shift) and its square over chunk k's rows."""
    rows, cols = x.shape
    for k in range(k0, k1):
        a = s1[k]
        b = s2[k]
        a[:] = 0.0
        b[:] = 0.0
        for r in range(k * step, min(rows, (k + 1) * step)):
            for c in range(cols):
                d = np.float64(x[r, c]) - shift[c]
                a[c] += d
                b[c] += d * d


@njit(nogil=True, cache=True, fastmath=False)
def _normalize(x, mean, inv_s, scales, biases, code, k0, k1, step, y):
    """xn = (x - mean) * inv_s over x in place; y = f(xn * scales + biases)."""
    rows, cols = x.shape
    for k in range(k0, k1):
        r0 = k * step
        r1 = min(rows, r0 + step)
        for r in range(r0, r1):
            for c in range(cols):
                v = (x[r, c] - mean[c]) * inv_s[c]
                x[r, c] = v
                y[r, c] = v * scales[c]
        activate_rows(y, biases, r0, r1, code)


@njit(nogil=True, cache=True, fastmath=False)
def _chunk_gradient(delta, y, xn, scales, biases, code, needs_input, r0, r1, g, pre):
    """g[:r1-r0] = delta * f'(.) for rows [r0, r1); pre gets xn * scales + biases when the
    derivative needs the activation's input."""
    cols = delta.shape[1]
    n = r1 - r0
    for r in range(n):
        for c in range(cols):
            g[r, c] = delta[r0 + r, c]
    if needs_input:
        for r in range(n):
            for c in range(cols):
                pre[r, c] = xn[r0 + r, c] * scales[c] + biases[c]
    gradient_rows(g, y[r0:r1], pre, 0, n, code)


@njit(nogil=True, cache=True, fastmath=False)
def _gradient_sums(delta, y, xn, scales, biases, code, needs_input, k0, k1, step, g, pre,
                   sg, sgx):
    rows, cols = delta.shape
    for k in range(k0, k1):
        r0 = k * step
        r1 = min(rows, r0 + step)
        _chunk_gradient(delta, y, xn, scales, biases, code, needs_input, r0, r1, g, pre)
        a = sg[k]
        b = sgx[k]
        a[:] = 0.0
        b[:] = 0.0
        for r in range(r1 - r0):
            for c in range(cols):
                v = np.float64(g[r, c])
                a[c] += v
                b[c] += v * xn[r0 + r, c]


@njit(nogil=True, cache=True, fastmath=False)
def _input_gradient(delta, y, xn, scales, biases, code, needs_input, a, b, cc, k0, k1, step,
                    g, pre):
    """xn = a * g + b * xn + cc in place (dL/dx of the batch norm)."""
    rows, cols = delta.shape
    for k in range(k0, k1):
        r0 = k * step
        r1 = min(rows, r0 + step)
        _chunk_gradient(delta, y, xn, scales, biases, code, needs_input, r0, r1, g, pre)
        for r in range(r1 - r0):
            for c in range(cols):
                xn[r0 + r, c] = a[c] * g[r, c] + b[c] * xn[r0 + r, c] + cc[c]


class FastBatchNormState:
    """What backward needs: xn (written over the forward's input), var and s per channel.
    backward overwrites xn with dL/dx: one backward per forward."""

    __slots__ = ("xn", "var", "s", "alexeyab")

    def __init__(self, xn, var, s, alexeyab=False):
        self.xn, self.var, self.s, self.alexeyab = xn, var, s, alexeyab


def _scratch(name: str, step: int, cols: int) -> np.ndarray:
    return scratch(name, step * cols).reshape(step, cols)


def train_forward(x2d, scales, biases, rolling_mean, rolling_variance, code: int, y2d,
                  alexeyab: bool = False):
    """y2d = f(batch norm of x2d * scales + biases) for the float32 (m, C) matrix x2d (m >= 2),
    which is overwritten by xn; returns the state for `backward`. The rolling values are
    updated in place as darknet does (.99 / .01, float32). `alexeyab`: his epsilons."""
    rows, cols = x2d.shape
    step, chunks = _step(rows, cols)
    shift = x2d[0].astype(np.float64)
    s1 = np.empty((chunks, cols), np.float64)
    s2 = np.empty((chunks, cols), np.float64)
    run_rows(chunks, x2d.size, lambda k0, k1: _sums(x2d, shift, k0, k1, step, s1, s2))
    t1, t2 = s1.sum(axis=0), s2.sum(axis=0)
    mean64 = shift + t1 / rows
    var64 = np.maximum(t2 - t1 * t1 / rows, 0.0) / (rows - 1)
    mean = mean64.astype(np.float32)
    var = var64.astype(np.float32)  # darknet keeps both as floats
    if alexeyab:  # normalize_cpu: (x - mean) / sqrt(var + .00001f)
        s = np.sqrt(var.astype(np.float64) + np.float64(EPS_VAR))
    else:  # (x - mean) / (sqrt(var) + .000001f)
        s = np.sqrt(var.astype(np.float64)) + EPS_STD
    inv_s = (1.0 / s).astype(np.float32)
    scales = np.ascontiguousarray(scales, np.float32)
    biases = np.ascontiguousarray(biases, np.float32)
    run_rows(chunks, 3 * x2d.size, lambda k0, k1: _normalize(x2d, mean, inv_s, scales, biases,
                                                             code, k0, k1, step, y2d))
    rolling_mean *= ROLLING_KEEP
    rolling_mean += ROLLING_TAKE * mean
    rolling_variance *= ROLLING_KEEP
    rolling_variance += ROLLING_TAKE * var
    return FastBatchNormState(x2d, var, s, alexeyab)


def backward(delta2d, y2d, state: FastBatchNormState, scales, biases, code: int):
    """(dx, dscales, dbiases) for delta2d = dL/dy of the forward that gave y2d and `state`:
    dx (float32, state.xn's memory), the parameter gradients in float64."""
    xn = state.xn
    rows, cols = xn.shape
    step, chunks = _step(rows, cols)
    scales = np.ascontiguousarray(scales, np.float32)
    biases = np.ascontiguousarray(biases, np.float32)
    needs_input = code in NEEDS_INPUT
    sg = np.empty((chunks, cols), np.float64)
    sgx = np.empty((chunks, cols), np.float64)

    def sums(k0, k1):
        g, pre = _scratch("bn_g", step, cols), _scratch("bn_pre", step if needs_input else 1, cols)
        _gradient_sums(delta2d, y2d, xn, scales, biases, code, needs_input, k0, k1, step, g,
                       pre, sg, sgx)

    run_rows(chunks, 3 * xn.size, sums)
    sum_g, sum_gx = sg.sum(axis=0), sgx.sum(axis=0)
    v = (state.var + EPS_VAR).astype(np.float64)  # darknet adds .00001f in float
    root = np.sqrt(v)
    scales64 = scales.astype(np.float64)
    mean_delta = -scales64 * sum_g / root
    var_delta = -0.5 * scales64 * state.s * sum_gx * v ** -1.5
    # normalize_delta's first term: over sqrt(v) (pjreddie), over sqrt(var) + .00001f (AlexeyAB)
    first = np.sqrt(state.var.astype(np.float64)) + np.float64(EPS_VAR) if state.alexeyab else root
    a = (scales64 / first).astype(np.float32)
    b = (2.0 * state.s * var_delta / rows).astype(np.float32)
    cc = (mean_delta / rows).astype(np.float32)

    def gradient(k0, k1):
        g, pre = _scratch("bn_g", step, cols), _scratch("bn_pre", step if needs_input else 1, cols)
        _input_gradient(delta2d, y2d, xn, scales, biases, code, needs_input, a, b, cc, k0, k1,
                        step, g, pre)

    run_rows(chunks, 4 * xn.size, gradient)
    state.xn = None  # now holds dL/dx
    return xn, sum_gx, sum_g
