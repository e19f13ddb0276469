"""Record AlexeyAB darknet's [Gaussian_yolo] training deltas on seeded heads, for the tests.

    python tools/darknet_gaussian_oracle.py ALEXEYAB_TREE [--write]

ALEXEYAB_TREE is a built AlexeyAB/darknet source tree (`make GPU=0 OPENCV=0 AVX=0`, see
NOTES.md), kept outside this repository. The script compiles a small harness of its own
(below) against the tree's headers and links every built object but darknet.o's main; the
harness makes a layer with make_gaussian_yolo_layer, sets the loss keys of a case, runs
forward_gaussian_yolo_layer with train=1 on a seeded input and truth and writes l.output and
l.delta. The cases (CASES: iou_loss mse/giou/ciou, yolo_point, iou_thresh, objectness_smooth,
label smoothing, normalisers) and darknet's answers go to
tests/fixtures/darknet_gaussian_yolo.npz, which tests/test_gaussian_yolo_loss.py compares
darkpy's [Gaussian_yolo] with.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "darknet_gaussian_yolo.npz"
IOU_LOSS = {"iou": 0, "giou": 1, "mse": 2, "diou": 3, "ciou": 4}  # darknet's enum values
YOLO_POINT = {"center": 1, "left_top": 2, "right_bottom": 4}
BATCH, SIDE, NET, CLASSES, MAX_BOXES = 2, 4, 64, 3, 6
ANCHORS = [(10, 12), (20, 18), (34, 40), (50, 30)]
MASK = [1, 2]

# name: (iou_loss, yolo_point, objectness_smooth, iou_normalizer, uc_normalizer,
#        obj_normalizer, cls_normalizer, ignore_thresh, truth_thresh, iou_thresh,
#        label_smooth_eps)
CASES = {
    "mse": ("mse", "center", 0, 0.75, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 0.0),
    "giou_bdd": ("giou", "center", 0, 0.5, 1.0, 1.0, 1.0, 0.5, 1.0, 0.213, 0.0),
    "ciou_left_top": ("ciou", "left_top", 0, 0.07, 0.5, 2.0, 1.0, 0.3, 1.0, 1.0, 0.1),
    "mse_smooth": ("mse", "right_bottom", 1, 0.75, 2.0, 1.0, 0.5, 0.05, 0.6, 0.2, 0.0),
}

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <float.h>
#include "darknet.h"
#include "gaussian_yolo_layer.h"
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    int h[12];
    float p[8];
    if (fread(h, sizeof(int), 12, f) != 12 || fread(p, sizeof(float), 8, f) != 8) return 1;
    int batch = h[0], n = h[3], total = h[4];
    int *mask = calloc(n, sizeof(int));
    if (fread(mask, sizeof(int), n, f) != (size_t)n) return 1;
    layer l = make_gaussian_yolo_layer(batch, h[1], h[2], n, total, mask, h[5], h[6]);
    if (fread(l.biases, sizeof(float), total * 2, f) != (size_t)(total * 2)) return 1;
    l.iou_normalizer = p[0]; l.uc_normalizer = p[1]; l.obj_normalizer = p[2];
    l.cls_normalizer = p[3]; l.ignore_thresh = p[4]; l.truth_thresh = p[5];
    l.iou_thresh = p[6]; l.label_smooth_eps = p[7];
    l.max_delta = FLT_MAX; l.iou_loss = (IOU_LOSS)h[9]; l.iou_thresh_kind = IOU;
    l.yolo_point = (YOLO_POINT)h[10]; l.objectness_smooth = h[11]; l.scale_x_y = 1;
    float *input = calloc(batch * l.outputs, sizeof(float));
    float *truth = calloc(batch * l.truths, sizeof(float));
    if (fread(input, sizeof(float), batch * l.outputs, f) != (size_t)(batch * l.outputs)) return 1;
    if (fread(truth, sizeof(float), batch * l.truths, f) != (size_t)(batch * l.truths)) return 1;
    fclose(f);
    network_state s = {0};
    s.input = input; s.truth = truth; s.train = 1; s.net.w = h[7]; s.net.h = h[8];
    forward_gaussian_yolo_layer(l, s);
    FILE *o = fopen(argv[2], "wb");
    fwrite(l.output, sizeof(float), batch * l.outputs, o);
    fwrite(l.delta, sizeof(float), batch * l.outputs, o);
    fclose(o);
    return 0;
}
"""


def head_cfg(name: str) -> str:
    """A cfg whose last layer is the [Gaussian_yolo] of case `name` (for darkpy)."""
    c = CASES[name]
    keys = ("iou_loss", "yolo_point", "objectness_smooth", "iou_normalizer", "uc_normalizer",
            "obj_normalizer", "cls_normalizer", "ignore_thresh", "truth_thresh", "iou_thresh",
            "label_smooth_eps")
    settings = "".join(f"{k}={v}\n" for k, v in zip(keys, c))
    return (f"[net]\nwidth={NET}\nheight={NET}\nchannels=3\n\n[convolutional]\n"
            f"filters={len(MASK) * (9 + CLASSES)}\nsize=1\nstride={NET // SIDE}\npad=0\n"
            f"activation=linear\n\n[Gaussian_yolo]\nmask={','.join(map(str, MASK))}\n"
            f"anchors={','.join(f'{w},{h}' for w, h in ANCHORS)}\nclasses={CLASSES}\n"
            f"num={len(ANCHORS)}\nmax={MAX_BOXES}\n{settings}")


def case_inputs(seed: int):
    """NHWC input (darkpy's layout) and (BATCH, MAX_BOXES, 5) truth rows; image 1 puts two
    truths of different classes on one cell so that the averaging rule acts."""
    rng = np.random.default_rng(seed)
    entries = 9 + CLASSES
    x = rng.normal(0, 1.0, (BATCH, SIDE, SIDE, len(MASK) * entries)).astype(np.float32)
    truth = np.zeros((BATCH, MAX_BOXES, 5), np.float32)
    for b, count in ((0, 4), (1, 3)):
        for t in range(count):
            w, h = rng.uniform(0.15, 0.8, 2)
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
            truth[b, t] = (cx, cy, w, h, rng.integers(0, CLASSES))
    truth[1, 3] = truth[1, 0]
    truth[1, 3, 4] = (truth[1, 0, 4] + 1) % CLASSES
    return x, truth


def to_darknet(x: np.ndarray) -> np.ndarray:
    """NHWC with anchor-major channels -> darknet's (batch, anchor, entry, row, column)."""
    entries = 9 + CLASSES
    return x.reshape(BATCH, SIDE, SIDE, len(MASK), entries).transpose(0, 3, 4, 1, 2)


def from_darknet(v: np.ndarray) -> np.ndarray:
    entries = 9 + CLASSES
    v = v.reshape(BATCH, len(MASK), entries, SIDE, SIDE).transpose(0, 3, 4, 1, 2)
    return np.ascontiguousarray(v.reshape(BATCH, SIDE, SIDE, len(MASK) * entries))


def run(tree: Path) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "harness.c").write_text(HARNESS)
        objs = sorted(str(p) for p in (tree / "obj").glob("*.o") if p.name != "darknet.o")
        subprocess.run(["g++", "-x", "c", "-O2", f"-I{tree / 'include'}", f"-I{tree / 'src'}",
                        "-c", str(tmp / "harness.c"), "-o", str(tmp / "harness.o")], check=True)
        subprocess.run(["g++", str(tmp / "harness.o"), *objs, "-lm", "-lpthread", "-o",
                        str(tmp / "harness")], check=True)
        for k, (name, c) in enumerate(CASES.items()):
            x, truth = case_inputs(k)
            rows = np.zeros((BATCH, MAX_BOXES, 6), np.float32)  # darknet: x y w h id track
            rows[..., :5] = truth
            header = np.array([BATCH, SIDE, SIDE, len(MASK), len(ANCHORS), CLASSES, MAX_BOXES,
                               NET, NET, IOU_LOSS[c[0]], YOLO_POINT[c[1]], c[2]], np.int32)
            params = np.array(c[3:], np.float32)
            with open(tmp / "in.bin", "wb") as f:
                f.writelines(np.ascontiguousarray(part).tobytes() for part in (
                    header, params, np.array(MASK, np.int32), np.array(ANCHORS, np.float32),
                    to_darknet(x), rows))
            printed = subprocess.run([str(tmp / "harness"), str(tmp / "in.bin"),
                                      str(tmp / "out.bin")], capture_output=True, text=True,
                                     check=True)
            values = np.fromfile(tmp / "out.bin", np.float32).reshape(2, -1)
            out[f"{name}/input"] = x
            out[f"{name}/truth"] = truth
            out[f"{name}/output"] = from_darknet(values[0])
            out[f"{name}/delta"] = from_darknet(values[1])
            line = [s for s in printed.stderr.splitlines() if "Avg IOU" in s][-1]
            out[f"{name}/printed"] = np.array(line)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree", type=Path, help="built AlexeyAB/darknet source tree")
    p.add_argument("--write", action="store_true", help="record the fixture")
    args = p.parse_args(argv)
    out = run(args.tree.resolve())
    for name in CASES:
        print(name, str(out[f"{name}/printed"]))
    if args.write:
        np.savez_compressed(FIXTURE, **out)
        print(f"written to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
