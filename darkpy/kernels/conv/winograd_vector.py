"""Winograd F(4x4, 3x3) transforms on 16 channels at a time, held in vector registers.

winograd.py's transforms are loops over channels run once per tile and row of a tile: each
loop covers one tile's 64 channels in four vector steps, and costs more in setting up (alias
checks between its twelve arrays, slicing) than in arithmetic. On EDSR's 64-channel layers
they took as long as the GEMMs. Here one tile's 6x6 inputs of 16 channels are loaded into 36
vector registers, transformed down the columns and then along the rows without leaving them,
and stored as the tile's 36 V values; the output side does the same with A. The operations
and their order are winograd._bt_pass's and _at_pass's, so the results are the same bits.

Input channels must be a multiple of 16 (others keep winograd.py's loops); output channels
are computed in whole vectors and the ones past the last are not stored. Pixels of a
tile in the padding, or outputs beyond the image's edge, are masked loads and stores: they
read zeros and write nothing, without a copy of the tile.

The output side also finishes linear, ReLU and leaky outputs (bias, activation, a linear
shortcut) in registers, with finish_segment's operations, so that it can write big outputs
with non-temporal stores (no read of each line before it is written; see
inference.STREAM_BYTES). Other activations take finish_segment's second pass.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit

from darkpy.kernels.activations import LEAKY, LINEAR, RELU
from darkpy.kernels.conv.small_gemm import clear_spare_rows, weight_products, winograd_products
from darkpy.kernels.conv.winograd import SPAN, TILE, block_tiles, finish_segment, segment
from darkpy.kernels.simd import LANES, vector_intrinsic


def _bt(v, e):
    """B^T e for six vectors, as winograd._bt_pass."""
    a1 = v.sub(e[4], v.scale(4.0, e[2]))
    a2 = v.sub(e[3], v.scale(4.0, e[1]))
    b1 = v.sub(e[4], e[2])
    b2 = v.scale(2.0, v.sub(e[3], e[1]))
    return [
        v.add(v.sub(v.scale(4.0, e[0]), v.scale(5.0, e[2])), e[4]),
        v.add(a1, a2),
        v.sub(a1, a2),
        v.add(b1, b2),
        v.sub(b1, b2),
        v.add(v.sub(v.scale(4.0, e[1]), v.scale(5.0, e[3])), e[5]),
    ]


def _at(v, m):
    """A^T m for six vectors, as winograd._at_pass."""
    p = v.add(m[1], m[2])
    r = v.add(m[3], m[4])
    q = v.sub(m[1], m[2])
    s = v.sub(m[3], m[4])
    return [
        v.add(v.add(m[0], p), r),
        v.add(q, v.scale(2.0, s)),
        v.add(p, v.scale(4.0, r)),
        v.add(v.add(q, v.scale(8.0, s)), m[5]),
    ]


def masked_grid(v, src, off, row_stride, pixel_stride, size, rows, cols):
    """size x size vectors src[off + i * row_stride + j * pixel_stride:] for rows[0] <= i <
    rows[1] and cols[0] <= j < cols[1], zeros elsewhere (masked loads: those are not read)."""
    b = v.builder
    return [[v.load_if(b.and_(v.inside(i, *rows), v.inside(j, *cols)),
                       v.at(src, off, b.mul(v.const(i), row_stride),
                            b.mul(v.const(j), pixel_stride)))
             for j in range(size)] for i in range(size)]


def store_separable(v, grid, transform, dst, dst_off, plane_stride):
    """transform down the columns of grid, then along the rows, each result [i][j] stored at
    dst[dst_off + (n*i + j) * plane_stride:] (n results per row: the n*n Winograd planes)."""
    b = v.builder
    columns = [transform(v, [row[j] for row in grid]) for j in range(len(grid[0]))]
    for i in range(len(columns[0])):
        row = transform(v, [column[i] for column in columns])
        for j in range(len(row)):
            v.store(row[j], v.at(dst, dst_off, b.mul(v.const(len(row) * i + j), plane_stride)))


def inverse_tile(v, src, m_off, plane_stride, span: int, at):
    """A^T M A of the span x span vectors M[i][j] = src[m_off + (span*i + j) * plane_stride:],
    down the columns then along the rows (at: A^T on `span` vectors), as rows [a][b]."""
    b = v.builder
    m = [[v.load(v.at(src, m_off, b.mul(v.const(span * i + j), plane_stride)))
          for j in range(span)] for i in range(span)]
    columns = [at(v, [m[i][j] for i in range(span)]) for j in range(span)]  # [j][a]
    return [at(v, [column[a] for column in columns]) for a in range(len(columns[0]))]


def input_tile(span: int, bt):
    """The body of an input-tile intrinsic for span x span input tiles and the 1-D transform
    bt (B^T on `span` vectors): arrays src, dst; scalars src_off, row_stride, pixel_stride,
    dst_off, plane_stride, i_lo, i_hi, j_lo, j_hi: dst[dst_off + (span*i + j) * plane_stride
    + c] = (B^T d B)[i, j] of the pixels d[i, j] = src[src_off + i * row_stride + j *
    pixel_stride + c], c < 16, where i_lo <= i < i_hi and j_lo <= j < j_hi, else zero (the
    padding: not read)."""

    def body(v):
        src, dst = v.ptr
        src_off, row_stride, pixel_stride, dst_off, plane_stride, i_lo, i_hi, j_lo, j_hi = v.arg
        d = masked_grid(v, src, src_off, row_stride, pixel_stride, span, (i_lo, i_hi),
                        (j_lo, j_hi))
        store_separable(v, d, bt, dst, dst_off, plane_stride)

    return body


def _output_tile(stream: bool):
    """The body of an output-tile intrinsic: arrays m, dst, bias, res, scales; scalars m_off,
    plane_stride, dst_off, row_stride, pixel_stride, rows, cols, lanes, bias_off, fuse, code,
    has_res: dst[dst_off + a * row_stride + b * pixel_stride + c] = (A^T M A)[a, b] for
    c < lanes (<= 16), a < rows and b < cols (nothing else is written: outputs beyond the
    edge, channels past the last), with M[i, j] = m[m_off + (6i + j) * plane_stride + c].

    fuse nonzero: each output is finished as winograd.finish_segment would, in registers
    and with its operations: z = y + bias[bias_off + c]; the activation `code` (LINEAR,
    RELU: z if z > 0 else 0, any other: leaky; simd.Vectors.activate; the caller fuses only
    those three); then, has_res nonzero, the linear shortcut scales[0] * z + scales[1] * res
    (res at dst's offsets).

    stream: for whole tiles of 16 channels (rows, cols, lanes not read) finished here, with
    dst's vectors on cache lines: non-temporal stores, which do not read the lines they
    write (an output bigger than the caches goes to memory once instead of twice)."""

    def body(v):
        src, dst, bias, res, scales = v.ptr
        (m_off, plane_stride, dst_off, row_stride, pixel_stride, rows, cols, lanes, bias_off,
         fuse, code, has_res) = v.arg
        zero = v.const(0)
        b = v.builder
        fusing = b.icmp_signed("!=", fuse, zero)
        residual = b.icmp_signed("!=", has_res, zero)
        count = None if stream else lanes
        bias_vec = v.load_if(fusing, v.at(bias, bias_off), count)
        alpha, beta = (v.broadcast(v.at(scales, k)) for k in range(2))

        def finish(y, inside, offsets):
            z = v.add(y, bias_vec)
            act_z = v.activate(z, code)
            other = v.load_if(b.and_(inside, residual), v.at(res, *offsets), count)
            summed = v.select(residual, v.add(v.mul(alpha, act_z), v.mul(beta, other)), act_z)
            return v.select(fusing, summed, y)

        for a, row in enumerate(inverse_tile(v, src, m_off, plane_stride, SPAN, _at)):
            for c in range(TILE):
                offsets = (dst_off, b.mul(v.const(a), row_stride),
                           b.mul(v.const(c), pixel_stride))
                if stream:
                    v.stream(finish(row[c], ir.Constant(ir.IntType(1), 1), offsets),
                             v.at(dst, *offsets))
                else:
                    inside = b.and_(v.inside(a, zero, rows), v.inside(c, zero, cols))
                    v.store_if(inside, finish(row[c], inside, offsets), v.at(dst, *offsets),
                               lanes)

    return body


def _a(v, y):
    """A y for four vectors, as winograd_grad._a_pass."""
    p = v.add(y[0], y[2])
    q = v.add(y[1], y[3])
    r = v.add(y[0], v.scale(4.0, y[2]))
    s = v.add(v.scale(2.0, y[1]), v.scale(8.0, y[3]))
    return [y[0], v.add(p, q), v.sub(p, q), v.add(r, s), v.sub(r, s), y[3]]


def _gradient_tile(v):
    """Arrays src, dst; scalars src_off, row_stride, pixel_stride, dst_off, plane_stride,
    rows, cols: dst[dst_off + (6i + j) * plane_stride + c] = (A dY A^T)[i, j], c < 16, of the
    4x4 block dY[a, b] = src[src_off + a * row_stride + b * pixel_stride + c] of dL/dz for
    a < rows and b < cols, else zero (beyond the output's edge: not read)."""
    src, dst = v.ptr
    src_off, row_stride, pixel_stride, dst_off, plane_stride, rows, cols = v.arg
    zero = v.const(0)
    y = masked_grid(v, src, src_off, row_stride, pixel_stride, TILE, (zero, rows), (zero, cols))
    store_separable(v, y, _a, dst, dst_off, plane_stride)


_input_tile_16 = vector_intrinsic(2, 9, input_tile(SPAN, _bt))
_gradient_tile_16 = vector_intrinsic(2, 7, _gradient_tile)
_output_tile_16 = vector_intrinsic(5, 12, _output_tile(False))
_output_stream_16 = vector_intrinsic(5, 12, _output_tile(True))
# non-temporal stores are not ordered with the others: this makes them visible before the
# job that wrote them reports done (x86: mfence)
_fence = vector_intrinsic(0, 0, lambda v: v.builder.fence("seq_cst"))


@njit(nogil=True, cache=True, fastmath=False)
def input_transform(x, pad, segments, v, tile_step, plane_step):
    """winograd.input_transform for C a multiple of 16: V[6i+j] of the t-th tile of
    `segments` (image, tile row, first tile, end tile) at v[t*tile_step + (6i+j)*plane_step:]
    (C floats), v a flat float32 array: tile-major (tile_step >= 36*C, plane_step = C) for
    the forward pass, plane-major (tile_step = C) for the weight gradient. Pixels in the
    padding read as zeros."""
    n_img, height, width, chans = x.shape
    flat = x.reshape(n_img * height * width * chans)
    t = 0
    for s in range(segments.shape[0]):
        image, iy0, tx0, tx1 = segment(segments, s)
        iy0 -= pad
        i_lo, i_hi = max(0, -iy0), min(SPAN, height - iy0)
        for tx in range(tx0, tx1):
            ix0 = tx * TILE - pad
            base = ((image * height + iy0) * width + ix0) * chans  # may lie before x's start
            for c in range(0, chans, LANES):
                _input_tile_16(flat, v, base + c, width * chans, chans, t * tile_step + c,
                               plane_step, i_lo, i_hi, max(0, -ix0), min(SPAN, width - ix0))
            t += 1


@njit(nogil=True, cache=True, fastmath=False)
def output_gradient_transform(dz, segments, dm, tile_step, plane_step):
    """winograd_grad.output_gradient_transform for Cout a multiple of 16: dM[6i+j] = (A dY
    A^T)[i, j] of the t-th tile of `segments` at dm[t*tile_step + (6i+j)*plane_step:] (Cout
    floats; layouts as input_transform's). dL/dz beyond the output's edge counts as zero."""
    n_img, out_h, out_w, chans = dz.shape
    flat = dz.reshape(n_img * out_h * out_w * chans)
    t = 0
    for s in range(segments.shape[0]):
        image, oy0, tx0, tx1 = segment(segments, s)
        rows = min(TILE, out_h - oy0)
        for tx in range(tx0, tx1):
            ox0 = tx * TILE
            base = ((image * out_h + oy0) * out_w + ox0) * chans
            for c in range(0, chans, LANES):
                _gradient_tile_16(flat, dm, base + c, out_w * chans, chans, t * tile_step + c,
                                  plane_step, rows, min(TILE, out_w - ox0))
            t += 1


@njit(nogil=True, cache=True, fastmath=False)
def output_transform(m, plane, segments, bias, code, out, res, alpha, beta, res_code, stream):
    """winograd.output_transform (same arguments, less the scratch) from m: (rows, >=
    36*plane) tile-major, M[6i+j] of tile t at m[t, (6i+j)*plane:], plane >= Cout a multiple
    of 16 (the GEMM's columns past Cout are not written out). Outputs beyond the image's
    edge are not written. Linear, ReLU and leaky outputs, and a linear shortcut after them,
    are finished in registers as they are stored (the same operations as finish_segment's
    second pass over the rows, which the other activations take); stream True writes their
    whole tiles with non-temporal stores when out starts on a cache line and Cout is a
    multiple of 16 (every channel vector is then a whole line)."""
    n_img, out_h, out_w, chans = out.shape
    tile_stride = m.shape[1]
    flat = out.reshape(n_img * out_h * out_w * chans)
    pixels = out.reshape(n_img * out_h * out_w, chans)
    res_pixels = res.reshape(res.shape[0] * res.shape[1] * res.shape[2], res.shape[3])
    has_res = 1 if res_pixels.shape[0] > 0 else 0
    fuse = (code == LINEAR or code == RELU or code == LEAKY) and (has_res == 0
                                                                 or res_code == LINEAR)
    scales = np.empty(2, np.float32)
    scales[0], scales[1] = alpha, beta
    res_flat = res.reshape(res.size)
    # non-temporal stores: asked for, finished here, and every channel vector on a line
    streaming = stream and fuse and chans % LANES == 0 and out.ctypes.data % 64 == 0
    t = 0
    for s in range(segments.shape[0]):
        image, oy0, tx0, tx1 = segment(segments, s)
        rows = min(TILE, out_h - oy0)
        for tx in range(tx0, tx1):
            ox0 = tx * TILE
            base = ((image * out_h + oy0) * out_w + ox0) * chans
            cols = min(TILE, out_w - ox0)
            for c in range(0, chans, LANES):
                lanes = min(LANES, chans - c)
                if streaming and rows == TILE and cols == TILE and lanes == LANES:
                    _output_stream_16(m, flat, bias, res_flat, scales, t * tile_stride + c,
                                      plane, base + c, out_w * chans, chans, rows, cols, lanes,
                                      c, 1, code, has_res)
                else:
                    _output_tile_16(m, flat, bias, res_flat, scales, t * tile_stride + c,
                                    plane, base + c, out_w * chans, chans, rows, cols, lanes,
                                    c, 1 if fuse else 0, code, has_res)
            t += 1
        if not fuse:
            finish_segment(pixels, bias, code, res_pixels, alpha, beta, res_code, image, oy0,
                           tx0, tx1, out_h, out_w)
    if streaming:
        _fence()


@njit(nogil=True, cache=True, fastmath=False)
def convolve_blocks(x, pad, segments, starts, b0, b1, packed, plane, v, m, bias, code, out, res,
                    alpha, beta, res_code, stream):
    """Blocks b0..b1 of a Winograd convolution, each through input_transform,
    small_gemm.winograd_products and output_transform while its V and M are in cache.

    Block b is segments[starts[b]:starts[b + 1]]; packed: the filters from
    small_gemm.pack_filters with `plane` (Cout rounded up to 16) columns; v (rows, >= 36*C)
    and m (rows, >= 36*plane) hold a block's tiles plus small_gemm's spare rows. One call
    runs many blocks, so the Python glue between stages (~10 us per call, under the GIL
    that the other workers want) is paid per run, not per block: blocks can then be small
    enough for V and M to stay in L2. stream: see output_transform."""
    for b in range(b0, b1):
        block = segments[starts[b]:starts[b + 1]]
        tiles = block_tiles(block)
        input_transform(x, pad, block, v.reshape(v.size), v.shape[1], x.shape[3])
        clear_spare_rows(v, tiles)
        winograd_products(v, packed, x.shape[3], plane, m, tiles)
        output_transform(m, plane, block, bias, code, out, res, alpha, beta, res_code, stream)


@njit(nogil=True, cache=True, fastmath=False)
def weight_grad_blocks(x, dz, pad, segments, starts, b0, b1, plane, v, m, du):
    """du = sum over blocks b0..b1 (segments as convolve_blocks's) of V^T dM per position:
    each block's input and dL/dz transforms, plane-major with `plane` tiles per plane (v, m
    flat; v with small_gemm.PAD_ROWS floats to spare), then small_gemm.weight_products into
    du (36, padded_tiles(Cin), Cout), overwritten by the first block."""
    chans = x.shape[3]
    cout = dz.shape[3]
    for b in range(b0, b1):
        block = segments[starts[b]:starts[b + 1]]
        tiles = block_tiles(block)
        input_transform(x, pad, block, v, chans, plane * chans)
        output_gradient_transform(dz, block, m, cout, plane * cout)
        weight_products(v, m, plane, tiles, chans, cout, du, b > b0)
