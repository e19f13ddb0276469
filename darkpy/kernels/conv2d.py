"""Convolution drivers: split a convolution into blocks and run them on worker threads.

A block is a run of output pixels (im2col path) or of 4x4 output tiles (Winograd path).
One worker takes one block through every stage (expand the input, GEMM, bias and
activation) before it takes the next, so a block's buffers stay in that core's cache, and
the buffers are bounded by the block size whatever the image size.

Why threads and not numba's prange: numba's pool and BLAS's pool both spin-wait between
calls, and alternating them (parallel im2col, then parallel GEMM, then parallel bias) made
them fight for the cores. Here the numba kernels are serial and release the GIL, BLAS runs
single-threaded inside each worker (threadpoolctl), and only the workers run in parallel.
A convolution small enough for a single block runs on the calling thread with BLAS's own
threads instead.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
from numba import njit

from darkpy.kernels import winograd
from darkpy.kernels.activations import _activate_rows
from darkpy.kernels.im2col import im2col_pixels

# im2col buffer per worker: small enough to stay in L2 next to the GEMM's packed panels.
COL_BLOCK_BYTES = 1 << 20
# but never fewer output pixels than this per GEMM, or BLAS re-reads big weights too often
MIN_BLOCK_PIXELS = 256
# Winograd V and M buffers per worker, and the fewest tiles worth one round of 36 GEMMs
WINOGRAD_BLOCK_BYTES = 2 << 20
MIN_BLOCK_TILES = 64
# but a convolution of at least twice this many tiles is split across the workers
MIN_SPLIT_TILES = 16

_state = threading.local()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas = None
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_num_threads = 0
_zeros = np.zeros(0, dtype=np.float32)


def _default_threads() -> int:
    env = os.environ.get("DARKPY_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Worker threads used by the convolutions (DARKPY_NUM_THREADS, else the usable cores)."""
    global _num_threads
    if _num_threads == 0:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    global _num_threads
    _num_threads = max(1, int(n))


@contextmanager
def _blas_single_threaded():
    """BLAS limited to one thread while any caller is inside (reference-counted, so that
    convolutions running at once from several threads restore the original count once)."""
    global _blas, _blas_users, _blas_limiter
    with _blas_lock:
        if _blas is None:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController()
        if _blas_users == 0:
            _blas_limiter = _blas.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="darkpy-conv")
            _pool_size = n
        return _pool


def scratch(name: str, size: int) -> np.ndarray:
    """A float32 buffer of `size` floats owned by the calling thread, reused across calls."""
    buffers = getattr(_state, "buffers", None)
    if buffers is None:
        buffers = _state.buffers = {}
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = buffers[name] = np.empty(max(size, 1), dtype=np.float32)
    return buf[:size]


def zeros(size: int) -> np.ndarray:
    """A read-only run of at least `size` zeros (shared; never write to it)."""
    global _zeros
    if _zeros.size < size:
        _zeros = np.zeros(size, dtype=np.float32)
    return _zeros


def run_blocks(jobs: list, work) -> None:
    """Call work(job) for every job: on the calling thread with multithreaded BLAS when there
    is one job (or one thread), else on the worker pool with single-threaded BLAS."""
    workers = min(num_threads(), len(jobs))
    if workers <= 1:
        for job in jobs:
            work(job)
        return
    queue = iter(jobs)
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            work(job)

    with _blas_single_threaded():
        # the calling thread is one of the workers
        futures = [_executor(workers - 1).submit(drain) for _ in range(workers - 1)]
        try:
            drain()
        finally:
            for f in futures:
                f.result()


@njit(nogil=True, cache=True)
def bias_activate_block(y, bias, code):
    """y = f(y + bias) for a (rows, C) block, serial, without the GIL (for the workers)."""
    _activate_rows(y, bias, 0, y.shape[0], code)


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


def conv2d_gemm(x, w2d, bias, code, ksize, stride_y, stride_x, pad, dilation, groups, out):
    """out = f(conv(x, w) + bias) by im2col and GEMM, block by block.

    x: (N, H, W, C) float32 C-contiguous; w2d: (K*K*C/groups, Cout) float32, the weights
    (K, K, C/groups, Cout) reshaped; out: (N, out_h, out_w, Cout) float32 C-contiguous,
    overwritten. 1x1 stride-1 unpadded convolutions GEMM the input in place (no im2col).
    """
    n_img, height, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    cg = chans // groups
    cog = cout // groups
    kcols = ksize * ksize * cg
    bias = _bias_or_zeros(bias, cout)
    direct = ksize == 1 and stride_y == 1 and stride_x == 1 and pad == 0
    x2d = x.reshape(n_img * height * width, chans)
    out2d = out.reshape(n_img * out_h * out_w, cout)
    pixels = out_h * out_w
    per_block = _balanced_block(pixels, n_img, max(MIN_BLOCK_PIXELS, COL_BLOCK_BYTES // (4 * kcols)))
    jobs = [(n, p0, min(pixels, p0 + per_block))
            for n in range(n_img) for p0 in range(0, pixels, per_block)]

    def work(job):
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
            if groups == 1:
                np.matmul(a, w2d, out=rows)
            else:
                np.matmul(a, w2d[:, g * cog:(g + 1) * cog], out=rows[:, g * cog:(g + 1) * cog])
        bias_activate_block(rows, bias, code)

    run_blocks(jobs, work)


# --- Winograd F(4x4, 3x3) -------------------------------------------------------------------------

def _plane(tiles: int, chans: int) -> int:
    """Tiles per plane of the (36, plane, C) buffers: at least `tiles`, padded so that the 36
    planes do not start 4 KiB apart (they would share L1 cache sets and evict each other)."""
    for plane in range(tiles + 1, tiles + 65):
        if 256 <= (plane * chans * 4) % 4096 <= 3840:
            return plane
    return tiles + 1  # C a multiple of 1024: no tile count helps


def conv2d_winograd(x, u, bias, code, pad, out):
    """out = f(conv3x3(x, w) + bias), stride 1, by Winograd F(4x4, 3x3).

    u: (36, C, Cout) from winograd.transform_filters; other arguments as conv2d_gemm.
    """
    n_img, height, width, chans = x.shape
    _, out_h, out_w, cout = out.shape
    bias = _bias_or_zeros(bias, cout)
    tiles_h, tiles_w = winograd.tiles_for(out_h, out_w)
    total = n_img * tiles_h * tiles_w
    cap = max(MIN_BLOCK_TILES, WINOGRAD_BLOCK_BYTES // (36 * 4 * (chans + cout)))
    workers = num_threads()
    n_blocks = max(-(-total // cap), workers if total >= 2 * MIN_SPLIT_TILES else 1)
    n_blocks = -(-n_blocks // workers) * workers if n_blocks > 1 else 1
    per_block = -(-total // n_blocks)
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
        winograd.output_transform(m, segments, tmp, edge, bias, code, out)

    run_blocks(blocks, work)
