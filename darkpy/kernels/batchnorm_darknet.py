"""Training batch norm in darknet's own arithmetic (pjreddie's CPU batchnorm_layer.c, blas.c).

darknet sums in float, one value after another; over the 346,112 values of a 416x416 channel
for two images that alone moves its variance by ~5e-4 relative to the exact one, enough to
flip max-pool winners and leaky kinks downstream and so to change the weights one update
gives. Training meant to reproduce darknet's weights therefore repeats darknet's steps here,
float for float, over the (m, C) matrix of an NHWC tensor whose rows are (image, y, x) in
darknet's order (m = N * spatial):

forward (mean_cpu, variance_cpu, normalize_cpu, then scale_bias; the caller adds biases)

    mean = f32(sum_rows x) * f32(1 / m)                   sequential float sum
    var  = f32(sum_rows (x - mean)^2) * f32(1 / (m - 1))  each square in double, sum in float
    xn   = (x - mean) / (sqrt(var) + 1e-6f)               in double, stored as float
    y    = xn * scales
    rolling_mean = rolling_mean * .99f + .01f * mean      (rolling_variance likewise)

backward (backward_bias, backward_scale_cpu, scale_bias, mean_delta_cpu,
variance_delta_cpu, normalize_delta_cpu) for g = dL/dy (darknet's delta is -g; every step is
linear in it, so the signs carry through), v = var + 1e-5f in float:

    dbiases = sum over images of f32(sum over the image's pixels of g)
    dscales = sum_rows g * xn
    g'      = g * scales
    mean_delta = f32(sum_rows g') * (-1 / sqrt(v))
    var_delta  = f32(sum_rows g' * (x - mean)) * (-.5 * v^(-3/2))
    dx = g' / sqrt(v) + var_delta * 2 (x - mean) / m + f32(mean_delta / m)

AlexeyAB's darknet (`flavor="alexeyab"`) differs in two places: normalize_cpu divides by
sqrt(var + 1e-5f); normalize_delta_cpu's first term is g' / (sqrt(var) + 1e-5f) (the
epsilons swapped against pjreddie). His CPU build (`flavor="alexeyab-cpu"`) also moves the
rolling values by .9 / .1 (his GPU build by .99 / .01, as pjreddie).

These are darknet's formulas, not the exact gradient of the forward above (that has 1e-6 on
the standard deviation and 1/(m-1) in the variance; darkpy.kernels.batchnorm has the exact
one). Channels run in parallel; within a channel every sum is sequential, so results do
not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from darkpy.kernels.conv.darknet import lane_sum_into

F32 = np.float32
EPS_STD = np.float64(np.float32(0.000001))   # normalize_cpu's .000001f
EPS_VAR = np.float32(0.00001)                # the backward's .00001f
ROLLING_KEEP = np.float32(0.99)
ROLLING_TAKE = np.float32(0.01)
ALEXEYAB_CPU_KEEP = np.float32(0.9)
ALEXEYAB_CPU_TAKE = np.float32(0.1)
_BLOCK = 8  # channels per parallel job


@njit(parallel=True, cache=True, fastmath=False)
def _forward(x, scales, inv_m, inv_m1, alexeyab, mean, var, xn, y):
    rows, cols = x.shape
    for q in prange((cols + _BLOCK - 1) // _BLOCK):
        c0 = q * _BLOCK
        c1 = min(cols, c0 + _BLOCK)
        acc = np.zeros(c1 - c0, np.float32)
        for r in range(rows):
            for c in range(c0, c1):
                acc[c - c0] += x[r, c]
        for c in range(c0, c1):
            mean[c] = acc[c - c0] * inv_m
            acc[c - c0] = 0
        for r in range(rows):
            for c in range(c0, c1):
                d = np.float64(x[r, c] - mean[c])
                acc[c - c0] = np.float32(np.float64(acc[c - c0]) + d * d)
        for c in range(c0, c1):
            var[c] = acc[c - c0] * inv_m1
        for r in range(rows):
            for c in range(c0, c1):
                if alexeyab:
                    std = np.sqrt(np.float64(var[c] + EPS_VAR))
                else:
                    std = np.sqrt(np.float64(var[c])) + EPS_STD
                v = np.float32(np.float64(x[r, c] - mean[c]) / std)
                xn[r, c] = v
                y[r, c] = v * scales[c]


@njit(parallel=True, cache=True, fastmath=False)
def _backward(g, x, xn, mean, var, scales, images, alexeyab, dx, dscales, dbiases):
    rows, cols = g.shape
    spatial = rows // images
    m = np.float32(rows)
    for q in prange((cols + _BLOCK - 1) // _BLOCK):
        c0 = q * _BLOCK
        c1 = min(cols, c0 + _BLOCK)
        n = c1 - c0
        bias = np.zeros(n, np.float32)
        part = np.zeros(n, np.float32)
        for b in range(images):
            part[:] = 0
            for r in range(b * spatial, (b + 1) * spatial):
                for c in range(c0, c1):
                    part[c - c0] += g[r, c]
            for k in range(n):
                bias[k] += part[k]
        scale = np.zeros(n, np.float32)
        msum = np.zeros(n, np.float32)
        vsum = np.zeros(n, np.float32)
        for r in range(rows):
            for c in range(c0, c1):
                k = c - c0
                scale[k] += g[r, c] * xn[r, c]
                gs = g[r, c] * scales[c]
                msum[k] += gs
                vsum[k] += gs * (x[r, c] - mean[c])
        if alexeyab:  # his backward_scale_cpu, vectorised by gcc (kernels/conv/darknet.py)
            gcol = np.empty(spatial, np.float32)
            ncol = np.empty(spatial, np.float32)
            for c in range(c0, c1):
                total = np.float32(0)
                for b in range(images):
                    for i in range(spatial):
                        gcol[i] = g[b * spatial + i, c]
                        ncol[i] = xn[b * spatial + i, c]
                    total = lane_sum_into(total, gcol, ncol, spatial, True)
                scale[c - c0] = total
        for c in range(c0, c1):
            k = c - c0
            dbiases[c] = bias[k]
            dscales[c] = scale[k]
            v = np.float64(var[c] + EPS_VAR)
            mean_delta = np.float32(np.float64(msum[k]) * (-1.0 / np.sqrt(v)))
            var_delta = np.float32(np.float64(vsum[k]) * (-0.5 * v ** np.float64(np.float32(-1.5))))
            if alexeyab:
                std = np.sqrt(np.float64(var[c])) + np.float64(EPS_VAR)
            else:
                std = np.sqrt(v)
            shift = np.float64(mean_delta / m)
            for r in range(rows):
                gs = np.float64(g[r, c] * scales[c])
                centred = np.float64(x[r, c] - mean[c])
                dx[r, c] = np.float32(gs / std + np.float64(var_delta) * 2.0 * centred
                                      / np.float64(rows) + shift)


class DarknetBatchNormState:
    """What backward needs from a training forward."""

    __slots__ = ("x", "xn", "mean", "var", "images", "flavor")

    def __init__(self, x, xn, mean, var, images, flavor="pjreddie"):
        self.x, self.xn, self.mean, self.var, self.images = x, xn, mean, var, images
        self.flavor = flavor


def train_forward(x2d, scales, rolling_mean, rolling_variance, images: int,
                  flavor: str = "pjreddie"):
    """(y, state) for the float32 (m, C) matrix x2d of `images` images; rolling values updated
    in place (float32). m must be at least 2. The state keeps x2d: do not change it later.
    `flavor`: whose darknet's arithmetic, "pjreddie", "alexeyab" or "alexeyab-cpu" (module
    docstring)."""
    x = np.ascontiguousarray(x2d, F32)
    rows, cols = x.shape
    mean = np.empty(cols, F32)
    var = np.empty(cols, F32)
    xn = np.empty_like(x)
    y = np.empty_like(x)
    alexeyab = flavor.startswith("alexeyab")
    _forward(x, np.ascontiguousarray(scales, F32), F32(1.0 / rows), F32(1.0 / (rows - 1)),
             alexeyab, mean, var, xn, y)
    cpu = flavor == "alexeyab-cpu"
    keep, take = (ALEXEYAB_CPU_KEEP, ALEXEYAB_CPU_TAKE) if cpu else (ROLLING_KEEP, ROLLING_TAKE)
    rolling_mean *= keep
    rolling_mean += take * mean
    rolling_variance *= keep
    rolling_variance += take * var
    return y, DarknetBatchNormState(x, xn, mean, var, int(images), flavor)


def backward(g2d, state: DarknetBatchNormState, scales):
    """(dx, dscales, dbiases) for g2d = dL/dy, all float32 as darknet keeps them."""
    g = np.ascontiguousarray(g2d, F32)
    cols = g.shape[1]
    dx = np.empty_like(g)
    dscales = np.empty(cols, F32)
    dbiases = np.empty(cols, F32)
    _backward(g, state.x, state.xn, state.mean, state.var, np.ascontiguousarray(scales, F32),
              state.images, state.flavor.startswith("alexeyab"), dx, dscales, dbiases)
    return dx, dscales, dbiases
