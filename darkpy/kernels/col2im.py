"""Kernels for training convolutions, any float dtype: im2col and its adjoint col2im over a
block of output rows, and direct kernels for convolutions with many tiny groups.

Layout as kernels/im2col.py: x is NHWC, weights (K, K, cg, cout), and the column row of
output pixel (oy, ox) is K*K runs of cg channels ordered (ky, kx, c), where tap (ky, kx)
reads input pixel

    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

(zero outside the image). col2im is the transpose: it adds every column entry back onto the
input pixel it was read from. It gathers, input row by input row: a row receives from the
taps ky with (iy + pad - ky*dilation) divisible by stride_y, so rows are independent (run in
parallel without races) and every sum is taken in a fixed order (deterministic results).
"""
from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=False)
def im2col_rows(x, image, c0, cg, oy0, oy1, out_w, ksize, stride_y, stride_x, pad, dilation,
                col):
    """col[(oy-oy0)*out_w + ox, (ky*K + kx)*cg + c] = x[image, iy, ix, c0 + c] for oy in
    [oy0, oy1); col must hold at least (oy1-oy0)*out_w rows of K*K*cg values."""
    height = x.shape[1]
    width = x.shape[2]
    for p in prange((oy1 - oy0) * out_w):
        oy = oy0 + p // out_w
        ox = p % out_w
        row = col[p]
        for ky in range(ksize):
            iy = oy * stride_y - pad + ky * dilation
            for kx in range(ksize):
                ix = ox * stride_x - pad + kx * dilation
                base = (ky * ksize + kx) * cg
                if 0 <= iy < height and 0 <= ix < width:
                    src = x[image, iy, ix]
                    for c in range(cg):
                        row[base + c] = src[c0 + c]
                else:
                    for c in range(cg):
                        row[base + c] = 0.0


@njit(parallel=True, cache=True, fastmath=False)
def col2im_rows(col, image, c0, cg, oy0, oy1, out_w, ksize, stride_y, stride_x, pad, dilation,
                dx):
    """dx[image, iy, ix, c0 + c] += every col entry im2col_rows would read from there."""
    height = dx.shape[1]
    width = dx.shape[2]
    # input rows that output rows [oy0, oy1) read
    iy_lo = max(0, oy0 * stride_y - pad)
    iy_hi = min(height, (oy1 - 1) * stride_y - pad + (ksize - 1) * dilation + 1)
    for iy in prange(iy_lo, iy_hi):
        dst_row = dx[image, iy]
        for ky in range(ksize):
            t = iy + pad - ky * dilation
            if t < 0 or t % stride_y != 0:
                continue
            oy = t // stride_y
            if oy < oy0 or oy >= oy1:
                continue
            for ox in range(out_w):
                row = col[(oy - oy0) * out_w + ox]
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if 0 <= ix < width:
                        base = (ky * ksize + kx) * cg
                        dst = dst_row[ix]
                        for c in range(cg):
                            dst[c0 + c] += row[base + c]


@njit(parallel=True, cache=True, fastmath=False)
def grouped_forward(x, weights, groups, stride_y, stride_x, pad, dilation, out):
    """out = conv(x, weights) without bias, for many small groups; parallel over output
    rows. weights (K, K, cg, cout); out (N, out_h, out_w, cout) is overwritten."""
    n_img, height, width = x.shape[0], x.shape[1], x.shape[2]
    ksize, cg, cout = weights.shape[0], weights.shape[2], weights.shape[3]
    cog = cout // groups
    out_h, out_w = out.shape[1], out.shape[2]
    for r in prange(n_img * out_h):
        image = r // out_h
        oy = r % out_h
        for ox in range(out_w):
            acc = out[image, oy, ox]
            acc[:] = 0.0
            for ky in range(ksize):
                iy = oy * stride_y - pad + ky * dilation
                if iy < 0 or iy >= height:
                    continue
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    src = x[image, iy, ix]
                    wk = weights[ky, kx]
                    for o in range(cout):
                        g = o // cog
                        for c in range(cg):
                            acc[o] += src[g * cg + c] * wk[c, o]


@njit(parallel=True, cache=True, fastmath=False)
def grouped_weight_grad(x, dz, groups, stride_y, stride_x, pad, dilation, dw):
    """dw[ky, kx, c, o] += sum over images and output pixels of x[tap] * dz, for the
    grouped layout; parallel over the K*K taps, each summed in a fixed order."""
    n_img, height, width = x.shape[0], x.shape[1], x.shape[2]
    ksize, cg, cout = dw.shape[0], dw.shape[2], dw.shape[3]
    cog = cout // groups
    out_h, out_w = dz.shape[1], dz.shape[2]
    for tap in prange(ksize * ksize):
        ky = tap // ksize
        kx = tap % ksize
        acc = dw[ky, kx]
        for image in range(n_img):
            for oy in range(out_h):
                iy = oy * stride_y - pad + ky * dilation
                if iy < 0 or iy >= height:
                    continue
                for ox in range(out_w):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    src = x[image, iy, ix]
                    d = dz[image, oy, ox]
                    for o in range(cout):
                        g = o // cog
                        for c in range(cg):
                            acc[c, o] += src[g * cg + c] * d[o]


@njit(parallel=True, cache=True, fastmath=False)
def grouped_input_grad(dz, weights, groups, stride_y, stride_x, pad, dilation, dx):
    """dx = the adjoint of grouped_forward applied to dz (dx overwritten); gathers per input
    row like col2im_rows, so it is race-free and deterministic."""
    n_img, height, width = dx.shape[0], dx.shape[1], dx.shape[2]
    ksize, cg, cout = weights.shape[0], weights.shape[2], weights.shape[3]
    cog = cout // groups
    out_h, out_w = dz.shape[1], dz.shape[2]
    for r in prange(n_img * height):
        image = r // height
        iy = r % height
        dst_row = dx[image, iy]
        dst_row[:, :] = 0.0
        for ky in range(ksize):
            t = iy + pad - ky * dilation
            if t < 0 or t % stride_y != 0:
                continue
            oy = t // stride_y
            if oy >= out_h:
                continue
            for ox in range(out_w):
                d = dz[image, oy, ox]
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    wk = weights[ky, kx]
                    dst = dst_row[ix]
                    for o in range(cout):
                        g = o // cog
                        v = d[o]
                        for c in range(cg):
                            dst[g * cg + c] += v * wk[c, o]
