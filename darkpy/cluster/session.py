"""Connecting to a cluster: a running scheduler's address, or a LocalCluster of N processes."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from darkpy.errors import ClusterError

INSTALL_HINT = "the cluster backend needs dask.distributed: pip install 'darkpy[cluster]'"


@dataclass
class Cluster:
    """An open connection: the Dask client, and the event that Ctrl-C sets to stop the run."""

    client: object
    cancelled: threading.Event = field(default_factory=threading.Event)

    def total_threads(self) -> int:
        """Tasks the cluster runs at once (at least 1, even before workers have joined)."""
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def run_on_workers(self, function):
        """function() on every worker: {worker address: result}."""
        return self.client.run(function)


def _import_dask():
    try:
        import distributed
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return distributed


@contextlib.contextmanager
def connect(address: str | None = None, workers: int | None = None, *, timeout: float = 30.0):
    """A Cluster on the scheduler at `address` (tcp://host:8786), or on a LocalCluster of
    `workers` processes of one Dask thread each on this machine; closed on exit."""
    if (address is None) == (workers is None):
        raise ClusterError("give a scheduler address (--cluster) or a number of local worker "
                           "processes (--workers), not both")
    if workers is not None and workers < 1:
        raise ClusterError(f"--workers must be at least 1, got {workers}")
    distributed = _import_dask()
    from darkpy.cluster.worker import WorkerSetup, host_of, thread_share, usable_cores

    with contextlib.ExitStack() as stack:
        if workers is not None:
            # the workers' share of this machine's cores, whatever this process was given
            share = thread_share(usable_cores(), 1, workers)
            local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None,
                                             env={"DARKPY_NUM_THREADS": str(share)})
            stack.callback(local.close)
            client = distributed.Client(local)
        else:
            try:
                client = distributed.Client(address, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(f"cannot reach a Dask scheduler at {address}: {exc}") from None
        stack.callback(client.close)
        host_threads: dict[str, int] = {}
        for worker_address, worker in client.scheduler_info().get("workers", {}).items():
            host = host_of(worker_address)
            host_threads[host] = host_threads.get(host, 0) + worker.get("nthreads", 1)
        client.register_plugin(WorkerSetup(host_threads))
        yield Cluster(client)
