"""kernels/heap.py: with keep_freed_memory() a process that frees its arrays and allocates the
same again faults in (almost) no fresh pages; without it glibc hands the memory back and the
second round faults it all in again. Each case runs in a fresh interpreter (the setting is
process-wide)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROUNDS = """
import resource, sys
import numpy as np
from darkpy.kernels.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False

def allocate():
    arrays = [np.empty(2 << 20, np.float32) for _ in range(24)]  # 24 x 8 MB
    for a in arrays:
        a.fill(1.0)
    return arrays

arrays = allocate()
del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
arrays = allocate()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env=None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True,
                         check=True, env={**os.environ, **(env or {})}).stdout.split()
    return out[0], int(out[1])


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_freed_memory_is_reused_without_faulting_it_in_again():
    kept, with_it = _faults("keep")
    _, without = _faults("default")
    assert kept == "True"
    # 192 MB: tens of thousands of 4 KiB faults by default (fewer with huge pages)
    assert without > 1000
    assert with_it < without / 20


def test_the_environment_turns_it_off():
    kept, _ = _faults("keep", {"DARKPY_KEEP_FREED_MEMORY": "0"})
    assert kept == "False"
