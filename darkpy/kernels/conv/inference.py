"""Convolution drivers: split a convolution into blocks and run them on darkpy's workers.

A block is a run of output pixels (im2col path) or of 4x4 output tiles (Winograd path).
One worker takes one block through every stage (expand the input, GEMM, bias and
activation) before it takes the next, so a block's buffers stay in that core's cache, and
the buffers are bounded by the block size whatever the image size. The workers, and why BLAS
runs single-threaded inside them, are kernels/workers.py's. Convolutions with too few output
pixels for one block per worker (13x13 maps) are instead split by output channels
(_gemm_by_columns, _winograd_by_columns).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from darkpy.kernels.conv import (few_outputs, narrow, small_gemm, winograd, winograd_small,
                                 winograd_vector)
from darkpy.kernels.activations import LINEAR, act_scalar, activate_rows
from darkpy.kernels.conv.im2col import im2col_pixels
from darkpy.kernels.simd import LANES
from darkpy.kernels.workers import num_threads, run_blocks, scratch, zeros

# im2col buffer per worker: small enough to stay in L2 next to the GEMM's packed panels.
COL_BLOCK_BYTES = 1 << 20
# but never fewer output pixels than this per GEMM, or BLAS re-reads big weights too often
MIN_BLOCK_PIXELS = 256
# Winograd V and M buffers per worker, and the fewest tiles worth one round of 36 GEMMs ...
WINOGRAD_BLOCK_BYTES = 2 << 20
MIN_BLOCK_TILES = 64
# ... but many tiles where the layer is wide: each of a block's 36 GEMMs packs its (C, Cout)
# slice of U afresh, which only enough tiles amortise (at 510x339, CPU time of 2 workers:
# 256 -> 256 channels 20% less with 256 tiles than with 64, 64 -> 256 10% less)
WIDE_CHANNELS = 320
WIDE_BLOCK_TILES = 256
# the vector path (input channels a multiple of 16): tiles per block, V and M (tile-major)
# bounded by this so that they stay in L2 beside U
VECTOR_BLOCK_BYTES = 1 << 19
VECTOR_BLOCK_TILES = (24, 96)
# ... but where U is this big (an SR upsampler's 256 -> 1024: 37.7 MB), every block reads
# all of it from memory again, so blocks of VECTOR_WIDE_TILES tiles. That layer at 510x339,
# 2 threads: inside full EDSR x2 1.01 vs 1.50 s and 1.12 vs 1.55 s (24 tiles); alone 1.33
# vs 1.41 (96 tiles) vs 1.85 s. The 256 -> 256 layers (U 9.4 MB) gained nothing measurable
# from bigger blocks inside the network.
VECTOR_WIDE_U_BYTES = 16 << 20
VECTOR_WIDE_TILES = 144
# vector-path outputs of at least this many bytes are written with non-temporal stores
# where they are finished in registers (winograd_vector.output_transform): a store that does
# not first read its line halves their memory traffic, and outputs this big leave the caches
# before the next layer reads them anyway. In one process, 2 threads: EDSR-baseline x2
# 0.789 vs 0.856 s, WDSR-A x4 2.14 vs 2.53 s (its 22 MB outputs streamed too), the EDSR
# training step (9.4 MB activations) 0.82 vs 0.90 s; YOLO (few such layers) unchanged.
STREAM_BYTES = 8 << 20
# ... and the blocks cut into this many runs per worker, one numba call each (several, so
# that a worker whose core is busy elsewhere leaves its share to the others)
VECTOR_RUNS_PER_WORKER = 4
# but a convolution of at least twice this many tiles is split across the workers
MIN_SPLIT_TILES = 16
# the split by output channels: at least twice this many channels and this much work (the
# workers then take whole 64-channel panels of small_gemm's: fewer than 65 run on one)
MIN_SPLIT_COLUMNS = 16
MIN_SPLIT_FLOPS = 1 << 21
# an im2col copy at least this big is split across the workers
PARALLEL_COPY_BYTES = 1 << 20
# few input channels (RGB): no im2col when a kernel row's taps (K * C) are at most this many
# (kernels/conv/narrow.py), in jobs of about this many output rows per worker ...
NARROW_TAPS = 16
NARROW_JOBS_PER_WORKER = 4
# bias_activate_block: rows narrower than this many values are processed several at a time
WIDE_ROW = 64


@njit(nogil=True, cache=True)
def bias_activate_block(y, bias, code):
    """y = f(y + bias) for a C-contiguous (rows, C) block, serial, without the GIL.

    With few channels (16 in a first layer) a loop over one row's C values is too short
    to vectorise, so consecutive rows are taken as one wide row against the bias repeated.
    """
    rows, cols = y.shape
    reps = -(-WIDE_ROW // cols)
    wide_rows = rows // reps if reps > 1 else 0
    if wide_rows > 0:
        tiled = np.empty(reps * cols, dtype=bias.dtype)
        # element by element: a slice assignment compiles numba's shape-mismatch message
        # (2.2 of a cold `darkpy upscale`'s ~18 s)
        for i in range(reps * cols):
            tiled[i] = bias[i % cols]
        activate_rows(y[:wide_rows * reps].reshape(wide_rows, reps * cols), tiled, 0,
                       wide_rows, code)
    activate_rows(y, bias, wide_rows * reps, rows, code)


@njit(nogil=True, cache=True)
def bias_activate_columns(y, bias, code):
    """bias_activate_block for a run of columns of a wider array (any strides)."""
    activate_rows(y, bias, 0, y.shape[0], code)


def _bias_or_zeros(bias, cout):
    if bias is None:
        return np.zeros(cout, dtype=np.float32)
    return np.ascontiguousarray(bias, dtype=np.float32)


# --- im2col + GEMM -------------------------------------------------------------------------------

def _balanced_block(pixels: int, n_img: int, cap: int) -> int:
    """Pixels per job: at most `cap`, jobs within one image, and (when there is more than
    one job) a job count that is a multiple of the workers so that none idles at the end."""
    if n_img * pixels <= cap:
        return pixels
    per_image = -(-pixels // cap)
    workers = num_threads()
    while (n_img * per_image) % workers and per_image < pixels:
        per_image += 1
    return -(-pixels // per_image)


def conv2d_gemm(x, w2d, bias, code, ksize, stride_y, stride_x, pad, dilation, groups, out,
                panels=None):
    """out = f(conv(x, w) + bias) by im2col and GEMM, block by block.

    x: (N, H, W, C) float32 C-contiguous; w2d: (K*K*C/groups, Cout) float32, the weights
    (K, K, C/groups, Cout) reshaped; out: (N, out_h, out_w, Cout) float32 C-contiguous,
    overwritten. 1x1 stride-1 unpadded convolutions GEMM the input in place (no im2col), and
    so do convolutions of few input channels, row by row (_conv2d_narrow).
    Too few output pixels for one block per worker (13x13 maps): the workers share one
    im2col matrix and split the GEMM by output channels instead, with the weights packed
    by `panels()` when the caller keeps them (see _gemm_by_columns). Otherwise ungrouped
    blocks multiply on those packed weights too (_gemm_by_rows; packed per call when
    `panels` is None), grouped ones by BLAS.
    """
    n_img, height, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    cg = chans // groups
    cog = cout // groups
    kcols = ksize * ksize * cg
    bias = _bias_or_zeros(bias, cout)
    if (groups == 1 and dilation == 1 and ksize > 1 and stride_y == stride_x
            and ksize * chans <= NARROW_TAPS and cout % LANES == 0
            and w2d.strides[1] == w2d.itemsize):
        _conv2d_narrow(x, w2d, bias, code, ksize, stride_x, pad, out)
        return
    direct = ksize == 1 and stride_y == 1 and stride_x == 1 and pad == 0
    x2d = x.reshape(n_img * height * width, chans)
    out2d = out.reshape(n_img * out_h * out_w, cout)
    pixels = out_h * out_w
    per_block = _balanced_block(pixels, n_img, max(MIN_BLOCK_PIXELS, COL_BLOCK_BYTES // (4 * kcols)))
    jobs = [(n, p0, min(pixels, p0 + per_block))
            for n in range(n_img) for p0 in range(0, pixels, per_block)]
    if (len(jobs) < num_threads() and groups == 1 and cout >= 2 * MIN_SPLIT_COLUMNS
            and 2 * n_img * pixels * kcols * cout >= MIN_SPLIT_FLOPS):
        _gemm_by_columns(x, w2d, bias, code, ksize, stride_y, stride_x, pad, dilation, direct,
                         out, panels)
        return
    if groups == 1:
        packed = panels() if panels is not None else small_gemm.packed(w2d)
        _gemm_by_rows(x, packed, kcols, bias, code, ksize, stride_y, stride_x, pad, dilation,
                      direct, out, jobs)
        return

    def work(job):  # grouped: one BLAS product per group
        n, p0, p1 = job
        rows = out2d[n * pixels + p0:n * pixels + p1]
        col = None if direct else scratch("col", (p1 - p0) * kcols).reshape(p1 - p0, kcols)
        for g in range(groups):
            if direct:
                a = x2d[n * pixels + p0:n * pixels + p1, g * cg:(g + 1) * cg]
            else:
                im2col_pixels(x, n, g * cg, cg, p0, p1, out_w, ksize, stride_y, stride_x,
                              pad, dilation, col)
                a = col
            np.matmul(a, w2d[:, g * cog:(g + 1) * cog], out=rows[:, g * cog:(g + 1) * cog])
        bias_activate_block(rows, bias, code)

    run_blocks(jobs, work)


def _gemm_by_rows(x, packed, kcols, bias, code, ksize, stride_y, stride_x, pad, dilation, direct,
                  out, jobs):
    """conv2d_gemm's blocks of output pixels (jobs: (image, first pixel, end pixel)) for
    groups=1 through small_gemm.panel_products on the weights packed once (packed:
    small_gemm.packed(w2d)): OpenBLAS packed them again for every block, and its kernels
    suit these narrow products (Cout of 32-256) less well. yolov4-tiny's stride-2 layers,
    2 threads: 32 -> 64 at 208x208 2.5 vs 3.3 ms, 64 -> 128 1.8 vs 2.2; its 1x1 64 -> 64
    at 104x104 0.49 vs 0.66.

    Whole register blocks of rows are written into out in place when Cout is a multiple of
    16; the rest (the last < PAD_ROWS rows, or every row when Cout is not) go through a
    buffer. A 1x1 stride-1 convolution reads its input in place, less those last rows."""
    n_img, _, _, chans = x.shape
    _, out_h, out_w, cout = out.shape
    pixels = out_h * out_w
    width = small_gemm.padded_columns(cout)
    x2d = x.reshape(-1, chans)
    out2d = out.reshape(-1, cout)
    step = small_gemm.PAD_ROWS  # a whole register block of any width

    def work(job):
        n, p0, p1 = job
        count, r0 = p1 - p0, n * pixels + p0
        rows = out2d[r0:r0 + count]
        if direct:
            a, a_off = x2d, r0 * chans
        else:
            a, a_off = scratch("col", small_gemm.padded_tiles(count) * kcols), 0
            a = a.reshape(-1, kcols)
            im2col_pixels(x, n, 0, chans, p0, p1, out_w, ksize, stride_y, stride_x, pad,
                          dilation, a)
        full = count - count % step if width == cout else 0
        if full:
            small_gemm.panel_products(a, a_off, kcols, packed, 0, kcols, out2d, r0 * cout, cout,
                                      full, width, 0)  # the next block starts on B again
        if full < count:
            left = count - full
            if direct:
                tail = _padded_rows(x2d[r0 + full:r0 + count])
            else:
                tail = a[full:]
                small_gemm.clear_spare_rows(tail, left)  # never NaNs or denormals
            c = scratch("gemm_rows", small_gemm.padded_tiles(left) * width).reshape(-1, width)
            small_gemm.panel_products(tail, 0, kcols, packed, 0, kcols, c, 0, width, left, width)
            copy_columns(c[:left, :cout], rows[full:], 0, _NO_RESIDUAL_ROWS, np.float32(1.0),
                         np.float32(1.0), LINEAR)
        bias_activate_block(rows, bias, code)

    run_blocks(jobs, work)


def _padded_rows(a):
    """The rows of 2-D `a` (a GEMM's left matrix read in place but for these last rows, or for
    all of a block's when its output goes through a buffer) copied into a buffer of this
    thread, followed by the zero spare rows that small_gemm's last register block reads
    (never NaNs or denormals)."""
    count, cols = a.shape
    tail = scratch("col_tail", small_gemm.padded_tiles(count) * cols).reshape(-1, cols)
    tail[:count] = a
    small_gemm.clear_spare_rows(tail, count)
    return tail


def _row_jobs(n_img: int, out_h: int) -> list:
    """(image, first row, end row): runs of output rows, NARROW_JOBS_PER_WORKER per worker."""
    per_job = max(1, -(-n_img * out_h // (num_threads() * NARROW_JOBS_PER_WORKER)))
    return [(n, y0, min(out_h, y0 + per_job))
            for n in range(n_img) for y0 in range(0, out_h, per_job)]


def _conv2d_narrow(x, w2d, bias, code, ksize, stride, pad, out):
    """conv2d_gemm for few input channels: narrow.convolve_rows (or, where it applies, its
    direct kernel) on runs of output rows."""
    n_img, _, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    jobs = _row_jobs(n_img, out_h)
    span = (width + 2 * pad) * chans + small_gemm.PAD_ROWS * stride * chans + ksize * chans
    direct = narrow.direct_applies(ksize, chans, stride, cout, code)
    stream = out.nbytes >= STREAM_BYTES and out.ctypes.data % 64 == 0

    def work(job):
        image, y0, y1 = job
        rows = scratch("narrow_rows", ksize * span).reshape(ksize, span)
        if direct:
            narrow.convolve_rows_direct(x, w2d, stride, pad, bias, code, out, image, y0, y1,
                                        rows, stream)
            return
        line = scratch("narrow_line", small_gemm.padded_tiles(out_w) * cout).reshape(-1, cout)
        narrow.convolve_rows(x, w2d, ksize, stride, pad, bias, code, out, image, y0, y1, rows,
                             line)

    run_blocks(jobs, work)


def conv2d_few_outputs(x, packed, bias, code, pad, out):
    """out = f(conv3x3(x, w) + bias), stride 1, for the convolutions few_outputs.applies()
    accepts (3 outputs from many input channels), by runs of output rows on the workers.
    packed: few_outputs.pack(w); other arguments as conv2d_gemm."""
    bias = _bias_or_zeros(bias, few_outputs.OUTPUTS)
    tiled = np.zeros(LANES, dtype=np.float32)
    tiled[:few_outputs.PIXELS * few_outputs.OUTPUTS] = np.tile(bias, few_outputs.PIXELS)
    zero_run = zeros((few_outputs.PIXELS + 2) * x.shape[3])

    def work(job):
        few_outputs.convolve_rows(x, packed, pad, tiled, code, zero_run, out, *job)

    run_blocks(_row_jobs(x.shape[0], out.shape[1]), work)


def _panel_ranges(width: int, parts: int) -> list:
    """At most `parts` runs of whole small_gemm panels covering `width` (padded) columns."""
    panels = -(-width // small_gemm.PANEL)
    per = -(-panels // parts)
    return [(p * small_gemm.PANEL, min(width, (p + per) * small_gemm.PANEL))
            for p in range(0, panels, per)]


def _gemm_by_columns(x, w2d, bias, code, ksize, stride_y, stride_x, pad, dilation, direct,
                     out, panels=None):
    """conv2d_gemm (groups=1) for few output pixels: one im2col matrix of every pixel, then
    each worker multiplies it by its own run of the weights' 64-column panels
    (small_gemm.panel_products) and finishes those channels. OpenBLAS packed its share of
    the weights on every call: yolov3-tiny's 512 -> 1024 13x13 GEMM took 8.7 ms against
    6.5 (2 threads, one process).

    panels: a callable returning the weights packed whole (small_gemm.packed), which
    the caller keeps across calls; None: each worker packs its own columns."""
    n_img, _, _, chans = x.shape
    _, out_h, out_w, cout = out.shape
    pixels = out_h * out_w
    rows = n_img * pixels
    out2d = out.reshape(rows, cout)
    kcols = w2d.shape[0]
    width = small_gemm.padded_columns(cout)
    workers = num_threads()
    if direct:  # the input is the matrix; only its last rows are copied, with spare rows
        full = rows - rows % small_gemm.PAD_ROWS
        a = x.reshape(rows, chans)
        tail = _padded_rows(a[full:])
    else:
        full = rows
        a = scratch("col_shared", small_gemm.padded_tiles(rows) * kcols).reshape(-1, kcols)
        # the expansion is a copy: split it by pixels only when it is big enough to pay
        parts = workers if rows * kcols * 4 >= PARALLEL_COPY_BYTES else 1
        per = -(-pixels // parts)
        pieces = [(n, p0, min(pixels, p0 + per))
                  for n in range(n_img) for p0 in range(0, pixels, per)]

        def expand(piece):
            n, p0, p1 = piece
            im2col_pixels(x, n, 0, chans, p0, p1, out_w, ksize, stride_y, stride_x, pad,
                          dilation, a[n * pixels + p0:n * pixels + p1])

        run_blocks(pieces, expand)
        small_gemm.clear_spare_rows(a, rows)
    c = scratch("gemm_shared_out", small_gemm.padded_tiles(rows) * width).reshape(-1, width)
    packed = panels() if panels is not None else None

    def work(cols):
        j0, j1 = cols
        if packed is None:
            b = scratch("gemm_panels", kcols * (j1 - j0))
            small_gemm.pack_filters(w2d[None, :, j0:min(j1, cout)], b)
        else:
            b = packed[kcols * j0:kcols * j1]
        small_gemm.panel_products(a, 0, kcols, b, 0, kcols, c, j0, width, full, j1 - j0)
        if full < rows:
            small_gemm.panel_products(tail, 0, kcols, b, 0, kcols, c, full * width + j0, width,
                                      rows - full, j1 - j0)
        j1 = min(j1, cout)
        copy_columns(c[:rows, j0:j1], out2d, j0, _NO_RESIDUAL_ROWS, np.float32(1.0),
                     np.float32(1.0), LINEAR)
        bias_activate_columns(out2d[:, j0:j1], bias[j0:j1], code)

    run_blocks(_panel_ranges(width, workers), work)


# --- Winograd F(4x4, 3x3) -------------------------------------------------------------------------

def _plane(tiles: int, chans: int) -> int:
    """Tiles per plane of the (36, plane, C) buffers: at least `tiles`, padded so that the 36
    planes do not start 4 KiB apart (they would share L1 cache sets and evict each other)."""
    for plane in range(tiles + 1, tiles + 65):
        if 256 <= (plane * chans * 4) % 4096 <= 3840:
            return plane
    return tiles + 1  # C a multiple of 1024: no tile count helps


_NO_RESIDUAL = np.zeros((0, 1, 1, 1), dtype=np.float32)
_NO_RESIDUAL_ROWS = _NO_RESIDUAL.reshape(0, 1)


def conv2d_winograd(x, u, bias, code, pad, out, residual=None, panels=None):
    """out = f(conv3x3(x, w) + bias), stride 1, by Winograd F(4x4, 3x3).

    u: (36, C, Cout) from winograd.transform_filters; other arguments as conv2d_gemm.
    residual: None, or (other, alpha, beta, res_code) to finish with the shortcut
    out = g(alpha*out + beta*other) (other of out's shape, g the activation res_code) in the
    same blocks, bit for bit what a separate shortcut pass would give.
    panels: a callable returning U packed whole (small_gemm.packed) that the caller keeps
    across calls, which every path but the loops' (C not a multiple of 16) reads instead of
    u: u may then be None. None: u packed on every call.
    """
    if residual is None:
        residual = (_NO_RESIDUAL, np.float32(1.0), np.float32(1.0), LINEAR)
    res, alpha, beta, res_code = residual
    alpha, beta = np.float32(alpha), np.float32(beta)
    n_img, height, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    bias = _bias_or_zeros(bias, cout)
    tiles_h, tiles_w = winograd.tiles_for(out_h, out_w)
    total = n_img * tiles_h * tiles_w
    workers = num_threads()
    if (workers > 1 and total < workers * MIN_BLOCK_TILES and total >= MIN_SPLIT_TILES
            and cout >= 2 * MIN_SPLIT_COLUMNS):
        packed = panels() if panels is not None else _packed_filters(u)
        _winograd_by_columns(x, packed, bias, code, pad, out, (res, alpha, beta, res_code))
        return
    if chans % LANES == 0:
        # whole register blocks of rows: only the last block of the layer has spare rows
        low, high = VECTOR_BLOCK_TILES
        per_block = min(high, max(low, VECTOR_BLOCK_BYTES // (36 * 4 * (chans + cout))))
        if 36 * 4 * chans * cout >= VECTOR_WIDE_U_BYTES:
            per_block = max(per_block, VECTOR_WIDE_TILES)
        per_block = small_gemm.padded_tiles(per_block)
        packed = panels() if panels is not None else _packed_filters(u)
        _winograd_vector(x, packed, bias, code, pad, out, (res, alpha, beta, res_code),
                         winograd.block_plan(n_img, tiles_h, tiles_w, per_block), per_block)
        return
    cap = max(MIN_BLOCK_TILES, WINOGRAD_BLOCK_BYTES // (36 * 4 * (chans + cout)))
    if chans + cout >= WIDE_CHANNELS:
        cap = max(cap, WIDE_BLOCK_TILES)
    n_blocks = max(-(-total // cap), workers if total >= 2 * MIN_SPLIT_TILES else 1)
    n_blocks = -(-n_blocks // workers) * workers if n_blocks > 1 else 1
    per_block = -(-total // n_blocks)
    blocks = winograd.tile_blocks(n_img, tiles_h, tiles_w, per_block)
    zero_row = zeros(width * chans)
    plane_v = _plane(per_block, chans)
    plane_m = _plane(per_block, cout)

    def work(segments):
        tiles = int((segments[:, 3] - segments[:, 2]).sum())
        v = scratch("wino_v", 36 * plane_v * chans).reshape(36, plane_v, chans)
        m = scratch("wino_m", 36 * plane_m * cout).reshape(36, plane_m, cout)
        rows = scratch("wino_rows", 6 * (4 * per_block + 2) * chans).reshape(6, -1)
        tmp = scratch("wino_tmp", 24 * cout).reshape(4, 6, cout)
        edge = scratch("wino_edge", 4 * cout).reshape(4, cout)
        winograd.input_transform(x, pad, segments, zero_row, rows, v)
        np.matmul(v[:, :tiles], u, out=m[:, :tiles])
        winograd.output_transform(m, segments, tmp, edge, bias, code, out, res, alpha, beta,
                                  res_code)

    run_blocks(blocks, work)


def _winograd_vector(x, packed, bias, code, pad, out, residual, plan, per_block):
    """conv2d_winograd's blocks through winograd_vector's transforms and small_gemm's
    products on U packed (input channels a multiple of 16), V and M tile-major: each job is
    a run of consecutive blocks of the plan (winograd.block_plan) in one numba call
    (winograd_vector.convolve_blocks)."""
    res, alpha, beta, res_code = residual
    chans = x.shape[3]
    cout = out.shape[3]
    rows = small_gemm.padded_tiles(per_block)
    plane = small_gemm.padded_columns(cout)
    v_stride = small_gemm.tile_stride(chans)
    m_stride = small_gemm.tile_stride(plane)
    segments, starts = plan
    stream = out.nbytes >= STREAM_BYTES
    n_blocks = len(starts) - 1
    runs = min(n_blocks, num_threads() * VECTOR_RUNS_PER_WORKER)
    edges = [n_blocks * k // runs for k in range(runs + 1)]

    def work(k):
        v = scratch("wino_v", rows * v_stride).reshape(rows, v_stride)
        m = scratch("wino_m", rows * m_stride).reshape(rows, m_stride)
        winograd_vector.convolve_blocks(x, pad, segments, starts, edges[k], edges[k + 1],
                                        packed, plane, v, m, bias, code, out, res, alpha, beta,
                                        res_code, stream)

    run_blocks(list(range(runs)), work)


def conv2d_winograd_small(x, packed, bias, code, pad, out):
    """out = f(conv3x3(x, w) + bias), stride 1, by Winograd F(2x2, 3x3) (winograd_small.py),
    for maps with too few 4x4 tiles: the calling thread transforms every tile, then each
    worker takes a run of U's panels (packed: small_gemm.packed(winograd_small.
    transform_filters(w))) through the GEMMs and the output transform. Input channels a
    multiple of 16; code linear, ReLU or leaky (winograd_small.applies)."""
    n_img, _, _, chans = x.shape
    _, out_h, out_w, cout = out.shape
    wide = small_gemm.padded_columns(cout)
    tiles_h, tiles_w = winograd_small.tiles_for(out_h, out_w)
    total = n_img * tiles_h * tiles_w
    spare = small_gemm.padded_tiles(total)  # rows the register blocks read and write
    plane = _plane(spare, chans)
    positions = winograd_small.POSITIONS
    v = scratch("wino_v_shared", positions * plane * chans)
    winograd_small.input_transform(x, pad, tiles_h, tiles_w, v, plane)
    clear_plane_rows(v.reshape(positions, plane, chans), total, spare)
    bias = _bias_or_zeros(bias, cout)

    def work(cols):
        j0, j1 = cols
        plane_m = _plane(spare, j1 - j0)
        m = scratch("wino_m", positions * plane_m * (j1 - j0))
        winograd_small.convolve_columns(v, plane, chans, packed, wide, j0, j1, m, plane_m, bias,
                                        code, out)

    run_blocks(_panel_ranges(wide, num_threads()), work)


def _packed_filters(u):
    """small_gemm.pack_filters(u) in a buffer of the calling thread, for callers that keep
    no packed U (training: the weights change every step; 0.2% of a layer's time on EDSR's
    64-channel layers, ~1% on 256-channel ones)."""
    packed = scratch("wino_packed", 36 * u.shape[1] * small_gemm.padded_columns(u.shape[2]))
    small_gemm.pack_filters(u, packed)
    return packed


def _winograd_by_columns(x, packed, bias, code, pad, out, residual):
    """conv2d_winograd for few tiles (26x26 maps): split by tiles, every worker would run 36
    GEMMs of a few rows and read all of U (4x the weights). Instead the calling thread
    transforms every tile once, and each worker multiplies by its own run of U's panels
    (packed: U in small_gemm.pack_filters' panels), transforms those output channels into
    a buffer of its own and copies them into place (finishing them with the shortcut
    `residual` there, when it has pixels). winograd.py's loops and plane-major V and M: the
    vector path's tile-major V was 1.7x slower on yolov3-tiny's 26x26 layers (384 -> 256:
    8.9 vs 5.0 ms). small_gemm on U packed once, against OpenBLAS packing its share of U on
    every call: 3.9 vs 4.7 ms there (2 threads, one process)."""
    res, alpha, beta, res_code = residual
    res2d = res.reshape(-1, res.shape[3])
    n_img, _, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    wide = small_gemm.padded_columns(cout)
    tiles_h, tiles_w = winograd.tiles_for(out_h, out_w)
    total = n_img * tiles_h * tiles_w
    spare = small_gemm.padded_tiles(total)  # rows the register blocks read and write
    segments = np.array([(n, ty, 0, tiles_w) for n in range(n_img) for ty in range(tiles_h)],
                        dtype=np.int64)
    plane_v = _plane(spare, chans)
    v = scratch("wino_v_shared", 36 * plane_v * chans).reshape(36, plane_v, chans)
    rows = scratch("wino_rows", 6 * (4 * tiles_w + 2) * chans).reshape(6, -1)
    winograd.input_transform(x, pad, segments, zeros(width * chans), rows, v)
    clear_plane_rows(v, total, spare)
    v_rows = v.reshape(-1, chans)
    if wide > cout:
        bias = np.concatenate([bias, np.zeros(wide - cout, dtype=np.float32)])

    def work(cols):
        j0, j1 = cols
        part = j1 - j0
        plane_m = _plane(spare, part)
        m = scratch("wino_m", 36 * plane_m * part).reshape(36, plane_m, part)
        tmp = scratch("wino_tmp", 24 * part).reshape(4, 6, part)
        edge = scratch("wino_edge", 4 * part).reshape(4, part)
        y = scratch("wino_out", out.size // cout * part).reshape(n_img, out_h, out_w, part)
        m_rows = m.reshape(-1, part)
        for p in range(36):
            small_gemm.panel_products(v_rows, p * plane_v * chans, chans, packed,
                                      p * chans * wide + chans * j0, chans, m_rows,
                                      p * plane_m * part, part, total, part,
                                      (p + 1) * chans * wide + chans * j0 if p < 35 else -1)
        winograd.output_transform(m, segments, tmp, edge, bias[j0:j1], code, y, _NO_RESIDUAL,
                                  alpha, beta, res_code)
        real = min(j1, cout) - j0
        copy_columns(y.reshape(-1, part)[:, :real], out.reshape(-1, cout), j0, res2d, alpha,
                     beta, res_code)

    run_blocks(_panel_ranges(wide, num_threads()), work)


@njit(nogil=True, cache=True)
def clear_plane_rows(v, tiles, rows):
    """Zero rows [tiles, rows) of every plane of a plane-major (36, plane, C) V: the rows
    small_gemm's last register block reads past the tiles (never NaNs or denormals)."""
    for p in range(v.shape[0]):
        for t in range(tiles, rows):
            for c in range(v.shape[2]):
                v[p, t, c] = 0.0


@njit(nogil=True, cache=True, fastmath=False)
def copy_columns(src, dst, j0, res, alpha, beta, res_code):
    """dst[:, j0:j0 + src.shape[1]] = src, without the GIL; when res (dst's shape) has rows,
    the shortcut g(alpha*src + beta*res) instead (elementwise.residual_rows's arithmetic)."""
    part = src.shape[1]
    if res.shape[0] == 0:
        for r in range(src.shape[0]):
            for j in range(part):
                dst[r, j0 + j] = src[r, j]
        return
    for r in range(src.shape[0]):
        for j in range(part):
            value = alpha * src[r, j] + beta * res[r, j0 + j]
            if res_code != LINEAR:
                value = act_scalar(value, res_code)
            dst[r, j0 + j] = value
