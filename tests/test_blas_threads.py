"""kernels/workers.blas_single_threaded: BLAS runs one thread inside, nested and concurrent
users restore the original count once, when the last one leaves (read back through
threadpoolctl's own report, independently of how workers.py sets it). The last to leave is
the thread that entered first here: OpenBLAS applies a count set from another thread to that
thread only (seen with numpy's bundled OpenBLAS), so a worker thread leaving last would
restore it for itself alone."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from darkpy.kernels import workers

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


def test_one_thread_inside_and_the_original_count_after(monkeypatch):
    np.dot(np.ones((4, 4)), np.ones((4, 4)))  # BLAS loaded
    # workers finds the BLAS libraries once; an earlier test may have run before another
    # one was loaded (scipy's OpenBLAS): find them again here
    monkeypatch.setattr(workers, "_blas", None)
    if not _blas_threads():
        pytest.skip("no BLAS library found by threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        entered, leave = threading.Event(), threading.Event()

        def other_user():
            with workers.blas_single_threaded():
                entered.set()
                leave.wait(10)

        thread = threading.Thread(target=other_user)
        with workers.blas_single_threaded():
            assert set(_blas_threads()) == {1}
            with workers.blas_single_threaded():
                assert set(_blas_threads()) == {1}
            assert set(_blas_threads()) == {1}  # the nested exit restores nothing
            thread.start()
            entered.wait(10)
            leave.set()
            thread.join()
            assert set(_blas_threads()) == {1}  # the other user left, this one is inside
        assert _blas_threads() == before
