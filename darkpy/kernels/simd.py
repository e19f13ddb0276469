"""Explicit 16-lane float32 vector code for the few kernels that need it, as numba intrinsics.

numba's loops vectorise only when LLVM can prove (or check at run time) that their arrays do
not overlap; a Winograd transform reads 36 channel vectors and writes 36, too many for those
checks, and a small GEMM needs its accumulators held in registers across the whole K loop,
which no loop over numpy arrays expresses. Here the kernels are written as LLVM IR over
<16 x float> values instead. LLVM lowers them to what the CPU has: one zmm register per
value with AVX-512, two ymm with AVX2, four with NEON, so the code stays portable.

A kernel is built by `vector_intrinsic(n_arrays, n_scalars, body)`: body(v) receives a
`Vectors` helper with the arrays' data pointers and the int64 scalars and emits IR through
it. The arithmetic carries no fast-math flags, so each operation rounds exactly as the
same numba expression with fastmath=False would: the transforms give the same bits as the
loops they replace.
"""
from __future__ import annotations

import inspect

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from darkpy.kernels.activations import LEAKY_SLOPE, LINEAR, RELU

LANES = 16
F32 = ir.FloatType()
I32 = ir.IntType(32)
I64 = ir.IntType(64)
VEC = ir.VectorType(F32, LANES)


def declare(module, name: str, return_type, arg_types):
    """The function `name` (an LLVM intrinsic) in module, declared on first use."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(return_type, arg_types), name=name)
    return fn


class Vectors:
    """IR emitted for one intrinsic call: pointers of its arrays (`ptr[i]`), its int64
    scalars (`arg[i]`), and vector operations on float32 element offsets."""

    def __init__(self, builder, pointers, scalars):
        self.builder = builder
        self.ptr = pointers
        self.arg = scalars

    def const(self, value: int):
        return ir.Constant(I64, value)

    def at(self, base, *offsets):
        """base + sum(offsets) (element offsets, int or IR int64) as a float pointer."""
        b = self.builder
        total = None
        for off in offsets:
            off = self.const(off) if isinstance(off, int) else off
            total = off if total is None else b.add(total, off)
        return base if total is None else b.gep(base, [total])

    def load(self, pointer):
        return self.builder.load(self.builder.bitcast(pointer, VEC.as_pointer()), align=4)

    def store(self, value, pointer) -> None:
        self.builder.store(value, self.builder.bitcast(pointer, VEC.as_pointer()), align=4)

    def prefetch(self, pointer) -> None:
        """Ask for the cache line at pointer to be brought into L2 (x86 prefetcht1), without
        waiting for it and without faulting, whatever the address."""
        b = self.builder
        i8_ptr = ir.IntType(8).as_pointer()
        fn = declare(b.module, "llvm.prefetch.p0", ir.VoidType(), [i8_ptr, I32, I32, I32])
        # read, locality 2 (L2 and outward), data cache
        b.call(fn, [b.bitcast(pointer, i8_ptr), ir.Constant(I32, 0), ir.Constant(I32, 2),
                    ir.Constant(I32, 1)])

    def _mask(self, condition):
        """An i1 condition splat into all lanes."""
        b = self.builder
        mask_type = ir.VectorType(ir.IntType(1), LANES)
        one = b.insert_element(ir.Constant(mask_type, ir.Undefined), condition, ir.Constant(I32, 0))
        return b.shuffle_vector(one, ir.Constant(mask_type, ir.Undefined),
                                ir.Constant(ir.VectorType(I32, LANES), [0] * LANES))

    def _lanes(self, mask, lanes):
        """mask, less the lanes from `lanes` (an int64 IR value) on; None: mask unchanged."""
        if lanes is None:
            return mask
        b = self.builder
        index = ir.Constant(ir.VectorType(I64, LANES), list(range(LANES)))
        count = b.shuffle_vector(
            b.insert_element(ir.Constant(ir.VectorType(I64, LANES), ir.Undefined), lanes,
                             ir.Constant(I32, 0)),
            ir.Constant(ir.VectorType(I64, LANES), ir.Undefined),
            ir.Constant(ir.VectorType(I32, LANES), [0] * LANES))
        return b.and_(mask, b.icmp_signed("<", index, count))

    def load_if(self, condition, pointer, lanes=None):
        """The vector at pointer where the i1 condition holds (and, when `lanes` is given,
        in its first `lanes` lanes), else zeros; memory is not touched where it does not (a
        masked load), so the pointer may be out of bounds then."""
        fn = declare(self.builder.module, "llvm.masked.load.v16f32.p0", VEC,
                     [VEC.as_pointer(), I32, ir.VectorType(ir.IntType(1), LANES), VEC])
        b = self.builder
        return b.call(fn, [b.bitcast(pointer, VEC.as_pointer()), ir.Constant(I32, 4),
                           self._lanes(self._mask(condition), lanes), self.zero()])

    def store_if(self, condition, value, pointer, lanes=None) -> None:
        """Store value at pointer only where the i1 condition holds and, when `lanes` (an
        int64 IR value) is given, only its first `lanes` lanes (a masked store)."""
        fn = declare(self.builder.module, "llvm.masked.store.v16f32.p0", ir.VoidType(),
                     [VEC, VEC.as_pointer(), I32, ir.VectorType(ir.IntType(1), LANES)])
        b = self.builder
        b.call(fn, [value, b.bitcast(pointer, VEC.as_pointer()), ir.Constant(I32, 4),
                    self._lanes(self._mask(condition), lanes)])

    def stream(self, value, pointer) -> None:
        """Store value at pointer (64-byte aligned: a whole cache line) without reading the
        line into the cache first (a non-temporal store)."""
        b = self.builder
        store = b.store(value, b.bitcast(pointer, VEC.as_pointer()), align=64)
        store.set_metadata("nontemporal", b.module.add_metadata([ir.Constant(I32, 1)]))

    def select(self, condition, a, b):
        """a where the i1 condition holds, else b (whole vectors)."""
        return self.builder.select(condition, a, b)

    def greater(self, a, b):
        """Lanes where a > b (ordered: false for NaN), as the vector of i1 `select` takes."""
        return self.builder.fcmp_ordered(">", a, b)

    def activate(self, z, code):
        """z through the activation `code` (an int64 IR value): LINEAR as it is, RELU z if
        z > 0 else 0, any other leaky, z if z > 0 else LEAKY_SLOPE * z: activate_rows'
        operations (kernels/activations.py) for its three cheapest codes (callers fuse only
        those)."""
        b = self.builder
        linear = b.icmp_signed("==", code, self.const(LINEAR))
        relu = b.icmp_signed("==", code, self.const(RELU))
        return self.select(linear, z, self.select(self.greater(z, self.zero()), z,
                                                  self.select(relu, self.zero(),
                                                              self.scale(LEAKY_SLOPE, z))))

    def counted_loop(self, count, initial, step):
        """Emit `for i in range(count): values = step(i, values)`, the values (vectors) carried
        in registers from `initial`; returns them after the loop (`initial` when count, an
        int64 IR value, is not positive)."""
        b = self.builder
        start = b.block
        loop = b.append_basic_block("loop")
        done = b.append_basic_block("loop_done")
        b.cbranch(b.icmp_signed(">", count, self.const(0)), loop, done)
        b.position_at_end(loop)
        i = b.phi(I64)
        carried = [b.phi(value.type) for value in initial]
        new = step(i, carried)
        following = b.add(i, self.const(1))
        end = b.block
        b.cbranch(b.icmp_signed("<", following, count), loop, done)
        i.add_incoming(self.const(0), start)
        i.add_incoming(following, end)
        for phi, first, value in zip(carried, initial, new):
            phi.add_incoming(first, start)
            phi.add_incoming(value, end)
        b.position_at_end(done)
        results = []
        for first, value in zip(initial, new):
            result = b.phi(value.type)
            result.add_incoming(first, start)
            result.add_incoming(value, end)
            results.append(result)
        return results

    def inside(self, index: int, low, high):
        """i1: low <= index < high (int64 IR values)."""
        b = self.builder
        i = self.const(index)
        return b.and_(b.icmp_signed("<=", low, i), b.icmp_signed("<", i, high))

    def broadcast(self, scalar_pointer):
        """The float at scalar_pointer in all lanes."""
        b = self.builder
        undef = ir.Constant(VEC, ir.Undefined)
        one = b.insert_element(undef, b.load(scalar_pointer), ir.Constant(I32, 0))
        return b.shuffle_vector(one, undef, ir.Constant(ir.VectorType(I32, LANES), [0] * LANES))

    def splat(self, value: float):
        return ir.Constant(VEC, [float(value)] * LANES)

    def zero(self):
        return self.splat(0.0)

    def add(self, a, b):
        return self.builder.fadd(a, b)

    def sub(self, a, b):
        return self.builder.fsub(a, b)

    def mul(self, a, b):
        return self.builder.fmul(a, b)

    def scale(self, factor: float, a):
        """factor * a, as numba computes `np.float32(factor) * a` (one rounding)."""
        return self.builder.fmul(self.splat(factor), a)

    def fma(self, a, b, c):
        """a * b + c with one rounding (llvm.fma)."""
        fn = declare(self.builder.module, "llvm.fma.v16f32", VEC, [VEC, VEC, VEC])
        return self.builder.call(fn, [a, b, c])


def vector_intrinsic(n_arrays: int, n_scalars: int, body):
    """A numba intrinsic taking n_arrays float32 arrays then n_scalars int64 values, running
    body(Vectors) and returning nothing. Offsets count elements from an array's first
    element, whatever its strides (the kernels are given their own); other dtypes do not
    type."""

    def typer(typingctx, *args):
        arrays = args[:n_arrays]
        if len(args) != n_arrays + n_scalars or not all(
                isinstance(a, types.Array) and a.dtype == types.float32 for a in arrays):
            return None
        sig = types.void(*args[:n_arrays], *([types.int64] * n_scalars))

        def codegen(context, builder, signature, values):
            pointers = [
                context.make_array(ty)(context, builder, value).data
                for ty, value in zip(signature.args[:n_arrays], values[:n_arrays])
            ]
            body(Vectors(builder, pointers, list(values[n_arrays:])))
            return context.get_dummy_value()

        return sig, codegen

    # numba binds a call's arguments by the typer's signature, which must name each one
    names = ["typingctx"] + [f"arg{i}" for i in range(n_arrays + n_scalars)]
    typer.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    return intrinsic(typer)
