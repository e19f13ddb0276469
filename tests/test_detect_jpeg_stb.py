"""darkpy's JPEG decoder gives stb_image's bytes exactly, on every chroma layout and scan kind.

tests/fixtures/jpeg_stb/NAME.jpg are small JPEGs (OpenCV's libjpeg) and NAME.ppm the RGB bytes
that darknet's own decoder, stbi_load(path, .., 3) of the stb_image.h darknet vendors, made
of them (tools/make_jpeg_fixtures.py). The layout of each file is read here from its headers,
so a fixture that is not what its name says cannot stand in for the layout it claims.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from darkpy.io.jpeg import decode_jpeg

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jpeg_stb"
JPEGS = sorted(FIXTURES.glob("*.jpg"))

# luma (h, v) sampling factors over chroma (1, 1) -> the usual name of the layout
CHROMA = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411"}


def read_ppm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, width, height, maxval, _ = data.split(maxsplit=4)
    assert magic == b"P6" and maxval == b"255"
    width, height = int(width), int(height)
    return np.frombuffer(data[len(data) - width * height * 3:], np.uint8).reshape(height, width, 3)


def layout(data: bytes) -> tuple[str, bool, int, tuple[int, int]]:
    """(chroma layout or "gray", progressive, restart interval, (width, height)) from the
    markers before the first scan (JPEG spec B.2: SOF0/1/2 and DRI)."""
    pos, chroma, progressive, restart, size = 2, None, False, 0, None
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2):
            progressive = marker == 0xC2
            size = (int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big"))
            factors = [(body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(body[5])]
            if len(factors) == 1:
                chroma = "gray"
            else:
                assert factors[1] == factors[2] == (1, 1)
                chroma = CHROMA[factors[0]]
        elif marker == 0xDD:
            restart = int.from_bytes(body[:2], "big")
        pos += 2 + length
    return chroma, progressive, restart, size


def test_fixtures_cover_every_layout_the_decoder_claims():
    found = {layout(path.read_bytes())[:3] for path in JPEGS}
    for chroma in ("444", "422", "420", "440", "411", "gray"):
        assert (chroma, False, 0) in found, f"no baseline {chroma} fixture"
    for chroma in ("444", "422", "420", "gray"):
        assert (chroma, True, 0) in found, f"no progressive {chroma} fixture"
    assert {c for c, p, r in found if r and not p} >= {"444", "422", "420"}
    assert {c for c, p, r in found if r and p}, "no progressive fixture with restart intervals"
    sizes = {layout(path.read_bytes())[3] for path in JPEGS}
    assert any(w % 16 and h % 16 for w, h in sizes), "no fixture cut mid-MCU"


@pytest.mark.parametrize("jpeg", JPEGS, ids=[p.stem for p in JPEGS])
def test_decoder_gives_stb_images_bytes(jpeg):
    want = read_ppm(jpeg.with_suffix(".ppm"))
    data = jpeg.read_bytes()
    width, height = layout(data)[3]
    assert want.shape == (height, width, 3)
    got = decode_jpeg(np.frombuffer(data, np.uint8))
    assert got is not None, "darkpy gave up on a JPEG stb_image decodes"
    assert got.dtype == np.uint8 and got.shape == want.shape
    differ = np.argwhere((got != want).any(axis=2))
    assert differ.size == 0, f"{len(differ)} pixels differ from stb_image's, first at (y, x) {differ[0]}"
