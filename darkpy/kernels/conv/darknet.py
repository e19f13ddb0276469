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


# --- backward in AlexeyAB's CPU build's order ---------------------------------------------
# His backward_convolutional_layer runs, per image and group, im2col then gemm_nt (dL/dw) and
# gemm_tn then col2im_cpu_ext (dL/dx). His Makefile compiles with -Ofast (AVX=0: SSE2), and
# gcc vectorises the reductions whose accumulator is a local float (gemm_nt's `sum`,
# sum_array's, backward_scale_cpu's): four lanes, lane l summing the terms l, l+4, ... from
# 0, folded as (l0 + l2) + (l1 + l3), the last n % 4 terms after. Reductions into memory
# (mean_delta_cpu, variance_delta_cpu, gemm_tn's column, col2im's pixel) stay sequential.
# Read from the disassembly of his gemm.o, utils.o and batchnorm_layer.o.

@njit(cache=True, fastmath=False)
def lane_sum_nt(a, b, n):
    """gemm_nt's vectorised sum of a[i] * b[i], i < n: four lanes; of the n % 4 tail, a pair
    goes into lanes 0 and 1 before the fold and a last odd term after it."""
    s0 = np.float32(0)
    s1 = np.float32(0)
    s2 = np.float32(0)
    s3 = np.float32(0)
    n4 = n - n % 4
    for i in range(0, n4, 4):
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
    v0 = s0 + s2
    v1 = s1 + s3
    r = n - n4
    if r == 0:
        return v0 + v1
    if r == 1:
        return (v0 + v1) + a[n4] * b[n4]
    h = (v0 + a[n4] * b[n4]) + (v1 + a[n4 + 1] * b[n4 + 1])
    if r == 3:
        h += a[n4 + 2] * b[n4 + 2]
    return h


@njit(cache=True, fastmath=False)
def lane_sum_into(total, a, b, n, multiply):
    """`total` plus the sum of a[i] (times b[i] where `multiply`), i < n, as sum_array and
    backward_scale_cpu add it: n < 4 sequentially, else the four lanes folded and added to
    total, then the tail one by one."""
    if n < 4:
        for i in range(n):
            total += a[i] * b[i] if multiply else a[i]
        return total
    s0 = np.float32(0)
    s1 = np.float32(0)
    s2 = np.float32(0)
    s3 = np.float32(0)
    n4 = n - n % 4
    for i in range(0, n4, 4):
        if multiply:
            s0 += a[i] * b[i]
            s1 += a[i + 1] * b[i + 1]
            s2 += a[i + 2] * b[i + 2]
            s3 += a[i + 3] * b[i + 3]
        else:
            s0 += a[i]
            s1 += a[i + 1]
            s2 += a[i + 2]
            s3 += a[i + 3]
    total += (s0 + s2) + (s1 + s3)
    for i in range(n4, n):
        total += a[i] * b[i] if multiply else a[i]
    return total


@njit(parallel=True, cache=True, fastmath=False)
def _weight_grad_nt(delta_rows, col, o0, dw):
    """dw[o0 + o, k] += gemm_nt's sum over pixels of delta_rows[o, p] * col[k, p]."""
    k_total, pixels = col.shape
    for o in prange(delta_rows.shape[0]):
        d = delta_rows[o]
        for k in range(k_total):
            dw[o0 + o, k] += lane_sum_nt(d, col[k], pixels)


@njit(parallel=True, cache=True, fastmath=False)
def _input_grad_tn(weights, delta_rows, o0, colgrad):
    """colgrad[k, p] = sum over o in order of weights[o0 + o, k] * delta_rows[o, p], from 0
    (gemm_tn with BETA 0)."""
    k_total, pixels = colgrad.shape
    for k in prange(k_total):
        row = colgrad[k]
        row[:] = 0
        for o in range(delta_rows.shape[0]):
            a = weights[o0 + o, k]
            for p in range(pixels):
                row[p] += a * delta_rows[o, p]


@njit(cache=True)
def _col2im(colgrad, dx, n, g, cg, size, stride, pad, out_h, out_w):
    """col2im_cpu_ext: dx's image n, group g set to 0, then every column value added to its
    pixel in (c, ky, kx, oy, ox) order."""
    h, w = dx.shape[1], dx.shape[2]
    for c in range(cg):
        for iy in range(h):
            for ix in range(w):
                dx[n, iy, ix, g * cg + c] = 0
    for c in range(cg):
        for ky in range(size):
            for kx in range(size):
                row = (c * size + ky) * size + kx
                for oy in range(out_h):
                    iy = oy * stride - pad + ky
                    if iy < 0 or iy >= h:
                        continue
                    for ox in range(out_w):
                        ix = ox * stride - pad + kx
                        if 0 <= ix < w:
                            dx[n, iy, ix, g * cg + c] += colgrad[row, oy * out_w + ox]


@njit(cache=True, fastmath=False)
def _bias_grad(g2d, images, db):
    """backward_bias: db[c] += sum_array(image b's channel c) for each image in turn."""
    rows, cols = g2d.shape
    spatial = rows // images
    column = np.empty(spatial, np.float32)
    for b in range(images):
        for c in range(cols):
            for i in range(spatial):
                column[i] = g2d[b * spatial + i, c]
            db[c] = lane_sum_into(db[c], column, column, spatial, False)


def bias_grad(g2d: np.ndarray, images: int, db: np.ndarray) -> None:
    """db += darknet's backward_bias of the (rows, C) float32 gradient, image by image."""
    _bias_grad(np.ascontiguousarray(g2d, np.float32), images, db)


def conv_backward(x: np.ndarray, weights: np.ndarray, dz: np.ndarray, stride: int, pad: int,
                  groups: int, dw: np.ndarray, input_gradient: bool = True):
    """dw += dL/dweights and return dL/dx (or None), in AlexeyAB's CPU build's order; weights
    and dw in darkpy's (K, K, Cin/groups, Cout) layout, float32; dw gets each image's sums
    in turn, as darknet's weight_updates does."""
    cout = weights.shape[3]
    w2d = np.ascontiguousarray(weights.transpose(3, 2, 0, 1), np.float32)
    cg, size = w2d.shape[1], w2d.shape[2]
    w2d = w2d.reshape(cout, -1)
    dw2d = np.ascontiguousarray(dw.transpose(3, 2, 0, 1)).reshape(cout, -1)
    out_h, out_w = dz.shape[1], dz.shape[2]
    per_group = cout // groups
    pixels = out_h * out_w
    col = np.empty((cg * size * size, pixels), np.float32)
    colgrad = np.empty_like(col)
    dx = np.empty_like(x) if input_gradient else None
    for n in range(x.shape[0]):
        for g in range(groups):
            rows = np.ascontiguousarray(
                dz[n, :, :, g * per_group:(g + 1) * per_group].reshape(pixels, per_group).T)
            _im2col(x, n, g, cg, size, stride, pad, out_h, out_w, col)
            _weight_grad_nt(rows, col, g * per_group, dw2d)
            if input_gradient:
                _input_grad_tn(w2d, rows, g * per_group, colgrad)
                _col2im(colgrad, dx, n, g, cg, size, stride, pad, out_h, out_w)
    dw[...] = dw2d.reshape(cout, cg, size, size).transpose(2, 3, 1, 0)
    return dx
