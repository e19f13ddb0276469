"""The Winograd convolution's 36 GEMMs, M[p] = V[p] @ U[p], with accumulators in registers.

Each product is small (a block of 24-96 tiles x Cin, times Cin x Cout with Cin, Cout of 16
to 256), and OpenBLAS packs both operands on every call: on EDSR's 64-channel layers its 36
calls ran at ~80 GFLOP/s in place against ~115 for this kernel (one thread, 510x339). Here
U is packed once per convolution (`pack_filters`) into panels of 64 output channels, each
(Cin, 64) contiguous, so that DEPTH rows of a panel fill L1 without the cache-set conflicts
of a 1 KB row stride; V's tiles are read one float at a time and broadcast.

The micro-kernel keeps a ROWS x (16 * vectors) block of M in registers (24 vectors: 6 rows
of 64 channels, 8 of 48, 12 of 32 or 24 of 16) while k runs over the input channels, one
fused multiply-add per vector per k in k order (OpenBLAS's order too: the same bits on the
shapes tested, up to DEPTH input channels). The last row block runs past the last tile, so
V and M need spare rows (`padded_tiles`); the spare rows of V must be zeros, so that they
never hold NaNs or denormals (`clear_spare_rows`).

While a register block runs over one chunk of a panel (DEPTH rows of U, 32 KB), it asks for
the next chunk to be brought into L2, one line per k (`panel_products`): the first register
block to read a chunk otherwise waited on L3 or memory for it, 4 lines per 12 cycles, more
than the hardware prefetcher delivers; the blocks after it read the chunk from L1. One
thread, all 36 positions of 24 tiles, U not in cache: 256 -> 256 channels 150 vs 112
GFLOP/s, 32 -> 192 128-143 vs 109-126.

V and M are 2-D, (rows, stride) with stride >= 36 * channels: tile t's position p is
v[t, p*C:(p+1)*C]. `tile_stride` adds one cache line where 36 * C floats are a multiple of
4 KB, which would put the same position of every tile in the same L1 cache sets.
"""
from __future__ import annotations

import math

from numba import njit

from darkpy.kernels import aligned
from darkpy.kernels.simd import LANES, vector_intrinsic

# rows of the register block for 1..4 vectors of output channels (index 0 unused): 24
# accumulators each, and the 8 vector registers left hold U's row and the broadcast value
BLOCK_ROWS = (0, 24, 12, 8, 6)
PAD_ROWS = math.lcm(*BLOCK_ROWS[1:])  # spare rows: a whole register block of any width
# input channels per pass over a register block: 128 rows of a 64-channel panel, 32 KB
DEPTH = 128
PANEL = 4 * LANES  # output channels per panel of the packed filters


@njit(cache=True)
def padded_tiles(tiles: int) -> int:
    """Rows a V or M buffer needs for `tiles` tiles."""
    return -(-tiles // PAD_ROWS) * PAD_ROWS


def tile_stride(chans: int) -> int:
    """Floats per tile of a V or M buffer of `chans` channels."""
    stride = 36 * chans
    return stride + LANES if (stride * 4) % 4096 == 0 else stride


@njit(nogil=True, cache=True)
def clear_spare_rows(v, tiles):
    """Zero the rows of a tile-major V (rows, stride) after `tiles` that register blocks read."""
    v[tiles:min(v.shape[0], padded_tiles(tiles))] = 0.0


def padded_columns(cout: int) -> int:
    """Output channels the GEMMs compute for `cout`: whole 16-channel vectors."""
    return -(-cout // LANES) * LANES


def pack_filters(u, packed):
    """packed = U (36, Cin, Cout) in panels, Cout padded with zero columns to
    padded_columns(Cout) = P: for each p, columns [js, js + w) (w = 64, or what is left of
    P) as a (Cin, w) block at p*Cin*P + Cin*js."""
    positions, cin, cout = u.shape
    width = padded_columns(cout)
    rows = packed[:positions * cin * width].reshape(positions, cin * width)
    for js in range(0, width, PANEL):
        panel = min(PANEL, width - js)
        block = rows[:, cin * js:cin * (js + panel)].reshape(positions, cin, panel)
        real = max(0, min(panel, cout - js))
        block[:, :, :real] = u[:, :, js:js + real]
        block[:, :, real:] = 0.0


def packed(b):
    """A (K, N) float32 matrix, or a stack of them (P, K, N), in pack_filters' panels (N
    padded to whole vectors) in a new array starting on a cache line: panel_products'
    right-hand operand, for a caller that keeps it."""
    stack = b if b.ndim == 3 else b[None]
    out = aligned.empty(stack.shape[0] * stack.shape[1] * padded_columns(stack.shape[2]),
                        b.dtype)
    pack_filters(stack, out)
    return out


def _block_kernel(rows: int, vectors: int):
    """c[r, :16*vectors] (+)= sum_k a[r, k] * b[k, :16*vectors] for r < rows.

    Arguments: arrays a, b, c; then a_off, lda, a_step, b_off, ldb, c_off, ldc, k (elements:
    a[r, k] is a[a_off + r*lda + k*a_step]); add: nonzero to add to c's values, zero to
    overwrite them; pf_off: step k prefetches the line at b[pf_off + 16*k] into L2."""

    def body(v):
        a, b, c = v.ptr
        a_off, lda, a_step, b_off, ldb, c_off, ldc, depth, add, pf_off = v.arg
        builder = v.builder
        adding = builder.icmp_signed("!=", add, v.const(0))
        initial = []
        for r in range(rows):
            c_row = v.at(c, c_off, builder.mul(v.const(r), ldc))
            for j in range(vectors):
                initial.append(builder.select(adding, v.load(v.at(c_row, LANES * j)), v.zero()))

        def step(k, acc):
            v.prefetch(v.at(b, pf_off, builder.mul(k, v.const(LANES))))
            b_row = v.at(b, b_off, builder.mul(k, ldb))
            b_vec = [v.load(v.at(b_row, LANES * j)) for j in range(vectors)]
            new = []
            for r in range(rows):
                a_val = v.broadcast(v.at(a, a_off, builder.mul(v.const(r), lda),
                                         builder.mul(k, a_step)))
                new += [v.fma(a_val, b_vec[j], acc[r * vectors + j]) for j in range(vectors)]
            return new

        results = v.counted_loop(depth, initial, step)
        for r in range(rows):
            c_row = v.at(c, c_off, builder.mul(v.const(r), ldc))
            for j in range(vectors):
                v.store(results[r * vectors + j], v.at(c_row, LANES * j))

    return vector_intrinsic(3, 10, body)


_block_64, _block_48, _block_32, _block_16 = (_block_kernel(BLOCK_ROWS[n], n)
                                              for n in (4, 3, 2, 1))


@njit(nogil=True, cache=True)
def multiply(a_arr, b, c, rows, vectors, a_off, lda, a_step, b_off, ldb, c_off, ldc, depth,
             add, next_off=-1):
    """c[r, :16*vectors] (+)= sum_k a[r, k] * b[k, :16*vectors] for r < rows (rounded up to
    the register block's rows: c and a need the spare rows), vectors in 1..4, by the
    register block for that width; offsets and strides as _block_kernel's.

    next_off >= 0: b[next_off:] holds what the caller multiplies next (`depth` x 16*vectors
    floats), which the first `vectors` register blocks prefetch line by line, one each k:
    24 rows make exactly that many blocks. Otherwise they prefetch b's own lines (in L1)."""
    step = BLOCK_ROWS[vectors]
    for r in range(0, rows, step):
        a, c_r = a_off + r * lda, c_off + r * ldc
        block = r // step
        pf = next_off + block * depth * LANES if next_off >= 0 and block < vectors else b_off
        if vectors == 4:
            _block_64(a_arr, b, c, a, lda, a_step, b_off, ldb, c_r, ldc, depth, add, pf)
        elif vectors == 3:
            _block_48(a_arr, b, c, a, lda, a_step, b_off, ldb, c_r, ldc, depth, add, pf)
        elif vectors == 2:
            _block_32(a_arr, b, c, a, lda, a_step, b_off, ldb, c_r, ldc, depth, add, pf)
        else:
            _block_16(a_arr, b, c, a, lda, a_step, b_off, ldb, c_r, ldc, depth, add, pf)


@njit(nogil=True, cache=True)
def panel_products(a, a_off, lda, packed, b_off, depth_total, c, c_off, ldc, rows, width,
                   after=-1):
    """c[r, :width] = sum_k a[r, k] * B[k, :width] for r < rows (rounded up to a register
    block: a and c need the spare rows), serial, without the GIL; B (depth_total, width) in
    pack_filters' panels at packed[b_off:], width a multiple of 16; a[r, k] at a[a_off +
    r*lda + k] and c[r, j] at c[c_off + r*ldc + j] (flat offsets into the 2-D arrays).

    k runs in DEPTH chunks, each over every panel before the next chunk, so that a chunk of
    a's rows stays in cache across the panels. Each (chunk, panel) prefetches the next in
    that order, and the last one packed[after:], where the caller's next B starts (-1:
    none)."""
    for k0 in range(0, depth_total, DEPTH):
        depth = min(DEPTH, depth_total - k0)
        for js in range(0, width, PANEL):
            panel = min(PANEL, width - js)
            if js + PANEL < width:
                following = b_off + depth_total * (js + PANEL) + k0 * min(PANEL, width - js - PANEL)
            elif k0 + DEPTH < depth_total:
                following = b_off + (k0 + DEPTH) * min(PANEL, width)
            else:
                following = after
            multiply(a, packed, c, rows, panel // LANES, a_off + k0, lda, 1,
                     b_off + depth_total * js + k0 * panel, panel, c_off + js, ldc, depth, k0,
                     following)


@njit(nogil=True, cache=True)
def winograd_products(v, packed, cin, cout, m, tiles):
    """m[:tiles, p, :] = v[:tiles, p, :] @ U[p] for the 36 positions p, serial, without the
    GIL.

    v: (>= padded_tiles(tiles), >= 36*Cin) with its spare rows zeroed (clear_spare_rows);
    packed: U from pack_filters; m: (>= padded_tiles(tiles), >= 36*Cout); float32
    C-contiguous; Cout a multiple of 16 (padded_columns). Spare rows of m are overwritten."""
    for p in range(36):
        panel_products(v, p * cin, v.shape[1], packed, p * cin * cout, cin, m, p * cout,
                       m.shape[1], tiles, cout, (p + 1) * cin * cout if p < 35 else -1)


@njit(nogil=True, cache=True)
def weight_products(v, m, plane, tiles, cin, cout, du, add):
    """du[p, :cin] (+)= V[p]^T @ dM[p] for the 36 positions p (the Winograd weight
    gradient of a block of tiles), serial, without the GIL, the tiles summed DEPTH at a time
    in tile order; add: False to overwrite du.

    v (36, plane, Cin) and m (36, plane, Cout): plane-major flat float32 arrays of which each
    plane's first `tiles` rows count, v with PAD_ROWS floats to spare at its end (the last
    register block's rows past Cin read them); du: (36, padded_tiles(Cin), Cout) float32,
    whose rows from Cin on get those rows' sums. Cout a multiple of 16."""
    rows = du.shape[1]
    for p in range(36):
        for k0 in range(0, tiles, DEPTH):
            adding = 1 if add or k0 > 0 else 0
            for j in range(0, cout, PANEL):
                # a[r, k] = v[(p * plane + k0 + k) * cin + r]: input channels are the rows
                multiply(v, m, du, cin, min(4, (cout - j) // LANES), (p * plane + k0) * cin,
                         1, cin, (p * plane + k0) * cout + j, cout, p * rows * cout + j, cout,
                         min(DEPTH, tiles - k0), adding)
