"""Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions on maps too small for F(4x4): a
detector's 13x13 and 26x26 layers.

F(4x4, 3x3) (winograd.py) pays off over many tiles. On a 13x13 map its 4x4 tiles cover
16x16, and its transformed filters U, 4x the weights, are read from memory on every pass
(75 MB for yolov3-tiny's 512 -> 1024 layer). With 2x2 output tiles of 4x4 inputs,

    Y = A^T [ (G g G^T) * (B^T d B) ] A

    B^T = | 1  0 -1  0 |    G = |  1    0    0  |    A^T = | 1  1  1  0 |
          | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
          | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
          | 0  1  0 -1 |        |  0    0    1  |

16 products give 4 outputs (im2col: 36), U is 16/9 of the weights, and B^T and A^T only add
and subtract. A 13x13 map is 49 tiles covering 14x14: 784 products per pair of channels
against im2col's 1521.

Few tiles make small GEMMs, so the work is split by output channels, as
inference._winograd_by_columns splits F(4x4)'s: the calling thread transforms every tile
(input channels a multiple of 16, one 4x4 tile of 16 channels in registers per call), then
each worker multiplies V by its own panels of U (packed once: small_gemm) and transforms its
output channels straight into place, with the bias and a linear, ReLU or leaky activation
applied in registers.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit

from darkpy.kernels.activations import LEAKY, LINEAR, RELU
from darkpy.kernels.conv.small_gemm import panel_products
from darkpy.kernels.conv.winograd import transform_columns
from darkpy.kernels.conv.winograd_vector import input_tile, inverse_tile
from darkpy.kernels.simd import LANES, vector_intrinsic

TILE = 2  # outputs per tile side
SPAN = 4  # inputs per tile side
POSITIONS = SPAN * SPAN

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
# the filter transform as one (16, 9) matrix: [4a + b, 3i + j] = G[a, i] G[b, j]
_G_KRON = np.kron(_G, _G)


def transform_filters(weights: np.ndarray) -> np.ndarray:
    """(3, 3, Cin, Cout) weights -> U (16, Cin, Cout) float32, U[4a+b] = (G g G^T)[a, b]
    (sums in float64, rounded once)."""
    g = np.ascontiguousarray(weights)
    u = np.empty((POSITIONS, g.shape[2], g.shape[3]), np.float32)
    transform_columns(_G_KRON, g.reshape(9, -1), u.reshape(POSITIONS, -1))
    return u


def tiles_for(out_h: int, out_w: int) -> tuple[int, int]:
    return (out_h + TILE - 1) // TILE, (out_w + TILE - 1) // TILE


def applies(cin: int, code: int) -> bool:
    """Whether conv2d_winograd_small computes a convolution of cin inputs and activation code."""
    return cin % LANES == 0 and code in (LINEAR, RELU, LEAKY)


def _bt(v, e):
    """B^T e for four vectors."""
    return [v.sub(e[0], e[2]), v.add(e[1], e[2]), v.sub(e[2], e[1]), v.sub(e[1], e[3])]


def _at(v, m):
    """A^T m for four vectors."""
    return [v.add(v.add(m[0], m[1]), m[2]), v.sub(v.sub(m[1], m[2]), m[3])]


def _output_tile(v):
    """Arrays m, dst, bias; scalars m_off, plane_stride, dst_off, row_stride, pixel_stride,
    rows, cols, lanes, bias_off, code: dst[dst_off + a * row_stride + b * pixel_stride + c] =
    f((A^T M A)[a, b] + bias[bias_off + c]) for c < lanes, a < rows, b < cols, with M[i, j] =
    m[m_off + (4i + j) * plane_stride + c] and f the activation `code` (linear, ReLU, leaky:
    simd.Vectors.activate)."""
    src, dst, bias = v.ptr
    (m_off, plane_stride, dst_off, row_stride, pixel_stride, rows, cols, lanes, bias_off,
     code) = v.arg
    b = v.builder
    zero = v.const(0)
    bias_vec = v.load_if(ir.Constant(ir.IntType(1), 1), v.at(bias, bias_off), lanes)
    for a, row in enumerate(inverse_tile(v, src, m_off, plane_stride, SPAN, _at)):
        for c in range(TILE):
            inside = b.and_(v.inside(a, zero, rows), v.inside(c, zero, cols))
            z = v.activate(v.add(row[c], bias_vec), code)
            v.store_if(inside, z, v.at(dst, dst_off, b.mul(v.const(a), row_stride),
                                       b.mul(v.const(c), pixel_stride)), lanes)


_input_tile_16 = vector_intrinsic(2, 9, input_tile(SPAN, _bt))
_output_tile_16 = vector_intrinsic(3, 10, _output_tile)


@njit(nogil=True, cache=True, fastmath=False)
def input_transform(x, pad, tiles_h, tiles_w, v, plane):
    """V[4i+j] of every tile t (images, then tile rows, then tile columns) at
    v[(4i+j) * plane * C + t * C:] (C floats; v flat, plane >= the tiles), C a multiple of 16.
    Pixels in the padding read as zeros."""
    n_img, height, width, chans = x.shape
    flat = x.reshape(x.size)
    t = 0
    for image in range(n_img):
        for ty in range(tiles_h):
            iy0 = ty * TILE - pad
            i_lo, i_hi = max(0, -iy0), min(SPAN, height - iy0)
            for tx in range(tiles_w):
                ix0 = tx * TILE - pad
                base = ((image * height + iy0) * width + ix0) * chans  # may lie before x
                for c in range(0, chans, LANES):
                    _input_tile_16(flat, v, base + c, width * chans, chans, t * chans + c,
                                   plane * chans, i_lo, i_hi, max(0, -ix0),
                                   min(SPAN, width - ix0))
                t += 1


@njit(nogil=True, cache=True, fastmath=False)
def convolve_columns(v, plane, chans, packed, wide, j0, j1, m, plane_m, bias, code, out):
    """Output channels j0..j1 (whole panels of packed, j1 <= wide) of every tile: M = V @ U
    per position on packed's panels (small_gemm.packed: (16, C, wide) U), then out =
    f(A^T M A + bias) into out's channels from j0 (those < Cout), tiles in input_transform's
    order. v: input_transform's, its spare rows (small_gemm) zeroed; m: flat, M[p] of tile
    t at m[(p * plane_m + t) * (j1 - j0):], plane_m >= the tiles' padded rows."""
    n_img, out_h, out_w, cout = out.shape
    tiles_h, tiles_w = (out_h + TILE - 1) // TILE, (out_w + TILE - 1) // TILE
    tiles = n_img * tiles_h * tiles_w
    part = j1 - j0
    for p in range(POSITIONS):
        following = (p + 1) * chans * wide + chans * j0 if p + 1 < POSITIONS else -1
        panel_products(v, p * plane * chans, chans, packed, p * chans * wide + chans * j0,
                       chans, m, p * plane_m * part, part, tiles, part, following)
    flat = out.reshape(out.size)
    t = 0
    for image in range(n_img):
        for ty in range(tiles_h):
            oy0 = ty * TILE
            rows = min(TILE, out_h - oy0)
            for tx in range(tiles_w):
                ox0 = tx * TILE
                base = ((image * out_h + oy0) * out_w + ox0) * cout
                for c in range(0, min(part, cout - j0), LANES):
                    _output_tile_16(m, flat, bias, t * part + c, plane_m * part,
                                    base + j0 + c, out_w * cout, cout, rows,
                                    min(TILE, out_w - ox0), min(LANES, cout - j0 - c), j0 + c,
                                    code)
                t += 1
