"""JPEG decoding that gives darknet's pixels: stb_image's arithmetic (see darkpy.kernels.jpeg).

`decode_jpeg` handles what stb_image handles: 8-bit Huffman JPEGs, sequential (baseline or
extended) and progressive, with 1, 3 or 4 components, any sampling factors and restart
intervals. Anything else (arithmetic-coded, 12-bit, lossless, damaged) returns None and the
caller falls back to OpenCV, whose pixels may then differ from darknet's by a few levels.
"""
from __future__ import annotations

import numpy as np

from darkpy.kernels.jpeg import (DEZIGZAG, FAST_BITS, decode_progressive_scan, decode_scan,
                                 finish_progressive, upsample_components, ycbcr_to_rgb)

_SEQUENTIAL = (0xC0, 0xC1)
_PROGRESSIVE = 0xC2
_UNSUPPORTED_SOF = (0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


class _Unsupported(Exception):
    pass


def _u16(data: np.ndarray, pos: int) -> int:
    if pos + 2 > data.size:
        raise _Unsupported("truncated")
    return (int(data[pos]) << 8) | int(data[pos + 1])


def _next_marker(data: np.ndarray, pos: int) -> tuple[int, int]:
    """(marker, position after it), skipping padding and fill bytes as stb_image does."""
    while pos < data.size and data[pos] != 0xFF:
        pos += 1
    while pos < data.size and data[pos] == 0xFF:
        pos += 1
    if pos >= data.size:
        raise _Unsupported("no EOI")
    return int(data[pos]), pos + 1


def _huffman_rows(counts: np.ndarray, values: np.ndarray):
    """fast, maxcode, valptr, mincode, values for one table (JPEG spec F.2.2.3; fast maps the
    next FAST_BITS bits to length << 8 | symbol for the codes that short, else -1)."""
    maxcode = np.full(18, -1, np.int64)
    valptr = np.zeros(17, np.int64)
    mincode = np.zeros(17, np.int64)
    code = k = 0
    for length in range(1, 17):
        n = int(counts[length - 1])
        valptr[length], mincode[length] = k, code
        code += n
        k += n
        if n:
            if code - 1 >= (1 << length):
                raise _Unsupported("bad Huffman code lengths")
            maxcode[length] = code - 1
        code <<= 1
    table = np.zeros(256, np.int64)
    table[: len(values)] = values
    fast = np.full(1 << FAST_BITS, -1, np.int64)
    code = k = 0
    for length in range(1, FAST_BITS + 1):
        for _ in range(int(counts[length - 1])):
            span = 1 << (FAST_BITS - length)
            fast[code * span:(code + 1) * span] = (length << 8) | int(table[k])
            code += 1
            k += 1
        code <<= 1
    return fast, maxcode, valptr, mincode, table


class _Frame:
    def __init__(self):
        self.quant = np.ones((4, 64), np.int64)
        self.fast = np.full((8, 1 << FAST_BITS), -1, np.int64)
        self.maxcode = np.full((8, 18), -1, np.int64)
        self.valptr = np.zeros((8, 17), np.int64)
        self.mincode = np.zeros((8, 17), np.int64)
        self.values = np.zeros((8, 256), np.int64)
        self.defined = [False] * 8
        self.restart = 0
        self.jfif = False
        self.adobe_transform = -1
        self.planes = None

    def read_dqt(self, data, pos, end):
        while pos < end:
            pq, tq = data[pos] >> 4, data[pos] & 15
            if pq > 1 or tq > 3:
                raise _Unsupported("bad DQT")
            pos += 1
            for i in range(64):
                if pq:
                    self.quant[tq, DEZIGZAG[i]] = _u16(data, pos)
                    pos += 2
                else:
                    self.quant[tq, DEZIGZAG[i]] = data[pos]
                    pos += 1

    def read_dht(self, data, pos, end):
        while pos < end:
            tc, th = data[pos] >> 4, data[pos] & 15
            if tc > 1 or th > 3:
                raise _Unsupported("bad DHT")
            counts = data[pos + 1:pos + 17]
            n = int(counts.sum())
            values = data[pos + 17:pos + 17 + n]
            slot = 4 * tc + th
            (self.fast[slot], self.maxcode[slot], self.valptr[slot], self.mincode[slot],
             self.values[slot]) = _huffman_rows(counts, values)
            self.defined[slot] = True
            pos += 17 + n

    def read_sof(self, data, pos, progressive: bool):
        if self.planes is not None:
            raise _Unsupported("two frames")
        self.progressive = progressive
        if data[pos] != 8:
            raise _Unsupported("not 8-bit")
        self.height, self.width = _u16(data, pos + 1), _u16(data, pos + 3)
        n = int(data[pos + 5])
        if self.height == 0 or self.width == 0 or n not in (1, 3, 4):
            raise _Unsupported("unsupported frame")
        self.ids = [int(data[pos + 6 + 3 * i]) for i in range(n)]
        self.h = np.array([data[pos + 7 + 3 * i] >> 4 for i in range(n)], np.int64)
        self.v = np.array([data[pos + 7 + 3 * i] & 15 for i in range(n)], np.int64)
        self.tq = np.array([data[pos + 8 + 3 * i] for i in range(n)], np.int64)
        if ((self.h < 1) | (self.h > 4) | (self.v < 1) | (self.v > 4) | (self.tq > 3)).any():
            raise _Unsupported("bad sampling factors")
        hmax, vmax = int(self.h.max()), int(self.v.max())
        self.mcu_x = (self.width + 8 * hmax - 1) // (8 * hmax)
        self.mcu_y = (self.height + 8 * vmax - 1) // (8 * vmax)
        self.comp_x = (self.width * self.h + hmax - 1) // hmax
        self.comp_y = (self.height * self.v + vmax - 1) // vmax
        self.blocks_w = (self.comp_x + 7) >> 3
        self.blocks_h = (self.comp_y + 7) >> 3
        self.hs, self.vs = hmax // self.h, vmax // self.v
        rows = int((self.mcu_y * self.v * 8).max())
        cols = int((self.mcu_x * self.h * 8).max())
        self.planes = np.zeros((n, rows, cols), np.uint8)
        if progressive:  # quantised coefficients, accumulated over the scans
            self.coeffs = np.zeros((n, rows // 8, cols // 8, 64), np.int16)
        self.dc_tabs = np.zeros(n, np.int64)
        self.ac_tabs = np.zeros(n, np.int64)
        self.rgb_ids = n == 3 and self.ids == [ord("R"), ord("G"), ord("B")]

    def read_sos(self, data, pos) -> int:
        """Parse a scan header at pos and decode its data; returns where the next marker is."""
        if self.planes is None:
            raise _Unsupported("scan before frame")
        n = int(data[pos])
        order = []
        for i in range(n):
            cid, tables = int(data[pos + 1 + 2 * i]), int(data[pos + 2 + 2 * i])
            if cid not in self.ids:
                raise _Unsupported("unknown component")
            c = self.ids.index(cid)
            if tables >> 4 > 3 or (tables & 15) > 3:
                raise _Unsupported("bad table index")
            self.dc_tabs[c], self.ac_tabs[c] = tables >> 4, 4 + (tables & 15)
            order.append(c)
        p = pos + 1 + 2 * n
        ss, se, ah, al = int(data[p]), int(data[p + 1]), int(data[p + 2]) >> 4, int(data[p + 2]) & 15
        for c in order:  # the tables this scan decodes with must exist
            needs_dc = ss == 0 and (ah == 0 or not self.progressive)
            needs_ac = ss > 0 or not self.progressive
            if (needs_dc and not self.defined[self.dc_tabs[c]]) or (needs_ac and not self.defined[self.ac_tabs[c]]):
                raise _Unsupported("missing Huffman table")
        start = p + 3
        huff = (self.fast, self.maxcode, self.valptr, self.mincode, self.values)
        order = np.array(order, np.int64)
        if not self.progressive:
            if ss != 0 or ah != 0 or al != 0:
                raise _Unsupported("bad sequential scan")
            status, marker_pos = decode_scan(
                data, start, self.planes, order, self.h, self.v, self.tq, self.blocks_w,
                self.blocks_h, self.dc_tabs, self.ac_tabs, self.quant, huff, self.mcu_x,
                self.mcu_y, self.restart)
        else:
            if ss > 63 or se > 63 or ss > se or ah > 13 or al > 13:
                raise _Unsupported("bad progressive scan")
            if (ss == 0) != (se == 0) or (ss > 0 and n != 1):
                raise _Unsupported("progressive scan mixes DC and AC")
            status, marker_pos = decode_progressive_scan(
                data, start, self.coeffs, order, self.h, self.v, self.blocks_w, self.blocks_h,
                self.dc_tabs, self.ac_tabs, huff, self.mcu_x, self.mcu_y, self.restart,
                ss, se, ah, al)
        if status == 0:
            raise _Unsupported("corrupt entropy-coded data")
        return marker_pos if marker_pos >= 0 else _scan_end(data, start)

    def to_rgb(self) -> np.ndarray:
        n = self.planes.shape[0]
        if self.progressive:
            finish_progressive(self.coeffs, self.planes, n, self.blocks_w, self.blocks_h,
                               self.tq, self.quant)
        full = upsample_components(self.planes, n, self.width, self.height, self.hs, self.vs,
                                   self.comp_y)
        out = np.empty((self.height, self.width, 3), np.uint8)
        if n == 1:
            out[:] = full[0][:, :, None]
            return out
        is_rgb = n == 3 and (self.rgb_ids or (self.adobe_transform == 0 and not self.jfif))
        if is_rgb:
            out[:] = np.moveaxis(full[:3], 0, -1)
            return out
        if n == 3 or self.adobe_transform not in (0, 2):
            ycbcr_to_rgb(full[:3], out)
            return out
        k = full[3]
        if self.adobe_transform == 0:  # CMYK
            out[:] = np.moveaxis(_blinn(full[:3], k), 0, -1)
        else:  # YCCK
            ycbcr_to_rgb(full[:3], out)
            out[:] = np.moveaxis(_blinn(255 - np.moveaxis(out.astype(np.int64), -1, 0), k), 0, -1)
        return out


def _blinn(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    t = x * m + 128
    return ((t + (t >> 8)) >> 8).astype(np.uint8)


def _scan_end(data: np.ndarray, pos: int) -> int:
    """Position of the first marker (0xFF not followed by 0x00) at or after pos."""
    for h in np.nonzero(data[pos:] == 0xFF)[0]:
        q = pos + int(h) + 1
        if q < data.size and data[q] not in (0x00, 0xFF) and not 0xD0 <= data[q] <= 0xD7:
            return q - 1
    return data.size


def decode_jpeg(data) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB exactly as darknet's stb_image decodes it, or None if unsupported."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    frame = _Frame()
    pos = 2
    try:
        while True:
            marker, pos = _next_marker(data, pos)
            if marker == 0xD9:  # EOI
                break
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, stray RSTn: no length
                continue
            length = _u16(data, pos)
            body, end = pos + 2, pos + length
            if end > data.size:
                raise _Unsupported("truncated segment")
            if marker in _SEQUENTIAL or marker == _PROGRESSIVE:
                frame.read_sof(data, body, marker == _PROGRESSIVE)
            elif marker in _UNSUPPORTED_SOF:
                return None
            elif marker == 0xC4:
                frame.read_dht(data, body, end)
            elif marker == 0xDB:
                frame.read_dqt(data, body, end)
            elif marker == 0xDD:
                frame.restart = _u16(data, body)
            elif marker == 0xDA:
                end = frame.read_sos(data, body)
            elif marker == 0xE0 and length >= 7 and bytes(data[body:body + 5]) == b"JFIF\0":
                frame.jfif = True
            elif marker == 0xEE and length >= 14 and bytes(data[body:body + 6]) == b"Adobe\0":
                frame.adobe_transform = int(data[body + 11])
            elif marker == 0xDC or 0xE0 <= marker <= 0xEF or marker == 0xFE:
                pass  # DNL, APPn, COM
            else:
                return None
            pos = end
        if frame.planes is None:
            return None
        return frame.to_rgb()
    except (_Unsupported, IndexError):
        return None
