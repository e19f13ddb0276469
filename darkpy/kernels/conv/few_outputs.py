"""3x3 stride-1 convolutions to 3 output channels (an RGB tail) from many input channels.

Winograd serves these badly: its GEMMs pad the 3 outputs to a whole vector of 16, and its
input transform costs as much as for 64 outputs (EDSR's 64 -> 3 tail on the 2x-upscaled
map: ~5% of the network). Here each output value is a dot product over the 9 taps x C input
channels, taken 16 channels at a time:

    acc[p, k] (16 lanes) += x[y - pad + ky, x0 + p - pad + kx, c:c+16] * w[ky, kx, c:c+16, k]

for PIXELS consecutive output pixels p and the OUTPUTS channels k, all accumulators in
registers while c runs over the input channels; each input vector is loaded once per kernel
row for the 3 columns that use it. The 16 lanes of each accumulator are summed at the end
(pairwise, in a fixed order), so the result rounds differently from Winograd's (and is
closer to the exact sum: no transform rounding). The PIXELS * OUTPUTS sums land in one
vector in NHWC order, and are finished with the bias and a linear, ReLU or leaky activation
(simd.activate) before one masked store. Input pixels outside the image are masked loads;
rows outside it read a run of zeros.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit

from darkpy.kernels.activations import LEAKY, LINEAR, RELU
from darkpy.kernels.simd import I32, LANES, vector_intrinsic

OUTPUTS = 3
PIXELS = 4  # output pixels per call: PIXELS * OUTPUTS sums fit one vector
KSIZE = 3


def applies(ksize: int, cin: int, cout: int, code: int) -> bool:
    """Whether convolve_rows computes a stride-1 undilated ungrouped convolution like this."""
    return (ksize == KSIZE and cout == OUTPUTS and cin % LANES == 0
            and code in (LINEAR, RELU, LEAKY))


def pack(weights: np.ndarray) -> np.ndarray:
    """(3, 3, C, OUTPUTS) weights as (9, C/16, OUTPUTS, 16): for each tap and 16-channel run
    of inputs, one vector of weights per output channel."""
    taps = weights.shape[0] * weights.shape[1]
    chans = weights.shape[2]
    runs = weights.reshape(taps, chans // LANES, LANES, OUTPUTS)
    return np.ascontiguousarray(runs.transpose(0, 1, 3, 2), dtype=np.float32).reshape(-1)


def _pairwise(v, a, b, width: int):
    """Runs of `width` lanes hold one accumulator's partial sums in a and in b: the result
    holds, in runs of width/2, a's accumulators then b's, each run's two halves added."""
    half = width // 2
    low, high = [], []
    for source in (0, LANES):
        for start in range(source, source + LANES, width):
            low += range(start, start + half)
            high += range(start + half, start + width)
    b_ = v.builder
    index = lambda lanes: ir.Constant(ir.VectorType(I32, LANES), lanes)  # noqa: E731
    return b_.fadd(b_.shuffle_vector(a, b, index(low)), b_.shuffle_vector(a, b, index(high)))


def _lane_sums(v, accumulators):
    """One vector whose lane i is the sum of accumulators[i]'s 16 lanes (at most 16 of them;
    missing ones count as zeros)."""
    vectors = list(accumulators) + [v.zero()] * (LANES - len(accumulators))
    width = LANES
    while len(vectors) > 1:
        vectors = [_pairwise(v, vectors[i], vectors[i + 1], width)
                   for i in range(0, len(vectors), 2)]
        width //= 2
    return vectors[0]


def _body(v):
    """out[out_off + p*OUTPUTS + k] = f(sum over ky, kx, c of row_ky[off_ky + (p + kx)*chans
    + c] * w[((ky*3 + kx)*nvec + c//16)*OUTPUTS*16 + k*16 + c%16] + bias[p*OUTPUTS + k]) for
    p < valid, input pixels q = p + kx read only where q_lo <= q < q_hi (else zeros).

    Arrays: row_0, row_1, row_2, w, out, bias (the bias tiled PIXELS times); scalars:
    off_0, off_1, off_2, q_lo, q_hi, nvec (C/16), chans, out_off, valid, code."""
    rows = v.ptr[:KSIZE]
    w, out, bias = v.ptr[KSIZE:]
    offsets = v.arg[:KSIZE]
    q_lo, q_hi, nvec, chans, out_off, valid, code = v.arg[KSIZE:]
    b = v.builder
    inside = [v.inside(q, q_lo, q_hi) for q in range(PIXELS + KSIZE - 1)]

    def step(run, acc):  # one run of 16 input channels
        channel = b.mul(run, v.const(LANES))
        new = list(acc)
        for ky in range(KSIZE):
            inputs = [v.load_if(inside[q], v.at(rows[ky], offsets[ky],
                                                b.mul(v.const(q), chans), channel))
                      for q in range(PIXELS + KSIZE - 1)]
            for kx in range(KSIZE):
                tap = b.add(b.mul(v.const(ky * KSIZE + kx), nvec), run)
                for k in range(OUTPUTS):
                    weight = v.load(v.at(w, b.mul(tap, v.const(OUTPUTS * LANES)), k * LANES))
                    for p in range(PIXELS):
                        new[p * OUTPUTS + k] = v.fma(inputs[p + kx], weight,
                                                     new[p * OUTPUTS + k])
        return new

    finals = v.counted_loop(nvec, [v.zero()] * (PIXELS * OUTPUTS), step)
    y = v.activate(v.add(_lane_sums(v, finals), v.load(bias)), code)
    v.store_if(ir.Constant(ir.IntType(1), 1), y, v.at(out, out_off),
               b.mul(valid, v.const(OUTPUTS)))


_pixels_3 = vector_intrinsic(6, 10, _body)


@njit(nogil=True, cache=True)
def _row(flat, zero_run, image, iy, height, width, chans):
    """(array, offset of pixel 0, floats per pixel) for input row iy of x[image] (x flat):
    a run of zeros, read at offset 0 whatever the pixel, for rows outside the image."""
    if 0 <= iy < height:
        return flat, (image * height + iy) * width * chans, chans
    return zero_run, 0, 0


@njit(nogil=True, cache=True)
def convolve_rows(x, packed, pad, bias, code, zero_run, out, image, oy0, oy1):
    """out[image, oy0:oy1] = f(conv3x3(x, w) + bias), stride 1, serial, without the GIL.

    x: (N, H, W, C) float32 C-contiguous, C a multiple of 16; packed: pack(w); bias: the
    OUTPUTS biases tiled PIXELS times (16 floats, the rest zeros); zero_run: at least
    (PIXELS + 2) * C zeros; out: (N, out_h, out_w, OUTPUTS) C-contiguous."""
    height, width, chans = x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = out.shape[1], out.shape[2]
    flat = x.reshape(x.size)
    flat_out = out.reshape(out.size)
    for oy in range(oy0, oy1):
        base = (image * out_h + oy) * out_w * OUTPUTS
        row_0, off_0, step_0 = _row(flat, zero_run, image, oy - pad, height, width, chans)
        row_1, off_1, step_1 = _row(flat, zero_run, image, oy - pad + 1, height, width, chans)
        row_2, off_2, step_2 = _row(flat, zero_run, image, oy - pad + 2, height, width, chans)
        for x0 in range(0, out_w, PIXELS):
            ix = x0 - pad  # the input pixel under q = 0 (pixels outside the row: not loaded)
            _pixels_3(row_0, row_1, row_2, packed, flat_out, bias, off_0 + ix * step_0,
                      off_1 + ix * step_1, off_2 + ix * step_2, max(0, -ix),
                      min(PIXELS + KSIZE - 1, width - ix), chans // LANES, chans,
                      base + x0 * OUTPUTS, min(PIXELS, out_w - x0), code)
