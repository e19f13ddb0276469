"""Record what pjreddie's darknet computes for its augmentation primitives, for the tests.

    python tools/darknet_augment_oracle.py LIBDARKNET_SO [--alexeyab LIB_SO] [--write]

LIBDARKNET_SO is the libdarknet.so a pjreddie/darknet build makes (`make GPU=0 OPENCV=0`;
see NOTES.md "Detector training"; nothing of darknet is in this repository). The script calls
its distort_image (rgb_to_hsv, scaling, hue shift, hsv_to_rgb, constrain_image),
place_image and rotate_crop_image through ctypes on small random images and compares
darkpy's (darkpy.train.darknet.augment / placement) with them.

--alexeyab takes a shared library linked from an AlexeyAB/darknet build's objects (its
Makefile compiles with -fPIC; `gcc -shared obj/*.o -o libdarknet_ab.so -lm -pthread
-lstdc++`, leaving out the objects of the example programs): the script calls its
fill_truth_detection (correct_boxes with crop offsets and flips, AlexeyAB's smallest box)
and blend_truth_mosaic (the boxes of each mosaic quadrant, with and without mosaic_bound)
on random boxes.

--write stores inputs and darknet's outputs in tests/fixtures/darknet_augment/*.npz, which
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
FIXTURE_AB = FIXTURE.with_name("alexeyab.npz")
TRUTH_SIZE = 6  # AlexeyAB's [yolo] truth rows: x, y, w, h, class, track id
MAX_BOXES = 12

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
        im, _keep = _to_c(image)
        canvas, canvas_buf = _to_c(np.full((12, 16, 3), 0.5, np.float32))
        lib.place_image(im, nw, nh, dx, dy, canvas)
        out[f"place_{k}"] = np.transpose(canvas_buf, (1, 2, 0)).copy()
    for k, args in enumerate(ROTATIONS):
        im, _keep = _to_c(image)
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


def _random_boxes(rng, n) -> np.ndarray:
    """(n, 5) rows class, x, y, w, h inside the image."""
    w = rng.uniform(0.02, 0.6, n)
    h = rng.uniform(0.02, 0.6, n)
    x = rng.uniform(w / 2, 1 - w / 2)
    y = rng.uniform(h / 2, 1 - h / 2)
    return np.stack([rng.integers(0, 5, n), x, y, w, h], axis=1).astype(np.float32)


FILL_CASES = 24
MOSAIC_CASES = 48


def record_alexeyab(lib_path) -> dict:
    """fill_truth_detection and blend_truth_mosaic cases (inputs and darknet's rows)."""
    import tempfile

    lib = ctypes.CDLL(str(lib_path))
    floats = ctypes.POINTER(ctypes.c_float)
    lib.fill_truth_detection.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, floats,
                                         ctypes.c_int, ctypes.c_int, ctypes.c_float,
                                         ctypes.c_float, ctypes.c_float, ctypes.c_float,
                                         ctypes.c_int, ctypes.c_int]
    lib.blend_truth_mosaic.argtypes = [floats, ctypes.c_int, ctypes.c_int, floats, ctypes.c_int,
                                       ctypes.c_int, ctypes.c_float, ctypes.c_float,
                                       ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                       ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    rng = np.random.default_rng(12)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "images").mkdir()
        (Path(tmp) / "labels").mkdir()
        for k in range(FILL_CASES):
            boxes = _random_boxes(rng, int(rng.integers(1, 6)))
            text = "".join(f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n"
                           for c, x, y, w, h in boxes)
            for folder in ("images", "labels"):  # AlexeyAB's rule: beside the image
                (Path(tmp) / folder / f"{k}.txt").write_text(text)
            boxes[:, 1:] = np.array([[float(f"{v:.6f}") for v in row[1:]] for row in boxes])
            sx, sy = rng.uniform(0.6, 1.6, 2)
            dx, dy = rng.uniform(-0.3, 0.3, 2)
            flip = int(rng.integers(0, 2))
            truth = np.zeros(MAX_BOXES * TRUTH_SIZE, np.float32)
            lib.fill_truth_detection(str(Path(tmp) / "images" / f"{k}.jpg").encode(), MAX_BOXES,
                                     TRUTH_SIZE, truth.ctypes.data_as(floats), 5, flip, dx, dy,
                                     sx, sy, 64, 48)
            out[f"fill_{k}_boxes"] = boxes
            out[f"fill_{k}_args"] = np.array([flip, dx, dy, sx, sy], np.float32)
            out[f"fill_{k}_truth"] = truth.reshape(MAX_BOXES, TRUTH_SIZE)[:, :5].copy()
    for k in range(MOSAIC_CASES):
        W, H = 64, 48
        cut_x, cut_y = int(rng.integers(13, 52)), int(rng.integers(10, 39))
        quadrant, bound = k % 4, int(k // 4 % 2)
        shifts = [int(rng.integers(0, cut_x + 1)), int(rng.integers(0, W - cut_x + 1)),
                  int(rng.integers(0, cut_y + 1)), int(rng.integers(0, H - cut_y + 1))]
        before = np.zeros((MAX_BOXES, TRUTH_SIZE), np.float32)
        given = int(rng.integers(0, 4))
        before[:given, :5] = _random_boxes(rng, given)[:, [1, 2, 3, 4, 0]]
        tile = np.zeros((MAX_BOXES, TRUTH_SIZE), np.float32)
        n = int(rng.integers(1, 8))
        tile[:n, :5] = _random_boxes(rng, n)[:, [1, 2, 3, 4, 0]]
        after = before.copy()
        lib.blend_truth_mosaic(after.ctypes.data_as(floats), MAX_BOXES, TRUTH_SIZE,
                               tile.ctypes.data_as(floats), W, H, cut_x, cut_y, quadrant,
                               *shifts, W, H, bound)
        out[f"mosaic_{k}_args"] = np.array([W, H, cut_x, cut_y, quadrant, bound, *shifts])
        out[f"mosaic_{k}_before"] = before[:, :5].copy()
        out[f"mosaic_{k}_tile"] = tile[:, :5].copy()
        out[f"mosaic_{k}_after"] = after[:, :5].copy()
    return out


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    rows = rows[rows[:, 0] != 0]
    return rows[np.lexsort(rows.T[::-1])]


def compare_alexeyab(recorded: dict) -> float:
    """Largest |darkpy - darknet| over the AlexeyAB cases (fill_truth's rows compared as sets:
    both shuffle them)."""
    from darkpy.train.darknet.placement import blend_truth_mosaic, fill_truth

    worst = 0.0
    for k in range(FILL_CASES):
        flip, dx, dy, sx, sy = recorded[f"fill_{k}_args"]
        mine = fill_truth(recorded[f"fill_{k}_boxes"], MAX_BOXES, np.random.default_rng(k),
                          dx, dy, sx, sy, bool(flip), np.float32(1) / np.float32(64),
                          np.float32(1) / np.float32(48))
        theirs = recorded[f"fill_{k}_truth"]
        a, b = _sorted_rows(mine), _sorted_rows(theirs)
        if a.shape != b.shape:
            print(f"fill_{k}: darkpy keeps {len(a)} boxes, darknet {len(b)}")
            worst = np.inf
            continue
        worst = max(worst, float(np.abs(a - b).max()) if a.size else 0.0)
    for k in range(MOSAIC_CASES):
        W, H, cut_x, cut_y, quadrant, bound, *shifts = (int(v) for v in recorded[f"mosaic_{k}_args"])
        mine = recorded[f"mosaic_{k}_before"].copy()
        blend_truth_mosaic(mine, recorded[f"mosaic_{k}_tile"], quadrant, W, H, cut_x, cut_y,
                           shifts, bool(bound))
        theirs = recorded[f"mosaic_{k}_after"]
        diff = float(np.abs(mine - theirs).max())
        if diff > 1e-7:
            print(f"mosaic_{k} (quadrant {quadrant}, bound {bound}): max diff {diff:.3g}")
        worst = max(worst, diff)
    print(f"AlexeyAB fill_truth_detection x{FILL_CASES}, blend_truth_mosaic x{MOSAIC_CASES}: "
          f"max |darkpy - darknet| = {worst:.3g}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", type=Path, help="pjreddie darknet's libdarknet.so")
    parser.add_argument("--alexeyab", type=Path, help="a shared library of AlexeyAB's objects")
    parser.add_argument("--write", action="store_true", help=f"store {FIXTURE} (and "
                                                             f"{FIXTURE_AB.name})")
    args = parser.parse_args()
    recorded = record(args.lib)
    compare(recorded)
    if args.write:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FIXTURE, **recorded)
        print(f"wrote {FIXTURE}")
    if args.alexeyab:
        recorded = record_alexeyab(args.alexeyab)
        compare_alexeyab(recorded)
        if args.write:
            np.savez_compressed(FIXTURE_AB, **recorded)
            print(f"wrote {FIXTURE_AB}")


if __name__ == "__main__":
    main()
