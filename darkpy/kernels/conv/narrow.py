"""Convolutions of few input channels (a detector's RGB first layer) without im2col.

In NHWC, the K taps of one kernel row over C input channels are K*C consecutive floats of
a (zero-padded) input row, for every output pixel: output pixel x starts stride*C floats
after pixel x - 1. So one kernel row of the convolution is a GEMM whose left matrix is the
input row itself, read with a row stride of stride*C, and the K kernel rows add up:

    out[y, x, :] = sum_ky  row_{y*stride - pad + ky}[x*stride*C : x*stride*C + K*C] @ W[ky]

with W[ky] the (K*C, Cout) slice of the weights. small_gemm's register blocks run those
GEMMs straight from a few padded input rows; im2col would first write K*K*C floats per
output pixel (27 for RGB, 3x3), several times the output itself. yolov3-tiny's 3 -> 16
layer at 416x416 took 4.4-5.2 ms on two threads by im2col and OpenBLAS.
"""
from __future__ import annotations

from numba import njit

from darkpy.kernels.activations import activate_rows
from darkpy.kernels.conv.small_gemm import BLOCK_ROWS, PANEL, multiply
from darkpy.kernels.simd import LANES


@njit(nogil=True, cache=True)
def convolve_rows(x, w2d, ksize, stride, pad, bias, code, out, image, oy0, oy1, rows, line):
    """out[image, oy0:oy1] = f(conv(x, w) + bias) for output rows oy0..oy1, serial, without
    the GIL (f the activation `code`).

    x: (N, H, W, C), out: (N, out_h, out_w, Cout) float32 C-contiguous, Cout a multiple of
    16; w2d: (K*K*C, Cout) float32 with unit column stride. rows: (K, >= (W + 2*pad)*C +
    24*stride*C + K*C) scratch for the padded input rows (their tail is read by the last
    register block's spare rows); line: (>= out_w rounded up to 24, Cout) scratch."""
    height = x.shape[1]
    width = x.shape[2]
    chans = x.shape[3]
    out_w = out.shape[2]
    cout = out.shape[3]
    taps = ksize * chans
    ldb = w2d.strides[0] // 4
    span = rows.shape[1]
    flat_x = x.reshape(x.size)
    flat_out = out.reshape(out.size)
    flat_rows = rows.reshape(rows.size)
    flat_line = line.reshape(line.size)
    length = width * chans
    # plain loops, not slice assignments: numba compiles these several seconds faster
    for i in range(flat_rows.size):
        flat_rows[i] = 0.0
    for oy in range(oy0, oy1):
        for ky in range(ksize):
            iy = oy * stride - pad + ky
            dst = ky * span + pad * chans
            src = (image * height + iy) * length
            inside = 0 <= iy < height
            for i in range(length):
                flat_rows[dst + i] = flat_x[src + i] if inside else 0.0
        for j in range(0, cout, PANEL):
            vectors = min(4, (cout - j) // LANES)
            block = BLOCK_ROWS[vectors]
            for x0 in range(0, out_w, block):  # every kernel row while the block is in L1
                for ky in range(ksize):
                    multiply(flat_rows, w2d, flat_line, block, vectors,
                             ky * span + x0 * stride * chans, stride * chans, 1,
                             ky * taps * ldb + j, ldb, x0 * cout + j, cout, taps, ky)
        # one sequential copy: writing the output block by block was slower (8.2 vs 6.1 ms
        # on one thread for yolov3-tiny's first layer), each block's lines fetched to write
        base = (image * out.shape[1] + oy) * out_w * cout
        for i in range(out_w * cout):
            flat_out[base + i] = flat_line[i]
        activate_rows(out[image, oy], bias, 0, out_w, code)
