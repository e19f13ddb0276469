"""darkpy's worker pool: the threads every parallel kernel runs on (DARKPY_NUM_THREADS).

Kernels are serial numba functions that release the GIL; a caller cuts its work into jobs
(blocks of rows, tiles or channels) and hands them to `run_blocks`, or a row range to
`run_rows`. The calling thread is one of the workers. Convolutions, pooling, resampling,
element-wise layers, the detection heads and the optimiser's update all use this one pool.

Why threads and not numba's prange: numba's pool and BLAS's pool both spin-wait between
calls, and alternating them (parallel im2col, then parallel GEMM, then parallel bias) made
them fight for the cores. Here BLAS runs single-threaded inside each worker (threadpoolctl)
and only the workers run in parallel. BLAS stays single-threaded even for a single job:
OpenBLAS splits a product with few rows (a 13x13 map) badly, several times slower than one
thread on the 2-core development machine, and its idle threads spin on cores the workers
need.

Jobs go to whichever thread asks first and the caller only waits for jobs, not for idle
threads, so a worker whose core is busy elsewhere delays nothing (shared machines). Small
jobs stay on the calling thread (`run_rows` below SERIAL_WORK element operations), so a
detector's forward pass never wakes a thread pool for a 13x13 map: with the machine shared,
every parallel region that must wait for a descheduled thread costs a scheduler time slice.

Between parallel regions the workers wait by checking a flag for SPIN_SECONDS before they
sleep (kernels/spin.py), and so does a caller waiting for the last job of its region: on this
project's virtual machine a sleeping thread took hundreds of microseconds to a few
milliseconds to wake, per region. yolov3-tiny's forward pass, alternating both ways in one
process while the host was loaded: best 44.6 vs 47.8 ms, median 55.7 vs 61.5 ms (on a quiet
host: no difference).

Each thread also owns reusable scratch buffers (`scratch`), so the im2col and Winograd
buffers of a job are bounded by the job size and allocated once per thread.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import numpy as np

from darkpy.kernels import aligned
from darkpy.kernels.lazy import kernels

spin = kernels("spin")  # numba: loaded with the first pool

# run_rows: jobs smaller than this (element operations) stay on the calling thread
SERIAL_WORK = 1 << 19
# how long an idle worker (and a caller waiting for a batch's last job) checks for work
# before it sleeps (DARKPY_SPIN_SECONDS; 0: sleep at once)
SPIN_SECONDS = float(os.environ.get("DARKPY_SPIN_SECONDS", "0.002"))
# run_rows: chunks per worker (several, so that one whose core is busy elsewhere leaves its
# share to the others)
ROW_CHUNKS = 4

_state = threading.local()
_pool_lock = threading.Lock()
_pool: _Pool | None = None
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
    """Worker threads (DARKPY_NUM_THREADS, else the usable cores)."""
    global _num_threads
    if _num_threads == 0:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    global _num_threads
    _num_threads = max(1, int(n))


@contextmanager
def blas_single_threaded():
    """BLAS limited to one thread while any caller is inside (reference-counted, so that
    convolutions running at once from several threads restore the original count once).
    The BLAS libraries are found once (threadpoolctl) and set directly: threadpoolctl's own
    limit() took 10-30 us per call, ~1 ms of a detector's forward pass with its ~20 parallel
    regions. OpenBLAS applies a count set from another thread to that thread only, so when a
    thread other than the first to enter leaves last, the original count comes back for it
    alone (threadpoolctl's limit() did the same)."""
    global _blas, _blas_users, _blas_limiter
    with _blas_lock:
        if _blas is None:
            from threadpoolctl import ThreadpoolController

            _blas = [lib for lib in ThreadpoolController().lib_controllers
                     if lib.user_api == "blas"]
        if _blas_users == 0:
            _blas_limiter = [(lib, lib.get_num_threads()) for lib in _blas]
            for lib, _ in _blas_limiter:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, threads in _blas_limiter:
                    lib.set_num_threads(threads)
                _blas_limiter = None


class _Pool:
    """The background workers: each waits for the next batch, checking a flag for
    SPIN_SECONDS (kernels/spin.py: no GIL, no sleep) before it sleeps on a condition, so
    that the parallel regions of one forward pass, a few hundred microseconds apart, find
    their workers awake. A batch posted while a worker is busy is picked up when it is done;
    the caller drains its own batch anyway, so no batch waits for a worker."""

    def __init__(self, size: int):
        self.size = size
        self.signal = np.zeros(1, dtype=np.int64)  # the generation, read without the GIL
        self.generation = 0
        self.batch: _Batch | None = None
        self.sleepers = 0
        self.cond = threading.Condition()
        self.closed = False
        self.rounds = spin.rounds_for(SPIN_SECONDS) if SPIN_SECONDS > 0 else 0
        for i in range(size):
            threading.Thread(target=self._serve, name=f"darkpy-worker-{i}", daemon=True).start()

    def post(self, batch: _Batch | None) -> None:
        with self.cond:
            self.batch = batch
            self.generation += 1
            self.signal[0] = self.generation
            if self.sleepers:
                self.cond.notify_all()

    def close(self) -> None:
        """Let the workers end (a bigger pool replaces this one)."""
        self.closed = True
        self.post(None)

    def _serve(self) -> None:
        seen = 0
        while True:
            if not (self.rounds and spin.until_changed(self.signal, seen, self.rounds)):
                with self.cond:
                    while self.generation == seen:
                        self.sleepers += 1
                        self.cond.wait()
                        self.sleepers -= 1
            with self.cond:
                seen = self.generation
                batch = self.batch
            if self.closed:
                return
            if batch is not None:
                batch.drain()
            batch = None  # hold no caller's arrays while waiting (kernels/recycle.py)


def _workers(n: int) -> _Pool:
    """The pool, with at least n background workers (a bigger one replaces it, whose
    workers end once their jobs are done)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.size < n:
            if _pool is not None:
                _pool.close()
            _pool = _Pool(n)
        return _pool


def scratch(name: str, size: int) -> np.ndarray:
    """A float32 buffer of `size` floats owned by the calling thread, reused across calls,
    starting on a cache line (kernels/aligned.py)."""
    buffers = getattr(_state, "buffers", None)
    if buffers is None:
        buffers = _state.buffers = {}
    buf = buffers.get(name)
    if buf is None or buf.size < size:
        buf = buffers[name] = aligned.empty(max(size, 1), np.float32)
    return buf[:size]


def zeros(size: int) -> np.ndarray:
    """A read-only run of at least `size` zeros (shared; never write to it)."""
    global _zeros
    if _zeros.size < size:
        _zeros = np.zeros(size, dtype=np.float32)
    return _zeros


class _Batch:
    """Jobs handed out one at a time to whichever thread asks first. Completion counts jobs,
    not threads: a worker that wakes late (its core busy elsewhere) finds nothing left and
    nobody waits for it."""

    def __init__(self, jobs: list, work):
        self.jobs = jobs
        self.work = work
        self.next = 0
        self.running = 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.done = np.zeros(1, dtype=np.int64)  # 1 once finished, read without the GIL

    def forget(self) -> None:
        """Drop the jobs and the work function once the caller has its results: a worker that
        wakes late still holds this batch, and must not keep the caller's arrays alive
        (kernels/recycle.py reuses only arrays nothing else holds)."""
        with self.lock:
            self.jobs = []
            self.work = None

    def drain(self) -> None:
        while True:
            with self.lock:
                if self.next >= len(self.jobs) or self.error is not None:
                    if self.running == 0:
                        self.done[0] = 1
                        self.finished.set()
                    return
                job = self.jobs[self.next]
                self.next += 1
                self.running += 1
            try:
                self.work(job)
            except BaseException as exc:  # re-raised on the calling thread
                with self.lock:
                    if self.error is None:
                        self.error = exc
            finally:
                with self.lock:
                    self.running -= 1


def run_blocks(jobs: list, work) -> None:
    """Call work(job) for every job, on the calling thread and up to num_threads()-1 pool
    workers, with BLAS single-threaded throughout: BLAS's own threads would compete with the
    workers (and with numba's), and OpenBLAS splits small-M products badly anyway."""
    workers = min(num_threads(), len(jobs))
    with blas_single_threaded():
        if workers <= 1:
            for job in jobs:
                work(job)
            return
        batch = _Batch(jobs, work)
        pool = _workers(workers - 1)
        pool.post(batch)
        batch.drain()  # the calling thread is one of the workers
        if not (pool.rounds and spin.until_changed(batch.done, 0, pool.rounds)):
            batch.finished.wait()
        batch.forget()
        if batch.error is not None:
            raise batch.error


def run_rows(rows: int, work: int, kernel) -> None:
    """kernel(r0, r1) over rows [0, rows): all on the calling thread when the whole job is
    `work` < SERIAL_WORK element operations (waking a worker would cost more than it saves),
    else in ROW_CHUNKS chunks per worker over run_blocks (several per worker, so that one
    whose core is busy elsewhere leaves its share to the others)."""
    workers = num_threads()
    if workers <= 1 or rows < 2 or work < SERIAL_WORK:
        kernel(0, rows)
        return
    per = -(-rows // min(rows, ROW_CHUNKS * workers))
    run_blocks([(r0, min(rows, r0 + per)) for r0 in range(0, rows, per)],
               lambda job: kernel(job[0], job[1]))
