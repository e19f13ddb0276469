"""Convolution in any float dtype by the plain formulas: the raw convolution (no bias, no
activation) and its backward to the input and the weights. The float64 of gradient checks
runs here, and so does float32 training of convolutions with tiny groups (direct kernels).

With col = im2col(x) for one group (rows: output pixels, columns: (ky, kx, c) taps) and W_g
that group's (K*K*cg, cog) weight matrix, forward is z_g = col @ W_g, so

    dL/dW_g += col^T @ dz_g        dL/dcol = dz_g @ W_g^T,  dL/dx = col2im(dL/dcol)

All GEMMs go to BLAS. Work is cut into blocks of output rows of one image so the column
buffer stays bounded (COL_ELEMENTS values); block sizes depend on the shapes only, and BLAS
and the col2im gather are deterministic for a fixed thread count, so repeated runs give
identical gradients. 1x1 stride-1 unpadded convolutions GEMM the input directly; with
`direct` (dispatch.py's choice for groups with few channels, depthwise and the like) the
direct kernels (direct.py) replace the tiny GEMMs.
"""
from __future__ import annotations

import numpy as np

from darkpy.kernels.conv.col2im import col2im_rows
from darkpy.kernels.conv.direct import grouped_forward, grouped_input_grad, grouped_weight_grad
from darkpy.kernels.conv.im2col import im2col_pixels

# column buffer per block: 2M values (8 MB in float32)
COL_ELEMENTS = 1 << 21


def _is_pointwise(weights, stride_y, stride_x, pad) -> bool:
    return weights.shape[0] == 1 and stride_y == 1 and stride_x == 1 and pad == 0


def _row_blocks(out_h: int, out_w: int, kcols: int):
    rows = max(1, COL_ELEMENTS // max(1, out_w * kcols))
    return [(r, min(out_h, r + rows)) for r in range(0, out_h, rows)]


def conv_forward(x, weights, groups, stride_y, stride_x, pad, dilation, out, direct=False):
    """out = conv(x, weights) without bias. x (N, H, W, C); weights (K, K, C/groups, cout);
    out (N, out_h, out_w, cout), overwritten; all C-contiguous, one dtype. `pad` is the
    padding in input pixels (darknet's padding times the dilation); `direct` takes the direct
    kernels."""
    if direct:
        grouped_forward(x, weights, groups, stride_y, stride_x, pad, dilation, out)
        return out
    n_img, _, _, chans = x.shape
    ksize, _, cg, cout = weights.shape
    cog = cout // groups
    _, out_h, out_w, _ = out.shape
    w2d = weights.reshape(-1, cout)
    if _is_pointwise(weights, stride_y, stride_x, pad):
        x2d = x.reshape(-1, chans)
        out2d = out.reshape(-1, cout)
        for g in range(groups):
            os_ = slice(g * cog, (g + 1) * cog)
            out2d[:, os_] = x2d[:, g * cg:(g + 1) * cg] @ w2d[:, os_]
        return out
    kcols = ksize * ksize * cg
    blocks = _row_blocks(out_h, out_w, kcols)
    col = np.empty(((blocks[0][1] - blocks[0][0]) * out_w, kcols), dtype=x.dtype)
    for image in range(n_img):
        for oy0, oy1 in blocks:
            rows = (oy1 - oy0) * out_w
            out_block = out[image, oy0:oy1].reshape(rows, cout)
            for g in range(groups):
                im2col_pixels(x, image, g * cg, cg, oy0 * out_w, oy1 * out_w, out_w, ksize, stride_y, stride_x,
                            pad, dilation, col)
                out_block[:, g * cog:(g + 1) * cog] = col[:rows] @ w2d[:, g * cog:(g + 1) * cog]
    return out


def conv_backward(x, weights, dz, groups, stride_y, stride_x, pad, dilation, dw,
                  need_input_grad=True, direct=False):
    """Add dL/dweights to dw (same shape as weights) and return dL/dx (None when not
    needed), for dz = dL/dz of z = conv(x, weights). Arguments as conv_forward."""
    if direct:
        grouped_weight_grad(x, dz, groups, stride_y, stride_x, pad, dilation, dw)
        if not need_input_grad:
            return None
        dx = np.empty_like(x)
        grouped_input_grad(dz, weights, groups, stride_y, stride_x, pad, dilation, dx)
        return dx
    n_img, _, _, chans = x.shape
    ksize, _, cg, cout = weights.shape
    cog = cout // groups
    _, out_h, out_w, _ = dz.shape
    w2d = weights.reshape(-1, cout)
    dw2d = dw.reshape(-1, cout)
    if _is_pointwise(weights, stride_y, stride_x, pad):
        x2d = x.reshape(-1, chans)
        dz2d = dz.reshape(-1, cout)
        dx = np.empty_like(x) if need_input_grad else None
        for g in range(groups):
            cs, os_ = slice(g * cg, (g + 1) * cg), slice(g * cog, (g + 1) * cog)
            dw2d[:, os_] += x2d[:, cs].T @ dz2d[:, os_]
            if dx is not None:
                dx.reshape(-1, chans)[:, cs] = dz2d[:, os_] @ w2d[:, os_].T
        return dx
    kcols = ksize * ksize * cg
    blocks = _row_blocks(out_h, out_w, kcols)
    col = np.empty(((blocks[0][1] - blocks[0][0]) * out_w, kcols), dtype=x.dtype)
    dx = np.zeros_like(x) if need_input_grad else None
    for image in range(n_img):
        for oy0, oy1 in blocks:
            rows = (oy1 - oy0) * out_w
            dz_block = dz[image, oy0:oy1].reshape(rows, cout)
            for g in range(groups):
                os_ = slice(g * cog, (g + 1) * cog)
                im2col_pixels(x, image, g * cg, cg, oy0 * out_w, oy1 * out_w, out_w, ksize, stride_y, stride_x,
                            pad, dilation, col)
                dw2d[:, os_] += col[:rows].T @ dz_block[:, os_]
                if dx is not None:
                    dcol = np.ascontiguousarray(dz_block[:, os_] @ w2d[:, os_].T)
                    col2im_rows(dcol, image, g * cg, cg, oy0, oy1, out_w, ksize, stride_y,
                                stride_x, pad, dilation, dx)
    return dx
