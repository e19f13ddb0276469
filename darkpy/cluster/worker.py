"""What runs inside each worker process: its thread share and its cache of loaded models.

The cache lives in this module, so it lasts as long as the worker process: the first task
that needs a model loads it, the others reuse it. One task at a time uses a given model in a
process (a lock), so workers are best started with one Dask thread each and darkpy's own
threads inside (DARKPY_NUM_THREADS), which `WorkerSetup` sets from the machine's cores.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from distributed.diagnostics.plugin import WorkerPlugin

_models: dict = {}
_locks: dict = {}
_cache_lock = threading.Lock()


@contextmanager
def using(recipe):
    """The model `recipe` describes, loaded once in this process, held for one task."""
    with _cache_lock:
        lock = _locks.setdefault(recipe.key, threading.Lock())
    with lock:
        model = _models.get(recipe.key)
        if model is None:
            model = _models[recipe.key] = recipe.load()
        yield model


def loaded_count() -> int:
    """How many models this process has loaded (the tests check that it is one)."""
    return len(_models)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def thread_share(cores: int, worker_threads: int, host_threads: int) -> int:
    """darkpy threads for a worker process: its Dask threads' share of the machine's cores,
    where `host_threads` Dask threads (all workers on the machine) run tasks at once."""
    return max(1, cores * worker_threads // max(1, host_threads))


class WorkerSetup(WorkerPlugin):
    """A Dask worker plugin: sets darkpy's thread count on every
    worker, those that join later included. DARKPY_NUM_THREADS in the worker's environment
    wins; else `host_threads` (Dask threads per host when the client connected) gives its
    share, and a host the client did not see counts its own worker alone."""

    name = "darkpy-worker-setup"

    def __init__(self, host_threads: dict[str, int]):
        self.host_threads = dict(host_threads)

    def setup(self, worker):
        from darkpy.kernels.workers import set_num_threads

        threads = worker.state.nthreads
        host = host_of(worker.address)
        given = os.environ.get("DARKPY_NUM_THREADS", "").strip()
        if given.isdigit() and int(given) > 0:
            share = int(given)
        else:
            share = thread_share(usable_cores(), threads, self.host_threads.get(host, threads))
        os.environ["DARKPY_NUM_THREADS"] = str(share)
        set_num_threads(share)


def host_of(address: str) -> str:
    """'tcp://10.0.0.5:40123' -> '10.0.0.5'."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0]


def darkpy_threads() -> int:
    from darkpy.kernels.workers import num_threads

    return num_threads()
