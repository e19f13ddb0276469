"""im2col for NHWC activations, one block of output rows at a time.

For output pixel (oy, ox) the column row is K*K contiguous runs of `cg` floats, ordered
(ky, kx, c), so the GEMM `col @ W.reshape(K*K*cg, cout)` with weights stored (K, K, cg, cout)
yields NHWC output directly. Input pixel of tap (ky, kx):

    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

and taps that fall outside the image read zero. Only the rows [oy0, oy1) of one image and one
group are expanded, so the caller bounds the buffer by choosing the block height and reuses it
across blocks.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=False)
def im2col_rows(x, image, c0, cg, oy0, oy1, out_w, ksize, stride_y, stride_x, pad, dilation, col):
    """Fill col[: (oy1-oy0)*out_w, : ksize*ksize*cg] for channels [c0, c0+cg) of x[image].

    x: (N, H, W, C) float32 C-contiguous; col: 2-D float32 C-contiguous, large enough.
    """
    height = x.shape[1]
    width = x.shape[2]
    zero = np.float32(0.0)
    npix = (oy1 - oy0) * out_w
    for p in prange(npix):
        oy = oy0 + p // out_w
        ox = p - (p // out_w) * out_w
        row = col[p]
        for ky in range(ksize):
            iy = oy * stride_y - pad + ky * dilation
            base_y = ky * ksize * cg
            if iy < 0 or iy >= height:
                for j in range(ksize * cg):
                    row[base_y + j] = zero
                continue
            src_row = x[image, iy]
            for kx in range(ksize):
                ix = ox * stride_x - pad + kx * dilation
                base = base_y + kx * cg
                if ix < 0 or ix >= width:
                    for c in range(cg):
                        row[base + c] = zero
                else:
                    src = src_row[ix]
                    for c in range(cg):
                        row[base + c] = src[c0 + c]


@njit(parallel=True, cache=True, fastmath=False)
def grouped_conv_direct(x, weights, groups, stride_y, stride_x, pad, dilation, out):
    """Direct convolution for many small groups (depthwise and the like), where per-group
    GEMMs would be tiny. weights: (K, K, cg, cout); out: (N, out_h, out_w, cout), overwritten.

    Parallel over output rows; the innermost loop runs over output channels of a group so
    that it walks contiguous memory in both weights and output.
    """
    n_img = x.shape[0]
    height = x.shape[1]
    width = x.shape[2]
    ksize = weights.shape[0]
    cg = weights.shape[2]
    cout = weights.shape[3]
    cog = cout // groups
    out_h = out.shape[1]
    out_w = out.shape[2]
    for r in prange(n_img * out_h):
        image = r // out_h
        oy = r - image * out_h
        for ox in range(out_w):
            acc = out[image, oy, ox]
            for o in range(cout):
                acc[o] = np.float32(0.0)
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
                    if cg == 1 and cog == 1:
                        # depthwise: one tap per channel, vectorises over channels
                        wrow = wk[0]
                        for o in range(cout):
                            acc[o] += src[o] * wrow[o]
                        continue
                    for g in range(groups):
                        for c in range(cg):
                            v = src[g * cg + c]
                            wrow = wk[c]
                            for o in range(g * cog, (g + 1) * cog):
                                acc[o] += v * wrow[o]
