"""Kernels for training convolutions, any float dtype: col2im, the adjoint of
kernels/im2col.py's im2col_pixels over a block of output
rows, and direct kernels for convolutions with many tiny groups.

Layout as kernels/im2col.py: x is NHWC, weights (K, K, cg, cout), and the column row of
output pixel (oy, ox) is K*K runs of cg channels ordered (ky, kx, c), where tap (ky, kx)
reads input pixel

    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

(zero outside the image). col2im is the transpose: it adds every column entry back onto the
input pixel it was read from. It gathers, input row by input row: a row receives from the
taps ky with (iy + pad - ky*dilation) divisible by stride_y, so every sum is taken in a fixed
order (deterministic results).
"""
from __future__ import annotations

from numba import njit, prange, uint64


@njit(nogil=True, cache=True, fastmath=False)
def col2im_rows(col, image, c0, cg, oy0, oy1, out_w, ksize, stride_y, stride_x, pad, dilation,
                dx):
    """dx[image, iy, ix, c0 + c] += every col entry im2col_pixels would read from there.

    Gathers input row by input row, taps in a fixed order: deterministic. Serial, like
    im2col_pixels."""
    height, width, chans = dx.shape[1], dx.shape[2], dx.shape[3]
    cf = col.reshape(col.size)
    df = dx.reshape(dx.size)
    kcols = ksize * ksize * cg
    image_base = image * height * width * chans
    # input rows that output rows [oy0, oy1) read
    iy_lo = max(0, oy0 * stride_y - pad)
    iy_hi = min(height, (oy1 - 1) * stride_y - pad + (ksize - 1) * dilation + 1)
    for iy in range(iy_lo, iy_hi):
        for ky in range(ksize):
            t = iy + pad - ky * dilation
            if t < 0 or t % stride_y != 0:
                continue
            oy = t // stride_y
            if oy < oy0 or oy >= oy1:
                continue
            for ox in range(out_w):
                row = (oy - oy0) * out_w + ox
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if 0 <= ix < width:
                        src = uint64(row * kcols + (ky * ksize + kx) * cg)
                        dst = uint64(image_base + (iy * width + ix) * chans + c0)
                        for c in range(uint64(cg)):
                            df[dst + c] += cf[src + c]


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
    n_img, height, width, chans = x.shape
    ksize, cg, cout = dw.shape[0], dw.shape[2], dw.shape[3]
    cog = cout // groups
    out_h, out_w = dz.shape[1], dz.shape[2]
    xf = x.reshape(x.size)
    zf = dz.reshape(dz.size)
    depthwise = cg == 1 and cog == 1
    for tap in prange(ksize * ksize):
        ky = tap // ksize
        kx = tap % ksize
        acc = dw[ky, kx].reshape(cg * cout)
        for image in range(n_img):
            for oy in range(out_h):
                iy = oy * stride_y - pad + ky * dilation
                if iy < 0 or iy >= height:
                    continue
                for ox in range(out_w):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    xb = uint64(((image * height + iy) * width + ix) * chans)
                    zb = uint64(((image * out_h + oy) * out_w + ox) * cout)
                    if depthwise:
                        for o in range(uint64(cout)):
                            acc[o] += xf[xb + o] * zf[zb + o]
                        continue
                    for c in range(cg):
                        row = uint64(c * cout)
                        for o in range(uint64(cout)):
                            acc[row + o] += xf[xb + uint64((o // cog) * cg + c)] * zf[zb + o]


@njit(parallel=True, cache=True, fastmath=False)
def grouped_input_grad(dz, weights, groups, stride_y, stride_x, pad, dilation, dx):
    """dx = the adjoint of grouped_forward applied to dz (dx overwritten); gathers per input
    row like col2im_rows, so it is race-free and deterministic."""
    n_img, height, width, chans = dx.shape
    ksize, cg, cout = weights.shape[0], weights.shape[2], weights.shape[3]
    cog = cout // groups
    out_h, out_w = dz.shape[1], dz.shape[2]
    zf = dz.reshape(dz.size)
    wf = weights.reshape(weights.size)
    df = dx.reshape(dx.size)
    depthwise = cg == 1 and cog == 1
    for r in prange(n_img * height):
        image = r // height
        iy = r % height
        row_base = uint64(r * width * chans)
        for j in range(uint64(width * chans)):
            df[row_base + j] = 0
        for ky in range(ksize):
            t = iy + pad - ky * dilation
            if t < 0 or t % stride_y != 0:
                continue
            oy = t // stride_y
            if oy >= out_h:
                continue
            for ox in range(out_w):
                zb = uint64(((image * out_h + oy) * out_w + ox) * cout)
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    db = row_base + uint64(ix * chans)
                    wb = uint64((ky * ksize + kx) * cg * cout)
                    if depthwise:
                        for o in range(uint64(cout)):
                            df[db + o] += zf[zb + o] * wf[wb + o]
                        continue
                    for g in range(groups):
                        for c in range(cg):
                            wr = wb + uint64(c * cout)
                            acc = df[db + uint64(g * cg + c)] * 0
                            for o in range(uint64(g * cog), uint64((g + 1) * cog)):
                                acc += zf[zb + o] * wf[wr + o]
                            df[db + uint64(g * cg + c)] += acc
