"""The weight gradient of a Winograd F(4x4, 3x3) convolution (winograd.py).

Forward maps the weights g to the outputs linearly, tile by tile and channel pair by pair:

    Y_t = A^T [ (G g G^T) * V_t ] A,        V_t = B^T d_t B  (the input tile's transform)

and that map is the convolution itself, so its adjoint is the exact weight gradient. With
dY_t the 4x4 block of dL/dz on tile t (zero beyond the output's edge), transposing each
stage in reverse order gives

    dM_t = A dY_t A^T                       (6x6, per output channel)
    dU[p] = sum_t V_t[p]^T dM_t[p]          (36 GEMMs (Cin, tiles) @ (tiles, Cout))
    dL/dg = G^T dU G                        (per channel pair; 3x3)

The middle step sums over every tile of the batch as GEMMs with a quarter of im2col's
multiplies (36 per 16 outputs instead of 144). The transforms are numba loops over
contiguous channel vectors, serial and without the GIL (the caller runs blocks of tiles
on darkpy's workers, as inference.conv2d_winograd does).

With the points 0, +-1, +-2, infinity, A (6x4) is the transpose of winograd.py's A^T:

    A y = ( y0,  y0 + y1 + y2 + y3,  y0 - y1 + y2 - y3,  y0 + 2 y1 + 4 y2 + 8 y3,
            y0 - 2 y1 + 4 y2 - 8 y3,  y3 )
"""
from __future__ import annotations

import numpy as np
from numba import njit

from darkpy.kernels.conv.winograd import _G_KRON, SPAN, TILE, segment, transform_columns

_G_KRON_T = np.ascontiguousarray(_G_KRON.T)


@njit(nogil=True, cache=True, fastmath=False, inline="always")
def _a_pass(y0, y1, y2, y3, m0, m1, m2, m3, m4, m5):
    """m = A y over channel vectors, in loops of at most two outputs (see winograd._bt_pass:
    loops over many arrays do not vectorise)."""
    f2 = np.float32(2.0)
    f4 = np.float32(4.0)
    f8 = np.float32(8.0)
    n = y0.shape[0]
    for c in range(n):
        m0[c] = y0[c]
        m5[c] = y3[c]
    for c in range(n):
        p = y0[c] + y2[c]
        q = y1[c] + y3[c]
        m1[c] = p + q
        m2[c] = p - q
    for c in range(n):
        r = y0[c] + f4 * y2[c]
        s = f2 * y1[c] + f8 * y3[c]
        m3[c] = r + s
        m4[c] = r - s


@njit(nogil=True, cache=True, fastmath=False)
def output_gradient_transform(dz, segments, zero_row, rows, dm):
    """dm[6i+j, t, :] = (A dY_t A^T)[i, j] for every tile of `segments`, t counting from 0.

    dz: (N, out_h, out_w, Cout) float32; segments: (S, 4) int64 rows (image, tile row ty,
    first tile tx0, end tile tx1) as winograd.input_transform takes them. Two separable
    passes, as input_transform's:
    1. down the columns, on the segment's four output rows at once (long contiguous loops):
       rows[i] = sum_a A[i, a] dz[4*ty + a], from pixel 4*tx0 on;
    2. along the rows, per tile: dm[6i + j] = sum_b A[j, b] rows[i, 4*(tx - tx0) + b].
    Outputs beyond the edge count as zero: zero_row (>= out_w*Cout read-only zeros) stands
    for rows below it, and rows' pixels right of it are cleared here.
    rows: (6, >= 4*max_tiles*Cout) float32 scratch; dm: (36, >= tiles, Cout) float32.
    """
    out_h = dz.shape[1]
    out_w = dz.shape[2]
    chans = dz.shape[3]
    t = 0
    for s in range(segments.shape[0]):
        image, oy0, tx0, tx1 = segment(segments, s)
        first = tx0 * TILE  # output column of rows' pixel 0
        n_pix = (tx1 - tx0) * TILE
        hi = min(n_pix, out_w - first)  # rows' pixels [0, hi) lie inside the output
        a = first * chans
        b = (first + hi) * chans
        span = b - a
        _a_pass(
            dz[image, oy0].reshape(out_w * chans)[a:b] if oy0 < out_h else zero_row[:span],
            dz[image, oy0 + 1].reshape(out_w * chans)[a:b] if oy0 + 1 < out_h else zero_row[:span],
            dz[image, oy0 + 2].reshape(out_w * chans)[a:b] if oy0 + 2 < out_h else zero_row[:span],
            dz[image, oy0 + 3].reshape(out_w * chans)[a:b] if oy0 + 3 < out_h else zero_row[:span],
            rows[0, :span], rows[1, :span], rows[2, :span], rows[3, :span], rows[4, :span],
            rows[5, :span],
        )
        rows[:, span:n_pix * chans] = 0.0
        for tx in range(tx1 - tx0):
            base = tx * TILE * chans
            for i in range(SPAN):
                row = rows[i]
                p = 6 * i
                _a_pass(
                    row[base:base + chans], row[base + chans:base + 2 * chans],
                    row[base + 2 * chans:base + 3 * chans], row[base + 3 * chans:base + 4 * chans],
                    dm[p, t], dm[p + 1, t], dm[p + 2, t], dm[p + 3, t], dm[p + 4, t], dm[p + 5, t],
                )
            t += 1


def filter_gradient(du: np.ndarray) -> np.ndarray:
    """dU (36, Cin, Cout) -> dL/dg (3, 3, Cin, Cout) = G^T dU G, float64: the adjoint of
    winograd.transform_filters, i.e. its (36, 9) matrix transposed."""
    d = np.ascontiguousarray(du).reshape(SPAN * SPAN, -1)
    out = np.empty((9, d.shape[1]), np.float64)
    transform_columns(_G_KRON_T, d, out)
    return out.reshape(3, 3, du.shape[1], du.shape[2])
