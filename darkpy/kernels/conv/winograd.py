"""Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions on NHWC activations.

Each 4x4 block of outputs comes from a 6x6 input tile d (tiles overlap by 2) as

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* element-wise over the 36 positions)

with the interpolation points 0, +-1, +-2, infinity (Lavin & Gray 2016):

    B^T = | 4  0 -5  0  1  0 |      G = | 1/4    0     0  |    A^T = | 1  1  1  1  1  0 |
          | 0 -4 -4  1  1  0 |          | -1/6 -1/6  -1/6 |          | 0  1 -1  2 -2  0 |
          | 0  4 -4 -1  1  0 |          | -1/6  1/6  -1/6 |          | 0  1  1  4  4  0 |
          | 0 -2 -1  2  1  0 |          | 1/24 1/12  1/6  |          | 0  1 -1  8 -8  1 |
          | 0  2 -1 -2  1  0 |          | 1/24 -1/12 1/6  |
          | 0  4  0 -5  0  1 |          |  0     0     1  |

Summed over input channels, the element-wise product becomes 36 independent GEMMs
V[p] (tiles, Cin) @ U[p] (Cin, Cout): 36 multiplies per 16 outputs instead of 144, so the
GEMM work is a quarter of im2col's. The transforms are numba loops whose innermost loop runs
over channels, which are contiguous in NHWC.

The kernels here are serial and release the GIL: the caller runs one block of tile rows per
thread (transform in, GEMM with single-threaded BLAS, transform out), so no thread pool ever
waits on another.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from darkpy.kernels.activations import activate_rows
from darkpy.kernels.elementwise import residual_rows
from darkpy.kernels.workers import run_rows

TILE = 4  # outputs per tile side
SPAN = 6  # inputs per tile side

_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)


# the filter transform as one (36, 9) matrix: [6a + b, 3i + j] = G[a, i] G[b, j]
_G_KRON = np.kron(_G, _G)


def transform_filters(weights: np.ndarray) -> np.ndarray:
    """(3, 3, Cin, Cout) weights -> U (36, Cin, Cout) float32, U[6a+b] = (G g G^T)[a, b].

    One (36, 9) @ (9, Cin*Cout) product in float64, rounded once to float32, so the filter
    side adds no rounding of its own. Inference caches the result with the weights; training
    recomputes it every step, where a numba loop is several times faster than an einsum
    (whose BLAS calls would also wake BLAS's thread pool).
    """
    g = np.ascontiguousarray(weights)
    u = np.empty((36, g.shape[2], g.shape[3]), np.float32)
    transform_columns(_G_KRON, g.reshape(9, -1), u.reshape(36, -1))
    return u


# columns per block of transform_columns: the block's float64 sums (36 x COLUMN_BLOCK) stay
# in L1 cache while the 9 (or 36) input rows stream through
COLUMN_BLOCK = 64


def transform_columns(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b for a small float64 matrix `a` (a transform) and wide b (k, N): each
    column's sums in float64 in k order, rounded once into out's dtype, in blocks of
    columns on darkpy's workers. Not BLAS: it would wake its thread pool for jobs of
    microseconds. A 512->1024 layer's weights took 0.28 s this way on the loaded machine;
    looping over whole rows (one pass over the output per product term) 1.9 s."""
    n = b.shape[1]
    run_rows(n, a.size * n, lambda n0, n1: _transform_block(a, b, n0, n1, out))


@njit(nogil=True, cache=True, fastmath=False)
def _transform_block(a, b, n0, n1, out):
    rows, inner = a.shape
    acc = np.empty((rows, COLUMN_BLOCK), dtype=np.float64)
    for c0 in range(n0, n1, COLUMN_BLOCK):
        width = min(n1, c0 + COLUMN_BLOCK) - c0
        for r in range(rows):
            for j in range(width):
                acc[r, j] = 0.0
            for k in range(inner):
                coef = a[r, k]
                src = b[k, c0:c0 + width]
                for j in range(width):
                    acc[r, j] += coef * np.float64(src[j])
            dst = out[r, c0:c0 + width]
            for j in range(width):
                dst[j] = acc[r, j]


def tiles_for(out_h: int, out_w: int) -> tuple[int, int]:
    return (out_h + TILE - 1) // TILE, (out_w + TILE - 1) // TILE


def tile_blocks(n_img: int, tiles_h: int, tiles_w: int, per_block: int) -> list[np.ndarray]:
    """Tiles in row-major order, cut into blocks of per_block tiles as segment arrays
    (image, tile row, first tile, end tile) for the Winograd transforms."""
    blocks, current, count = [], [], 0
    for n in range(n_img):
        for ty in range(tiles_h):
            tx = 0
            while tx < tiles_w:
                take = min(tiles_w - tx, per_block - count)
                current.append((n, ty, tx, tx + take))
                count += take
                tx += take
                if count == per_block:
                    blocks.append(np.array(current, dtype=np.int64))
                    current, count = [], 0
    if current:
        blocks.append(np.array(current, dtype=np.int64))
    return blocks


@functools.lru_cache(maxsize=64)
def block_plan(n_img: int, tiles_h: int, tiles_w: int, per_block: int):
    """tile_blocks as one read-only (S, 4) segment array and the (blocks + 1) offsets of each
    block's first segment in it, for kernels that walk many blocks in one call; remembered
    per shape (a training step asks for the same few shapes hundreds of times)."""
    blocks = tile_blocks(n_img, tiles_h, tiles_w, per_block)
    segments = np.concatenate(blocks)
    starts = np.cumsum([0] + [len(b) for b in blocks]).astype(np.int64)
    segments.flags.writeable = False
    starts.flags.writeable = False
    return segments, starts


@njit(nogil=True, cache=True, inline="always")
def segment(segments, s):
    """(image, first output row, first tile, end tile) of segment s of a block: the rows
    (image, tile row ty, tx0, tx1) tile_blocks makes; the input's first row is the output's
    less the padding."""
    return segments[s, 0], segments[s, 1] * TILE, segments[s, 2], segments[s, 3]


@njit(nogil=True, cache=True, inline="always")
def block_tiles(segments):
    """The tiles of a block of segments."""
    tiles = 0
    for s in range(segments.shape[0]):
        tiles += segments[s, 3] - segments[s, 2]
    return tiles


@njit(nogil=True, cache=True, fastmath=False, inline="always")
def _bt_pass(e0, e1, e2, e3, e4, e5, w0, w1, w2, w3, w4, w5):
    """w = B^T e over channel vectors, in three loops of two outputs: a loop over twelve
    arrays does not vectorise (too many runtime alias checks), loops over eight do."""
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    f5 = np.float32(5.0)
    n = e0.shape[0]
    for c in range(n):
        w0[c] = f4 * e0[c] - f5 * e2[c] + e4[c]
        w5[c] = f4 * e1[c] - f5 * e3[c] + e5[c]
    for c in range(n):
        a1 = e4[c] - f4 * e2[c]
        a2 = e3[c] - f4 * e1[c]
        w1[c] = a1 + a2
        w2[c] = a1 - a2
    for c in range(n):
        b1 = e4[c] - e2[c]
        b2 = f2 * (e3[c] - e1[c])
        w3[c] = b1 + b2
        w4[c] = b1 - b2


@njit(nogil=True, cache=True, fastmath=False)
def input_transform(x, pad, segments, zero_row, rows, v):
    """V[6i+j, t, :] = (B^T d B)[i, j] for every tile of `segments`, t counting from 0.

    segments: (S, 4) int64 rows (image, tile row ty, first tile tx0, end tile tx1). Each
    segment takes two separable passes:
    1. down the columns, on the segment's image rows at once (long contiguous loops):
       rows[i] = sum_k B^T[i, k] x[4*ty - pad + k], pixel 4*tx0 - pad stored first;
    2. along the rows, per tile: V[6i + j] = sum_k B^T[j, k] rows[i, 4*(tx - tx0) + k].
    Input cells outside the image read zero: zero_row (>= W*C zeros) stands for rows above
    and below it, and the pixels of `rows` left and right of it are cleared here.
    rows: (6, >= (4*max_tiles + 2)*C) float32 scratch.
    """
    height = x.shape[1]
    width = x.shape[2]
    chans = x.shape[3]
    t = 0
    for s in range(segments.shape[0]):
        image, iy0, tx0, tx1 = segment(segments, s)
        iy0 -= pad
        first = tx0 * TILE - pad  # image column of rows' pixel 0
        n_pix = (tx1 - tx0) * TILE + 2
        lo = min(max(0, -first), n_pix)  # rows' pixels [lo, hi) lie inside the image
        hi = max(min(n_pix, width - first), lo)
        rows[:, :lo * chans] = 0.0
        rows[:, hi * chans:n_pix * chans] = 0.0
        a = (first + lo) * chans
        b = (first + hi) * chans
        span = b - a
        _bt_pass(
            x[image, iy0].reshape(width * chans)[a:b] if 0 <= iy0 < height else zero_row[:span],
            x[image, iy0 + 1].reshape(width * chans)[a:b] if 0 <= iy0 + 1 < height else zero_row[:span],
            x[image, iy0 + 2].reshape(width * chans)[a:b] if 0 <= iy0 + 2 < height else zero_row[:span],
            x[image, iy0 + 3].reshape(width * chans)[a:b] if 0 <= iy0 + 3 < height else zero_row[:span],
            x[image, iy0 + 4].reshape(width * chans)[a:b] if 0 <= iy0 + 4 < height else zero_row[:span],
            x[image, iy0 + 5].reshape(width * chans)[a:b] if 0 <= iy0 + 5 < height else zero_row[:span],
            rows[0, lo * chans:hi * chans], rows[1, lo * chans:hi * chans],
            rows[2, lo * chans:hi * chans], rows[3, lo * chans:hi * chans],
            rows[4, lo * chans:hi * chans], rows[5, lo * chans:hi * chans],
        )
        for tx in range(tx1 - tx0):
            base = tx * TILE * chans
            for i in range(SPAN):
                row = rows[i]
                p = 6 * i
                _bt_pass(
                    row[base:base + chans], row[base + chans:base + 2 * chans],
                    row[base + 2 * chans:base + 3 * chans], row[base + 3 * chans:base + 4 * chans],
                    row[base + 4 * chans:base + 5 * chans], row[base + 5 * chans:base + 6 * chans],
                    v[p, t], v[p + 1, t], v[p + 2, t], v[p + 3, t], v[p + 4, t], v[p + 5, t],
                )
            t += 1


@njit(nogil=True, cache=True, fastmath=False, inline="always")
def _at_pass(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3):
    """y = A^T m over channel vectors (two loops of two outputs, see _bt_pass)."""
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    f8 = np.float32(8.0)
    n = m0.shape[0]
    for c in range(n):
        p = m1[c] + m2[c]
        r = m3[c] + m4[c]
        y0[c] = m0[c] + p + r
        y2[c] = p + f4 * r
    for c in range(n):
        q = m1[c] - m2[c]
        s = m3[c] - m4[c]
        y1[c] = q + f2 * s
        y3[c] = q + f8 * s + m5[c]


@njit(nogil=True, cache=True, fastmath=False)
def finish_segment(pixels, bias, code, res_pixels, alpha, beta, res_code, image, oy0, tx0, tx1,
                   out_h, out_w):
    """The output rows of one segment (tile row oy0 // 4, tiles tx0..tx1 of `image`) of
    pixels (N*out_h*out_w, C): + bias through the activation `code`, then, when res_pixels
    has rows, the shortcut f(alpha*out + beta*res) (f: res_code), while they are in cache."""
    ox_end = min(tx1 * TILE, out_w)
    for oy in range(oy0, min(oy0 + TILE, out_h)):
        r0 = (image * out_h + oy) * out_w
        activate_rows(pixels, bias, r0 + tx0 * TILE, r0 + ox_end, code)
        if res_pixels.shape[0] > 0:
            residual_rows(pixels, res_pixels, r0 + tx0 * TILE, r0 + ox_end, alpha, beta,
                          res_code)


@njit(nogil=True, cache=True, fastmath=False)
def output_transform(m, segments, tmp, edge, bias, code, out, res, alpha, beta, res_code):
    """out = A^T M A for every tile of `segments` (see input_transform), then out + bias
    through the activation `code` on the written pixels, while they are in cache; then, when
    res (out's shape) has any pixels, the shortcut out = f(alpha*out + beta*res) with f the
    activation `res_code` (elementwise.residual_rows; res of shape (0, 1, 1, 1): none).

    m: (36, >= tiles, Cout) GEMM results; tmp: (4, 6, Cout) and edge: (4, Cout) float32
    scratch; out: NHWC float32. Outputs beyond the image edge (ragged last tiles) are dropped.
    """
    out_h = out.shape[1]
    out_w = out.shape[2]
    chans = out.shape[3]
    pixels = out.reshape(out.shape[0] * out_h * out_w, chans)
    res_pixels = res.reshape(res.shape[0] * res.shape[1] * res.shape[2], res.shape[3])
    t = 0
    for s in range(segments.shape[0]):
        image, oy0, tx0, tx1 = segment(segments, s)
        for tx in range(tx0, tx1):
            ox0 = tx * TILE
            for j in range(SPAN):
                _at_pass(m[j, t], m[6 + j, t], m[12 + j, t], m[18 + j, t], m[24 + j, t],
                         m[30 + j, t], tmp[0, j], tmp[1, j], tmp[2, j], tmp[3, j])
            for a in range(TILE):
                oy = oy0 + a
                if oy >= out_h:
                    break
                if ox0 + TILE <= out_w:
                    row = out[image, oy]
                    _at_pass(tmp[a, 0], tmp[a, 1], tmp[a, 2], tmp[a, 3], tmp[a, 4], tmp[a, 5],
                             row[ox0], row[ox0 + 1], row[ox0 + 2], row[ox0 + 3])
                else:
                    _at_pass(tmp[a, 0], tmp[a, 1], tmp[a, 2], tmp[a, 3], tmp[a, 4], tmp[a, 5],
                             edge[0], edge[1], edge[2], edge[3])
                    for b in range(out_w - ox0):
                        out[image, oy, ox0 + b, :] = edge[b]
            t += 1
        finish_segment(pixels, bias, code, res_pixels, alpha, beta, res_code, image, oy0, tx0,
                       tx1, out_h, out_w)
