"""Winograd F(4x4, 3x3) transforms on 16 channels at a time, held in vector registers.

winograd.py's transforms are loops over channels run once per tile and row of a tile: each
loop covers one tile's 64 channels in four vector steps, and costs more in setting up (alias
checks between its twelve arrays, slicing) than in arithmetic. On EDSR's 64-channel layers
they took as long as the GEMMs. Here one tile's 6x6 inputs of 16 channels are loaded into 36
vector registers, transformed down the columns and then along the rows without leaving them,
and stored as the tile's 36 V values; the output side does the same with A. The operations
and their order are winograd._bt_pass's and _at_pass's, so the results are the same bits.

Channel counts must be multiples of 16 (the others keep winograd.py's loops). Tiles that
reach past the image's edge go through a small zero-padded patch.
"""
from __future__ import annotations

from numba import njit

from darkpy.kernels.activations import activate_rows
from darkpy.kernels.conv.small_gemm import PAD_ROWS, winograd_products
from darkpy.kernels.elementwise import residual_rows
from darkpy.kernels.simd import LANES, vector_intrinsic

TILE = 4
SPAN = 6


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


def _input_tile(v):
    """Arrays src, dst; scalars src_off, row_stride, pixel_stride, dst_off, plane_stride:
    dst[dst_off + (6i + j) * plane_stride + c] = (B^T d B)[i, j] of the 6x6 pixels
    d[i, j] = src[src_off + i * row_stride + j * pixel_stride + c], c < 16."""
    src, dst = v.ptr
    src_off, row_stride, pixel_stride, dst_off, plane_stride = v.arg
    b = v.builder
    d = [[v.load(v.at(src, src_off, b.mul(v.const(i), row_stride), b.mul(v.const(j), pixel_stride)))
          for j in range(SPAN)] for i in range(SPAN)]
    columns = [_bt(v, [d[i][j] for i in range(SPAN)]) for j in range(SPAN)]  # columns[j][i]
    for i in range(SPAN):
        row = _bt(v, [columns[j][i] for j in range(SPAN)])
        for j in range(SPAN):
            v.store(row[j], v.at(dst, dst_off, b.mul(v.const(SPAN * i + j), plane_stride)))


def _output_tile(v):
    """Arrays m, dst; scalars m_off, plane_stride, dst_off, row_stride, pixel_stride:
    dst[dst_off + a * row_stride + b * pixel_stride + c] = (A^T M A)[a, b], c < 16, with
    M[i, j] = m[m_off + (6i + j) * plane_stride + c]."""
    src, dst = v.ptr
    m_off, plane_stride, dst_off, row_stride, pixel_stride = v.arg
    b = v.builder
    m = [[v.load(v.at(src, m_off, b.mul(v.const(SPAN * i + j), plane_stride)))
          for j in range(SPAN)] for i in range(SPAN)]
    columns = [_at(v, [m[i][j] for i in range(SPAN)]) for j in range(SPAN)]  # columns[j][a]
    for a in range(TILE):
        row = _at(v, [columns[j][a] for j in range(SPAN)])
        for c in range(TILE):
            v.store(row[c], v.at(dst, dst_off, b.mul(v.const(a), row_stride),
                                 b.mul(v.const(c), pixel_stride)))


def _prefetch(v):
    """Array src; scalar off: fetch src[off]'s cache line ahead of its use."""
    v.prefetch(v.at(v.ptr[0], v.arg[0]))


_input_tile_16 = vector_intrinsic(2, 5, _input_tile)
_prefetch_line = vector_intrinsic(1, 1, _prefetch)
# input pixels fetched ahead: the new columns of the tile this many tiles on
PREFETCH_TILES = 2
_output_tile_16 = vector_intrinsic(2, 5, _output_tile)


@njit(nogil=True, cache=True, fastmath=False)
def input_transform(x, pad, segments, patch, v):
    """winograd.input_transform for C a multiple of 16: V[6i+j, t, :] = (B^T d B)[i, j] for
    every tile of `segments` (image, tile row, first tile, end tile), t counting from 0, at
    v[t, (6i+j)*C:(6i+j+1)*C]; v (rows, >= 36*C) is tile-major and its rows from the last tile to the next multiple of
    small_gemm.PAD_ROWS are zeroed (small_gemm's register blocks read them). patch: (6, 6, C) float32 scratch for tiles that reach past
    the image's edge."""
    n_img, height, width, chans = x.shape
    tile_stride = v.shape[1]
    flat = x.reshape(n_img * height * width * chans)
    t = 0
    for s in range(segments.shape[0]):
        image = segments[s, 0]
        iy0 = segments[s, 1] * TILE - pad
        for tx in range(segments[s, 2], segments[s, 3]):
            ix0 = tx * TILE - pad
            if iy0 >= 0 and iy0 + SPAN <= height and ix0 >= 0 and ix0 + SPAN <= width:
                base = ((image * height + iy0) * width + ix0) * chans
                ahead = ix0 + (PREFETCH_TILES + 1) * TILE + 2
                if ahead + TILE <= width:
                    for i in range(SPAN):
                        row = base + i * width * chans + (ahead - ix0) * chans
                        for k in range(0, TILE * chans, LANES):
                            _prefetch_line(flat, row + k)
                for c in range(0, chans, LANES):
                    _input_tile_16(flat, v, base + c, width * chans, chans, t * tile_stride + c, chans)
            else:
                patch[:] = 0.0
                for i in range(max(0, -iy0), min(SPAN, height - iy0)):
                    for j in range(max(0, -ix0), min(SPAN, width - ix0)):
                        patch[i, j, :] = x[image, iy0 + i, ix0 + j, :]
                for c in range(0, chans, LANES):
                    _input_tile_16(patch, v, c, SPAN * chans, chans, t * tile_stride + c, chans)
            t += 1
    v[t:min(v.shape[0], -(-t // PAD_ROWS) * PAD_ROWS)] = 0.0


@njit(nogil=True, cache=True, fastmath=False)
def output_transform(m, segments, edge, bias, code, out, res, alpha, beta, res_code):
    """winograd.output_transform for Cout a multiple of 16 (same arguments, except m:
    (rows, >= 36*Cout) tile-major, M[6i+j] of tile t at m[t, (6i+j)*Cout:(6i+j+1)*Cout]; edge:
    (4, 4, Cout) float32 scratch for tiles that reach past the image's edge)."""
    n_img, out_h, out_w, chans = out.shape
    tile_stride = m.shape[1]
    flat = out.reshape(n_img * out_h * out_w * chans)
    pixels = out.reshape(n_img * out_h * out_w, chans)
    fused = res.shape[0] > 0
    res_pixels = res.reshape(res.shape[0] * res.shape[1] * res.shape[2], res.shape[3])
    t = 0
    for s in range(segments.shape[0]):
        image = segments[s, 0]
        oy0 = segments[s, 1] * TILE
        tx0 = segments[s, 2]
        tx1 = segments[s, 3]
        for tx in range(tx0, tx1):
            ox0 = tx * TILE
            if oy0 + TILE <= out_h and ox0 + TILE <= out_w:
                base = ((image * out_h + oy0) * out_w + ox0) * chans
                for c in range(0, chans, LANES):
                    _output_tile_16(m, flat, t * tile_stride + c, chans, base + c, out_w * chans, chans)
            else:
                for c in range(0, chans, LANES):
                    _output_tile_16(m, edge, t * tile_stride + c, chans, c, TILE * chans, chans)
                for a in range(min(TILE, out_h - oy0)):
                    for b in range(min(TILE, out_w - ox0)):
                        out[image, oy0 + a, ox0 + b, :] = edge[a, b]
            t += 1
        ox_end = min(tx1 * TILE, out_w)
        for oy in range(oy0, min(oy0 + TILE, out_h)):
            r0 = (image * out_h + oy) * out_w
            activate_rows(pixels, bias, r0 + tx0 * TILE, r0 + ox_end, code)
            if fused:
                residual_rows(pixels, res_pixels, r0 + tx0 * TILE, r0 + ox_end, alpha, beta,
                              res_code)


@njit(nogil=True, cache=True, fastmath=False)
def convolve_blocks(x, pad, segments, starts, b0, b1, packed, v, m, patch, edge, bias, code,
                    out, res, alpha, beta, res_code):
    """Blocks b0..b1 of a Winograd convolution, each through input_transform,
    small_gemm.winograd_products and output_transform while its V and M are in cache.

    Block b is segments[starts[b]:starts[b + 1]]; packed: the filters from
    small_gemm.pack_filters; v (rows, >= 36*C) and m (rows, >= 36*Cout) hold a block's tiles
    plus small_gemm's spare rows. One call runs many blocks, so the
    Python glue between stages (~10 us per call, under the GIL that the other workers want)
    is paid per run, not per block: blocks can then be small enough for V and M to stay in
    L2."""
    for b in range(b0, b1):
        block = segments[starts[b]:starts[b + 1]]
        tiles = 0
        for s in range(block.shape[0]):
            tiles += block[s, 3] - block[s, 2]
        input_transform(x, pad, block, patch, v)
        winograd_products(v, packed, x.shape[3], out.shape[3], m, tiles, 0, out.shape[3])
        output_transform(m, block, edge, bias, code, out, res, alpha, beta, res_code)
