"""Waiting for a flag without the GIL and without sleeping: darkpy's workers between parallel
regions, and the caller for the last job of one (kernels/workers.py).

A thread that blocks on a lock or an event sleeps in the kernel, and waking it takes a
system call and, on a virtual machine whose idle virtual CPU has halted, the host's
scheduler: tens of microseconds to a millisecond, per parallel region. A detector's forward
pass has ~20 of them a few hundred microseconds apart. Checking a flag in a loop for a short
while first (as OpenMP and ONNX Runtime's thread pools do) keeps a worker awake through
those gaps; the loop is compiled, so it holds no GIL while it waits.
"""
from __future__ import annotations

import platform
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from darkpy.kernels.simd import declare

# x86's pause tells the core that this is a wait loop (the sibling hyper-thread gets the
# pipeline, and leaving the loop takes no memory-order flush); elsewhere a fence stands in
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def _cpu_relax(typingctx):
    """One wait-loop hint. Either instruction may touch memory as far as the compiler knows,
    so the flag is read again after it (no inline assembly: numba's JIT has no assembler)."""
    def codegen(context, builder, signature, args):
        if _X86:
            builder.call(declare(builder.module, "llvm.x86.sse2.pause", ir.VoidType(), []), [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@njit(nogil=True, cache=True)
def until_changed(flag, seen, rounds):
    """Whether flag[0] differs from `seen` within `rounds` checks (a wait-loop hint between
    checks); returns as soon as it does."""
    for _ in range(rounds):
        if flag[0] != seen:
            return True
        _cpu_relax()
    return flag[0] != seen


_round_seconds = 0.0


def rounds_for(seconds: float) -> int:
    """Checks of until_changed that take about `seconds` on this machine (measured once)."""
    global _round_seconds
    if _round_seconds == 0.0:
        flag = np.zeros(1, np.int64)
        until_changed(flag, 0, 1)  # compiled or loaded before timing
        rounds = 20000
        start = time.perf_counter()
        until_changed(flag, 0, rounds)
        _round_seconds = max((time.perf_counter() - start) / rounds, 1e-9)
    return max(1, int(seconds / _round_seconds))
