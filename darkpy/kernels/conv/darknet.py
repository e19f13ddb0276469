"""Convolution and activations in darknet's own float arithmetic (pjreddie's CPU forward).

darknet's forward_convolutional_layer is im2col then gemm_nn, whose loops (for each output
channel i, for each k, for each pixel j: C[i][j] += A[i][k] * B[k][j]) add the products of
one output value in the order k = (input channel, ky, kx), one float rounding per multiply
and per add, starting from 0. Any other order (BLAS blocking, Winograd) gives values a few
ulp away, and in training those ulps decide which side of a leaky kink or of a max-pool tie
a value falls, which moves the gradients by far more than a rounding. Training that must
reproduce darknet's weights computes its convolutions here instead: the same sums in the
same order, so the outputs are darknet's bit for bit.

`leaky` likewise is darknet's `(x > 0) ? x : .1 * x` with the .1 in double.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

LEAKY_SLOPE = 0.1  # a double in darknet's leaky_activate


@njit(cache=True)
def _im2col(x, n, g, cg, size, stride, pad, out_h, out_w, col):
    """col[k, p] for image n, group g: k = (c, ky, kx) in darknet's order, p = (oy, ox)."""
    h, w = x.shape[1], x.shape[2]
    for c in range(cg):
        for ky in range(size):
            for kx in range(size):
                row = (c * size + ky) * size + kx
                for oy in range(out_h):
                    iy = oy * stride - pad + ky
                    for ox in range(out_w):
                        ix = ox * stride - pad + kx
                        if 0 <= iy < h and 0 <= ix < w:
                            col[row, oy * out_w + ox] = x[n, iy, ix, g * cg + c]
                        else:
                            col[row, oy * out_w + ox] = 0


@njit(parallel=True, cache=True, fastmath=False)
def _gemm_rows(weights, col, o0, acc):
    """acc[o, p] = sum over k in order of weights[o0 + o, k] * col[k, p] (gemm_nn's loops)."""
    k_total, pixels = col.shape
    for o in prange(acc.shape[0]):
        row = acc[o]
        row[:] = 0
        for k in range(k_total):
            a = weights[o0 + o, k]
            for p in range(pixels):
                row[p] += a * col[k, p]


def conv_forward(x: np.ndarray, weights: np.ndarray, stride: int, pad: int, groups: int,
                 out: np.ndarray) -> None:
    """out (N, out_h, out_w, Cout) = the convolution of NHWC float32 x by darknet-layout
    weights (Cout, Cin/groups, K, K), no bias, summed as darknet sums."""
    n_img, _, _, cin = x.shape
    cout, cg, size, _ = weights.shape
    out_h, out_w = out.shape[1], out.shape[2]
    w2d = np.ascontiguousarray(weights.reshape(cout, -1), np.float32)
    per_group = cout // groups
    col = np.empty((cg * size * size, out_h * out_w), np.float32)
    acc = np.empty((per_group, out_h * out_w), np.float32)
    for n in range(n_img):
        for g in range(groups):
            _im2col(x, n, g, cg, size, stride, pad, out_h, out_w, col)
            _gemm_rows(w2d, col, g * per_group, acc)
            out[n, :, :, g * per_group:(g + 1) * per_group] = acc.T.reshape(out_h, out_w, per_group)


def leaky(x: np.ndarray) -> np.ndarray:
    """darknet's leaky_activate, in place on float32 x; returns x."""
    negative = x <= 0
    x[negative] = (LEAKY_SLOPE * x[negative].astype(np.float64)).astype(np.float32)
    return x
