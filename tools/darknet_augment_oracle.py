"""Record what pjreddie's darknet computes for its augmentation primitives, for the tests.

    python tools/darknet_augment_oracle.py LIBDARKNET_SO [--write]

LIBDARKNET_SO is the libdarknet.so a pjreddie/darknet build makes (`make GPU=0 OPENCV=0`;
see NOTES.md "Detector training"; nothing of darknet is in this repository). The script calls
its distort_image (rgb_to_hsv, scaling, hue shift, hsv_to_rgb, constrain_image),
place_image and rotate_crop_image through ctypes on small random images and compares
darkpy's (darkpy.train.darknet.augment / placement) with them; --write stores inputs and
darknet's outputs in tests/fixtures/darknet_augment/pjreddie.npz, which
tests/test_darknet_augment.py checks without darknet.
"""
from __future__ import annotations

import argparse
import ctypes
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURE = REPO / "tests" / "fixtures" / "darknet_augment" / "pjreddie.npz"

DISTORTIONS = [(0.1, 0.5, 1.2), (-0.3, 1.5, 0.7), (0.45, 2.0, 1.0), (-0.05, 0.8, 1.4)]
PLACEMENTS = [(13, 10, 2, 1), (16, 12, 0, 0), (7, 11, 5, -1), (20, 9, -3, 2)]  # nw nh dx dy
ROTATIONS = [(0.3, 1.3, 8, 8, 1.5, -0.5, 1.2), (-0.7, 0.8, 6, 5, -1.0, 0.25, 0.9)]


class Image(ctypes.Structure):
    _fields_ = [("w", ctypes.c_int), ("h", ctypes.c_int), ("c", ctypes.c_int),
                ("data", ctypes.POINTER(ctypes.c_float))]


def _to_c(hwc: np.ndarray):
    """(image struct, the CHW buffer keeping it alive)."""
    chw = np.ascontiguousarray(np.transpose(hwc, (2, 0, 1)), dtype=np.float32)
    c, h, w = chw.shape
    return Image(w, h, c, chw.ctypes.data_as(ctypes.POINTER(ctypes.c_float))), chw


def _from_c(im: Image) -> np.ndarray:
    n = im.w * im.h * im.c
    chw = np.ctypeslib.as_array(im.data, shape=(n,)).reshape(im.c, im.h, im.w).copy()
    return np.transpose(chw, (1, 2, 0)).copy()


def record(lib_path) -> dict:
    lib = ctypes.CDLL(str(lib_path))
    lib.distort_image.argtypes = [Image, ctypes.c_float, ctypes.c_float, ctypes.c_float]
    lib.place_image.argtypes = [Image, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                Image]
    lib.rotate_crop_image.argtypes = [Image, ctypes.c_float, ctypes.c_float, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_float, ctypes.c_float,
                                      ctypes.c_float]
    lib.rotate_crop_image.restype = Image
    rng = np.random.default_rng(11)
    image = rng.random((7, 9, 3), dtype=np.float32)
    image[0, 0] = 0.4  # a grey pixel
    image[1, 1] = 0.0  # a black one
    out = {"image": image}
    for k, (hue, sat, val) in enumerate(DISTORTIONS):
        im, buf = _to_c(image.copy())
        lib.distort_image(im, hue, sat, val)
        out[f"distort_{k}"] = np.transpose(buf, (1, 2, 0)).copy()
    for k, (nw, nh, dx, dy) in enumerate(PLACEMENTS):
        im, keep = _to_c(image)
        canvas, canvas_buf = _to_c(np.full((12, 16, 3), 0.5, np.float32))
        lib.place_image(im, nw, nh, dx, dy, canvas)
        out[f"place_{k}"] = np.transpose(canvas_buf, (1, 2, 0)).copy()
    for k, args in enumerate(ROTATIONS):
        im, keep = _to_c(image)
        out[f"rotate_{k}"] = _from_c(lib.rotate_crop_image(im, *args))  # leaked: a tool run
    return out


def compare(recorded: dict) -> float:
    """Largest |darkpy - darknet| over the recorded cases (printed per case)."""
    from darkpy.train.darknet.augment import distort_darknet
    from darkpy.train.darknet.placement import place_image, rotate_crop_image

    image = recorded["image"]
    worst = 0.0
    cases = []
    for k, args in enumerate(DISTORTIONS):
        cases.append((f"distort_{k}", distort_darknet(image, *args)))
    for k, (nw, nh, dx, dy) in enumerate(PLACEMENTS):
        canvas = np.full((12, 16, 3), 0.5, np.float32)
        place_image(image, nw, nh, dx, dy, canvas)
        cases.append((f"place_{k}", canvas))
    for k, args in enumerate(ROTATIONS):
        cases.append((f"rotate_{k}", rotate_crop_image(image, *args)))
    for name, mine in cases:
        diff = float(np.abs(mine - recorded[name]).max())
        worst = max(worst, diff)
        print(f"{name:10s} max |darkpy - darknet| = {diff:.3g}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", type=Path, help="pjreddie darknet's libdarknet.so")
    parser.add_argument("--write", action="store_true", help=f"store {FIXTURE}")
    args = parser.parse_args()
    recorded = record(args.lib)
    compare(recorded)
    if args.write:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FIXTURE, **recorded)
        print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
