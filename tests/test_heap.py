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
mode, size = sys.argv[1], int(sys.argv[2])
kept = keep_freed_memory(large_blocks=mode == "large") if mode != "default" else False

def allocate():
    arrays = [np.empty(size, np.float32) for _ in range((192 << 20) // (4 * size))]
    for a in arrays:
        a.fill(1.0)
    return arrays

arrays = allocate()
del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
arrays = allocate()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


SMALL = 2 << 20  # 8 MB arrays: under glibc's largest mapping threshold
LARGE = 10 << 20  # 40 MB arrays: mapped afresh unless large_blocks


def _faults(mode: str, env=None, size: int = SMALL) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode, str(size)], capture_output=True,
                         text=True, check=True, env={**os.environ, **(env or {})}).stdout.split()
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


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_large_blocks_are_reused_only_when_asked():
    _, kept_small_only = _faults("keep", size=LARGE)
    kept, with_large = _faults("large", size=LARGE)
    assert kept == "True"
    assert kept_small_only > 1000  # blocks above 32 MiB: a fresh mapping every time
    assert with_large < kept_small_only / 20
