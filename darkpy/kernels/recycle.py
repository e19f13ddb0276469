"""Output arrays recycled within an inference forward pass, and laid out in one arena for the
passes after it.

A layer output of a 510x339 image with 64 channels is 44 MB: numpy maps fresh pages for it
from the kernel, and faulting them in costs 5-10% of a Winograd convolution's time (far more
on a virtual machine whose host backs guest memory on first touch: 177 MB of fresh pages
took 0.5 s there, against 0.03 s to rewrite them). Network.forward frees each output after
its last consumer anyway, so:

- The first pass of an input shape (on a thread) pools a freed array that nothing else
  references (`give_back`), and the next request for an output of the same shape and dtype
  (`empty`) gets it back, its pages already mapped. It also records every request: its size,
  when it was made and when its array was given back.
- From that record the passes after it get an arena (as ONNX Runtime plans its memory
  pattern): every request freed within the pass gets an offset in one block, requests alive
  at the same time never overlapping (largest first, each at the lowest offset free for its
  lifetime), so the block is about the pass's peak of live outputs and no page is mapped
  again. Keeping the first pass's pooled arrays instead would hold arrays of late layers idle
  through the early ones: full EDSR x2 tiles of 397x397 peaked 0.3 GiB higher from the
  second tile on.

A region is handed out only when no array still handed out from an overlapping region is
referenced from anywhere (each region's array is the base of every view of it, so its
reference count says so), whatever the pass did with it; otherwise that request gets a fresh
array. So a caller holding an output, or a view of one, can never see it overwritten. The
outputs a pass returns were never given back in the recorded pass, so they never come from
the arena; each is kept instead, and the next pass gets it back when the caller has let go
of it (and of every view of it), by the same reference counts.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

from darkpy.kernels import aligned

# arrays kept per (shape, dtype) in a first pass: a forward pass frees about as many as it asks for
PER_SHAPE = 2
# arena offsets are multiples of this many bytes (a cache line; AVX-512 loads)
ALIGN = aligned.ALIGN

_state = threading.local()


def _refs_when_unshared() -> int:
    """sys.getrefcount inside give_back for an array only the caller's expression holds."""
    def probe(array):
        return sys.getrefcount(array)
    return probe(np.empty(1))


_UNSHARED = _refs_when_unshared()


def _refs_when_only_kept() -> int:
    """sys.getrefcount of an array a dict alone holds, read as _held_elsewhere reads it."""
    kept = {0: np.empty(1)}
    return sys.getrefcount(kept[0])


_ONLY_KEPT = _refs_when_only_kept()


def _held_elsewhere(kept: dict, key) -> bool:
    """Whether anything besides the dict `kept` references kept[key] (a region's owner array,
    an output kept for the next pass)."""
    return sys.getrefcount(kept[key]) > _ONLY_KEPT


class PassMemory:
    """The memory one thread's forward passes of one input shape share (see the module
    docstring): a pool and a record in a first pass, an arena laid out from the record after."""

    def __init__(self):
        self.pool: dict = {}  # (shape, dtype) -> freed arrays, while recording
        self.record: list[list] | None = []  # [bytes, asked at, given back at (None: never)]
        self.offsets: list[int | None] = []  # per request: its arena offset (None: fresh array)
        self.sizes: list[int] = []
        self.arena: memoryview | None = None
        self.arena_bytes = 0
        self.handed: dict[int, np.ndarray] = {}  # region's request -> its 1-D owner array
        self.returned: dict[int, np.ndarray] = {}  # request the pass keeps -> its last array
        self.ids: dict[int, int] = {}  # id(array handed out) -> request, while recording
        self.clock = 0
        self.request = 0
        self.deviated = False

    # --- one pass ---------------------------------------------------------------------------
    def begin(self) -> None:
        self.clock = self.request = 0
        self.deviated = False
        if self.record is not None:
            self.record = []
            self.ids = {}
            self.returned = {}

    def end(self) -> None:
        if self.record is not None:
            self._lay_out()
            self.record = None
            self.pool = {}
            self.ids = {}
        elif self.deviated or self.request != len(self.offsets):
            self.record = []  # the next pass records afresh (the arena goes with its layout)

    def empty(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        size = int(np.prod(shape)) * dtype.itemsize
        k = self.request
        self.request += 1
        self.clock += 1
        if self.record is not None:
            kept = self.pool.get((shape, dtype.str))
            array = kept.pop() if kept else aligned.empty(shape, dtype)
            self.record.append([size, self.clock, None])
            self.ids[id(array)] = k
            return array
        if k >= len(self.offsets) or self.sizes[k] != size:
            self.deviated = True  # another sequence of requests: record it in the next pass
            return aligned.empty(shape, dtype)
        if self.offsets[k] is None:
            return self._kept_output(k, shape, dtype)
        region = self._region(k, size)
        if region is None:
            return aligned.empty(shape, dtype)
        return np.frombuffer(region, dtype, size // dtype.itemsize).reshape(shape)

    def give_back(self, array: np.ndarray) -> None:
        self.clock += 1
        if self.record is None:
            return  # arena regions come free by reference count, nothing to do
        k = self.ids.pop(id(array), None)
        if k is not None:
            self.record[k][2] = self.clock
        kept = self.pool.setdefault((array.shape, array.dtype.str), [])
        if len(kept) < PER_SHAPE:
            kept.append(array)

    def _kept_output(self, k: int, shape: tuple, dtype) -> np.ndarray:
        """An array for request k, which the pass does not give back (an output it returns):
        the one handed out for it last time when nothing references that any more (nobody
        can see it rewritten, no array shares its memory), else a new one. Fresh pages cost
        what the arena spares the other outputs: WDSR-A x4's 33 MB output took 0.1 s."""
        if (k in self.returned and not _held_elsewhere(self.returned, k)
                and aligned.owns_memory(self.returned[k])):
            array = self.returned[k]
            if array.shape == shape and array.dtype == dtype:
                return array
        array = self.returned[k] = aligned.empty(shape, dtype)
        return array

    # --- the arena --------------------------------------------------------------------------
    def _lay_out(self) -> None:
        """Offsets for the recorded requests given back within the pass: largest first, each
        at the lowest aligned offset that overlaps no placed request alive at the same time."""
        record = self.record
        self.sizes = [size for size, _, _ in record]
        self.offsets = [None] * len(record)
        placed: list[tuple[int, int, int, int]] = []  # (offset, end, asked, freed)
        order = sorted((k for k, (_, _, freed) in enumerate(record) if freed is not None),
                       key=lambda k: (-record[k][0], record[k][1]))
        for k in order:
            size, asked, freed = record[k]
            busy = sorted((o, e) for o, e, a, f in placed if a < freed and asked < f)
            offset = 0
            for o, e in busy:
                if offset + size <= o:
                    break
                offset = max(offset, -(-e // ALIGN) * ALIGN)
            placed.append((offset, offset + size, asked, freed))
            self.offsets[k] = offset
        self.arena_bytes = max((e for _, e, _, _ in placed), default=0)
        self.arena = None
        self.handed = {}

    def _region(self, k: int, size: int):
        start = self.offsets[k]
        end = start + size
        for other in list(self.handed):
            o = self.offsets[other]
            if other == k or (o < end and start < o + self.sizes[other]):
                if _held_elsewhere(self.handed, other):
                    return None
                del self.handed[other]
        if self.arena is None:
            self.arena = memoryview(aligned.empty(self.arena_bytes, np.uint8))
        owner = np.frombuffer(self.arena[start:end], np.uint8)
        self.handed[k] = owner
        return owner


@contextmanager
def recycling(memory: PassMemory | None = None):
    """Within this block (on this thread), `give_back` pools arrays and `empty` reuses them;
    `memory` (a PassMemory) carries what one pass learnt to the next."""
    previous = getattr(_state, "memory", None)
    memory = PassMemory() if memory is None else memory
    _state.memory = memory
    memory.begin()
    try:
        yield
    finally:
        memory.end()
        _state.memory = previous


def give_back(array) -> None:
    """Mark `array` free for reuse when recycling is on and nothing else references it. Call
    it as give_back(container.pop(key)), holding no other reference."""
    memory = getattr(_state, "memory", None)
    if (memory is None or not isinstance(array, np.ndarray) or not aligned.owns_memory(array)
            or not array.flags.c_contiguous or sys.getrefcount(array) > _UNSHARED):
        return
    memory.give_back(array)


def empty(shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype) starting on a cache line (kernels/aligned.py), from recycled
    memory when recycling is on."""
    memory = getattr(_state, "memory", None)
    if memory is None:
        return aligned.empty(shape, dtype)
    return memory.empty(shape, dtype)


class PassPools:
    """One PassMemory per thread, kept from one forward pass to the next while the input shape
    stays the same (Network.forward's). Thread-local, so a thread's arrays go when the thread
    ends; `clear()` lets every thread's go."""

    def __init__(self):
        self._local = threading.local()

    def for_input(self, shape: tuple) -> PassMemory:
        kept = getattr(self._local, "kept", None)
        if kept is None or kept[0] != shape:
            kept = self._local.kept = (shape, PassMemory())
        return kept[1]

    def clear(self) -> None:
        self._local = threading.local()
