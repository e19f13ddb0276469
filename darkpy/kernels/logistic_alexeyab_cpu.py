"""The logistic of AlexeyAB's CPU build (activate_array with LOGISTIC, `make` -Ofast, AVX=0).

gcc vectorises his `x[i] = 1.f / (1.f + expf(-x[i]))` loop: every whole group of four values
(from the array's start) goes through glibc's SSE vector expf (libmvec's _ZGVbN4v_expf), and
the division becomes rcpps with one Newton step, r' = (r + r) - (d r) r; the last n % 4 values
take the scalar expf and a true division. Both differ from a correctly rounded logistic by an
ulp here and there, and in training those ulps of the [yolo] head's outputs became ulps of
every gradient (seen in the class deltas after one iteration). Exact training of his lineage
therefore computes the head's logistic with the same instructions, compiled once with
llvmlite (numba's own dependency) against glibc's libmvec and libm. rcpps is the CPU's own
approximation: results match his darknet run on the same kind of CPU.

`available()` is False where glibc's libmvec is missing (not Linux/x86-64): callers fall back
to their usual logistic.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

import numpy as np

_IR = r"""
declare <4 x float> @_ZGVbN4v_expf(<4 x float>)
declare float @expf(float)
declare <4 x float> @llvm.x86.sse.rcp.ps(<4 x float>)

define void @logistic(float* %x, i64 %n) {
entry:
  %rem = srem i64 %n, 4
  %n4 = sub i64 %n, %rem
  br label %vcheck
vcheck:
  %i = phi i64 [0, %entry], [%inext, %vbody]
  %vmore = icmp slt i64 %i, %n4
  br i1 %vmore, label %vbody, label %scheck
vbody:
  %p = getelementptr float, float* %x, i64 %i
  %pv = bitcast float* %p to <4 x float>*
  %v = load <4 x float>, <4 x float>* %pv, align 4
  %neg = fneg <4 x float> %v
  %e = call <4 x float> @_ZGVbN4v_expf(<4 x float> %neg)
  %d = fadd <4 x float> %e, <float 1.0, float 1.0, float 1.0, float 1.0>
  %r = call <4 x float> @llvm.x86.sse.rcp.ps(<4 x float> %d)
  %dr = fmul <4 x float> %d, %r
  %drr = fmul <4 x float> %dr, %r
  %r2 = fadd <4 x float> %r, %r
  %y = fsub <4 x float> %r2, %drr
  store <4 x float> %y, <4 x float>* %pv, align 4
  %inext = add i64 %i, 4
  br label %vcheck
scheck:
  %j = phi i64 [%n4, %vcheck], [%jnext, %sbody]
  %smore = icmp slt i64 %j, %n
  br i1 %smore, label %sbody, label %done
sbody:
  %q = getelementptr float, float* %x, i64 %j
  %s = load float, float* %q, align 4
  %sneg = fneg float %s
  %se = call float @expf(float %sneg)
  %sd = fadd float %se, 1.0
  %sy = fdiv float 1.0, %sd
  store float %sy, float* %q, align 4
  %jnext = add i64 %j, 1
  br label %scheck
done:
  ret void
}
"""

_state: dict = {}


def _compile():
    if "fn" in _state:
        return _state["fn"]
    _state["fn"] = None
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        import llvmlite.binding as llvm

        for name in ("mvec", "m"):
            path = ctypes.util.find_library(name)
            if path is None:
                return None
            llvm.load_library_permanently(path)
        try:
            llvm.initialize()
        except RuntimeError:  # newer llvmlite initialises itself
            pass
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        module = llvm.parse_assembly(_IR)
        module.verify()
        # SSE2 only, as his AVX=0 build: no FMA or AVX rewrite of the sequence above
        target = llvm.Target.from_triple(llvm.get_process_triple())
        machine = target.create_target_machine(cpu="x86-64", features="+sse2,-avx,-fma",
                                               opt=0)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        address = engine.get_function_address("logistic")
        _state["engine"] = engine  # keeps the code alive
        _state["fn"] = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(address)
    except Exception:  # any llvmlite / library problem: not available, callers fall back
        _state["fn"] = None
    return _state["fn"]


def available() -> bool:
    return _compile() is not None


def logistic_in_place(x: np.ndarray) -> None:
    """x = his activate_array(x, n, LOGISTIC), x a contiguous float32 array."""
    fn = _compile()
    if fn is None:
        raise RuntimeError("AlexeyAB's CPU logistic needs glibc's libmvec (Linux x86-64)")
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        raise ValueError("a contiguous float32 array")
    fn(x.ctypes.data, x.size)
