"""Convolutions of few input channels (a detector's RGB first layer) without im2col.

In NHWC, the K taps of one kernel row over C input channels are K*C consecutive floats of
a (zero-padded) input row, for every output pixel: output pixel x starts stride*C floats
after pixel x - 1. So one kernel row of the convolution is a GEMM whose left matrix is the
input row itself, read with a row stride of stride*C, and the K kernel rows add up:

    out[y, x, :] = sum_ky  row_{y*stride - pad + ky}[x*stride*C : x*stride*C + K*C] @ W[ky]

with W[ky] the (K*C, Cout) slice of the weights. small_gemm's register blocks run those
GEMMs straight from a few padded input rows (`convolve_rows`); im2col would first write
K*K*C floats per output pixel (27 for RGB, 3x3), several times the output itself.
yolov3-tiny's 3 -> 16 layer at 416x416 took 4.4-5.2 ms on two threads by im2col and
OpenBLAS. The padded rows are a ring of K: each input row is copied in once, where output
row y needs it, not once per kernel row.

With 16 output channels (darknet's tiny detectors' 3x3 stride-1 RGB layers) a GEMM of one
vector of outputs broadcasts one input float per multiply-add. But input pixel q feeds
output pixels q, q-1, q-2 through kernel columns 0, 1, 2: `convolve_rows_direct` holds a
kernel row's 9 weight vectors and DIRECT_RUN output pixels in registers and broadcasts each
input float once for up to 3 multiply-adds. Each output sums its 27 products in the GEMM's
order (kernel row, column, channel), so the bits are the GEMM's; bias and a linear, ReLU or
leaky activation are applied in registers as activate_rows would, and the pixels are
written straight into the output (non-temporal stores for big outputs). yolov4-tiny's
3x3 stride-2 RGB layer of 32 channels takes the same kernel with two vectors of outputs:
input pixel q feeds output pixels (q - kx) / 2, so each float is broadcast once for 2 or 4
multiply-adds (the row GEMM: 2), 0.88 vs 1.52 ms on two threads, the same bits.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from darkpy.kernels.activations import LEAKY, LINEAR, RELU, activate_rows
from darkpy.kernels.conv.small_gemm import BLOCK_ROWS, PANEL, multiply
from darkpy.kernels.conv.winograd_vector import _fence
from darkpy.kernels.simd import LANES, vector_intrinsic

# output pixels per register block of the direct kernel, by (stride, output vectors): with
# one vector, 20 accumulators beside a kernel row's 9 weights; with two (a 32-channel
# stride-2 layer), 12 accumulators beside 18 weights
DIRECT_RUN = 20
DIRECT_RUN_S2 = 6
DIRECT_RUNS = {(1, 1): DIRECT_RUN, (2, 2): DIRECT_RUN_S2}
DIRECT_KSIZE = 3
DIRECT_CHANS = 3


def direct_applies(ksize: int, chans: int, stride: int, cout: int, code: int) -> bool:
    """Whether convolve_rows_direct computes this convolution."""
    return (ksize == DIRECT_KSIZE and chans == DIRECT_CHANS and code in (LINEAR, RELU, LEAKY)
            and cout % LANES == 0 and (stride, cout // LANES) in DIRECT_RUNS)


def _direct_kernel(ksize: int, chans: int, stride: int, vectors: int, stream: bool):
    """out[out_off + r*cout + 16*j + :16] = f(sum over ky, kx, c of rows[row_ky + (r*stride +
    kx)*chans + c] * w[((ky*ksize + kx)*chans + c)*ldb + 16*j + :16] + bias[16*j + :16]) for
    r < run = DIRECT_RUNS[stride, vectors] and j < vectors (cout = 16 * vectors), summed in
    that order with one rounding per multiply-add, f the activation `code`
    (simd.Vectors.activate); only pixels r < valid are written, or, stream, all of them with
    non-temporal stores (out_off on a cache line).

    Arguments: arrays rows, w, out, bias; then row_0 .. row_{ksize-1} (the offset of each
    kernel row's input row), ldb, out_off, valid, code."""
    run = DIRECT_RUNS[stride, vectors]
    cout = LANES * vectors

    def body(v):
        rows, w, out, bias = v.ptr
        row_offsets = v.arg[:ksize]
        ldb, out_off, valid, code = v.arg[ksize:]
        b = v.builder
        acc = [[v.zero()] * vectors for _ in range(run)]
        for ky in range(ksize):
            row = v.at(rows, row_offsets[ky])
            weights = [[[v.load(v.at(w, b.mul(v.const((ky * ksize + kx) * chans + c), ldb),
                                     LANES * j))
                         for j in range(vectors)] for c in range(chans)] for kx in range(ksize)]
            # input pixel q feeds output r = (q - kx) / stride: each float broadcast once
            for q in range((run - 1) * stride + ksize):
                for c in range(chans):
                    value = v.broadcast(v.at(row, q * chans + c))
                    for kx in range(ksize):
                        r, rest = divmod(q - kx, stride)
                        if rest or not 0 <= r < run:
                            continue
                        acc[r] = [v.fma(value, weights[kx][c][j], acc[r][j])
                                  for j in range(vectors)]
        bias_vecs = [v.load(v.at(bias, LANES * j)) for j in range(vectors)]
        for r in range(run):
            inside = b.icmp_signed("<", v.const(r), valid)
            for j in range(vectors):
                y = v.activate(v.add(acc[r][j], bias_vecs[j]), code)
                pointer = v.at(out, out_off, r * cout + LANES * j)
                if stream:
                    v.stream(y, pointer)
                else:
                    v.store_if(inside, y, pointer)

    return vector_intrinsic(4, ksize + 4, body)


_direct_3x3 = _direct_kernel(DIRECT_KSIZE, DIRECT_CHANS, 1, 1, False)
_direct_3x3_stream = _direct_kernel(DIRECT_KSIZE, DIRECT_CHANS, 1, 1, True)
_direct_3x3_s2 = _direct_kernel(DIRECT_KSIZE, DIRECT_CHANS, 2, 2, False)
_direct_3x3_s2_stream = _direct_kernel(DIRECT_KSIZE, DIRECT_CHANS, 2, 2, True)


@njit(nogil=True, cache=True)
def _ring_rows(x, image, oy, stride, pad, rows, held):
    """Make ring slot iy % K of rows (K, span) hold input row iy of x[image], zero-padded
    by `pad` pixels on the left (rows outside the image: zeros), for the K input rows that
    output row oy reads; held[s] is the input row slot s holds. The slots' other floats
    must be zeros (set once by the caller)."""
    height = x.shape[1]
    length = x.shape[2] * x.shape[3]
    flat_x = x.reshape(x.size)
    ksize = rows.shape[0]
    dst0 = pad * x.shape[3]
    for ky in range(ksize):
        iy = oy * stride - pad + ky
        slot = iy % ksize
        if held[slot] == iy:
            continue
        held[slot] = iy
        # slices indexed from 0: with offsets added to a signed index, numba's wraparound
        # check keeps LLVM from vectorising the copy (see elementwise._shortcut_flat)
        row = rows[slot, dst0:dst0 + length]
        if 0 <= iy < height:
            src = (image * height + iy) * length
            pixels = flat_x[src:src + length]
            for i in range(length):
                row[i] = pixels[i]
        else:
            for i in range(length):
                row[i] = 0.0


@njit(nogil=True, cache=True)
def _start_ring(rows, held):
    """Zero the ring and mark its slots empty."""
    flat = rows.reshape(rows.size)
    for i in range(flat.size):
        flat[i] = 0.0
    for s in range(held.size):
        held[s] = -(1 << 40)


@njit(nogil=True, cache=True)
def convolve_rows(x, w2d, ksize, stride, pad, bias, code, out, image, oy0, oy1, rows, line):
    """out[image, oy0:oy1] = f(conv(x, w) + bias) for output rows oy0..oy1, serial, without
    the GIL (f the activation `code`).

    x: (N, H, W, C), out: (N, out_h, out_w, Cout) float32 C-contiguous, Cout a multiple of
    16; w2d: (K*K*C, Cout) float32 with unit column stride. rows: (K, >= (W + 2*pad)*C +
    24*stride*C + K*C) scratch for the ring of padded input rows (their tail is read by the
    last register block's spare rows); line: (>= out_w rounded up to 24, Cout) scratch."""
    chans = x.shape[3]
    out_w = out.shape[2]
    cout = out.shape[3]
    taps = ksize * chans
    ldb = w2d.strides[0] // 4
    span = rows.shape[1]
    flat_out = out.reshape(out.size)
    flat_rows = rows.reshape(rows.size)
    flat_line = line.reshape(line.size)
    held = np.empty(ksize, np.int64)
    _start_ring(rows, held)
    for oy in range(oy0, oy1):
        _ring_rows(x, image, oy, stride, pad, rows, held)
        for j in range(0, cout, PANEL):
            vectors = min(4, (cout - j) // LANES)
            block = BLOCK_ROWS[vectors]
            for x0 in range(0, out_w, block):  # every kernel row while the block is in L1
                for ky in range(ksize):
                    slot = (oy * stride - pad + ky) % ksize
                    multiply(flat_rows, w2d, flat_line, block, vectors,
                             slot * span + x0 * stride * chans, stride * chans, 1,
                             ky * taps * ldb + j, ldb, x0 * cout + j, cout, taps, ky)
        # one sequential copy: writing the output block by block was slower (8.2 vs 6.1 ms
        # on one thread for yolov3-tiny's first layer), each block's lines fetched to write
        base = (image * out.shape[1] + oy) * out_w * cout
        out_row = flat_out[base:base + out_w * cout]  # indexed from 0, as in _ring_rows
        for i in range(out_w * cout):
            out_row[i] = flat_line[i]
        activate_rows(out[image, oy], bias, 0, out_w, code)


@njit(nogil=True, cache=True)
def convolve_rows_direct(x, w2d, stride, pad, bias, code, out, image, oy0, oy1, rows, stream):
    """convolve_rows for the convolutions direct_applies() accepts, by the direct kernel,
    written straight into out (stream: non-temporal stores, out on a cache line); rows: as
    convolve_rows'."""
    out_w = out.shape[2]
    cout = out.shape[3]
    ldb = w2d.strides[0] // 4
    span = rows.shape[1]
    run = DIRECT_RUN if stride == 1 else DIRECT_RUN_S2
    flat_out = out.reshape(out.size)
    flat_rows = rows.reshape(rows.size)
    held = np.empty(DIRECT_KSIZE, np.int64)
    _start_ring(rows, held)
    for oy in range(oy0, oy1):
        _ring_rows(x, image, oy, stride, pad, rows, held)
        iy = oy * stride - pad
        r0 = iy % DIRECT_KSIZE * span
        r1 = (iy + 1) % DIRECT_KSIZE * span
        r2 = (iy + 2) % DIRECT_KSIZE * span
        base = (image * out.shape[1] + oy) * out_w * cout
        for x0 in range(0, out_w, run):
            step = x0 * stride * DIRECT_CHANS
            valid = out_w - x0
            off = base + x0 * cout
            whole = stream and valid >= run
            if stride == 1 and whole:
                _direct_3x3_stream(flat_rows, w2d, flat_out, bias, r0 + step, r1 + step,
                                   r2 + step, ldb, off, valid, code)
            elif stride == 1:
                _direct_3x3(flat_rows, w2d, flat_out, bias, r0 + step, r1 + step, r2 + step,
                            ldb, off, valid, code)
            elif whole:
                _direct_3x3_s2_stream(flat_rows, w2d, flat_out, bias, r0 + step, r1 + step,
                                      r2 + step, ldb, off, valid, code)
            else:
                _direct_3x3_s2(flat_rows, w2d, flat_out, bias, r0 + step, r1 + step,
                               r2 + step, ldb, off, valid, code)
    if stream:
        _fence()
