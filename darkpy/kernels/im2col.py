"""im2col for NHWC activations, one block of output pixels at a time, and a direct kernel
for convolutions with many tiny groups.

For output pixel (oy, ox) the column row is K*K contiguous runs of `cg` floats, ordered
(ky, kx, c), so the GEMM `col @ W.reshape(K*K*cg, cout)` with weights stored (K, K, cg, cout)
yields NHWC output directly. The input pixel of tap (ky, kx) is

    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

and taps outside the image read zero. Only output pixels [p0, p1) of one image (pixels
counted row-major, so a block may start and end mid-row) and channels [c0, c0+cg) of one
group are expanded: the caller bounds the buffer by the block size and reuses it.

`im2col_pixels` is serial and releases the GIL: the convolution driver runs one block per
thread (im2col, GEMM with single-threaded BLAS, bias and activation), so the block stays in
that core's cache and numba's and BLAS's thread pools never compete.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(nogil=True, cache=True, fastmath=False)
def im2col_pixels(x, image, c0, cg, p0, p1, out_w, ksize, stride_y, stride_x, pad, dilation,
                  col):
    """Fill col[: p1-p0, : ksize*ksize*cg] for output pixels [p0, p1) of x[image].

    x: (N, H, W, C) float32 C-contiguous; col: 2-D float32 C-contiguous, large enough.
    """
    height = x.shape[1]
    width = x.shape[2]
    span = ksize * cg
    # stride-1-in-x taps of all channels are one contiguous run of K*C floats per kernel row
    whole_rows = dilation == 1 and cg == x.shape[3]
    for p in range(p0, p1):
        oy = p // out_w
        ox = p - oy * out_w
        row = col[p - p0]
        ix0 = ox * stride_x - pad
        inside_x = ix0 >= 0 and ix0 + (ksize - 1) * dilation < width
        for ky in range(ksize):
            iy = oy * stride_y - pad + ky * dilation
            dst = row[ky * span:(ky + 1) * span]
            if iy < 0 or iy >= height:
                dst[:] = 0.0
            elif inside_x and whole_rows:
                dst[:] = x[image, iy, ix0:ix0 + ksize].reshape(span)
            else:
                src_row = x[image, iy]
                for kx in range(ksize):
                    ix = ix0 + kx * dilation
                    if 0 <= ix < width:
                        dst[kx * cg:(kx + 1) * cg] = src_row[ix, c0:c0 + cg]
                    else:
                        dst[kx * cg:(kx + 1) * cg] = 0.0


@njit(parallel=True, cache=True, fastmath=False)
def grouped_conv_direct(x, weights, groups, stride_y, stride_x, pad, dilation, out):
    """Direct convolution for many small groups (depthwise and the like), where per-group
    GEMMs would be tiny. weights: (K, K, cg, cout); out: (N, out_h, out_w, cout), overwritten.

    Parallel over output rows; inner loops walk contiguous channels of input, weights, output.
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
