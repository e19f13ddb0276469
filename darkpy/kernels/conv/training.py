"""float32 convolution backward on darkpy's worker threads (kernels/workers.py).

For z = conv(x, w) (no bias) and dz = dL/dz, with NHWC x (N, H, W, C), weights
(K, K, cg, cout) and cout/groups = cog:

- weight_grad_winograd: 3x3 stride-1 convolutions, dL/dw through the Winograd transforms
  (kernels/winograd_grad.py), a quarter of im2col's multiplies.
- conv_backward_gemm: any other convolution: per image block, dL/dw += im2col(x)^T @ dz and,
  when asked, dL/dcol = dz @ w^T gathered back by col2im.
- flipped_weights / input_grad_padding: for stride 1 dL/dx is itself a convolution, of dz
  with the weights flipped in space and transposed (in/out channels swapped within each
  group), padding (K-1)*dilation - pad; the caller runs it through the forward drivers
  (Winograd or im2col + GEMM), far faster than a GEMM and col2im.
- activation_gradient_sum: g = delta * f' and the bias gradient (column sums of g) in one
  pass.

Determinism: work is cut into jobs from the shapes only; each job is run by one thread, and
weight gradients are summed into one partial per run of consecutive jobs (at most
MAX_PARTIALS runs, each summed in job order), the partials then added in a fixed order. The
result therefore does not depend on which thread took which job, nor on the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from darkpy.kernels import aligned, workers
from darkpy.kernels.conv import inference, small_gemm, winograd, winograd_vector
from darkpy.kernels.activations import LEAKY, LEAKY_SLOPE, LINEAR, RELU, ZERO, gradient_rows
from darkpy.kernels.conv.col2im import col2im_rows
from darkpy.kernels.conv.im2col import im2col_pixels
from darkpy.kernels.conv.winograd_grad import filter_gradient, output_gradient_transform
from darkpy.kernels.simd import LANES
from darkpy.kernels.workers import run_blocks, run_rows, scratch, zeros

# weight-gradient partial sums: at most this many (one per run of consecutive jobs), which
# also bounds the threads a weight gradient keeps busy; each is a buffer the size of the
# (Winograd-transformed) weights and a pass to add it
MAX_PARTIALS = 8
# Winograd blocks: the V and dM buffers of one block (36 x tiles x channels each) in bytes,
# but never fewer tiles than this (the GEMMs' inner dimension)
WINOGRAD_BLOCK_BYTES = 3 << 20
MIN_BLOCK_TILES = 96
# weight gradients whose tiles' transforms (36 x tiles x (Cin + Cout) values) are at most
# this, or what the partials would take, transform every tile at once instead of adding
# partials (yolov3-tiny's 13x13 and 26x26 maps)
PLANE_SPLIT_VALUES = 16 << 20
# the vector path (channel counts multiples of 16; winograd_vector, small_gemm): tiles per
# block, so that a block's V and dM (36 x tiles x channels each) stay in L2, and at most this
# many weights (Cin x Cout), so that a partial dU per run stays small
VECTOR_BLOCK_TILES = 64
VECTOR_MAX_WEIGHTS = 128 * 128
# im2col blocks: column buffer bytes per job (at least one output row)
COL_BLOCK_BYTES = 2 << 20


def _runs(n_jobs: int) -> list[tuple[int, int]]:
    """Jobs [0, n_jobs) cut into at most MAX_PARTIALS runs of consecutive jobs."""
    parts = min(MAX_PARTIALS, n_jobs)
    return [(n_jobs * k // parts, n_jobs * (k + 1) // parts) for k in range(parts)]


def _sum_partials(partials: np.ndarray, dw: np.ndarray, transform=None) -> None:
    """dw += (transform of) the sum of the partials, each element summed over the partials
    in their order in float64 (on the workers: the Winograd partials of a 256-channel layer
    are millions of values)."""
    flat = partials.reshape(partials.shape[0], -1)
    total = np.empty(flat.shape[1], np.float64)
    run_rows(flat.shape[1], flat.size, lambda i0, i1: _add_partials(flat, i0, i1, total))
    total = total.reshape(partials.shape[1:])
    if transform is not None:
        total = transform(total)
    dw += total.reshape(dw.shape)


@njit(nogil=True, cache=True, fastmath=False)
def _add_partials(flat, i0, i1, total):
    """total[i] = sum over k of flat[k, i] (k in order) for i in [i0, i1), in float64, in
    runs of 512 values that stay in L1 while every partial is added.

    The runs are slices indexed from 0: an index from range(c0, c1) might be negative as
    far as numba knows, and its wraparound check kept the loop from vectorising (eight
    partials of EDSR's 64-channel dU: 1.4 vs 0.29 ms)."""
    for c0 in range(i0, i1, 512):
        c1 = min(i1, c0 + 512)
        run = total[c0:c1]
        for i in range(run.size):
            run[i] = 0.0
        for k in range(flat.shape[0]):
            src = flat[k, c0:c1]
            for i in range(run.size):
                run[i] += np.float64(src[i])


# --- Winograd ---------------------------------------------------------------------------------

def weight_grad_winograd(x, dz, pad, dw) -> None:
    """dw += dL/dw of the 3x3 stride-1 convolution out = conv(x, w) padded by `pad`.

    x (N, H, W, C), dz (N, H + 2 pad - 2, W + 2 pad - 2, Cout), dw (3, 3, C, Cout): float32
    C-contiguous. Many tiles and few weights: blocks of tiles on the workers, each adding
    into a partial dU (through the vector kernels when both channel counts are multiples of
    16: _weight_grad_vector); few tiles and many weights (13x13 and 26x26 maps of 128-1024
    channels), where the partials would take more memory than all the tiles' transforms:
    _weight_grad_by_planes."""
    n_img, _, width, chans = x.shape
    _, out_h, out_w, cout = dz.shape
    tiles_h, tiles_w = winograd.tiles_for(out_h, out_w)
    all_tiles = n_img * tiles_h * tiles_w
    if (chans % LANES == 0 and cout % LANES == 0 and chans * cout <= VECTOR_MAX_WEIGHTS
            and all_tiles >= 2 * VECTOR_BLOCK_TILES):
        _weight_grad_vector(x, dz, pad, dw)
        return
    if 36 * all_tiles * (chans + cout) <= max(PLANE_SPLIT_VALUES, MAX_PARTIALS * 36 * chans * cout):
        _weight_grad_by_planes(x, dz, pad, dw)
        return
    per_block = max(MIN_BLOCK_TILES, WINOGRAD_BLOCK_BYTES // (36 * 4 * (chans + cout)))
    blocks = winograd.tile_blocks(n_img, tiles_h, tiles_w, per_block)
    runs = _runs(len(blocks))
    partials = scratch("grad_partials", len(runs) * 36 * chans * cout).reshape(
        len(runs), 36, chans, cout)
    longest = max(int((b[:, 3] - b[:, 2]).max()) for b in blocks)
    per_block = max(int((b[:, 3] - b[:, 2]).sum()) for b in blocks)
    plane_v = inference._plane(per_block, chans)
    plane_m = inference._plane(per_block, cout)
    zero_row = zeros(max(width * chans, out_w * cout))

    def work(k):
        b0, b1 = runs[k]
        acc = partials[k]
        v = scratch("wgrad_v", 36 * plane_v * chans).reshape(36, plane_v, chans)
        m = scratch("wgrad_m", 36 * plane_m * cout).reshape(36, plane_m, cout)
        rows = scratch("wgrad_rows", 6 * (4 * longest + 2) * chans).reshape(6, -1)
        dz_rows = scratch("wgrad_dz_rows", 6 * 4 * longest * cout).reshape(6, -1)
        prod = scratch("wgrad_prod", 36 * chans * cout).reshape(36, chans, cout)
        for b in range(b0, b1):
            segments = blocks[b]
            tiles = int((segments[:, 3] - segments[:, 2]).sum())
            winograd.input_transform(x, pad, segments, zero_row, rows, v)
            output_gradient_transform(dz, segments, zero_row, dz_rows, m)
            vt = v[:, :tiles].transpose(0, 2, 1)
            if b == b0:
                np.matmul(vt, m[:, :tiles], out=acc)
            else:
                np.matmul(vt, m[:, :tiles], out=prod)
                np.add(acc, prod, out=acc)

    run_blocks(list(range(len(runs))), work)
    _sum_partials(partials, dw, filter_gradient)


def _weight_grad_by_planes(x, dz, pad, dw) -> None:
    """weight_grad_winograd with every tile's transforms at once (V of the input on one
    worker, dM of dz on another), then the 36 GEMMs dU[p] = V[p]^T dM[p] as jobs: each
    element of dU is one GEMM's sum, so no partials and nothing depends on the threads."""
    n_img, _, width, chans = x.shape
    _, out_h, out_w, cout = dz.shape
    tiles_h, tiles_w = winograd.tiles_for(out_h, out_w)
    total = n_img * tiles_h * tiles_w
    segments = np.array([(n, ty, 0, tiles_w) for n in range(n_img) for ty in range(tiles_h)],
                        dtype=np.int64)
    v = np.empty((36, total, chans), np.float32)
    m = np.empty((36, total, cout), np.float32)
    zero_row = zeros(max(width * chans, out_w * cout))

    def transform(which):
        if which == 0:
            rows = scratch("wgrad_rows", 6 * (4 * tiles_w + 2) * chans).reshape(6, -1)
            winograd.input_transform(x, pad, segments, zero_row, rows, v)
        else:
            rows = scratch("wgrad_dz_rows", 6 * 4 * tiles_w * cout).reshape(6, -1)
            output_gradient_transform(dz, segments, zero_row, rows, m)

    run_blocks([0, 1], transform)
    du = np.empty((36, chans, cout), np.float32)
    run_blocks(list(range(36)), lambda p: np.matmul(v[p].T, m[p], out=du[p]))
    dw += filter_gradient(du).reshape(dw.shape)


def _weight_grad_vector(x, dz, pad, dw) -> None:
    """weight_grad_winograd through winograd_vector's transforms and small_gemm's products:
    blocks of VECTOR_BLOCK_TILES tiles, a run of consecutive blocks per job in one numba call
    adding into the run's partial dU (weight_grad_blocks)."""
    n_img, _, _, chans = x.shape
    _, out_h, out_w, cout = dz.shape
    segments, starts = winograd.block_plan(n_img, *winograd.tiles_for(out_h, out_w),
                                           VECTOR_BLOCK_TILES)
    runs = _runs(len(starts) - 1)
    rows = small_gemm.padded_tiles(chans)
    partials = scratch("grad_partials", len(runs) * 36 * rows * cout).reshape(
        len(runs), 36, rows, cout)

    def work(k):
        b0, b1 = runs[k]
        v = scratch("wgrad_v", 36 * VECTOR_BLOCK_TILES * chans + small_gemm.PAD_ROWS)
        m = scratch("wgrad_m", 36 * VECTOR_BLOCK_TILES * cout)
        winograd_vector.weight_grad_blocks(x, dz, pad, segments, starts, b0, b1,
                                           VECTOR_BLOCK_TILES, v, m, partials[k])

    run_blocks(list(range(len(runs))), work)
    # summed with their spare rows: slicing first would copy every partial
    _sum_partials(partials, dw, lambda du: filter_gradient(du[:, :chans]))


# --- im2col + GEMM ----------------------------------------------------------------------------

def conv_backward_gemm(x, weights, dz, groups, stride_y, stride_x, pad, dilation, dw,
                       dx=None) -> None:
    """dw += dL/dw by im2col and GEMMs; dx (zeroed by the caller), when given, gets dL/dx by
    col2im. Jobs are whole images (col2im of one image never touches another's rows); each
    job walks its output rows in blocks bounded by COL_BLOCK_BYTES. pad as conv2d_gemm's
    (darknet's padding times the dilation). float32 C-contiguous arrays."""
    n_img, _, _, chans = x.shape
    ksize, _, cg, cout = weights.shape
    cog = cout // groups
    _, out_h, out_w, _ = dz.shape
    kcols = ksize * ksize * cg
    w2d = weights.reshape(kcols, cout)
    pointwise = ksize == 1 and stride_y == 1 and stride_x == 1 and pad == 0
    rows_per_block = max(1, COL_BLOCK_BYTES // (4 * out_w * kcols))
    # images as jobs, or for a single image its blocks of rows when no dx is wanted
    if dx is None and n_img == 1:
        jobs = [(0, r, min(out_h, r + rows_per_block)) for r in range(0, out_h, rows_per_block)]
    else:
        jobs = [(n, 0, out_h) for n in range(n_img)]
    runs = _runs(len(jobs))
    partials = scratch("grad_partials", len(runs) * kcols * cout).reshape(len(runs), kcols, cout)

    def work(k):
        j0, j1 = runs[k]
        acc = partials[k]
        acc[...] = 0.0
        prod = scratch("gemm_prod", kcols * cog).reshape(kcols, cog)
        for j in range(j0, j1):
            image, r0, r1 = jobs[j]
            for oy0 in range(r0, r1, rows_per_block):
                oy1 = min(r1, oy0 + rows_per_block)
                pixels = (oy1 - oy0) * out_w
                dz_block = dz[image, oy0:oy1].reshape(pixels, cout)
                col = None
                if not pointwise:
                    col = scratch("gemm_col", pixels * kcols).reshape(pixels, kcols)
                for g in range(groups):
                    cs, os_ = slice(g * cg, (g + 1) * cg), slice(g * cog, (g + 1) * cog)
                    if pointwise:
                        a = x[image, oy0:oy1].reshape(pixels, chans)[:, cs]
                    else:
                        im2col_pixels(x, image, g * cg, cg, oy0 * out_w, oy1 * out_w, out_w,
                                      ksize, stride_y, stride_x, pad, dilation, col)
                        a = col
                    np.matmul(a.T, dz_block[:, os_], out=prod)
                    np.add(acc[:, os_], prod, out=acc[:, os_])
                    if dx is None:
                        continue
                    if pointwise:
                        dx_rows = dx[image, oy0:oy1].reshape(pixels, chans)
                        dx_rows[:, cs] = dz_block[:, os_] @ w2d[:, os_].T
                    else:
                        dcol = scratch("gemm_dcol", pixels * kcols).reshape(pixels, kcols)
                        np.matmul(dz_block[:, os_], w2d[:, os_].T, out=dcol)
                        col2im_rows(dcol, image, g * cg, cg, oy0, oy1, out_w, ksize, stride_y,
                                    stride_x, pad, dilation, dx)

    run_blocks(list(range(len(runs))), work)
    _sum_partials(partials, dw)


# --- dL/dx of a stride-1 convolution as a convolution ----------------------------------------

def flipped_weights(weights, groups) -> np.ndarray:
    """(K, K, cg, cout) -> (K, K, cog, groups*cg): rotated 180 degrees, and within each group
    input and output channels swapped, so that conv(dz, these) is dL/dx (stride 1)."""
    ksize, _, cg, cout = weights.shape
    cog = cout // groups
    w = weights[::-1, ::-1].reshape(ksize, ksize, cg, groups, cog)
    return np.ascontiguousarray(w.transpose(0, 1, 4, 3, 2).reshape(ksize, ksize, cog, groups * cg))


def input_grad_padding(ksize: int, pad: int, dilation: int) -> int:
    """The padding of the convolution giving dL/dx (negative: not expressible as one)."""
    return (ksize - 1) * dilation - pad


# --- the activation's derivative and the bias gradient ---------------------------------------

# values per job of activation_gradient_sum (a few jobs per worker for EDSR's training batch:
# smaller ones cost more in Python between jobs than they save)
GRADIENT_CHUNK_VALUES = 1 << 18


@njit(nogil=True, cache=True, fastmath=False)
def _gradient_sum_rows(delta, y, pre, code, r0, r1, g, partial):
    """g[r0:r1] = delta * f'; partial = its column sums (float64), rows in order. Linear,
    ReLU and leaky in one pass (gradient_rows's arithmetic); other activations in three.
    g of no rows (linear only): the sums of delta alone."""
    cols = delta.shape[1]
    partial[:] = 0.0
    if g.shape[0] == 0:
        for r in range(r0, r1):
            for c in range(cols):
                partial[c] += np.float64(delta[r, c])
        return
    if code == LINEAR or code == RELU or code == LEAKY:
        for r in range(r0, r1):
            for c in range(cols):
                value = delta[r, c]
                if code != LINEAR and y[r, c] <= ZERO:
                    value = ZERO if code == RELU else value * LEAKY_SLOPE
                g[r, c] = value
                partial[c] += np.float64(value)
        return
    src = delta.reshape(delta.size)[r0 * cols:r1 * cols]  # indexed from 0: see _add_partials
    dst = g.reshape(g.size)[r0 * cols:r1 * cols]
    for i in range(src.size):
        dst[i] = src[i]
    gradient_rows(g, y, pre, r0, r1, code)
    for r in range(r0, r1):
        for c in range(cols):
            partial[c] += np.float64(g[r, c])


def activation_gradient_sum(delta, y, pre, code, share: bool = False):
    """(g, sums): g = delta * f'(.) as a new (rows, C) array (delta untouched), and the
    float64 column sums of g (the bias gradient), in one pass on the workers. delta and y
    are (rows, C) float32; pre is the pre-activation input where f' needs it, else None.
    Chunks depend on the shape only and their sums are added in order: deterministic.
    share: for a linear activation g is delta itself (f' = 1: no copy), which the caller
    must then not write to."""
    rows, cols = delta.shape
    shared = share and code == LINEAR
    g = delta if shared else aligned.empty_like(delta)
    out = g[:0] if shared else g  # no rows: the kernel only sums
    if pre is None:
        pre = y  # never read: activations that need x always pass it
    step = max(1, GRADIENT_CHUNK_VALUES // max(cols, 1))
    chunks = [(r0, min(rows, r0 + step)) for r0 in range(0, rows, step)]
    partial = np.empty((len(chunks), cols), np.float64)

    def work(k):
        r0, r1 = chunks[k]
        _gradient_sum_rows(delta, y, pre, code, r0, r1, out, partial[k])

    if rows * cols < workers.SERIAL_WORK:
        for k in range(len(chunks)):
            work(k)
    else:
        run_blocks(list(range(len(chunks))), work)
    total = np.zeros(cols, np.float64)
    for p in partial:
        total += p
    return g, total
