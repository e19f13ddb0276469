"""im2col for NHWC activations, one block of output pixels at a time.

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
from numba import njit, uint64


@njit(nogil=True, cache=True, fastmath=False)
def im2col_pixels(x, image, c0, cg, p0, p1, out_w, ksize, stride_y, stride_x, pad, dilation,
                  col):
    """Fill col[: p1-p0, : ksize*ksize*cg] for output pixels [p0, p1) of x[image].

    x: (N, H, W, C) C-contiguous; col: 2-D C-contiguous of the same float dtype, large enough
    (float32 for inference, float64 too for training's gradient checks).
    The copies index flat arrays with unsigned offsets: numba's negative-index wraparound
    on signed indices keeps LLVM from vectorising them (4-5x slower for few channels).
    """
    height = x.shape[1]
    width = x.shape[2]
    chans = x.shape[3]
    xf = x.reshape(x.size)
    cf = col.reshape(col.size)
    kcols = ksize * ksize * cg
    span = ksize * cg
    image_base = image * height * width * chans
    # without dilation, the taps of one kernel row over all channels are one contiguous run
    whole_rows = dilation == 1 and cg == chans
    zero = np.float32(0.0)
    for p in range(p0, p1):
        oy = p // out_w
        ox = p - oy * out_w
        ix0 = ox * stride_x - pad
        inside_x = ix0 >= 0 and ix0 + (ksize - 1) * dilation < width
        for ky in range(ksize):
            iy = oy * stride_y - pad + ky * dilation
            dst = uint64((p - p0) * kcols + ky * span)
            if iy < 0 or iy >= height:
                for j in range(uint64(span)):
                    cf[dst + j] = zero
            elif inside_x and whole_rows:
                src = uint64(image_base + (iy * width + ix0) * chans)
                for j in range(uint64(span)):
                    cf[dst + j] = xf[src + j]
            else:
                for kx in range(ksize):
                    ix = ix0 + kx * dilation
                    d = dst + uint64(kx * cg)
                    if 0 <= ix < width:
                        src = uint64(image_base + (iy * width + ix) * chans + c0)
                        for c in range(uint64(cg)):
                            cf[d + c] = xf[src + c]
                    else:
                        for c in range(uint64(cg)):
                            cf[d + c] = zero
