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

import numpy as np
from numba import njit

from darkpy.kernels.activations import _activate_rows

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


def transform_filters(weights: np.ndarray) -> np.ndarray:
    """(3, 3, Cin, Cout) weights -> U (36, Cin, Cout) float32, U[6a+b] = (G g G^T)[a, b].

    Computed in float64 and rounded once, so the filter side adds no rounding of its own.
    """
    g = np.asarray(weights, dtype=np.float64)
    u = np.einsum("ai,ijco,bj->abco", _G, g, _G, optimize=True)
    return np.ascontiguousarray(u.reshape(36, g.shape[2], g.shape[3]), dtype=np.float32)


def tiles_for(out_h: int, out_w: int) -> tuple[int, int]:
    return (out_h + TILE - 1) // TILE, (out_w + TILE - 1) // TILE


@njit(nogil=True, cache=True, fastmath=False)
def _bt(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5):
    """r = B^T d along one axis, for channel vectors d0..d5 -> r0..r5.

    One loop per output: each loop touches few arrays, so LLVM's runtime alias checks stay
    cheap and every loop vectorises (one fused loop over twelve arrays does not).
    """
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    f5 = np.float32(5.0)
    n = d0.shape[0]
    for c in range(n):
        r0[c] = f4 * d0[c] - f5 * d2[c] + d4[c]
    for c in range(n):
        r1[c] = (d4[c] - f4 * d2[c]) + (d3[c] - f4 * d1[c])
    for c in range(n):
        r2[c] = (d4[c] - f4 * d2[c]) - (d3[c] - f4 * d1[c])
    for c in range(n):
        r3[c] = (d4[c] - d2[c]) + f2 * (d3[c] - d1[c])
    for c in range(n):
        r4[c] = (d4[c] - d2[c]) - f2 * (d3[c] - d1[c])
    for c in range(n):
        r5[c] = f4 * d1[c] - f5 * d3[c] + d5[c]


@njit(nogil=True, cache=True, fastmath=False)
def input_transform(x, image, pad, ty0, ty1, tiles_w, patch, tmp, v):
    """V[6i+j, t, :] = (B^T d B)[i, j] for the tiles of tile rows [ty0, ty1) of x[image].

    t counts tiles from (ty0, 0) row by row. patch and tmp are (6, 6, C) float32 scratch.
    Input cells outside the image (padding and the ragged right/bottom edge) read zero;
    tiles wholly inside the image are read in place, the others gathered into `patch` first.
    """
    height = x.shape[1]
    width = x.shape[2]
    zero = np.float32(0.0)
    t = 0
    for ty in range(ty0, ty1):
        iy0 = ty * TILE - pad
        for tx in range(tiles_w):
            ix0 = tx * TILE - pad
            if iy0 >= 0 and ix0 >= 0 and iy0 + SPAN <= height and ix0 + SPAN <= width:
                # columns straight from the image: tmp[:, j] = B^T d[:, j]
                for j in range(SPAN):
                    ix = ix0 + j
                    _bt(x[image, iy0, ix], x[image, iy0 + 1, ix], x[image, iy0 + 2, ix],
                        x[image, iy0 + 3, ix], x[image, iy0 + 4, ix], x[image, iy0 + 5, ix],
                        tmp[0, j], tmp[1, j], tmp[2, j], tmp[3, j], tmp[4, j], tmp[5, j])
            else:
                for i in range(SPAN):
                    iy = iy0 + i
                    for j in range(SPAN):
                        ix = ix0 + j
                        if 0 <= iy < height and 0 <= ix < width:
                            patch[i, j, :] = x[image, iy, ix]
                        else:
                            patch[i, j, :] = zero
                for j in range(SPAN):
                    _bt(patch[0, j], patch[1, j], patch[2, j], patch[3, j], patch[4, j],
                        patch[5, j], tmp[0, j], tmp[1, j], tmp[2, j], tmp[3, j], tmp[4, j],
                        tmp[5, j])
            # rows: V[6i + j, t] = (tmp[i, :] B)[j]
            for i in range(SPAN):
                _bt(tmp[i, 0], tmp[i, 1], tmp[i, 2], tmp[i, 3], tmp[i, 4], tmp[i, 5],
                    v[6 * i, t], v[6 * i + 1, t], v[6 * i + 2, t], v[6 * i + 3, t],
                    v[6 * i + 4, t], v[6 * i + 5, t])
            t += 1


@njit(nogil=True, cache=True, fastmath=False)
def output_transform(m, image, ty0, ty1, tiles_w, tmp, bias, code, out):
    """out[image] rows of tile rows [ty0, ty1) = A^T M A + bias, then the activation `code`.

    m: (36, tiles, Cout) GEMM results; tmp: (4, 6, Cout) float32 scratch; out: NHWC float32.
    Outputs beyond the image edge (ragged last tiles) are dropped.
    """
    out_h = out.shape[1]
    out_w = out.shape[2]
    chans = out.shape[3]
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    f8 = np.float32(8.0)
    t = 0
    for ty in range(ty0, ty1):
        oy0 = ty * TILE
        for tx in range(tiles_w):
            ox0 = tx * TILE
            # columns: tmp[:, j] = A^T M[:, j]
            for j in range(SPAN):
                m0 = m[j, t]
                m1 = m[6 + j, t]
                m2 = m[12 + j, t]
                m3 = m[18 + j, t]
                m4 = m[24 + j, t]
                m5 = m[30 + j, t]
                s0 = tmp[0, j]
                s1 = tmp[1, j]
                s2 = tmp[2, j]
                s3 = tmp[3, j]
                for c in range(chans):
                    p = m1[c] + m2[c]
                    q = m1[c] - m2[c]
                    r = m3[c] + m4[c]
                    s = m3[c] - m4[c]
                    s0[c] = m0[c] + p + r
                    s1[c] = q + f2 * s
                    s2[c] = p + f4 * r
                    s3[c] = q + f8 * s + m5[c]
            # rows: out[oy0 + a, ox0 + :] = tmp[a, :] A
            for a in range(TILE):
                oy = oy0 + a
                if oy >= out_h:
                    break
                row = out[image, oy]
                n0 = tmp[a, 0]
                n1 = tmp[a, 1]
                n2 = tmp[a, 2]
                n3 = tmp[a, 3]
                n4 = tmp[a, 4]
                n5 = tmp[a, 5]
                if ox0 + TILE <= out_w:
                    y0 = row[ox0]
                    y1 = row[ox0 + 1]
                    y2 = row[ox0 + 2]
                    y3 = row[ox0 + 3]
                    for c in range(chans):
                        p = n1[c] + n2[c]
                        q = n1[c] - n2[c]
                        r = n3[c] + n4[c]
                        s = n3[c] - n4[c]
                        y0[c] = n0[c] + p + r
                        y1[c] = q + f2 * s
                        y2[c] = p + f4 * r
                        y3[c] = q + f8 * s + n5[c]
                else:
                    for c in range(chans):
                        p = n1[c] + n2[c]
                        q = n1[c] - n2[c]
                        r = n3[c] + n4[c]
                        s = n3[c] - n4[c]
                        vals = (n0[c] + p + r, q + f2 * s, p + f4 * r, q + f8 * s + n5[c])
                        for b in range(TILE):
                            if ox0 + b < out_w:
                                row[ox0 + b, c] = vals[b]
            t += 1
    # bias and activation on the rows just written, while they are still in cache
    oy_end = min(ty1 * TILE, out_h)
    rows = out.reshape(out.shape[0] * out_h * out_w, chans)
    r0 = (image * out_h + ty0 * TILE) * out_w
    r1 = (image * out_h + oy_end) * out_w
    _activate_rows(rows, bias, r0, r1, code)
