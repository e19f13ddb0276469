"""Record AlexeyAB darknet's classifier mixup / cutmix / mosaic batches, for the tests.

    python tools/darknet_mixing_oracle.py ALEXEYAB_TREE [--write]

ALEXEYAB_TREE is a built AlexeyAB/darknet source tree (`make GPU=0 OPENCV=0 AVX=0`, see
NOTES.md), kept outside this repository. His load_data_augment mixes classifier batches in
the build without OpenCV too (only its blur is OpenCV's), so the script compiles a small
harness against the tree's headers, links every built object but darknet.o's main, and calls
load_data_augment (use_mixup = 1 mixup, 2 cutmix, 3 mosaic, 4 cutmix or mosaic) on solid grey
images, one grey per class (grey survives his crop and HSV round trip unchanged), with
srand(seed). The images he returns show which partner filled which pixels, so
tests/test_darknet_mixing.py can rebuild each one with darkpy's mixing functions from the
geometry it reads off the pixels and compare pixels and label weights bit for bit, and check
his rectangles and cuts against darkpy's ranges. darknet draws with rand(), darkpy with its
own generator: the draws themselves are not compared.

Detector mixup=1 runs in his build without OpenCV too (load_data_detection, blend_images and
blend_truth; cutmix and mosaic stop it there): a second harness loads the same seeds twice,
with mixup=0 and mixup=1 (both draw the base images before the mixup coin, so the base image
of each row is the unmixed load's), on solid grey images with k + 1 boxes of class k, jitter
and colour off. Output: tests/fixtures/darknet_mixing.npz.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "darknet_mixing.npz"
LEVELS = (30, 70, 110, 150, 190, 230)  # 8-bit grey of class k
LABELS = tuple(f"Grey{k}" for k in range(len(LEVELS)))  # capitals: no temporary path has them
SIZE, N, LOADS = 16, 8, 10
DET_LOADS, DET_SEED, MAX_BOXES, TRUTH_SIZE = 8, 21, 12, 6
# name: (use_mixup, label_smooth_eps, srand seed)
CASES = {
    "mixup": (1, 0.0, 11),
    "cutmix": (2, 0.0, 12),
    "cutmix_smooth": (2, 0.1, 13),
    "mosaic": (3, 0.0, 14),
    "cutmix_or_mosaic": (4, 0.1, 15),
}

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "darknet.h"
#include "data.h"
#include "list.h"
int main(int argc, char **argv) {
    /* list out n loads size use_mixup smooth seed label... */
    list *plist = get_paths(argv[1]);
    char **paths = (char **)list_to_array(plist);
    int n = atoi(argv[3]), loads = atoi(argv[4]), size = atoi(argv[5]), mode = atoi(argv[6]);
    float smooth = atof(argv[7]);
    srand(atoi(argv[8]));
    char **labels = argv + 9;
    int k = argc - 9;
    FILE *o = fopen(argv[2], "wb");
    for (int l = 0; l < loads; ++l) {
        data d = load_data_augment(paths, n, plist->size, labels, k, 0, 1, size, size, size,
                                   size, 0, 1, 0, 1, 1, mode, 0, 0, smooth, 1, 0);
        for (int i = 0; i < n; ++i) {
            fwrite(d.X.vals[i], sizeof(float), d.X.cols, o);
            fwrite(d.y.vals[i], sizeof(float), d.y.cols, o);
        }
        free_data(d);
    }
    fclose(o);
    return 0;
}
"""


DETECTION_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "darknet.h"
#include "data.h"
#include "list.h"
int main(int argc, char **argv) {
    /* list out n loads size seed classes boxes truth_size */
    list *plist = get_paths(argv[1]);
    char **paths = (char **)list_to_array(plist);
    int n = atoi(argv[3]), loads = atoi(argv[4]), size = atoi(argv[5]), seed = atoi(argv[6]);
    int classes = atoi(argv[7]), boxes = atoi(argv[8]), truth_size = atoi(argv[9]);
    FILE *o = fopen(argv[2], "wb");
    for (int l = 0; l < loads; ++l) {
        for (int mixup = 0; mixup <= 1; ++mixup) {
            srand(seed + l);
            data d = load_data_detection(n, paths, plist->size, size, size, 3, boxes,
                                         truth_size, classes, 0, 0, 0, mixup, 0, 1, 0, 1, 1,
                                         n, 0, 0, 0, 0, 0, 0, 0, 0);
            for (int i = 0; i < n; ++i) {
                fwrite(d.X.vals[i], sizeof(float), d.X.cols, o);
                fwrite(d.y.vals[i], sizeof(float), d.y.cols, o);
            }
            free_data(d);
        }
    }
    fclose(o);
    return 0;
}
"""


def detection_boxes(k: int) -> np.ndarray:
    """The label rows (class, x, y, w, h) of grey image k: k + 1 boxes of class k."""
    return np.array([[k, 0.2 + 0.15 * j, 0.5, 0.1, 0.2] for j in range(k + 1)], np.float32)


def _build(tree: Path, tmp: Path, name: str, source: str) -> Path:
    objs = sorted(str(p) for p in (tree / "obj").glob("*.o") if p.name != "darknet.o")
    (tmp / f"{name}.c").write_text(source)
    subprocess.run(["g++", "-x", "c", "-O2", f"-I{tree / 'include'}", f"-I{tree / 'src'}",
                    "-c", str(tmp / f"{name}.c"), "-o", str(tmp / f"{name}.o")], check=True)
    subprocess.run(["g++", str(tmp / f"{name}.o"), *objs, "-lm", "-lpthread", "-o",
                    str(tmp / name)], check=True)
    return tmp / name


def run_detection(tree: Path, tmp: Path) -> dict:
    import cv2

    harness = _build(tree, tmp, "detection", DETECTION_HARNESS)
    (tmp / "JPEGImages").mkdir()
    (tmp / "labels").mkdir()
    lines = []
    for k, (label, level) in enumerate(zip(LABELS, LEVELS)):
        path = tmp / "JPEGImages" / f"{label}.png"
        cv2.imwrite(str(path), np.full((SIZE, SIZE, 3), level, np.uint8))
        rows = detection_boxes(k)
        (tmp / "labels" / f"{label}.txt").write_text(
            "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows))
        lines.append(str(path))
    (tmp / "detection.txt").write_text("\n".join(lines) + "\n")
    result = tmp / "detection.bin"
    subprocess.run([str(harness), str(tmp / "detection.txt"), str(result), str(N),
                    str(DET_LOADS), str(SIZE), str(DET_SEED), str(len(LABELS)), str(MAX_BOXES),
                    str(TRUTH_SIZE)], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    raw = np.fromfile(result, np.float32).reshape(DET_LOADS, 2, N,
                                                  3 * SIZE * SIZE + MAX_BOXES * TRUTH_SIZE)
    planes = raw[..., :3 * SIZE * SIZE].reshape(DET_LOADS, 2, N, 3, SIZE, SIZE)
    if not (planes == planes[..., :1, :, :]).all():
        raise RuntimeError("detection: the channels differ; expected grey images")
    truth = raw[..., 3 * SIZE * SIZE:].reshape(DET_LOADS, 2, N, MAX_BOXES, TRUTH_SIZE)
    return {"detection_x": planes[..., 0, :, :], "detection_y": truth[..., :5]}


def run(tree: Path) -> dict:
    import cv2

    out = {"levels": np.array(LEVELS, np.int32)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        harness = _build(tree, tmp, "harness", HARNESS)
        lines = []
        for label, level in zip(LABELS, LEVELS):
            path = tmp / f"{label}.png"
            cv2.imwrite(str(path), np.full((SIZE, SIZE, 3), level, np.uint8))
            lines.append(str(path))
        (tmp / "train.txt").write_text("\n".join(lines) + "\n")
        k = len(LABELS)
        for name, (mode, smooth, seed) in CASES.items():
            result = tmp / f"{name}.bin"
            subprocess.run([str(harness), str(tmp / "train.txt"), str(result), str(N),
                            str(LOADS), str(SIZE), str(mode), repr(smooth), str(seed), *LABELS],
                           check=True, cwd=tmp, stdout=subprocess.DEVNULL)
            raw = np.fromfile(result, np.float32).reshape(LOADS, N, 3 * SIZE * SIZE + k)
            planes = raw[..., :3 * SIZE * SIZE].reshape(LOADS, N, 3, SIZE, SIZE)
            if not (planes == planes[:, :, :1]).all():
                raise RuntimeError(f"{name}: the channels differ; expected grey images")
            out[f"{name}_x"] = planes[:, :, 0]  # one channel: (loads, n, size, size)
            out[f"{name}_y"] = raw[..., 3 * SIZE * SIZE:]
            out[f"{name}_case"] = np.array([mode, smooth, seed], np.float64)
        out.update(run_detection(tree, tmp))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path, help="a built AlexeyAB/darknet source tree")
    parser.add_argument("--write", action="store_true", help=f"write {FIXTURE.name}")
    args = parser.parse_args(argv)
    recorded = run(args.tree)
    for name in CASES:
        y = recorded[f"{name}_y"]
        mixed = int((np.count_nonzero(y > 0.2, axis=-1) > 1).sum())
        print(f"{name}: {y.shape[0] * y.shape[1]} images, {mixed} with two or more labels")
    counts = (recorded["detection_y"][..., 0] > 0).sum(axis=-1)
    print(f"detection: {counts[:, 1].size} images, "
          f"{int((counts[:, 1] > counts[:, 0]).sum())} blended")
    if args.write:
        np.savez_compressed(FIXTURE, **recorded)
        print(f"wrote {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
