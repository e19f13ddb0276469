"""Record both darknets' `classifier valid` on a tiny classifier, for darkpy's map tests.

    python tools/darknet_classifier_oracle.py PJREDDIE_DARKNET ALEXEYAB_DARKNET [--shared ../shared] [--write]

The classifier (tests/fixtures/darknet_classifier/tiny.cfg, 32x32 input, 3 classes: a strided
3x3 convolution with batch norm, max pool, 1x1 convolution, average pool, softmax) gets
seeded random weights (tiny.weights, written by darkpy's darknet-format writer; --write
rewrites it). The images are darknet's three photos and tools/darknet_map_oracle.py's derived
JPEGs, of several aspect ratios, so the two forks' resize/crop rules differ; labels `dog`,
`horse`, `person` are matched in the file names (side_by_side and gray match none).

pjreddie's darknet prints, per image, its class and the first two outputs (`%f`) and the
running top-1/top-k; AlexeyAB's prints the running accuracies. With --write, the parsed
numbers go to tests/fixtures/darknet_classifier/expected.json, which
tests/test_classifier_valid.py compares with darkpy.
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

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_classifier"
MAP_FIXTURES = REPO / "tests" / "fixtures" / "darknet_map"
PHOTOS = ("dog.jpg", "horses.jpg", "person.jpg")
DERIVED = ("dog_mirror.jpg", "horses_crop.jpg", "side_by_side.jpg", "gray.jpg")
LABELS = ("dog", "horse", "person")
TOP = 2


def stage(shared: Path, work: Path) -> Path:
    """Images, labels, list and .data in `work` (absolute paths); returns the .data path."""
    work.mkdir(parents=True, exist_ok=True)
    for photo in PHOTOS:
        shutil.copy(shared / "images" / photo, work / photo)
    for name in DERIVED:
        shutil.copy(MAP_FIXTURES / name, work / name)
    (work / "labels.txt").write_text("".join(f"{n}\n" for n in LABELS))
    (work / "valid.txt").write_text("".join(f"{work / n}\n" for n in PHOTOS + DERIVED))
    data = work / "tiny.data"
    data.write_text(f"classes = {len(LABELS)}\nvalid = {work / 'valid.txt'}\n"
                    f"labels = {work / 'labels.txt'}\ntop = {TOP}\n")
    return data


def write_weights() -> None:
    sys.path.insert(0, str(REPO))
    from darkpy.api import read_sections
    from darkpy.io.darknet_weights import save_darknet_weights
    from darkpy.network import Network
    from darkpy.train.model import initialise

    network = Network(read_sections(FIXTURES / "tiny.cfg"), init=False)
    initialise(network, 7)
    for layer in network.layers:  # batch-norm statistics that are not the identity
        if "rolling_variance" in layer.params:
            n = layer.params["rolling_variance"].size
            layer.params["rolling_mean"][...] = [0.05 * (k % 3 - 1) for k in range(n)]
            layer.params["rolling_variance"][...] = [0.5 + 0.1 * k for k in range(n)]
            layer.params["biases"][...] = [0.02 * k for k in range(n)]
    save_darknet_weights(network, FIXTURES / "tiny.weights")


_PRED = re.compile(r"^(.*), (-?\d+), (-?[\d.]+), (-?[\d.]+), $", re.M)
_TOP = re.compile(r"(\d+): top 1: ([\d.]+), top (\d+): ([\d.]+)")


def run(darknet: Path, data: Path) -> dict:
    cmd = [str(darknet), "classifier", "valid", str(data), str(FIXTURES / "tiny.cfg"),
           str(FIXTURES / "tiny.weights")]
    done = subprocess.run(cmd, cwd=data.parent, capture_output=True, text=True, check=True)
    tops = _TOP.findall(done.stdout)
    if not tops:
        raise SystemExit("could not parse darknet's output:\n" + done.stdout + done.stderr)
    preds = [{"image": Path(m[1]).name, "class": int(m[2]), "pred": [float(m[3]), float(m[4])]}
             for m in _PRED.finditer(done.stdout)]
    last = tops[-1]
    return {"images": int(last[0]) + 1, "top1": float(last[1]), "k": int(last[2]),
            "topk": float(last[3]), "per_image": preds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pjreddie", type=Path)
    parser.add_argument("alexeyab", type=Path)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if args.write:
        write_weights()
    with tempfile.TemporaryDirectory() as tmp:
        data = stage(args.shared.resolve(), Path(tmp))
        result = {"pjreddie": run(args.pjreddie.resolve(), data),
                  "alexeyab": run(args.alexeyab.resolve(), data)}
    for fork, r in result.items():
        print(f"{fork}: top 1 {r['top1']:f}, top {r['k']} {r['topk']:f} on {r['images']} images")
    if args.write:
        result["darknet"] = "pjreddie/darknet f6afaabc, AlexeyAB/darknet 59596d78: classifier valid"
        (FIXTURES / "expected.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
