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
image's activations) are always mapped afresh by glibc; Network.forward recycles those
itself (kernels/recycle.py).
"""
from __future__ import annotations

import os

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = (2 << 30) - 1  # mallopt takes an int

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once (see the module docstring); True when they are set."""
    global _done
    if _done:
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
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                     and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
    return _done
