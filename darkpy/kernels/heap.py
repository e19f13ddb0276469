"""glibc's malloc told to keep freed memory for reuse: `keep_freed_memory()`, process-wide.

By default glibc gives every block above a moving threshold (128 KiB, rising to at most
32 MiB as such blocks are freed) a mapping of its own, unmapped when it is freed, and it
returns the free top of the heap to the system once that exceeds twice the threshold. A
training iteration allocates and frees hundreds of MB of activations and gradients, so every
iteration faults all of them in afresh: EDSR-baseline x2, batch 16 of 48x48, took 77,000
page faults and 0.5-1.0 s of kernel time per 1.8-2.5 s iteration on the 2-core machine.
Pinning the mapping threshold at its maximum and the trim threshold at 2 GiB sends freed
arrays back to the heap, where the next iteration finds them: no faults, 1.2-1.4 s.

The price is the process keeping what it freed (up to 2 GiB of heap top) instead of returning
it, so darkpy asks for this only where it owns the process or runs a long loop: the `darkpy`
command and the trainers. Library users may call it themselves. DARKPY_KEEP_FREED_MEMORY=0
turns it off; it does nothing on a C library other than glibc. Blocks above 32 MiB (a whole
image's activations) are mapped afresh by glibc whatever the threshold; Network.forward
recycles those itself (kernels/recycle.py).

Training has such blocks too (EDSR-baseline x2, batch 16 of 48x48: five arrays of 37.7 MB
per iteration, the pixel shuffle's and the upsampler's activations and gradients), and no
pass arena: `keep_freed_memory(large_blocks=True)` also turns glibc's separate mappings off
(M_MMAP_MAX 0), so those come from the heap and are reused like the rest. The shuffle's
backward went from 16-20 to 4-5 ms, the iteration from ~770 to ~740 ms. Only the trainers
ask for it: where the sizes change from call to call (tiled inference), a heap that never
unmaps would keep the largest tile's arrays fragmented instead of handing them back.
"""
from __future__ import annotations

import os

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = (2 << 30) - 1  # mallopt takes an int

_done = False
_large_done = False


def keep_freed_memory(large_blocks: bool = False) -> bool:
    """Set glibc's thresholds once (see the module docstring), and with large_blocks turn its
    separate mappings of big blocks off; True when what was asked is set."""
    global _done, _large_done
    if _done and (_large_done or not large_blocks):
        return True
    if os.environ.get("DARKPY_KEEP_FREED_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc, or not a POSIX system
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        _done = _done or bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                              and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        if large_blocks and _done:
            _large_done = bool(libc.mallopt(M_MMAP_MAX, 0))
    except (OSError, AttributeError):
        return False
    return _done and (_large_done or not large_blocks)
