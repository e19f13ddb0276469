"""JPEG decoding kernels that reproduce stb_image (v2.19), darknet's image loader.

JPEG decoders agree on the quantised DCT coefficients (entropy coding is lossless) but not on
the pixels: the inverse DCT, the chroma upsampling and the YCbCr -> RGB step each round in
their own way, so libjpeg (OpenCV, Pillow) and stb_image differ by a few levels in many
pixels, enough to move darknet's detection scores in the second decimal. These kernels do
those three steps with stb_image's integer arithmetic:

- IDCT: the islow (jidctint) factorisation with 12-bit constants c = int(x * 4096 + 0.5); the
  column pass keeps 2 extra bits ((x + 512) >> 10), the row pass adds 65536 + (128 << 17) and
  shifts by 17, then clamps to 0..255.
- upsampling: "fancy" triangle filters, 3/4 near + 1/4 far sample: vertical ((3a + b + 2) >> 2),
  horizontal (same, edges copied), both ((3 (3a + b) + (3c + d) + 8) >> 4); other ratios repeat
  samples. Rows pair with their neighbours as stb_image's row state machine pairs them.
- colour: y << 20 plus rounding, chroma with constants int(x * 4096 + 0.5) << 8, the green
  Cb term truncated to a multiple of 65536, >> 20, clamp.

Entropy decoding is the standard Huffman process, sequential (JPEG spec F.2.2) and
progressive (G.1.2: DC and AC first passes with EOB runs, refinement passes); progressive
coefficients are kept quantised and dequantised with int16 wrap-around before the IDCT.
"""
from __future__ import annotations

import numpy as np
from numba import njit


def _f2f(x: float) -> int:
    # stb's constants: a float literal times 4096, plus 0.5 in double, truncated
    return int(float(np.float32(x)) * 4096 + 0.5)


C0_541 = _f2f(0.5411961)
C1_847 = _f2f(-1.847759065)
C0_765 = _f2f(0.765366865)
C1_175 = _f2f(1.175875602)
C0_298 = _f2f(0.298631336)
C2_053 = _f2f(2.053119869)
C3_072 = _f2f(3.072711026)
C1_501 = _f2f(1.501321110)
C0_899 = _f2f(-0.899976223)
C2_562 = _f2f(-2.562915447)
C1_961 = _f2f(-1.961570560)
C0_390 = _f2f(-0.390180644)


def _fixed(x: float) -> int:
    return int(np.float32(x) * np.float32(4096.0) + np.float32(0.5)) << 8


CR_R = _fixed(1.40200)
CR_G = -_fixed(0.71414)
CB_G = -_fixed(0.34414)
CB_B = _fixed(1.77200)

# zigzag position -> natural (row-major) position; corrupt runs past 63 land on 63, as in stb
DEZIGZAG = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
     27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44,
     51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63] + [63] * 15,
    dtype=np.int64,
)

FAST_BITS = 9

# bit reader state slots
_POS, _BUF, _BITS, _NOMORE, _MARKER_POS, _MARKER = range(6)


@njit(cache=True)
def _read_byte(data, st):
    """Next entropy-coded byte with 0xFF00 unstuffed; 0 once a marker is reached."""
    if st[_NOMORE]:
        return 0
    pos = st[_POS]
    if pos >= data.size:
        st[_NOMORE] = 1
        st[_MARKER_POS] = data.size
        st[_MARKER] = -1
        return 0
    b = data[pos]
    if b != 0xFF:
        st[_POS] = pos + 1
        return b
    nxt = pos + 1
    while nxt < data.size and data[nxt] == 0xFF:  # fill bytes
        nxt += 1
    if nxt < data.size and data[nxt] == 0:
        st[_POS] = nxt + 1
        return 0xFF
    st[_NOMORE] = 1
    st[_MARKER_POS] = nxt - 1
    st[_MARKER] = data[nxt] if nxt < data.size else -1
    return 0


@njit(cache=True)
def _get_bits(data, st, n):
    while st[_BITS] < n:
        st[_BUF] = ((st[_BUF] << 8) | _read_byte(data, st)) & 0xFFFFFFFF
        st[_BITS] += 8
    value = (st[_BUF] >> (st[_BITS] - n)) & ((1 << n) - 1)
    st[_BITS] -= n
    return value


@njit(cache=True)
def _decode_symbol(data, st, fast, maxcode, valptr, mincode, values):
    """One Huffman symbol; -1 for a code no table entry has.

    Codes of up to FAST_BITS bits resolve with one table look-up (fast[next bits] = length << 8
    | symbol); longer ones walk the code lengths as in JPEG F.2.2.3.
    """
    while st[_BITS] < FAST_BITS:
        st[_BUF] = ((st[_BUF] << 8) | _read_byte(data, st)) & 0xFFFFFFFF
        st[_BITS] += 8
    entry = fast[(st[_BUF] >> (st[_BITS] - FAST_BITS)) & ((1 << FAST_BITS) - 1)]
    if entry >= 0:
        st[_BITS] -= entry >> 8
        return entry & 0xFF
    code = _get_bits(data, st, 1)
    length = 1
    while code > maxcode[length]:
        code = (code << 1) | _get_bits(data, st, 1)
        length += 1
        if length > 16:
            return -1
    return values[valptr[length] + code - mincode[length]]


@njit(cache=True)
def _extend(value, bits):
    if bits == 0:
        return 0
    if value < (1 << (bits - 1)):
        return value - (1 << bits) + 1
    return value


@njit(cache=True)
def _int16(v):
    return ((v + 32768) & 0xFFFF) - 32768


@njit(cache=True)
def _clamp(x):
    return 0 if x < 0 else (255 if x > 255 else x)


@njit(cache=True)
def _idct_1d(s0, s1, s2, s3, s4, s5, s6, s7, out):
    p2 = s2
    p3 = s6
    p1 = (p2 + p3) * C0_541
    t2 = p1 + p3 * C1_847
    t3 = p1 + p2 * C0_765
    t0 = (s0 + s4) * 4096
    t1 = (s0 - s4) * 4096
    x0 = t0 + t3
    x3 = t0 - t3
    x1 = t1 + t2
    x2 = t1 - t2
    t0 = s7
    t1 = s5
    t2 = s3
    t3 = s1
    p3 = t0 + t2
    p4 = t1 + t3
    p1 = t0 + t3
    p2 = t1 + t2
    p5 = (p3 + p4) * C1_175
    t0 = t0 * C0_298
    t1 = t1 * C2_053
    t2 = t2 * C3_072
    t3 = t3 * C1_501
    p1 = p5 + p1 * C0_899
    p2 = p5 + p2 * C2_562
    p3 = p3 * C1_961
    p4 = p4 * C0_390
    t3 += p1 + p4
    t2 += p2 + p3
    t1 += p2 + p4
    t0 += p1 + p3
    out[0] = x0
    out[1] = x1
    out[2] = x2
    out[3] = x3
    out[4] = t0
    out[5] = t1
    out[6] = t2
    out[7] = t3


@njit(cache=True)
def idct_block(coef, plane, top, left):
    """8x8 dequantised coefficients (row-major) -> 8-bit samples at plane[top:top+8, left:left+8]."""
    val = np.empty(64, dtype=np.int64)
    r = np.empty(8, dtype=np.int64)
    _idct(coef, plane, top, left, val, r)


@njit(cache=True)
def _idct(coef, plane, top, left, val, r):
    for i in range(8):  # columns
        _idct_1d(coef[i], coef[8 + i], coef[16 + i], coef[24 + i], coef[32 + i], coef[40 + i],
                 coef[48 + i], coef[56 + i], r)
        x0, x1, x2, x3 = r[0] + 512, r[1] + 512, r[2] + 512, r[3] + 512
        t0, t1, t2, t3 = r[4], r[5], r[6], r[7]
        val[i] = (x0 + t3) >> 10
        val[56 + i] = (x0 - t3) >> 10
        val[8 + i] = (x1 + t2) >> 10
        val[48 + i] = (x1 - t2) >> 10
        val[16 + i] = (x2 + t1) >> 10
        val[40 + i] = (x2 - t1) >> 10
        val[24 + i] = (x3 + t0) >> 10
        val[32 + i] = (x3 - t0) >> 10
    bias = 65536 + (128 << 17)
    for i in range(8):  # rows
        v = 8 * i
        _idct_1d(val[v], val[v + 1], val[v + 2], val[v + 3], val[v + 4], val[v + 5], val[v + 6],
                 val[v + 7], r)
        x0, x1, x2, x3 = r[0] + bias, r[1] + bias, r[2] + bias, r[3] + bias
        t0, t1, t2, t3 = r[4], r[5], r[6], r[7]
        row = top + i
        plane[row, left + 0] = _clamp((x0 + t3) >> 17)
        plane[row, left + 7] = _clamp((x0 - t3) >> 17)
        plane[row, left + 1] = _clamp((x1 + t2) >> 17)
        plane[row, left + 6] = _clamp((x1 - t2) >> 17)
        plane[row, left + 2] = _clamp((x2 + t1) >> 17)
        plane[row, left + 5] = _clamp((x2 - t1) >> 17)
        plane[row, left + 3] = _clamp((x3 + t0) >> 17)
        plane[row, left + 4] = _clamp((x3 - t0) >> 17)


@njit(cache=True)
def _decode_block(data, st, coef, comp, dc_pred, dc_tab, ac_tab, quant, huff):
    """One block's coefficients, dequantised into coef (natural order). False on a bad code.

    huff: (fast, maxcode, valptr, mincode, values), one row per table: DC tables 0-3, AC 4-7.
    """
    fast, maxcode, valptr, mincode, values = huff
    for i in range(64):
        coef[i] = 0
    t = _decode_symbol(data, st, fast[dc_tab], maxcode[dc_tab], valptr[dc_tab], mincode[dc_tab],
                       values[dc_tab])
    if t < 0:
        return False
    diff = _extend(_get_bits(data, st, t), t) if t else 0
    dc_pred[comp] += diff
    coef[0] = _int16(dc_pred[comp] * quant[0])
    k = 1
    while k < 64:
        rs = _decode_symbol(data, st, fast[ac_tab], maxcode[ac_tab], valptr[ac_tab],
                            mincode[ac_tab], values[ac_tab])
        if rs < 0:
            return False
        s = rs & 15
        run = rs >> 4
        if s == 0:
            if rs != 0xF0:
                break
            k += 16
        else:
            k += run
            zig = DEZIGZAG[min(k, 78)]
            coef[zig] = _int16(_extend(_get_bits(data, st, s), s) * quant[zig])
            k += 1
    return True


@njit(cache=True)
def _restart(data, st, dc_pred):
    """At the end of a restart interval: True if an RSTn marker follows (state reset past it)."""
    while not st[_NOMORE]:
        _read_byte(data, st)
    if st[_MARKER] < 0xD0 or st[_MARKER] > 0xD7:
        return False
    st[_POS] = st[_MARKER_POS] + 2
    st[_BUF] = 0
    st[_BITS] = 0
    st[_NOMORE] = 0
    # forget the RSTn just passed: a last, shorter interval may end the scan before the reader
    # reaches the next marker, and the scan's end must then be searched for, not taken as here
    st[_MARKER_POS] = -1
    st[_MARKER] = 0
    for i in range(dc_pred.size):
        dc_pred[i] = 0
    return True


@njit(cache=True)
def decode_scan(data, start, planes, order, comp_h, comp_v, comp_tq, blocks_w, blocks_h,
                dc_tabs, ac_tabs, quant, huff, mcu_x, mcu_y, restart_interval):
    """Decode one sequential scan starting at data[start] into the component planes.

    order: the scan's component indices; a single-component scan walks that component's own
    blocks (blocks_w x blocks_h), a multi-component scan walks interleaved MCUs. Returns
    (status, marker_pos): status 1 done, 0 a corrupt code (what was decoded is kept);
    marker_pos where the marker ending the scan starts, or -1 if not reached.
    """
    st = np.zeros(6, dtype=np.int64)
    st[_POS] = start
    st[_MARKER_POS] = -1
    dc_pred = np.zeros(4, dtype=np.int64)
    coef = np.zeros(64, dtype=np.int64)
    val = np.empty(64, dtype=np.int64)
    r = np.empty(8, dtype=np.int64)
    todo = restart_interval if restart_interval > 0 else 0x7FFFFFFF
    n_scan = order.size
    if n_scan == 1:
        c = order[0]
        for j in range(blocks_h[c]):
            for i in range(blocks_w[c]):
                if not _decode_block(data, st, coef, c, dc_pred, dc_tabs[c], ac_tabs[c],
                                     quant[comp_tq[c]], huff):
                    return 0, st[_MARKER_POS]
                _idct(coef, planes[c], j * 8, i * 8, val, r)
                todo -= 1
                if todo <= 0:
                    if not _restart(data, st, dc_pred):
                        return 1, st[_MARKER_POS]
                    todo = restart_interval
    else:
        for j in range(mcu_y):
            for i in range(mcu_x):
                for n in range(n_scan):
                    c = order[n]
                    for y in range(comp_v[c]):
                        for x in range(comp_h[c]):
                            if not _decode_block(data, st, coef, c, dc_pred, dc_tabs[c],
                                                 ac_tabs[c], quant[comp_tq[c]], huff):
                                return 0, st[_MARKER_POS]
                            _idct(coef, planes[c], (j * comp_v[c] + y) * 8,
                                  (i * comp_h[c] + x) * 8, val, r)
                todo -= 1
                if todo <= 0:
                    if not _restart(data, st, dc_pred):
                        return 1, st[_MARKER_POS]
                    todo = restart_interval
    return 1, st[_MARKER_POS]


@njit(cache=True)
def _prog_dc(data, st, block, comp, dc_pred, fast, maxcode, valptr, mincode, values, ah, al):
    """A progressive DC scan for one block: first pass (ah == 0) or one refinement bit."""
    if ah == 0:
        for i in range(64):
            block[i] = 0
        t = _decode_symbol(data, st, fast, maxcode, valptr, mincode, values)
        if t < 0:
            return False
        dc_pred[comp] += _extend(_get_bits(data, st, t), t) if t else 0
        block[0] = _int16(dc_pred[comp] << al)
    elif _get_bits(data, st, 1):
        block[0] = _int16(block[0] + (1 << al))
    return True


@njit(cache=True)
def _refine(data, st, block, k, bit):
    """A correction bit for a coefficient already non-zero: move it one step away from 0."""
    z = DEZIGZAG[k]
    if _get_bits(data, st, 1) and (block[z] & bit) == 0:
        block[z] = block[z] + bit if block[z] > 0 else block[z] - bit


@njit(cache=True)
def _prog_ac(data, st, block, eob, fast, maxcode, valptr, mincode, values, ss, se, ah, al):
    """A progressive AC scan (spectral band ss..se) for one block; eob[0] is the EOB run."""
    if ah == 0:  # first pass over the band
        if eob[0] > 0:
            eob[0] -= 1
            return True
        k = ss
        while k <= se:
            rs = _decode_symbol(data, st, fast, maxcode, valptr, mincode, values)
            if rs < 0:
                return False
            s = rs & 15
            r = rs >> 4
            if s == 0:
                if r < 15:
                    eob[0] = (1 << r) - 1 + (_get_bits(data, st, r) if r else 0)
                    break
                k += 16
            else:
                k += r
                block[DEZIGZAG[min(k, 78)]] = _int16(_extend(_get_bits(data, st, s), s) << al)
                k += 1
        return True
    bit = 1 << al  # refinement pass
    if eob[0] > 0:
        eob[0] -= 1
        for k in range(ss, se + 1):
            if block[DEZIGZAG[k]] != 0:
                _refine(data, st, block, k, bit)
        return True
    k = ss
    while k <= se:
        rs = _decode_symbol(data, st, fast, maxcode, valptr, mincode, values)
        if rs < 0:
            return False
        s = rs & 15
        r = rs >> 4
        value = 0
        if s == 0:
            if r < 15:
                eob[0] = (1 << r) - 1 + (_get_bits(data, st, r) if r else 0)
                r = 64  # refine the rest of the band, then stop
        else:
            if s != 1:
                return False
            value = bit if _get_bits(data, st, 1) else -bit
        while k <= se:
            z = DEZIGZAG[k]
            k += 1
            if block[z] != 0:
                _refine(data, st, block, k - 1, bit)
            else:
                if r == 0:
                    block[z] = value
                    break
                r -= 1
    return True


@njit(cache=True)
def decode_progressive_scan(data, start, coeffs, order, comp_h, comp_v, blocks_w, blocks_h,
                            dc_tabs, ac_tabs, huff, mcu_x, mcu_y, restart_interval, ss, se, ah, al):
    """Decode one progressive scan into the quantised coefficients coeffs[comp, by, bx, :64].

    DC scans may interleave components (MCU order), AC scans hold one component (its own
    blocks). Returns (status, marker_pos) as decode_scan does.
    """
    fast, maxcode, valptr, mincode, values = huff
    st = np.zeros(6, dtype=np.int64)
    st[_POS] = start
    st[_MARKER_POS] = -1
    dc_pred = np.zeros(4, dtype=np.int64)
    eob = np.zeros(1, dtype=np.int64)
    todo = restart_interval if restart_interval > 0 else 0x7FFFFFFF
    if order.size == 1:
        c = order[0]
        d, a = dc_tabs[c], ac_tabs[c]
        for j in range(blocks_h[c]):
            for i in range(blocks_w[c]):
                block = coeffs[c, j, i]
                if ss == 0:
                    ok = _prog_dc(data, st, block, c, dc_pred, fast[d], maxcode[d], valptr[d],
                                  mincode[d], values[d], ah, al)
                else:
                    ok = _prog_ac(data, st, block, eob, fast[a], maxcode[a], valptr[a],
                                  mincode[a], values[a], ss, se, ah, al)
                if not ok:
                    return 0, st[_MARKER_POS]
                todo -= 1
                if todo <= 0:
                    if not _restart(data, st, dc_pred):
                        return 1, st[_MARKER_POS]
                    eob[0] = 0
                    todo = restart_interval
    else:
        for j in range(mcu_y):
            for i in range(mcu_x):
                for n in range(order.size):
                    c = order[n]
                    d = dc_tabs[c]
                    for y in range(comp_v[c]):
                        for x in range(comp_h[c]):
                            block = coeffs[c, j * comp_v[c] + y, i * comp_h[c] + x]
                            if not _prog_dc(data, st, block, c, dc_pred, fast[d], maxcode[d],
                                            valptr[d], mincode[d], values[d], ah, al):
                                return 0, st[_MARKER_POS]
                todo -= 1
                if todo <= 0:
                    if not _restart(data, st, dc_pred):
                        return 1, st[_MARKER_POS]
                    eob[0] = 0
                    todo = restart_interval
    return 1, st[_MARKER_POS]


@njit(cache=True)
def finish_progressive(coeffs, planes, n_comp, blocks_w, blocks_h, comp_tq, quant):
    """Dequantise every needed block of every component and inverse-transform it."""
    coef = np.zeros(64, dtype=np.int64)
    val = np.empty(64, dtype=np.int64)
    r = np.empty(8, dtype=np.int64)
    for c in range(n_comp):
        q = quant[comp_tq[c]]
        for j in range(blocks_h[c]):
            for i in range(blocks_w[c]):
                for k in range(64):
                    coef[k] = _int16(coeffs[c, j, i, k] * q[k])
                _idct(coef, planes[c], j * 8, i * 8, val, r)


@njit(cache=True)
def _resample_row(out, near, far, w, hs, vs):
    """One full-resolution row of a component from its low-resolution rows near and far."""
    if hs == 1 and vs == 1:
        for i in range(w):
            out[i] = near[i]
    elif hs == 1 and vs == 2:
        for i in range(w):
            out[i] = (3 * near[i] + far[i] + 2) >> 2
    elif hs == 2 and vs == 1:
        if w == 1:
            out[0] = near[0]
            out[1] = near[0]
            return
        out[0] = near[0]
        out[1] = (near[0] * 3 + near[1] + 2) >> 2
        for i in range(1, w - 1):
            n = 3 * near[i] + 2
            out[2 * i] = (n + near[i - 1]) >> 2
            out[2 * i + 1] = (n + near[i + 1]) >> 2
        out[2 * (w - 1)] = (near[w - 2] * 3 + near[w - 1] + 2) >> 2
        out[2 * (w - 1) + 1] = near[w - 1]
    elif hs == 2 and vs == 2:
        if w == 1:
            v = (3 * near[0] + far[0] + 2) >> 2
            out[0] = v
            out[1] = v
            return
        t1 = 3 * near[0] + far[0]
        out[0] = (t1 + 2) >> 2
        for i in range(1, w):
            t0 = t1
            t1 = 3 * near[i] + far[i]
            out[2 * i - 1] = (3 * t0 + t1 + 8) >> 4
            out[2 * i] = (3 * t1 + t0 + 8) >> 4
        out[2 * w - 1] = (t1 + 2) >> 2
    else:
        for i in range(w):
            for j in range(hs):
                out[i * hs + j] = near[i]


@njit(cache=True)
def upsample_components(planes, n_comp, width, height, hs, vs, comp_rows):
    """Every component at full resolution, (n_comp, height, width) int64, as stb_image does:
    row by row, each component's low-resolution row pair chosen by its ystep state."""
    full = np.empty((n_comp, height, width), dtype=np.int64)
    line = np.empty(width + 3 + 4 * 8, dtype=np.int64)
    for k in range(n_comp):
        w_lores = (width + hs[k] - 1) // hs[k]
        ystep = vs[k] >> 1
        ypos = 0
        line0 = 0
        line1 = 0
        plane = planes[k]
        for j in range(height):
            bottom = ystep >= (vs[k] >> 1)
            near = plane[line1] if bottom else plane[line0]
            far = plane[line0] if bottom else plane[line1]
            _resample_row(line, near, far, w_lores, hs[k], vs[k])
            for i in range(width):
                full[k, j, i] = line[i]
            ystep += 1
            if ystep >= vs[k]:
                ystep = 0
                line0 = line1
                ypos += 1
                if ypos < comp_rows[k]:
                    line1 += 1
    return full


@njit(cache=True)
def ycbcr_to_rgb(full, out):
    """stb_image's fixed-point YCbCr -> RGB of (3, H, W) samples into (H, W, 3) uint8."""
    height, width = full.shape[1], full.shape[2]
    for j in range(height):
        for i in range(width):
            y_fixed = (full[0, j, i] << 20) + (1 << 19)
            cb = full[1, j, i] - 128
            cr = full[2, j, i] - 128
            r = (y_fixed + cr * CR_R) >> 20
            g = (y_fixed + cr * CR_G + (((cb * CB_G) >> 16) << 16)) >> 20
            b = (y_fixed + cb * CB_B) >> 20
            out[j, i, 0] = _clamp(r)
            out[j, i, 1] = _clamp(g)
            out[j, i, 2] = _clamp(b)
