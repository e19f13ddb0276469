"""Arrays whose data starts on a cache line (64 bytes), for the kernels' inputs and outputs.

numpy takes its memory from malloc, which aligns to 16 bytes: a large array's data starts 16
bytes into a cache line, and then every 64-byte vector load and store of the vector kernels
(kernels/simd.py: one channel vector of 16 float32 is one line when aligned) touches two
lines. Measured on Winograd convolutions at 510x339, 2 threads, in one process: 64 -> 64
channels 26.2 vs 31.8 ms, 32 -> 192 44.8 vs 51.3 ms, 192 -> 32 48.9 vs 57.5 ms; the input
transform alone (one thread) 5.5 vs 7.8 ms. So layer outputs (kernels/recycle.py), the
workers' scratch buffers and the gradients the convolutions read come from `empty` here.

Such an array is a view of a larger uint8 buffer (its `base`), so code that asks whether an
array owns its memory asks `owns_memory`.
"""
from __future__ import annotations

import sys

import numpy as np

ALIGN = 64


def empty(shape, dtype=np.float32) -> np.ndarray:
    """np.empty(shape, dtype) with its data starting on an ALIGN-byte boundary."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def empty_like(array: np.ndarray) -> np.ndarray:
    return empty(array.shape, array.dtype)


def _base_refs(array) -> int:
    """sys.getrefcount of array's base, read with no other reference to it held here."""
    return sys.getrefcount(array.base)


# the count _base_refs reads for an array from `empty` that nothing else shares memory with
_SOLE_BASE_REFS = _base_refs(empty(1))


def owns_memory(array: np.ndarray) -> bool:
    """Whether no other array shares `array`'s memory: it has no base, or it comes from
    `empty` (a 1-D uint8 base) and that buffer is referenced by it alone."""
    if array.base is None:
        return True
    return (isinstance(array.base, np.ndarray) and array.base.dtype == np.uint8
            and array.base.ndim == 1 and _base_refs(array) == _SOLE_BASE_REFS)
