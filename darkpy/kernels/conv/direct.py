"""Direct convolution kernels for many tiny groups (depthwise and the like), any float dtype.

Where each group has only a few input and output channels, a GEMM per group would be tiny;
these loops compute

    out[n, oy, ox, o] = sum_{ky,kx,c} w[ky, kx, c, o] * x[n, iy, ix, g*cg + c]   (o in group g)
    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

and its two adjoints (dL/dw and dL/dx) directly, in a fixed summation order (deterministic
results). The depthwise case (one input and one output channel per group) has its own
inner loop. kernels/conv/dispatch.py decides when they are used (DIRECT_GROUP_SIZE).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64


@njit(parallel=True, cache=True, fastmath=False)
def grouped_forward(x, weights, groups, stride_y, stride_x, pad, dilation, out):
    """out = conv(x, weights) without bias. weights: (K, K, cg, cout); out: (N, out_h, out_w,
    cout), overwritten; one float dtype throughout.

    Parallel over output rows; inner loops walk contiguous channels of input, weights and
    output, with unsigned flat offsets (see im2col.im2col_pixels).
    """
    n_img, height, width, chans = x.shape
    ksize = weights.shape[0]
    cg = weights.shape[2]
    cout = weights.shape[3]
    cog = cout // groups
    out_h = out.shape[1]
    out_w = out.shape[2]
    xf = x.reshape(x.size)
    wf = weights.reshape(weights.size)
    of = out.reshape(out.size)
    zero = np.float32(0.0)
    for r in prange(n_img * out_h):
        image = r // out_h
        oy = r - image * out_h
        for ox in range(out_w):
            ob = uint64(((image * out_h + oy) * out_w + ox) * cout)
            for o in range(uint64(cout)):
                of[ob + o] = zero
            for ky in range(ksize):
                iy = oy * stride_y - pad + ky * dilation
                if iy < 0 or iy >= height:
                    continue
                for kx in range(ksize):
                    ix = ox * stride_x - pad + kx * dilation
                    if ix < 0 or ix >= width:
                        continue
                    xb = uint64(((image * height + iy) * width + ix) * chans)
                    wb = uint64((ky * ksize + kx) * cg * cout)
                    if cg == 1 and cog == 1:  # depthwise: one tap per channel
                        for o in range(uint64(cout)):
                            of[ob + o] += xf[xb + o] * wf[wb + o]
                        continue
                    for g in range(groups):
                        for c in range(cg):
                            v = xf[xb + uint64(g * cg + c)]
                            wr = wb + uint64(c * cout)
                            for o in range(uint64(g * cog), uint64((g + 1) * cog)):
                                of[ob + o] += v * wf[wr + o]


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
