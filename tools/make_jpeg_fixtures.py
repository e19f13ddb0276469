"""Write the JPEG fixtures that pin darkpy's decoder to stb_image, byte for byte.

    python tools/make_jpeg_fixtures.py DECODER [--check DECODER2 ...] [--out tests/fixtures/jpeg_stb]

Writes small JPEGs of every layout a camera or encoder commonly produces (chroma 4:4:4, 4:2:2,
4:2:0, 4:4:0, 4:1:1 and grayscale; baseline and progressive; with and without restart
intervals, whole and cut short), at sizes that are and are not whole MCUs (24x16, 23x17), encoded by OpenCV's
libjpeg. Each NAME.jpg is decoded by DECODER into NAME.ppm beside it: the pixels darknet
itself would see, which tests/test_detect_jpeg_stb.py compares with darkpy.io.jpeg.

DECODER is an executable called as `DECODER IN.jpg OUT.ppm`, kept outside this repository:
it must decode the way darknet's `load_image_color` does, i.e. call
`stbi_load(path, &w, &h, &c, 3)` from the stb_image.h that darknet vendors (pjreddie/darknet
src/stb_image.h, v2.19), and write the result as a binary PPM (P6, maxval 255). stb_image
decodes with SSE2 on x86-64, as darknet's own build does; `--check` names further decoders
(say, one built with STBI_NO_SIMD) that must give the same bytes, or nothing is written.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "jpeg_stb"
SIZES = [(24, 16), (23, 17)]  # width x height: whole 16x16/16x8 MCUs, then partial ones everywhere

# name -> (sampling: one of OpenCV's IMWRITE_JPEG_SAMPLING_FACTOR_* or "gray", progressive,
# restart interval in MCUs, quality)
VARIANTS = {
    "444": ("444", False, 0, 90),
    "422": ("422", False, 0, 90),
    "420": ("420", False, 0, 75),
    "440": ("440", False, 0, 90),
    "411": ("411", False, 0, 90),
    "gray": ("gray", False, 0, 90),
    "progressive_444": ("444", True, 0, 90),
    "progressive_422": ("422", True, 0, 85),
    "progressive_420": ("420", True, 0, 75),
    "progressive_gray": ("gray", True, 0, 90),
    "restart1_420": ("420", False, 1, 75),
    "restart2_422": ("422", False, 2, 90),
    "restart3_444": ("444", False, 3, 95),
    # intervals of 4 leave a shorter last one, which can end before the reader meets a marker
    "restart4_444": ("444", False, 4, 75),
    "restart4_gray": ("gray", False, 4, 50),
    "progressive_restart1_420": ("420", True, 1, 80),
    "progressive_restart4_422": ("422", True, 4, 50),
}


def test_image(width: int, height: int, seed: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB with smooth gradients, sharp colour edges and noise, so that every
    chroma sample and every upsampling filter tap changes the decoded pixels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.stack([128 + 110 * np.sin(xx / 3.1 + yy / 7.0), 128 + 100 * np.cos(yy / 2.3),
                    128 + 90 * np.sin((xx - yy) / 4.7)], -1)
    rgb[:, width // 3: width // 3 + 3] = (250, 10, 40)  # a red bar: chroma jumps
    rgb[height // 2:, -5:] = (20, 40, 230)
    rgb += rng.normal(0, 18, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, sampling: str, progressive: bool, restart: int, quality: int) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive),
              cv2.IMWRITE_JPEG_RST_INTERVAL, restart]
    if sampling == "gray":
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    else:
        image = rgb[:, :, ::-1]  # OpenCV takes BGR
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                   getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{sampling}")]
    ok, buf = cv2.imencode(".jpg", image, params)
    if not ok:
        raise SystemExit(f"OpenCV could not encode a {sampling} JPEG")
    return buf.tobytes()


def read_ppm(path: Path) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes) of a binary PPM with maxval 255."""
    data = path.read_bytes()
    fields = data.split(maxsplit=4)
    if len(fields) < 5 or fields[0] != b"P6" or fields[3] != b"255":
        raise SystemExit(f"{path}: not a binary PPM with maxval 255")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[len(data) - width * height * 3:]
    return width, height, pixels


def decode_with(decoder: str, jpeg: Path, ppm: Path) -> bytes:
    result = subprocess.run([decoder, str(jpeg), str(ppm)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{decoder} {jpeg.name} failed: {result.stderr.strip()}")
    return ppm.read_bytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoder", help="executable: DECODER IN.jpg OUT.ppm with darknet's stb_image")
    parser.add_argument("--check", action="append", default=[],
                        help="another stb_image decoder that must agree byte for byte (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed, (width, height) in enumerate(SIZES):
            rgb = test_image(width, height, seed)
            for name, (sampling, progressive, restart, quality) in VARIANTS.items():
                stem = f"{name}_{width}x{height}"
                jpeg = tmp / f"{stem}.jpg"
                jpeg.write_bytes(encode(rgb, sampling, progressive, restart, quality))
                recorded = decode_with(args.decoder, jpeg, tmp / f"{stem}.ppm")
                for other in args.check:
                    if decode_with(other, jpeg, tmp / f"{stem}.check.ppm") != recorded:
                        raise SystemExit(f"{other} and {args.decoder} disagree on {stem}.jpg")
                got_w, got_h, _ = read_ppm(tmp / f"{stem}.ppm")
                if (got_w, got_h) != (width, height):
                    raise SystemExit(f"{args.decoder} gave {got_w}x{got_h} for {stem}.jpg")
                (args.out / f"{stem}.jpg").write_bytes(jpeg.read_bytes())
                (args.out / f"{stem}.ppm").write_bytes(recorded)
                print(f"{stem}: {jpeg.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
