"""Record pjreddie darknet's [region] training forward with tree= (YOLO9000), for the tests.

    python tools/darknet_region_tree_oracle.py PJREDDIE_TREE [--write]
    python tools/darknet_train_oracle.py DARKNET --task region --tree [--write]   (the same)

PJREDDIE_TREE is a built pjreddie/darknet source tree (`make GPU=0 OPENCV=0`, see NOTES.md;
the second form takes its `darknet` binary and uses the folder it is in), kept outside this
repository. The script compiles a small harness of its own (HARNESS) against the tree's
headers and libdarknet.a: it makes a layer with make_region_layer, reads the tree with
darknet's read_tree, sets the loss keys of a case, runs forward_region_layer with train=1 on
a seeded input and truth, and writes l.output, l.delta and l.cost; the printed `Region Avg
IOU` line comes from darknet itself.

Where darknet's CPU code is right. `darknet detector train` cannot be used at all: its CPU
forward_region_layer runs each tree group's softmax with l.temperature, which parse_region
never sets (make_region_layer zeroes the layer), and a softmax at temperature 0 is NaN
everywhere (x/0 - max/0); the harness sets l.temperature = 1, which is what the GPU path
passes. The CPU softmax also lays the groups out without the w*h stride (groups = n*w*h one
float apart, elements n*w*h apart), which is darknet's layout only for a 1x1 grid with one
anchor. So the recorded CASES all use w = h = num = 1 (several images a batch); there the CPU
forward equals the GPU's semantics that darkpy implements, and every delta, the cost and the
printed statistics are compared. The script also reports, without recording, what the CPU
code gives at temperature 0 and on a 2x2 grid with two anchors, to show why (STRIDE_DEMO).
Note that a 1x1 grid leaves the classification-only truth's choice of prediction trivial
(one candidate); its order is unit-tested in tests/test_region_tree_loss.py.

--write stores every case (inputs in darkpy's layout, darknet's answers) in
tests/fixtures/darknet_train_region/tree.npz, which tests/test_region_tree_loss.py checks
darkpy's [region] with.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "darknet_train_region" / "tree.npz"
MAX_TRUTHS = 30  # darknet's l.truths = 30 * (coords + 1)

# a 9-node tree with four groups: {animal, vehicle, plant}, {cat, dog} under animal,
# {car, bus} under vehicle, {tabby, siamese} under cat
TREE = ("animal -1\nvehicle -1\nplant -1\ncat 0\ndog 0\ncar 1\nbus 1\ntabby 3\nsiamese 3\n")
CLASSES = 10  # one class entry past the tree's nine nodes: darknet leaves it alone
ONLY = 999999.0  # darknet's correct_boxes writes this for a label centred at (0, 0)

# name: (seen, softmax, rescore, thresh, coord, object, noobject, class scale,
#        truths per image: rows x, y, w, h, class)
CASES = {
    "boxes": (20000, 0, 1, 0.6, 1.0, 5.0, 1.0, 1.0, [
        [(0.5, 0.5, 0.4, 0.3, 7)],                       # tabby: three groups
        [(0.3, 0.6, 0.9, 0.8, 1)],                       # vehicle: a root
        [(0.45, 0.55, 0.2, 0.2, 6), (0.6, 0.4, 0.5, 0.5, 4)],  # the second overwrites
        [(0.52, 0.48, 0.7, 0.6, 2)],
    ]),
    "prior_and_scales": (3200, 1, 0, 0.5, 2.0, 1.0, 0.5, 1.5, [
        [(0.5, 0.5, 0.6, 0.6, 8)],
        [],
        [(0.2, 0.7, 0.3, 0.3, 5), (0.8, 0.8, 0.3, 0.4, 3)],
    ]),
    "class_only": (20000, 0, 1, 0.5, 1.0, 5.0, 1.0, 1.0, [
        [(ONLY, ONLY, ONLY, ONLY, 8)],
        [(0.5, 0.5, 0.5, 0.5, 4), (ONLY, ONLY, ONLY, ONLY, 5)],  # the image trains its class only
        [(0.5, 0.5, 0.5, 0.5, 4)],
        [(ONLY, ONLY, ONLY, ONLY, 0), (ONLY, ONLY, ONLY, ONLY, 6)],  # the first one counts
    ]),
}

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "darknet.h"
#include "region_layer.h"
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    int h[8];
    float p[6];
    if (!f || fread(h, sizeof(int), 8, f) != 8 || fread(p, sizeof(float), 6, f) != 6) return 1;
    int batch = h[0], w = h[1], hh = h[2], n = h[3], classes = h[4];
    size_t seen = h[5];
    layer l = make_region_layer(batch, w, hh, n, classes, 4);
    l.softmax = h[6]; l.rescore = h[7];
    l.thresh = p[0]; l.coord_scale = p[1]; l.object_scale = p[2];
    l.noobject_scale = p[3]; l.class_scale = p[4]; l.temperature = p[5];
    if (fread(l.biases, sizeof(float), 2 * n, f) != (size_t)(2 * n)) return 1;
    float *input = calloc(batch * l.inputs, sizeof(float));
    float *truth = calloc(batch * l.truths, sizeof(float));
    if (fread(input, sizeof(float), batch * l.inputs, f) != (size_t)(batch * l.inputs)) return 1;
    if (fread(truth, sizeof(float), batch * l.truths, f) != (size_t)(batch * l.truths)) return 1;
    fclose(f);
    l.softmax_tree = read_tree(argv[2]);
    network net = {0};
    net.input = input;
    net.truth = truth;
    net.train = 1;
    net.seen = &seen;
    forward_region_layer(l, net);
    fflush(stdout);
    FILE *o = fopen(argv[3], "wb");
    fwrite(l.output, sizeof(float), batch * l.outputs, o);
    fwrite(l.delta, sizeof(float), batch * l.outputs, o);
    fwrite(l.cost, sizeof(float), 1, o);
    fclose(o);
    return 0;
}
"""

REGION_LINE = re.compile(r"Region Avg IOU: (\S+), Class: (\S+), Obj: (\S+), No Obj: (\S+), "
                         r"Avg Recall: (\S+),\s+count: (\d+)")
STAT_KEYS = ("avg_iou", "avg_class", "avg_obj", "avg_noobj", "recall", "count")
ANCHORS = {1: [(1.3, 1.1)], 2: [(1.3, 1.1), (0.6, 0.8)]}


def build_harness(tree: Path, work: Path) -> Path:
    source, binary = work / "region_tree_harness.c", work / "region_tree_harness"
    source.write_text(HARNESS)
    subprocess.run(["cc", "-O2", "-o", str(binary), str(source), f"-I{tree / 'include'}",
                    f"-I{tree / 'src'}", str(tree / "libdarknet.a"), "-lm", "-pthread"],
                   check=True)
    return binary


def case_input(seed: int, batch: int, side: int, n: int) -> np.ndarray:
    """(batch, side, side, n * (5 + CLASSES)) raw inputs in darkpy's NHWC layout."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.5, (batch, side, side, n * (5 + CLASSES))).astype(np.float32)


def to_darknet(x: np.ndarray, n: int) -> np.ndarray:
    """NHWC (anchor-major channels) -> darknet's (batch, anchor, entry, h, w) buffer."""
    b, h, w, _ = x.shape
    return np.ascontiguousarray(x.reshape(b, h, w, n, -1).transpose(0, 3, 4, 1, 2)).ravel()


def from_darknet(v: np.ndarray, b: int, h: int, w: int, n: int) -> np.ndarray:
    return np.ascontiguousarray(v.reshape(b, n, -1, h, w).transpose(0, 3, 4, 1, 2)
                                ).reshape(b, h, w, -1)


def truth_array(rows_per_image) -> np.ndarray:
    truth = np.zeros((len(rows_per_image), MAX_TRUTHS, 5), np.float32)
    for b, rows in enumerate(rows_per_image):
        for t, row in enumerate(rows):
            truth[b, t] = row
    return truth


def run_case(binary: Path, work: Path, x: np.ndarray, truth: np.ndarray, params: tuple,
             n: int, temperature: float = 1.0) -> dict:
    seen, softmax, rescore, thresh, coord, obj, noobj, cls = params
    b, h, w, _ = x.shape
    tree_file = work / "tiny.tree"
    tree_file.write_text(TREE)
    blob = work / "case.bin"
    with open(blob, "wb") as f:
        np.array([b, w, h, n, CLASSES, seen, softmax, rescore], np.int32).tofile(f)
        np.array([thresh, coord, obj, noobj, cls, temperature], np.float32).tofile(f)
        np.array(ANCHORS[n], np.float32).tofile(f)
        to_darknet(x, n).astype(np.float32).tofile(f)
        truth.astype(np.float32).tofile(f)
    result = work / "result.bin"
    printed = subprocess.run([str(binary), str(blob), str(tree_file), str(result)], check=True,
                             capture_output=True, text=True).stdout
    m = REGION_LINE.search(printed)
    values = np.fromfile(result, np.float32)
    size = x.size
    return {"output": from_darknet(values[:size], b, h, w, n),
            "delta": from_darknet(values[size:2 * size], b, h, w, n),
            "cost": float(values[2 * size]),
            "stats": dict(zip(STAT_KEYS, [float(v) for v in m.groups()[:5]] + [int(m.group(6))]))}


def darkpy_case(x: np.ndarray, truth: np.ndarray, params: tuple, n: int, work: Path) -> dict:
    """darkpy's [region] on the same case: output, loss delta, report."""
    from darkpy.config.schema import parse_options
    from darkpy.config.section import Section
    from darkpy.layers.region import Region

    seen, softmax, rescore, thresh, coord, obj, noobj, cls = params
    tree_file = work / "tiny.tree"
    tree_file.write_text(TREE)
    options = {"classes": CLASSES, "coords": 4, "num": n, "tree": str(tree_file),
               "anchors": ",".join(f"{v}" for pair in ANCHORS[n] for v in pair),
               "softmax": softmax, "rescore": rescore, "thresh": thresh, "coord_scale": coord,
               "object_scale": obj, "noobject_scale": noobj, "class_scale": cls}
    opts = parse_options(Section("region", {k: str(v) for k, v in options.items()}),
                         Region.keys)
    head = Region(opts, [x.shape[1:]], index=0, origin="oracle.cfg:1")
    head.images_seen = seen
    head.set_truth(truth)
    out = head.forward([x], train=True)
    return {"output": out, "delta": head._loss_delta, "report": head.loss}


def run(tree: Path, write: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        binary = build_harness(tree, work)
        arrays, meta = {}, {}
        for seed, (name, case) in enumerate(CASES.items()):
            params, rows = case[:8], case[8]
            x = case_input(seed, len(rows), 1, 1)
            truth = truth_array(rows)
            ref = run_case(binary, work, x, truth, params, 1)
            mine = darkpy_case(x, truth, params, 1, work)
            delta_off = np.abs(ref["delta"] - mine["delta"]).max()
            out_off = np.abs(ref["output"] - mine["output"]).max()
            cost_off = abs(ref["cost"] - mine["report"]["cost"]) / ref["cost"]
            stat_off = max(abs(ref["stats"][k] - mine["report"][k]) for k in STAT_KEYS
                           if not np.isnan(ref["stats"][k]))
            print(f"{name}: outputs within {out_off:.1e}, deltas within {delta_off:.1e}, cost "
                  f"{ref['cost']:.6f} (darkpy off by {cost_off:.1e} relative), printed "
                  f"statistics within {stat_off:.1e}: {ref['stats']}")
            arrays.update({f"{name}/input": x, f"{name}/truth": truth,
                           f"{name}/output": ref["output"], f"{name}/delta": ref["delta"]})
            meta[name] = {"params": list(params), "cost": ref["cost"], "stats": ref["stats"]}
        # why only 1x1 grids with one anchor (not recorded)
        x = case_input(7, 2, 1, 1)
        truth = truth_array(CASES["boxes"][8][:2])
        zero = run_case(binary, work, x, truth, CASES["boxes"][:8], 1, temperature=0.0)
        print(f"temperature 0 (darknet's unset l.temperature): {np.isnan(zero['output']).sum()} "
              f"NaN outputs, cost {zero['cost']}")
        x = case_input(8, 2, 2, 2)
        ref = run_case(binary, work, x, truth, CASES["boxes"][:8], 2)
        mine = darkpy_case(x, truth, CASES["boxes"][:8], 2, work)
        print(f"2x2 grid, 2 anchors (STRIDE_DEMO): class outputs differ by up to "
              f"{np.abs(ref['output'] - mine['output']).max():.2f} (darknet's CPU stride bug)")
        if write:
            FIXTURE.parent.mkdir(parents=True, exist_ok=True)
            arrays["meta"] = np.frombuffer(json.dumps(
                {"about": "pjreddie darknet (CPU, l.temperature = 1) forward_region_layer "
                          "with tree= on 1x1 grids, one anchor; recorded by "
                          "tools/darknet_region_tree_oracle.py", "tree": TREE,
                 "classes": CLASSES, "anchors": ANCHORS[1], "cases": meta}).encode(), np.uint8)
            np.savez_compressed(FIXTURE, **arrays)
            print(f"fixture written to {FIXTURE}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree", type=Path, help="built pjreddie/darknet source tree (libdarknet.a)")
    p.add_argument("--write", action="store_true", help="record the fixture")
    args = p.parse_args(argv)
    return run(args.tree.resolve(), args.write)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
