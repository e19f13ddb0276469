"""Record AlexeyAB darknet's IoU family and dx_box_iou on seeded random boxes, for the tests.

    python tools/darknet_box_oracle.py ALEXEYAB_TREE [--count 200] [--write]

ALEXEYAB_TREE is a built AlexeyAB/darknet source tree (`make GPU=0 OPENCV=0 AVX=0`, see
NOTES.md), kept outside this repository. The script compiles a small harness of its own
(below) against the tree's include/ and its built obj/box.o, obj/utils.o and obj/list.o,
feeds it box pairs and writes what darknet's box_iou, box_giou, box_diou, box_ciou and
dx_box_iou (for iou, giou, diou, ciou) return to tests/fixtures/darknet_box_iou.json, which
tests/test_yolo_loss_alexeyab.py compares darkpy.kernels.yolo_loss_alexeyab with.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "darknet_box_iou.json"
KINDS = {"iou": 0, "giou": 1, "diou": 3, "ciou": 4}  # darknet's IOU_LOSS enum values

HARNESS = r"""
#include <stdio.h>
#include "box.h"
int main(void) {
    int kind; box p, t;
    while (scanf("%d %f %f %f %f %f %f %f %f", &kind, &p.x, &p.y, &p.w, &p.h,
                 &t.x, &t.y, &t.w, &t.h) == 9) {
        dxrep d = dx_box_iou(p, t, (IOU_LOSS)kind);
        printf("%.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n", box_iou(p, t), box_giou(p, t),
               box_diou(p, t), box_ciou(p, t), d.dt, d.db, d.dl, d.dr);
    }
    return 0;
}
"""


def boxes(count: int, seed: int = 0) -> list[tuple]:
    """(kind name, prediction x y w h, truth x y w h) rows, a seventh of them disjoint."""
    rng = np.random.default_rng(seed)
    rows = []
    names = list(KINDS)
    for k in range(count):
        p = rng.uniform(0.05, 0.6, 4).astype(np.float32)
        t = rng.uniform(0.05, 0.6, 4).astype(np.float32)
        p[:2] += np.float32(0.2)
        t[:2] += np.float32(0.2)
        if k % 7 == 0:
            t[:2] = p[:2] + rng.uniform(0.3, 0.6, 2).astype(np.float32)
        rows.append((names[k % len(names)], *(float(v) for v in p), *(float(v) for v in t)))
    return rows


def run(tree: Path, rows: list[tuple]) -> list[list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "harness.c"
        exe = Path(tmp) / "harness"
        src.write_text(HARNESS)
        objs = [str(tree / "obj" / f"{name}.o") for name in ("box", "utils", "list")]
        subprocess.run(["gcc", "-O2", f"-I{tree / 'include'}", f"-I{tree / 'src'}", str(src),
                        *objs, "-lm", "-lpthread", "-o", str(exe)], check=True)
        text = "".join(f"{KINDS[r[0]]} " + " ".join(repr(v) for v in r[1:]) + "\n"
                       for r in rows)
        out = subprocess.run([str(exe)], input=text, capture_output=True, text=True,
                             check=True).stdout
    return [[float(v) for v in line.split()] for line in out.splitlines()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree", type=Path, help="built AlexeyAB/darknet source tree")
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--write", action="store_true", help="record the fixture")
    args = p.parse_args(argv)
    rows = boxes(args.count)
    values = run(args.tree.resolve(), rows)
    print(f"{len(values)} box pairs through darknet's box.c")
    if args.write:
        FIXTURE.write_text(json.dumps({
            "about": "AlexeyAB darknet (CPU, -Ofast) box.c on tools/darknet_box_oracle.py's "
                     "seeded boxes: iou, giou, diou, ciou, dx_box_iou's dt, db, dl, dr",
            "rows": [list(r) + v for r, v in zip(rows, values)]}, indent=0) + "\n")
        print(f"written to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
