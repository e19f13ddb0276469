"""The run loop: jobs (one per input file) on a bounded pool of client threads, each
submitting its Dask tasks and waiting for them; progress from the jobs' futures through the
one darkpy.reporting.Reporter; Ctrl-C cancels every task still pending.

A job's tasks return ("ok", value) or ("failed", message) (`guarded`), so a bad input is a
result, not an exception Dask would retry; a task whose worker dies is rerun by Dask on
another worker (up to its `allowed-failures`), after which the job fails with that reason.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
from dataclasses import dataclass
from typing import Callable

from darkpy.errors import DarkpyError
from darkpy.reporting import Reporter

POLL_SECONDS = 0.2


class JobFailed(Exception):
    """A job's input failed; the message is what the report lists."""


class Cancelled(Exception):
    """The run was interrupted; the job stops waiting."""


def failure_message(label: str, exc: BaseException) -> str:
    """What the report says about an input that failed (the in-process pipelines' wording)."""
    if isinstance(exc, DarkpyError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{label}: out of memory (try a smaller --tile)"
    return f"{label}: {type(exc).__name__}: {exc}"


def guarded(label: str, function, *args, **kwargs):
    """Run on a worker: ("ok", result) or ("failed", message)."""
    try:
        return "ok", function(*args, **kwargs)
    except Exception as exc:  # a bad input, a bug, an odd file, MemoryError: reported
        return "failed", failure_message(label, exc)


@dataclass
class Job:
    label: str
    run: Callable        # run(cluster) -> value, on a client thread; raises JobFailed


def submit(cluster, label: str, function, *args, **kwargs):
    """A Dask future of guarded(label, function, *args) (never deduplicated by its arguments)."""
    return cluster.client.submit(guarded, label, function, *args, pure=False, **kwargs)


def result(cluster, future):
    """The value of a `submit` future, waiting in short steps so that Ctrl-C is seen.

    It waits for the future's done callback, then collects the value without a timeout:
    distributed's future.result(timeout=...) can lose a result that arrives just as the
    timeout expires (on Python 3.11 it then raises UnboundLocalError from
    distributed.utils.sync), which under heavy load once failed a file."""
    finished = threading.Event()
    future.add_done_callback(lambda _: finished.set())
    while not cluster.cancelled.is_set():
        if finished.wait(POLL_SECONDS):
            break
    if cluster.cancelled.is_set():
        future.cancel()
        raise Cancelled()
    try:
        status, value = future.result()
    except cf.CancelledError:
        raise Cancelled() from None
    except Exception as exc:  # KilledWorker after repeated deaths, a lost connection
        raise JobFailed(f"{type(exc).__name__}: {exc}") from None
    if status != "ok":
        raise JobFailed(value)
    return value


def results(cluster, futures) -> list:
    """The values of several `submit` futures, in order; the first failure wins."""
    try:
        return [result(cluster, future) for future in futures]
    except (JobFailed, Cancelled):
        cluster.client.cancel(futures)
        raise


def run_jobs(cluster, jobs: list[Job], reporter: Reporter | None = None,
             window: int | None = None) -> list[tuple[object, str | None]]:
    """Run every job, at most `window` at once (default: twice the cluster's threads, so the
    next tasks are queued when one finishes); returns (value, error message) per job, in
    order. Reports each file as it finishes."""
    reporter = reporter or Reporter()
    window = window or 2 * cluster.total_threads()
    outcomes: list = [(None, None)] * len(jobs)
    done = 0
    pool = cf.ThreadPoolExecutor(max_workers=max(1, min(window, len(jobs) or 1)),
                                 thread_name_prefix="darkpy-cluster")
    try:
        pending = {pool.submit(job.run, cluster): index for index, job in enumerate(jobs)}
        for future in cf.as_completed(pending):
            index = pending[future]
            label = jobs[index].label
            try:
                outcomes[index] = (future.result(), None)
            except JobFailed as exc:
                outcomes[index] = (None, str(exc))
            except Exception as exc:  # a bug in the client-side part of a job
                outcomes[index] = (None, failure_message(label, exc))
            reporter.start_file(label, done, len(jobs))
            reporter.end_file(label, outcomes[index][1])
            done += 1
    except BaseException:  # Ctrl-C (or a reporter error): stop everything still queued
        cluster.cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def remove_leftovers(targets) -> None:
    """After a run: temporary files that workers killed mid-write left beside the outputs."""
    from darkpy.io.atomic import remove_leftovers as remove

    for target in targets:
        if target is not None:
            remove(target)
