"""col2im for training convolutions, any float dtype: the adjoint of im2col.py's
im2col_pixels over a block of output rows.

Layout as im2col.py: x is NHWC, weights (K, K, cg, cout), and the column row of
output pixel (oy, ox) is K*K runs of cg channels ordered (ky, kx, c), where tap (ky, kx)
reads input pixel

    iy = oy*stride_y - pad + ky*dilation,   ix = ox*stride_x - pad + kx*dilation

(zero outside the image). col2im is the transpose: it adds every column entry back onto the
input pixel it was read from. It gathers, input row by input row: a row receives from the
taps ky with (iy + pad - ky*dilation) divisible by stride_y, so every sum is taken in a fixed
order (deterministic results).
"""
from __future__ import annotations

from numba import njit, uint64


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
