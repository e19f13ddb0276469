"""Record AlexeyAB darknet's `detector map` on a small labelled set, for darkpy's map tests.

    python tools/darknet_map_oracle.py --make [--shared ../shared]          # the set itself
    python tools/darknet_map_oracle.py DARKNET [--shared ../shared] --write  # darknet's numbers
    python tools/darknet_map_oracle.py DARKNET --v4 --write                  # yolov4-tiny's

The set (tests/fixtures/darknet_map/): darknet's three sample photos from ../shared/images
(not copied into the repository) and five JPEGs derived from them (a mirrored, shrunk dog; a
crop of the horses; a side-by-side of person and dog; a gray image with no objects), with
labels made from yolov3-tiny's own detections at 0.25 (darkpy's, the same as darknet's), then
perturbed with a seeded generator so that AP is not trivially 1: every box moved and resized
by up to ~15%, one box dropped in two images (missed detections become false positives), one
box's class changed, and one object labelled where there is none (a false negative).
--make writes images and labels; they are committed, so the expected numbers never depend on
darkpy.

DARKNET is AlexeyAB's darknet built by the user (`make GPU=0 OPENCV=0 AVX=0`; NOTES.md), kept
outside this repository. The script copies the set and the photos into a work folder, writes
obj.data (names = coco.names), and runs `DARKNET detector map obj.data yolov3-tiny.cfg
yolov3-tiny.weights -points P -iou_thresh I -thresh 0.25` for points 0, 11 and 101 at IoU 0.5,
and for points 0 at IoU 0.50, 0.55, ..., 0.95 (mAP@[.50:.95]); with --write, the parsed
printout (per-class AP and TP/FP, precision, recall, F1, TP/FP/FN, average IoU, mAP) goes to
tests/fixtures/darknet_map/expected.json, which tests/test_detection_map.py compares with
`darkpy map`.

With --v4, the same set goes through ../shared/darknet-cfg/yolov4-tiny.cfg (nms_kind=greedynms)
with seeded random weights (random_v4_weights: darkpy's initialisation, seed V4_SEED, the two
output convolutions' weights scaled by V4_HEAD_SCALE so that the logits spread over a few units
instead of +-0.01, which would leave every probability at 0.25 +- 0.002 on the threshold, and
their objectness biases set to V4_OBJECTNESS_BIAS so that a few hundred boxes per image pass
detector map's 0.005); the weights are regenerated identically by the test, so no large file is
committed. darknet's numbers for V4_RUNS go to expected_v4.json, with those of the same cfg
with nms_kind=default. The scores then keep all AP at 0 (random boxes), but the per-class FP
counts at 0.25 are exactly the boxes each NMS kind lets through.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_map"
PHOTOS = ("dog.jpg", "horses.jpg", "person.jpg")
RUNS = [(0, 0.5), (11, 0.5), (101, 0.5)] + [(0, round(0.5 + 0.05 * k, 2)) for k in range(1, 10)]
THRESH = 0.25
SEED = 11
V4_CFG = ("darknet-cfg", "yolov4-tiny.cfg")
V4_SEED = 7
V4_HEAD_SCALE = 1024.0          # a power of two: exact in float32
V4_OBJECTNESS_BIAS = -3.5      # few boxes above 0.25: ulp-level forward differences then
                                # almost never meet an overlap on NMS's threshold
V4_RUNS = [(0, 0.5)]


def derived_images(shared: Path) -> dict:
    """name -> uint8 RGB array of the derived images (deterministic integer arithmetic)."""
    import cv2

    def rgb(name):
        return cv2.imread(str(shared / "images" / name))[:, :, ::-1]

    dog, horses, person = rgb("dog.jpg"), rgb("horses.jpg"), rgb("person.jpg")
    out = {
        "dog_mirror": dog[::2, ::-2],                       # mirrored, half size
        "horses_crop": horses[40:380, 0:420],
        "gray": np.full((240, 320, 3), 118, np.uint8),
    }
    h = min(person.shape[0], dog.shape[0])
    out["side_by_side"] = np.concatenate([person[:h:2, ::2], dog[:h:2, ::2]], axis=1)
    return out


def make(shared: Path) -> None:
    """Write the derived JPEGs and every image's perturbed labels into FIXTURES."""
    import cv2

    sys.path.insert(0, str(REPO))
    from darkpy import load
    from darkpy.detect import Detector

    FIXTURES.mkdir(parents=True, exist_ok=True)
    model = shared / "models" / "yolov3-tiny"
    detector = Detector(load(model / "yolov3-tiny.cfg", model / "yolov3-tiny.weights"),
                        model / "coco.names", thresh=0.25, letterbox=False)
    images = {}
    for name, array in derived_images(shared).items():
        path = FIXTURES / f"{name}.jpg"
        cv2.imwrite(str(path), np.ascontiguousarray(array[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
        images[name] = path
    for photo in PHOTOS:
        images[Path(photo).stem] = shared / "images" / photo
    rng = np.random.default_rng(SEED)
    for name in sorted(images):
        found = detector(images[name])
        h, w = cv2.imread(str(images[name])).shape[:2]
        seen, rows = set(), []
        for d in found:
            if d.box in seen:            # one label per box: its best class
                continue
            seen.add(d.box)
            x, y, bw, bh = d.center
            rows.append([d.class_id, x / w, y / h, bw / w, bh / h])
        rows = np.array(rows, np.float64).reshape(-1, 5)
        if len(rows):
            rows[:, 1:3] += rng.uniform(-0.15, 0.15, (len(rows), 2)) * rows[:, 3:5]
            rows[:, 3:5] *= rng.uniform(0.85, 1.15, (len(rows), 2))
        if name in ("horses", "side_by_side") and len(rows) > 1:
            rows = rows[:-1]                       # a missed label: its detection is an FP
        if name == "dog" and len(rows):
            rows[0, 0] = 2 if rows[0, 0] != 2 else 7   # a wrong class
        if name == "gray":
            rows = np.array([[0, 0.5, 0.5, 0.3, 0.6]])  # an object nobody can find
        rows[:, 1:] = np.clip(rows[:, 1:], 0.001, 1.0)
        text = "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
        (FIXTURES / f"{name}.txt").write_text(text)
        print(f"{name}: {len(rows)} labels")


def stage(shared: Path, work: Path) -> Path:
    """A work folder with the images, labels, list and obj.data darknet and darkpy read;
    returns the obj.data path (absolute paths inside, so any working directory works)."""
    work.mkdir(parents=True, exist_ok=True)
    for path in FIXTURES.iterdir():
        if path.suffix in (".jpg", ".txt"):
            shutil.copy(path, work / path.name)
    for photo in PHOTOS:
        shutil.copy(shared / "images" / photo, work / photo)
    names = sorted(p.stem for p in FIXTURES.glob("*.txt"))
    (work / "valid.txt").write_text("".join(f"{work / n}.jpg\n" for n in names))
    data = work / "obj.data"
    data.write_text(f"classes = 80\nvalid = {work / 'valid.txt'}\n"
                    f"names = {shared / 'models' / 'yolov3-tiny' / 'coco.names'}\n")
    return data


def random_v4_weights(shared: Path, path: Path):
    """Write yolov4-tiny's seeded random weights (see the module text) to `path`; returns the
    network carrying them."""
    sys.path.insert(0, str(REPO))
    from darkpy import load
    from darkpy.io.darknet_weights import save_darknet_weights
    from darkpy.train.model import initialise

    network = load(shared.joinpath(*V4_CFG))
    initialise(network, V4_SEED)
    heads = [network.sources[k][0] for k, layer in enumerate(network.layers)
             if layer.kind == "yolo"]
    for k in heads:   # the convolution feeding each [yolo]
        layer = network.layers[k]
        layer.set_param("weights", layer.get_param("weights") * np.float32(V4_HEAD_SCALE))
        biases = layer.get_param("biases").copy()
        biases.reshape(-1, 5 + network.layers[k + 1].classes)[:, 4] = V4_OBJECTNESS_BIAS
        layer.set_param("biases", biases)
    save_darknet_weights(network, path)
    return network


_CLASS = re.compile(r"class_id = (\d+), name = (.*?), ap = ([\d.]+)%\s+\(TP = (\d+), FP = (\d+)\)")
_PRF = re.compile(r"precision = ([-\w.]+), recall = ([-\w.]+), F1-score = ([-\w.]+)")
_COUNTS = re.compile(r"TP = (\d+), FP = (\d+), FN = (\d+), average IoU = ([\d.]+) %")
_MAP = re.compile(r"mean average precision \(mAP@([\d.]+)\) = ([\d.]+)")


def parse(text: str) -> dict:
    classes = [{"class_id": int(m[1]), "name": m[2], "ap_percent": float(m[3]),
                "tp": int(m[4]), "fp": int(m[5])} for m in _CLASS.finditer(text)]
    prf, counts, mean = _PRF.search(text), _COUNTS.search(text), _MAP.search(text)
    if not (classes and prf and counts and mean):
        raise SystemExit("could not parse darknet's output:\n" + text)
    return {"classes": classes, "precision": prf[1], "recall": prf[2], "f1": prf[3],
            "tp": int(counts[1]), "fp": int(counts[2]), "fn": int(counts[3]),
            "avg_iou_percent": float(counts[4]), "map": float(mean[2])}


def run_darknet(darknet: Path, shared: Path, data: Path, cfg: Path | None = None,
                weights: Path | None = None, runs=RUNS) -> list:
    model = shared / "models" / "yolov3-tiny"
    cfg = cfg or model / "yolov3-tiny.cfg"
    weights = weights or model / "yolov3-tiny.weights"
    results = []
    for points, iou in runs:
        cmd = [str(darknet), "detector", "map", str(data), str(cfg), str(weights),
               "-points", str(points), "-iou_thresh", str(iou), "-thresh", str(THRESH)]
        done = subprocess.run(cmd, cwd=data.parent, capture_output=True, text=True, check=True)
        record = parse(done.stdout)
        record.update(points=points, iou_thresh=iou, thresh=THRESH)
        results.append(record)
        print(f"points {points} IoU {iou}: mAP {record['map']:.6f}, TP {record['tp']} "
              f"FP {record['fp']} FN {record['fn']}")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("darknet", nargs="?", type=Path, help="AlexeyAB darknet binary")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--make", action="store_true", help="write the set (images, labels)")
    parser.add_argument("--write", action="store_true", help="record darknet's numbers")
    parser.add_argument("--v4", action="store_true",
                        help="yolov4-tiny (greedynms) with seeded random weights instead")
    args = parser.parse_args(argv)
    if args.make:
        make(args.shared)
    if args.darknet is None:
        return
    shared = args.shared.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        data = stage(shared, Path(tmp))
        if args.v4:
            weights = Path(tmp) / "yolov4-tiny-random.weights"
            random_v4_weights(shared, weights)
            results = run_darknet(args.darknet.resolve(), shared, data, shared.joinpath(*V4_CFG),
                                  weights, V4_RUNS)
            # the same with plain IoU suppression, so the test can show the kind matters
            plain = Path(tmp) / "yolov4-tiny-default-nms.cfg"
            plain.write_text(shared.joinpath(*V4_CFG).read_text().replace(
                "nms_kind=greedynms", "nms_kind=default"))
            default_runs = run_darknet(args.darknet.resolve(), shared, data, plain, weights,
                                       V4_RUNS)
        else:
            results = run_darknet(args.darknet.resolve(), shared, data)
    if args.write and args.v4:
        (FIXTURES / "expected_v4.json").write_text(json.dumps(
            {"darknet": "AlexeyAB/darknet 59596d78, detector map", "cfg": "/".join(V4_CFG),
             "seed": V4_SEED, "head_scale": V4_HEAD_SCALE,
             "objectness_bias": V4_OBJECTNESS_BIAS, "runs": results,
             "default_nms_runs": default_runs}, indent=1) + "\n")
        print(f"wrote {FIXTURES / 'expected_v4.json'}")
    elif args.write:
        (FIXTURES / "expected.json").write_text(json.dumps(
            {"darknet": "AlexeyAB/darknet 59596d78, detector map", "runs": results}, indent=1) + "\n")
        print(f"wrote {FIXTURES / 'expected.json'}")


if __name__ == "__main__":
    main()
