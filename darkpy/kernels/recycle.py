"""Output arrays recycled within an inference forward pass, and from one pass to the next.

A layer output of a 510x339 image with 64 channels is 44 MB: numpy maps fresh pages for it
from the kernel, and faulting them in costs 5-10% of a Winograd convolution's time (far more
on a virtual machine whose host backs guest memory on first touch: 177 MB of fresh pages
took 0.5 s there, against 0.03 s to rewrite them). Network.forward frees each output after
its last consumer anyway, so inside `recycling()` a freed array that nothing else references
goes into a pool (`give_back`) and the next layer that asks for an output of the same shape
and dtype gets it back (`empty`), its pages already mapped.

The pool belongs to the thread running the forward pass. Network.forward hands the same pool
to the next pass on that thread while the input shape stays the same (as ONNX Runtime's arena
keeps its buffers), so repeated forwards and same-sized tiles map no pages at all; a new shape
starts a new pool. An array still referenced anywhere else (a view of it, a caller's variable,
a returned output) is never pooled.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

# arrays kept per (shape, dtype): a forward pass frees about as many as it asks for
PER_SHAPE = 2

_state = threading.local()


def _refs_when_unshared() -> int:
    """sys.getrefcount inside give_back for an array only the caller's expression holds."""
    def probe(array):
        return sys.getrefcount(array)
    return probe(np.empty(1))


_UNSHARED = _refs_when_unshared()


@contextmanager
def recycling(pool: dict | None = None):
    """Within this block (on this thread), `give_back` pools arrays and `empty` reuses them;
    `pool` (a dict this module fills) carries them over from an earlier block."""
    previous = getattr(_state, "pool", None)
    _state.pool = {} if pool is None else pool
    try:
        yield
    finally:
        _state.pool = previous


def give_back(array) -> None:
    """Pool `array` for reuse when recycling is on and nothing else references it. Call it as
    give_back(container.pop(key)), holding no other reference."""
    pool = getattr(_state, "pool", None)
    if (pool is None or not isinstance(array, np.ndarray) or array.base is not None
            or not array.flags.c_contiguous or sys.getrefcount(array) > _UNSHARED):
        return
    kept = pool.setdefault((array.shape, array.dtype.str), [])
    if len(kept) < PER_SHAPE:
        kept.append(array)


def empty(shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype), from the pool when it holds one."""
    pool = getattr(_state, "pool", None)
    if pool:
        kept = pool.get((tuple(shape), np.dtype(dtype).str))
        if kept:
            return kept.pop()
    return np.empty(shape, dtype)


class PassPools:
    """One recycling pool per thread, kept from one forward pass to the next while the input
    shape stays the same (Network.forward's). Thread-local, so a thread's arrays go when the
    thread ends; `clear()` lets every thread's go."""

    def __init__(self):
        self._local = threading.local()

    def for_input(self, shape: tuple) -> dict:
        kept = getattr(self._local, "kept", None)
        if kept is None or kept[0] != shape:
            kept = self._local.kept = (shape, {})
        return kept[1]

    def clear(self) -> None:
        self._local = threading.local()
