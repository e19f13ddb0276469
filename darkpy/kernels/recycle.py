"""Output arrays recycled within one inference forward pass.

A layer output of a 510x339 image with 64 channels is 44 MB: numpy maps fresh pages for it
from the kernel, and faulting them in costs 5-10% of a Winograd convolution's time. Network.forward
frees each output after its last consumer anyway, so inside `recycling()` a freed array that
nothing else references goes into a pool (`give_back`) and the next layer that asks for an
output of the same shape and dtype gets it back (`empty`), its pages already mapped.

The pool belongs to the thread running the forward pass and lives as long as that pass; an
array still referenced anywhere else (a view of it, a caller's variable) is never pooled.
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
def recycling():
    """Within this block (on this thread), `give_back` pools arrays and `empty` reuses them."""
    previous = getattr(_state, "pool", None)
    _state.pool = {}
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
