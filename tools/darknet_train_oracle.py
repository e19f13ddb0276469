"""Compare darkpy's training with darknet's: one and two SGD iterations of yolov3-tiny
(`--task detector`, the default; pjreddie's darknet) or of yolov4-tiny with iou_loss=ciou
(AlexeyAB's darknet, `--fork alexeyab`), or of a small classifier (`--task classifier`).

    python tools/darknet_train_oracle.py DARKNET [--task detector|classifier|region]
        [--fork pjreddie|alexeyab] [--shared ../shared] [--work DIR] [--write]

With --task region: `region_set` writes three 96x96 mirror-symmetric images with boxes in
distinct cells, `region_cfg` a small YOLOv2-style detector (five conv+bn+maxpool stages,
[region] with bias_match, rescore, object_scale 5, softmax) from a seeded random start; one
iteration of `darknet detector train` (rows logged by ORDER_SHIM) gives the [region]
statistics and the loss darknet prints, which darkpy must repeat (pjreddie's CPU
backward_region_layer is empty, so its weights are not compared); --write records them in
tests/fixtures/darknet_train_region/. `--task region --tree` instead runs
tools/darknet_region_tree_oracle.py on the source tree DARKNET was built in (its folder):
[region] with tree= (YOLO9000), which `detector train` cannot show (pjreddie's CPU tree softmax
runs at an unset temperature 0, NaN; that script's docstring says where it is right).

With --task classifier (no ../shared needed): `classifier_set` writes 32x32 pictures of three
classes (stripes, ovals, checks; left-right symmetric because darknet flips at random),
`classifier_cfg` a small network (two conv+bn+maxpool stages, a 1x1 convolution, avgpool,
softmax, [cost] sse) with augmentation off (min_crop = max_crop = width, hue 0, saturation
and exposure 1), and `random_start` darkpy's seeded random initialisation as .weights. darknet's
`classifier train` picks its images with rand() seeded by the clock in 32 loader threads;
ORDER_SHIM, a small interposer compiled here with `cc` and LD_PRELOADed into darknet, logs
which image every loader thread opens, and so the rows of every batch. darkpy trains on the
same rows and every parameter of darknet's <cfg>.weights is compared; --write records them
all, the image order and darknet's losses in tests/fixtures/darknet_train_classifier/ (with
start.weights), checked by tests/test_darknet_train_classifier.py.

The detector comparison:

DARKNET is a pjreddie/darknet or AlexeyAB/darknet binary built by the user (CPU, `make GPU=0
OPENCV=0`; see NOTES.md), kept outside this repository. The script

1. writes a tiny labelled set (`oracle_set`): three 416x416 PNGs cut from darknet's sample
   photos and made left-right symmetric, with hand-made labels that are mirror-symmetric too,
   so darknet's unconditional random flip (pjreddie flips every image with probability 1/2)
   changes neither pixels nor boxes; box coordinates are multiples of 1/64, exact in float;
2. derives the cfg (`oracle_cfg`): the official yolov3-tiny.cfg with augmentation off
   (jitter=0 hue=0 saturation=1 exposure=1 random=0), burn_in=0, batch=4 subdivisions=2 and
   max_batches = 1 or 2;
3. runs `DARKNET detector train obj.data CFG yolov3-tiny.weights -clear` once per iteration
   count. darknet picks each minibatch's images at random (srand(time(0))); the images hold
   1, 2 and 4 boxes, so the `count:` darknet prints for the two [yolo] layers of every forward
   names the pair of images it trained on (every pair has its own total). The sequence is
   read from its log;
4. trains darkpy from the same weights on the same sequence (darkpy.train.darknet.loop) and
   compares every parameter (and rolling statistic) of darknet's `_final.weights`: the
   relative difference of the weights and of their change from the start;
5. with --write, records a strided slice of darknet's weights after each run, the image
   sequences and darknet's per-forward [yolo] statistics in tests/fixtures/darknet_train/,
   which tests/test_darknet_train_oracle.py checks darkpy against without darknet.

With `--fork alexeyab` the network is ../shared/darknet-cfg/yolov4-tiny.cfg (route groups,
scale_x_y=1.05, iou_loss=ciou, iou_normalizer=0.07) with AlexeyAB's augmentation keys off as
well (flip=0 mosaic=0 blur=0 mixup=0 angle=0, and resize=1 in the heads), trained from a
seeded random start (`start_weights`: darkpy's darknet initialisation with seed 11, written as
a .weights file both load), darknet run with -dont_show. AlexeyAB's darknet prints per head
the average IoU, count, class_loss, iou_loss and total_loss; those are compared and recorded
(fixtures in tests/fixtures/darknet_train/alexeyab_*). His image picking is as random as
pjreddie's (srand(time(0))), so the same box-count rule names each minibatch's images.

`--fork alexeyab --start official` is the AlexeyAB loss from the official weights: yolov3-tiny.cfg
whose two [yolo] heads take yolov4-tiny's AlexeyAB keys (CIOU_HEAD: iou_loss=ciou,
iou_normalizer=0.07, scale_x_y=1.05, ...), the official yolov3-tiny.weights, the colour set
and pjreddie's comparison's learning rate (fixtures alexeyab_official_darknet*). From trained
weights few batch-normalised values sit at a leaky kink, so the ulps in which darkpy's first
update differs from darknet's do not flip the second forward as they do from the random start.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_train"
NET_SIZE = 416
BATCH, SUBDIVISIONS = 4, 2
LEARNING_RATE = 0.001
# From a random start (loss ~300 per image) an update at 1e-3 is as large as the weights
# themselves; 1e-5 keeps the updates as small against the weights as fine-tuning the official
# yolov3-tiny at 1e-3 does. Measured (max relative weight difference, 1 / 2 iterations):
# 1e-3: 1.8e-6 / 4.4e-3; 1e-4: 1.8e-7 / 4.0e-4; 1e-5: 1.1e-7 / 6.2e-3. The first iteration's
# forward is bit for bit darknet's; its update is not (darkpy sums the backward in another
# order: weights one float32 ulp apart), so the second forward differs by ulps, and where a
# batch-normalised value sits within an ulp of 0 its leaky kink flips: checked with a C
# harness on darknet's objects, one flip in layer 26 made layers 26 and below 7e-3 apart in
# the next minibatch's gradient while 27-36 stayed within 1e-5. The flip moves a gradient by
# an amount that does not shrink with the rate, hence the second column. Open: darknet's own
# summation order in the backward (gemm_nt, gemm_tn, col2im, batch norm).
LEARNING_RATE_BY_FORK = {"pjreddie": LEARNING_RATE, "alexeyab": 0.00001}
SLICE = 192  # elements recorded per parameter
START_SEED = 11  # the random start of the AlexeyAB comparison
# what each fork's darknet prints per [yolo] head and forward (the keys of layers/yolo.py's
# reports compared with it)
REPORT_KEYS_BY_FORK = {
    "pjreddie": ("avg_iou", "avg_class", "avg_obj", "avg_noobj", "recall50", "recall75"),
    "alexeyab": ("avg_iou", "class_loss", "iou_loss", "total_loss"),
}

# name -> (source photo in ../shared/images, labels "class x y w h" in 64ths of the image);
# every box is centred (x = 32) or has a mirror twin of the same class (x -> 64 - x)
IMAGES = {
    "dog": ("dog.jpg", [(16, 32, 36, 32, 40)]),
    "person": ("person.jpg", [(0, 16, 32, 12, 24), (0, 48, 32, 12, 24)]),
    "horses": ("horses.jpg", [(17, 12, 16, 8, 8), (17, 52, 16, 8, 8),
                              (17, 24, 44, 4, 6), (17, 40, 44, 4, 6)]),
}


def symmetric_square(rgb: np.ndarray, side: int = NET_SIZE) -> np.ndarray:
    """The central square of an (H, W, 3) uint8 image, nearest-neighbour resampled to side x
    side (pure integer arithmetic, so the pixels do not depend on any library version), with
    its left half mirrored onto the right."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    index = (np.arange(side) * s) // side
    square = rgb[y0 + index][:, x0 + index]
    half = side // 2
    square[:, side - half:] = square[:, :half][:, ::-1]
    return np.ascontiguousarray(square)


def oracle_set(shared: Path, out: Path, gray: bool = False) -> dict:
    """Write images/NAME.png, labels/NAME.txt (and images/NAME.txt, where AlexeyAB's label
    rule looks), train.txt, obj.names, obj.data under `out`; returns {name: box count}.
    gray: the images in shades of gray (r = g = b, integer luminance), which darknet's
    distort_image (RGB -> HSV -> RGB in float, run on every training image even with
    hue=0 saturation=1 exposure=1) gives back unchanged; colour pixels come back moved by
    a rounding, which darkpy's loader now takes too (Augmentation.hsv_round_trip: pjreddie
    always, AlexeyAB with darknet_build="alexeyab-cpu"); the AlexeyAB fixtures were
    recorded on the gray set."""
    import cv2

    from darkpy.io.jpeg import decode_jpeg

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "backup").mkdir(exist_ok=True)
    lines = []
    counts = {}
    for name, (photo, boxes) in IMAGES.items():
        rgb = decode_jpeg(np.fromfile(shared / "images" / photo, np.uint8))
        image = symmetric_square(rgb)
        if gray:
            luma = (image.astype(np.int64) @ np.array([299, 587, 114])) // 1000
            image = np.repeat(luma[:, :, None], 3, axis=2).astype(np.uint8)
        path = out / "images" / f"{name}.png"
        if not cv2.imwrite(str(path), image[:, :, ::-1]):
            raise OSError(f"cannot write {path}")
        text = "".join(f"{c} {x / 64:.6f} {y / 64:.6f} {w / 64:.6f} {h / 64:.6f}\n"
                       for c, x, y, w, h in boxes)
        (out / "labels" / f"{name}.txt").write_text(text)
        (out / "images" / f"{name}.txt").write_text(text)
        lines.append(str(path.resolve()))
        counts[name] = len(boxes)
    (out / "train.txt").write_text("\n".join(lines) + "\n")
    names = (shared / "models" / "yolov3-tiny" / "coco.names").read_text()
    (out / "obj.names").write_text(names)
    (out / "obj.data").write_text(f"classes = 80\ntrain = {out.resolve() / 'train.txt'}\n"
                                  f"names = {out.resolve() / 'obj.names'}\n"
                                  f"backup = {out.resolve() / 'backup'}\n")
    return counts


def oracle_cfg(shared: Path, max_batches: int, fork: str = "pjreddie",
               start: str = "random") -> str:
    """yolov3-tiny.cfg (pjreddie), yolov4-tiny.cfg (alexeyab from a random start) or
    yolov3-tiny.cfg with yolov4-tiny's [yolo] keys (alexeyab, start="official": the
    official weights fit it) with augmentation off and the training schedule of the
    comparison."""
    from darkpy.config.cfg import format_cfg, read_cfg

    if fork == "alexeyab" and start == "random":
        sections = read_cfg(shared / "darknet-cfg" / "yolov4-tiny.cfg")
    else:
        sections = read_cfg(shared / "models" / "yolov3-tiny" / "yolov3-tiny.cfg")
    net = sections[0].options
    rate = LEARNING_RATE_BY_FORK[fork] if start == "random" else LEARNING_RATE
    net.update(batch=str(BATCH), subdivisions=str(SUBDIVISIONS), burn_in="0",
               max_batches=str(max_batches), learning_rate=repr(rate),
               hue="0", saturation="1", exposure="1")
    if fork == "alexeyab":
        net.update(flip="0", mosaic="0", blur="0", mixup="0", angle="0")
    for section in sections:
        if section.kind == "yolo":
            if fork == "alexeyab" and start == "official":
                section.options.update(CIOU_HEAD)
            section.options.update(jitter="0", random="0")
            if fork == "alexeyab":
                section.options.update(resize="1")
    return format_cfg(sections)


# yolov4-tiny's [yolo] keys (AlexeyAB's loss) that the official-weights variant of the
# AlexeyAB comparison puts into yolov3-tiny's heads
CIOU_HEAD = {"scale_x_y": "1.05", "cls_normalizer": "1.0", "iou_normalizer": "0.07",
             "iou_loss": "ciou", "ignore_thresh": ".7", "truth_thresh": "1",
             "nms_kind": "greedynms", "beta_nms": "0.6"}


def start_weights(cfg: Path, path: Path) -> Path:
    """The AlexeyAB comparison's starting point: darkpy's darknet-style random initialisation
    (seed START_SEED) of `cfg`, written as darknet .weights (seen 0)."""
    from darkpy.api import read_sections
    from darkpy.io.darknet_weights import WeightsHeader, save_darknet_weights
    from darkpy.network import Network
    from darkpy.train.model import initialise

    network = Network(read_sections(cfg), source=str(cfg), init=False)
    initialise(network, START_SEED)
    save_darknet_weights(network, path, WeightsHeader(0, 2, 0, 0))
    return path


REGION = re.compile(r"Region (\d+) Avg IOU: (\S+), Class: (\S+), Obj: (\S+), No Obj: (\S+), "
                    r"\.5R: (\S+), \.75R: (\S+),\s+count: (\d+)")
# AlexeyAB: "v3 (ciou loss, Normalizer: (...) Region 30 Avg (IOU: 0.1), count: 3,
# class_loss = 1.0, iou_loss = 2.0, total_loss = 3.0"
REGION_ALEXEYAB = re.compile(r"Region (\d+) Avg \(IOU: (\S+)\), count: (\d+), class_loss = "
                             r"(\S+), iou_loss = (\S+), total_loss = (\S+)")


def parse_log(text: str, fork: str = "pjreddie") -> list[list[dict]]:
    """darknet's [yolo] report lines grouped by forward (one line per [yolo] layer)."""
    rows = []
    for m in (REGION_ALEXEYAB if fork == "alexeyab" else REGION).finditer(text):
        layer = int(m.group(1))
        if fork == "alexeyab":
            values = [float(v) for v in m.group(2, 4, 5, 6)]
            row = dict(layer=layer, count=int(m.group(3)),
                       **dict(zip(REPORT_KEYS_BY_FORK[fork], values)))
        else:
            values = [float(v) for v in m.group(2, 3, 4, 5, 6, 7)]
            row = dict(layer=layer, avg_iou=values[0], avg_class=values[1],
                       avg_obj=values[2], avg_noobj=values[3], recall50=values[4],
                       recall75=values[5], count=int(m.group(8)))
        if not rows or any(r["layer"] == layer for r in rows[-1]):
            rows.append([])
        rows[-1].append(row)
    return rows


def head_counts(cfg: Path) -> dict:
    """{image name: {[yolo] layer index: boxes it trains}}: each box goes to the head whose
    mask holds its best anchor (IoU of the centred shapes, of all `num`), as darknet assigns."""
    from darkpy.api import read_sections
    from darkpy.kernels.yolo_loss import box_iou
    from darkpy.network import Network

    network = Network(read_sections(cfg), source=str(cfg), init=False)
    heads = [layer for layer in network.layers if layer.kind == "yolo"]
    net_h, net_w = network.input_shape[:2]
    out = {}
    for name, (_, boxes) in IMAGES.items():
        out[name] = {head.index: 0 for head in heads}
        for _, _, _, w, h in boxes:
            ious = [box_iou(np.float32(0), np.float32(0), np.float32(aw / net_w),
                            np.float32(ah / net_h), np.float32(0), np.float32(0),
                            np.float32(w / 64), np.float32(h / 64))
                    for aw, ah in heads[0].all_anchors]
            best = int(np.argmax(ious))
            for head in heads:
                if best in head.mask:
                    out[name][head.index] += 1
    return out


def minibatch_images(forwards: list[list[dict]], counts: dict) -> list[list[str]]:
    """Which images each forward trained on, from the box counts it reported: `counts` is
    {name: boxes} (pjreddie: the forward's total names the pair) or {name: {layer: boxes}}
    (AlexeyAB, who prints max(count, 1) per head: the per-head counts name it)."""
    names = sorted(counts)
    per_head = isinstance(next(iter(counts.values())), dict)

    def signature(pair_counts):
        if per_head:
            return tuple(sorted((layer, max(n, 1)) for layer, n in pair_counts.items()))
        return pair_counts

    def add(a, b):
        if per_head:
            return {layer: a[layer] + b[layer] for layer in a}
        return a + b

    by_signature = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            key = signature(add(counts[a], counts[b]))
            if key in by_signature:
                raise ValueError(f"box counts {counts} do not tell image pairs apart")
            by_signature[key] = [a, b]
    out = []
    for rows in forwards:
        if per_head:
            key = tuple(sorted((r["layer"], r["count"]) for r in rows))
        else:
            key = sum(r["count"] for r in rows)
        if key not in by_signature:
            raise ValueError(f"darknet reported boxes {key} in one forward: no pair of "
                             f"{counts} gives that")
        out.append(by_signature[key])
    return out


def run_darknet(darknet: Path, work: Path, cfg_text: str, weights: Path, tag: str,
                task: str = "detector", data: str = "obj.data", final_name: str = "{}_final",
                env: dict | None = None, fork: str = "pjreddie"):
    """(path of darknet's final weights, its log) for one cfg: `darknet TASK train DATA CFG
    WEIGHTS -clear` (pjreddie names the result <cfg>_final.weights for detectors and
    <cfg>.weights for classifiers; AlexeyAB's build also gets -dont_show)."""
    import os

    cfg = work / f"{tag}.cfg"
    cfg.write_text(cfg_text)
    backup = work / "backup"
    final = backup / f"{final_name.format(tag)}.weights"
    final.unlink(missing_ok=True)
    proc = subprocess.run([str(darknet), task, "train", str(work / data), str(cfg),
                           str(weights), "-clear", *(["-dont_show"] if fork == "alexeyab" else [])],
                          cwd=darknet.parent, capture_output=True,
                          text=True, timeout=3600, env={**os.environ, **(env or {})})
    log = proc.stdout + proc.stderr
    (work / f"{tag}.log").write_text(log)
    if proc.returncode != 0 or not final.is_file():
        raise RuntimeError(f"darknet failed (exit {proc.returncode}); see {work / tag}.log")
    return final, log


def darknet_params(cfg_path: Path, weights: Path):
    """({(layer, name): array in darknet layout}, seen) of a .weights file."""
    from darkpy.api import read_sections
    from darkpy.io.darknet_weights import load_darknet_weights
    from darkpy.network import Network

    network = Network(read_sections(cfg_path), source=str(cfg_path))
    header = load_darknet_weights(network, weights)
    params = {(layer.index, name): np.array(layer.get_param(name), np.float32).reshape(-1)
              for layer in network.layers for name, _ in layer.param_layout()}
    return params, header.seen


def slice_indices(size: int, most: int = SLICE) -> np.ndarray:
    """The elements of a parameter the fixtures record: evenly spread, first and last included."""
    return np.unique(np.linspace(0, size - 1, min(size, most)).round().astype(np.int64))


REPORT_KEYS = REPORT_KEYS_BY_FORK["pjreddie"]


def report_keys(row: dict) -> tuple:
    """The printed statistics a parsed darknet row holds (its fork's)."""
    return REPORT_KEYS_BY_FORK["alexeyab" if "class_loss" in row else "pjreddie"]


def _distance(darknet_rows: list[dict], reports: dict) -> float:
    """How far darkpy's [yolo] reports are from the numbers darknet printed (6 decimals)."""
    total = 0.0
    for row in darknet_rows:
        mine = reports[row["layer"]]
        for key in report_keys(row):
            if not (np.isnan(row[key]) and np.isnan(mine[key])):
                total += abs(row[key] - mine[key])
    return total


def _probe(trainer, indices: list[int]) -> dict:
    """The [yolo] reports of a training forward on `indices`, leaving the network as it was
    (the forward moves the batch-norm rolling statistics; they are put back)."""
    saved = {(layer.index, name): layer.params[name].copy() for layer in trainer.network.layers
             for name in ("rolling_mean", "rolling_variance") if name in layer.params}
    x, truth, _ = trainer.loader.batch(trainer.iteration, len(indices), indices)
    for head in trainer.heads:
        head.set_truth(truth, trainer.net_w, trainer.net_h)
    trainer.network.forward(x, train=True)
    reports = {head.index: head.loss for head in trainer.heads}
    for head in trainer.heads:
        head.set_truth(None, 0, 0)
    for layer in trainer.network.layers:
        for name in ("rolling_mean", "rolling_variance"):
            if (layer.index, name) in saved:
                layer.params[name][...] = saved[(layer.index, name)]
        layer.invalidate()
    return reports


class _Collect:  # darkpy.reporting.Reporter's training hooks
    def __init__(self):
        self.reports = []

    def start(self, iteration, total, info):
        pass

    def iteration(self, report):
        self.reports.append(report)

    def checkpoint(self, iteration, path):
        pass

    def message(self, text):
        print(text)


def train_darkpy(work: Path, cfg: Path, weights: Path, order: list[list[str]],
                 forwards: list[list[dict]] | None = None, fork: str = "pjreddie"):
    """darkpy trained from `weights` on darknet's image sequence, one pair of image names per
    minibatch: (params, seen, iteration reports, the order used); for fork="alexeyab" as
    his CPU build trains (DarknetTrainer's darknet_build="alexeyab-cpu"). darknet's log names the
    images of a minibatch but not their order, which matters (its float sums over the batch
    depend on it): given darknet's `forwards`, the order of two different images whose [yolo]
    statistics come closer to what darknet printed is taken."""
    from darkpy.train.darknet.loop import DarknetTrainer

    trainer = DarknetTrainer(cfg, work / "obj.data", weights, clear=True,
                              backup=work / "darkpy", cfg_name=cfg.stem, exact=True,
                              darknet_build="alexeyab-cpu" if fork == "alexeyab" else None)
    names = [Path(item.image).stem for item in trainer.dataset.items]
    collect = _Collect()
    used = []
    iterations = len(order) // SUBDIVISIONS
    for it in range(iterations):
        indices = []
        for f in range(it * SUBDIVISIONS, (it + 1) * SUBDIVISIONS):
            pair = [names.index(n) for n in order[f]]
            if forwards is not None and pair[0] != pair[1]:
                swapped = pair[::-1]
                if _distance(forwards[f], _probe(trainer, swapped)) < \
                        _distance(forwards[f], _probe(trainer, pair)):
                    pair = swapped
            used.append([names[i] for i in pair])
            indices += pair
        trainer.image_order = {trainer.iteration: indices}
        result = trainer.run(collect, iterations=1)
    params, seen = darknet_params(cfg, result.final)
    return params, seen, collect.reports, used


def compare(start: dict, darknet: dict, darkpy: dict, keys=None) -> dict:
    """Per parameter: max |darkpy - darknet| / max |darknet| (`weights`); the difference
    beyond one float32 ulp of the stored value relative to the largest change from `start`
    (`update`: the updates themselves, less the rounding of w + update to float32 that any two
    computations of it may fall on either side of); the share of elements off by more than
    1e-4 of their own size (`elements`)."""
    out = {}
    for key in keys or darknet:
        ref, got, begin = darknet[key], darkpy[key], start[key]
        diff = np.abs(got.astype(np.float64) - ref)
        change = float(np.max(np.abs(ref.astype(np.float64) - begin))) or 1.0
        beyond_ulp = np.maximum(diff - np.spacing(np.abs(ref)).astype(np.float64), 0.0)
        out[f"{key[0]}/{key[1]}"] = {
            "weights": float(diff.max() / (np.max(np.abs(ref)) or 1.0)),
            "update": float(beyond_ulp.max() / change),
            "elements": float(np.mean(diff > 1e-4 * np.abs(ref))),
        }
    return out


def pixel_digest(work: Path) -> dict:
    """sha256 of each training image's decoded pixels (the fixtures' inputs)."""
    import hashlib

    from darkpy.io.image import load_image

    return {name: hashlib.sha256(load_image(work / "images" / f"{name}.png").tobytes()).hexdigest()
            for name in IMAGES}


def parse_losses(log: str) -> list[float]:
    """The loss of every iteration line (detector `i: loss, avg avg, ...`; classifier
    `i, epoch: loss, avg avg, ...`)."""
    return [float(m.group(1))
            for m in re.finditer(r"^ ?\d+(?:, \S+)?: (\S+), \S+ avg", log, re.M)]


FIXTURE_PREFIX = {"pjreddie": "darknet", "alexeyab": "alexeyab_darknet",
                  "alexeyab-official": "alexeyab_official_darknet"}
ABOUT = {
    "pjreddie": "pjreddie darknet (CPU) training yolov3-tiny from the official weights on "
                "tools/darknet_train_oracle.py's mirrored set; recorded by that script",
    "alexeyab": "AlexeyAB darknet (CPU, AVX=0) training yolov4-tiny (iou_loss=ciou) from "
                "tools/darknet_train_oracle.py's seeded random start on its mirrored set; "
                "recorded by that script with --fork alexeyab",
    "alexeyab-official": "AlexeyAB darknet (CPU, AVX=0) training yolov3-tiny with yolov4-tiny's "
                         "[yolo] keys (iou_loss=ciou) from the official weights on "
                         "tools/darknet_train_oracle.py's mirrored colour set; recorded by "
                         "that script with --fork alexeyab --start official",
}


def variant_of(fork: str, start: str = "random") -> str:
    """The name of a comparison: its fork, plus "-official" for AlexeyAB's loss trained from
    the official yolov3-tiny weights."""
    return f"{fork}-official" if fork == "alexeyab" and start == "official" else fork


def fixture_paths(variant: str) -> tuple[Path, Path]:
    """(json, npz) of a comparison's recorded run (`variant_of`)."""
    prefix = FIXTURE_PREFIX[variant]
    return FIXTURES / f"{prefix}.json", FIXTURES / f"{prefix}_weights.npz"


def record(work: Path, runs: dict, variant: str = "pjreddie") -> None:
    """Write the fixtures: darknet.json (image orders, darknet's printed statistics and losses,
    seen) and darknet_weights.npz (each parameter's slice after each run; `slice_indices`);
    alexeyab_darknet*.* / alexeyab_official_darknet*.* for AlexeyAB's (`variant_of`)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    meta = {"about": ABOUT[variant], "pixels_sha256": pixel_digest(work), "slice": SLICE,
            "runs": {}}
    arrays = {}
    for n, run in runs.items():
        meta["runs"][str(n)] = {"order": run["order"], "forwards": run["forwards"],
                                "losses": run["losses"], "seen": run["seen"]}
        for key, values in run["params"].items():
            arrays[f"{n}/{key[0]}/{key[1]}"] = values[slice_indices(values.size)]
    json_path, npz_path = fixture_paths(variant)
    json_path.write_text(json.dumps(meta, indent=1) + "\n")
    np.savez_compressed(npz_path, **arrays)


# --- classifier: `darknet classifier train` ---------------------------------------------------

CLASSIFIER_FIXTURES = REPO / "tests" / "fixtures" / "darknet_train_classifier"
CLASSIFIER_LABELS = ("stripes", "ovals", "checks")  # words no temporary path contains
CLASSIFIER_SIZE = 32
CLASSIFIER_PER_CLASS = 2
CLASSIFIER_SEED = 7
CLASSIFIER_LR = 0.1


def pattern_image(label: int, rng, size: int = CLASSIFIER_SIZE,
                  mirrored: bool = True) -> np.ndarray:
    """An (size, size, 3) uint8 picture of class `label` (0 horizontal stripes, 1 an oval,
    2 a checkerboard) in random colours with noise, all integer arithmetic; `mirrored` makes
    it left-right symmetric (darknet flips classifier images at random)."""
    y, x = np.mgrid[0:size, 0:size]
    period = int(rng.integers(3, 6))
    if label == 0:
        mask = (y // period) % 2 == 0
    elif label == 1:
        ry, rx = int(rng.integers(size // 5, size // 2)), int(rng.integers(size // 5, size // 2))
        cy = int(rng.integers(size // 3, 2 * size // 3))
        mask = ((2 * y - 2 * cy + 1) ** 2) * rx * rx + ((2 * x - size + 1) ** 2) * ry * ry \
            <= 4 * rx * rx * ry * ry
    else:
        mask = ((y // period) + (x // period)) % 2 == 0
    fore = rng.integers(128, 256, size=3)
    back = rng.integers(0, 128, size=3)
    image = np.where(mask[:, :, None], fore, back) + rng.integers(0, 48, size=(size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    if mirrored:
        half = size // 2
        image[:, size - half:] = image[:, :half][:, ::-1]
    return np.ascontiguousarray(image)


def classifier_set(out: Path, per_class: int = CLASSIFIER_PER_CLASS, seed: int = CLASSIFIER_SEED,
                   size: int = CLASSIFIER_SIZE, mirrored: bool = True,
                   list_name: str = "train.txt"):
    """Write images/<label>_<k>.png, `list_name`, labels.txt and cls.data (classes, train,
    labels, backup; valid = the same list) under `out`; returns the image names."""
    import cv2

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "backup").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    lines, names = [], []
    for k in range(per_class):
        for label, word in enumerate(CLASSIFIER_LABELS):
            name = f"{word}_{k}"
            path = out / "images" / f"{name}.png"
            if not cv2.imwrite(str(path), pattern_image(label, rng, size, mirrored)[:, :, ::-1]):
                raise OSError(f"cannot write {path}")
            lines.append(str(path.resolve()))
            names.append(name)
    (out / list_name).write_text("\n".join(lines) + "\n")
    (out / "labels.txt").write_text("\n".join(CLASSIFIER_LABELS) + "\n")
    (out / "cls.data").write_text(
        f"classes = {len(CLASSIFIER_LABELS)}\ntrain = {out.resolve() / list_name}\n"
        f"valid = {out.resolve() / list_name}\nlabels = {out.resolve() / 'labels.txt'}\n"
        f"backup = {out.resolve() / 'backup'}\ntop = 2\n")
    return names


def classifier_cfg(max_batches: int, size: int = CLASSIFIER_SIZE, batch: int = BATCH,
                   subdivisions: int = SUBDIVISIONS, learning_rate: float = CLASSIFIER_LR) -> str:
    """A small classifier with augmentation off: crops of exactly the input size, no colour
    changes; two convolution + batch norm + max-pool stages, a 1x1 convolution to the
    classes, global average pooling, softmax and darknet's sse [cost] after it."""
    return f"""[net]
batch={batch}
subdivisions={subdivisions}
width={size}
height={size}
channels=3
momentum=0.9
decay=0.0005
learning_rate={learning_rate!r}
policy=constant
max_batches={max_batches}
min_crop={size}
max_crop={size}
angle=0
aspect=1
hue=0
saturation=1
exposure=1
seed={CLASSIFIER_SEED}

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters={len(CLASSIFIER_LABELS)}
size=1
stride=1
pad=0
activation=linear

[avgpool]

[softmax]
groups=1

[cost]
type=sse
"""


def random_start(cfg: Path, path: Path) -> Path:
    """darkpy's seeded darknet-style random initialisation of `cfg`, written as .weights."""
    from darkpy.api import read_sections
    from darkpy.io.darknet_weights import WeightsHeader, save_darknet_weights
    from darkpy.network import Network
    from darkpy.train.model import initialise

    network = Network(read_sections(cfg), source=str(cfg), init=False)
    initialise(network, CLASSIFIER_SEED)
    save_darknet_weights(network, path, WeightsHeader(0, 2, 0, 0))
    return path


# darknet's classifier picks its images with rand() in 32 loader threads; this interposer
# (compiled here, LD_PRELOADed into darknet) logs which image each loader thread opens: a
# thread is numbered when created and remembers its creator's number, so the images of one
# load (its creator) come out in darknet's row order (its threads' creation order)
ORDER_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static __thread long self_number = 0, creator_number = 0;
static long created = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct start { void *(*fn)(void *); void *arg; long number, creator; };
static void *numbered(void *p) {
    struct start s = *(struct start *)p;
    free(p);
    self_number = s.number;
    creator_number = s.creator;
    return s.fn(s.arg);
}
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real) real = dlsym(RTLD_NEXT, "pthread_create");
    struct start *s = malloc(sizeof *s);
    s->fn = fn; s->arg = arg; s->creator = self_number;
    pthread_mutex_lock(&lock); s->number = ++created; pthread_mutex_unlock(&lock);
    return real(t, a, numbered, s);
}
FILE *fopen(const char *path, const char *mode) {
    static FILE *(*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "fopen");
    const char *log = getenv("DARKPY_ORACLE_LOG");
    if (log && strstr(path, ".png")) {
        pthread_mutex_lock(&lock);
        FILE *f = real(log, "a");
        if (f) { fprintf(f, "%ld %ld %s\n", creator_number, self_number, path); fclose(f); }
        pthread_mutex_unlock(&lock);
    }
    return real(path, mode);
}
"""


def build_order_shim(work: Path) -> Path:
    source = work / "order_shim.c"
    source.write_text(ORDER_SHIM)
    library = work / "order_shim.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl",
                    "-lpthread"], check=True)
    return library


def loaded_images(log_path: Path) -> list[list[str]]:
    """The image names of every load darknet made, in its row order (ORDER_SHIM's log):
    load_threads joins its threads' buffers by concat_datas, which puts each later buffer's
    rows before the ones gathered so far, so the last-created thread's image is row 0."""
    loads: dict[int, list] = {}
    for line in log_path.read_text().splitlines():
        creator, number, path = line.split(" ", 2)
        loads.setdefault(int(creator), []).append((int(number), Path(path).stem))
    return [[name for _, name in sorted(rows, reverse=True)]
            for _, rows in sorted(loads.items())]


def train_darkpy_classifier(work: Path, cfg: Path, weights: Path, order: list[list[str]]):
    """darkpy trained from `weights` on darknet's images (one list of names per iteration):
    (params, seen, iteration reports)."""
    from darkpy.train.darknet.loop import DarknetTrainer

    trainer = DarknetTrainer(cfg, work / "cls.data", weights, clear=True,
                             backup=work / "darkpy", cfg_name=cfg.stem, exact=True)
    names = [Path(item.image).stem for item in trainer.dataset.items]
    trainer.image_order = {i: [names.index(n) for n in batch] for i, batch in enumerate(order)}
    collect = _Collect()
    result = trainer.run(collect, iterations=len(order))
    params, seen = darknet_params(cfg, result.final)
    return params, seen, collect.reports


def classifier_digest(work: Path, names: list[str]) -> dict:
    import hashlib

    from darkpy.io.image import load_image

    return {name: hashlib.sha256(load_image(work / "images" / f"{name}.png").tobytes()).hexdigest()
            for name in names}


def run_classifier(darknet: Path, work: Path, iterations: list[int], write: bool) -> None:
    """The classifier comparison (module docstring, --task classifier)."""
    names = classifier_set(work)
    shim = build_order_shim(work)
    runs = {}
    start_path = None
    for n in iterations:
        tag = f"classifier{n}"
        cfg = work / f"{tag}.cfg"
        cfg.write_text(classifier_cfg(n))
        if start_path is None:
            start_path = random_start(cfg, work / "start.weights")
        log_path = work / f"{tag}.order"
        log_path.unlink(missing_ok=True)
        final, log = run_darknet(darknet, work, classifier_cfg(n), start_path, tag,
                                 task="classifier", data="cls.data", final_name="{}",
                                 env={"LD_PRELOAD": str(shim),
                                      "DARKPY_ORACLE_LOG": str(log_path)})
        order = loaded_images(log_path)[:n]
        start, _ = darknet_params(cfg, start_path)
        ref, ref_seen = darknet_params(cfg, final)
        got, got_seen, reports = train_darkpy_classifier(work, cfg, start_path, order)
        losses = parse_losses(log)
        print(f"{n} iteration(s): darknet's images {order}; seen darknet {ref_seen}, darkpy "
              f"{got_seen}")
        for k, report in enumerate(reports):
            print(f"  iteration {report.iteration}: loss darknet {losses[k]:.6f} darkpy "
                  f"{report.loss:.6f}")
        table = compare(start, ref, got)
        worst = {m: max(r[m] for r in table.values()) for m in ("weights", "update", "elements")}
        print(f"  max relative weight difference {worst['weights']:.2e}, update "
              f"{worst['update']:.2e}; elements off by > 1e-4 relative: "
              f"{100 * worst['elements']:.3f}% (worst parameter)")
        runs[n] = {"order": order, "losses": losses, "seen": ref_seen, "params": ref}
    if write:
        CLASSIFIER_FIXTURES.mkdir(parents=True, exist_ok=True)
        meta = {"about": "pjreddie darknet (CPU) `classifier train` of tools/"
                         "darknet_train_oracle.py's classifier_cfg from start.weights; recorded "
                         "by that script (--task classifier)",
                "pixels_sha256": classifier_digest(work, names), "runs": {}}
        arrays = {}
        for n, run in runs.items():
            meta["runs"][str(n)] = {k: run[k] for k in ("order", "losses", "seen")}
            for key, values in run["params"].items():
                arrays[f"{n}/{key[0]}/{key[1]}"] = values
        (CLASSIFIER_FIXTURES / "darknet.json").write_text(json.dumps(meta, indent=1) + "\n")
        np.savez_compressed(CLASSIFIER_FIXTURES / "darknet_weights.npz", **arrays)
        shutil.copyfile(start_path, CLASSIFIER_FIXTURES / "start.weights")
        print(f"fixtures written to {CLASSIFIER_FIXTURES}")


# --- [region]: `darknet detector train` of a small YOLOv2-style cfg --------------------------

REGION_SIZE = 96  # a 3 x 3 grid after five 2x2 max-pools
REGION_CLASSES = 3
# name -> boxes "class x y w h" in 32nds of the image: each centred (x = 16) or with a mirror
# twin, one box a grid cell at most, so that darknet's random box order changes nothing
REGION_IMAGES = {
    "one": [(0, 16, 16, 8, 12)],
    "pair": [(1, 5, 6, 6, 6), (1, 27, 6, 6, 6), (2, 16, 27, 10, 6)],
    "three": [(2, 16, 5, 6, 8), (0, 4, 26, 6, 8), (0, 28, 26, 6, 8)],
}


def region_set(out: Path) -> dict:
    """images/NAME.png (mirror-symmetric noise with a filled rectangle per box, darker per
    class), labels/NAME.txt, train.txt, obj.data under `out`; returns {name: box count}."""
    import cv2

    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "backup").mkdir(exist_ok=True)
    rng = np.random.default_rng(CLASSIFIER_SEED)
    size, lines = REGION_SIZE, []
    for name, boxes in REGION_IMAGES.items():
        image = rng.integers(0, 256, size=(size, size, 3)).astype(np.uint8)
        image[:, size // 2:] = image[:, :size // 2][:, ::-1]
        unit = size // 32
        for c, x, y, w, h in boxes:
            image[(y - h // 2) * unit:(y + h // 2) * unit,
                  (x - w // 2) * unit:(x + w // 2) * unit] = (80 * c, 255 - 60 * c, 40)
        path = out / "images" / f"{name}.png"
        if not cv2.imwrite(str(path), image[:, :, ::-1]):
            raise OSError(f"cannot write {path}")
        (out / "labels" / f"{name}.txt").write_text("".join(
            f"{c} {x / 32:.6f} {y / 32:.6f} {w / 32:.6f} {h / 32:.6f}\n"
            for c, x, y, w, h in boxes))
        lines.append(str(path.resolve()))
    (out / "train.txt").write_text("\n".join(lines) + "\n")
    root = out.resolve()
    (out / "obj.data").write_text(f"classes = {REGION_CLASSES}\ntrain = {root / 'train.txt'}\n"
                                  f"backup = {root / 'backup'}\n")
    return {name: len(boxes) for name, boxes in REGION_IMAGES.items()}


def region_cfg(max_batches: int) -> str:
    """A small YOLOv2-style detector (yolov2-tiny-voc's head options) with augmentation off."""
    stages = "".join(f"""
[convolutional]
batch_normalize=1
filters={f}
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2
""" for f in (4, 8, 8, 16, 16))
    return f"""[net]
batch={BATCH}
subdivisions={SUBDIVISIONS}
width={REGION_SIZE}
height={REGION_SIZE}
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.001
max_batches={max_batches}
policy=constant
hue=0
saturation=1
exposure=1
{stages}
[convolutional]
filters={2 * (5 + REGION_CLASSES)}
size=1
stride=1
pad=1
activation=linear

[region]
anchors=0.8,1.2, 1.5,0.9
bias_match=1
classes={REGION_CLASSES}
coords=4
num=2
softmax=1
jitter=0
rescore=1
object_scale=5
noobject_scale=1
class_scale=1
coord_scale=1
absolute=1
thresh=.6
random=0
"""


REGION_LINE = re.compile(r"Region Avg IOU: (\S+), Class: (\S+), Obj: (\S+), No Obj: (\S+), "
                         r"Avg Recall: (\S+),\s+count: (\d+)")
REGION_KEYS = ("avg_iou", "avg_class", "avg_obj", "avg_noobj", "recall")


def run_region(darknet: Path, work: Path, write: bool) -> None:
    """One iteration (two minibatches from the same start): darknet's printed [region]
    statistics and loss against darkpy's. pjreddie's CPU backward_region_layer is empty, so
    its weights after the update carry no [region] gradient and are not compared."""
    region_set(work)
    shim = build_order_shim(work)
    tag = "region1"
    cfg = work / f"{tag}.cfg"
    cfg.write_text(region_cfg(1))
    start_path = random_start(cfg, work / "start.weights")
    log_path = work / f"{tag}.order"
    log_path.unlink(missing_ok=True)
    _, log = run_darknet(darknet, work, region_cfg(1), start_path, tag,
                         env={"LD_PRELOAD": str(shim), "DARKPY_ORACLE_LOG": str(log_path)})
    order = loaded_images(log_path)[:1]
    printed = [dict(zip(REGION_KEYS + ("count",),
                        [float(v) for v in m.groups()[:5]] + [int(m.group(6))]))
               for m in REGION_LINE.finditer(log)]
    losses = parse_losses(log)
    reports = train_darkpy_region(work, cfg, start_path, order)
    print(f"darknet's images {order}")
    worst = 0.0
    for f, (row, heads) in enumerate(zip(printed, [h for r in reports for h in r.heads])):
        mine = next(iter(heads.values()))
        off = max(abs(row[k] - mine[k]) for k in REGION_KEYS if not np.isnan(row[k]))
        worst = max(worst, off)
        print(f"  forward {f}: count {row['count']}/{mine['count']}, statistics within {off:.1e}")
    print(f"  loss darknet {losses[0]:.6f} darkpy {reports[0].loss:.6f}; statistics within "
          f"{worst:.1e}")
    if write:
        REGION_FIXTURES.mkdir(parents=True, exist_ok=True)
        meta = {"about": "pjreddie darknet (CPU) `detector train` of tools/"
                         "darknet_train_oracle.py's region_cfg from start.weights, one "
                         "iteration; recorded by that script (--task region)",
                "pixels_sha256": classifier_digest(work, list(REGION_IMAGES)),
                "order": order, "forwards": printed, "losses": losses}
        (REGION_FIXTURES / "darknet.json").write_text(json.dumps(meta, indent=1) + "\n")
        shutil.copyfile(start_path, REGION_FIXTURES / "start.weights")
        print(f"fixtures written to {REGION_FIXTURES}")


REGION_FIXTURES = REPO / "tests" / "fixtures" / "darknet_train_region"


def train_darkpy_region(work: Path, cfg: Path, weights: Path, order: list[list[str]]):
    """darkpy's iteration reports training from `weights` on darknet's rows."""
    from darkpy.train.darknet.loop import DarknetTrainer

    trainer = DarknetTrainer(cfg, work / "obj.data", weights, clear=True,
                             backup=work / "darkpy", cfg_name=cfg.stem, exact=True)
    names = [Path(item.image).stem for item in trainer.dataset.items]
    trainer.image_order = {i: [names.index(n) for n in batch] for i, batch in enumerate(order)}
    collect = _Collect()
    trainer.run(collect, iterations=len(order))
    return collect.reports


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("darknet", type=Path, help="darknet binary (CPU build) of --fork")
    p.add_argument("--fork", choices=tuple(REPORT_KEYS_BY_FORK), default="pjreddie",
                   help="pjreddie: yolov3-tiny from the official weights; alexeyab: "
                        "yolov4-tiny (ciou) from a seeded random start")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--work", type=Path, default=Path("/tmp/darknet_train_oracle"))
    p.add_argument("--iterations", type=int, nargs="+", default=[1, 2])
    p.add_argument("--start", choices=("random", "official"), default="random",
                   help="--fork alexeyab only: yolov4-tiny from a seeded random start "
                        "(random) or yolov3-tiny with yolov4-tiny's ciou [yolo] keys from "
                        "the official weights on colour images (official)")
    p.add_argument("--write", action="store_true", help="record the fixtures")
    p.add_argument("--task", choices=("detector", "classifier", "region"), default="detector",
                   help="detector: yolov3-tiny from the official weights (needs --shared); "
                        "classifier: a small classifier from a seeded random start")
    p.add_argument("--tree", action="store_true",
                   help="with --task region: [region] with tree= through a harness linked with "
                        "DARKNET's libdarknet.a (tools/darknet_region_tree_oracle.py)")
    args = p.parse_args(argv)
    if args.tree:
        if args.task != "region":
            p.error("--tree goes with --task region")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import darknet_region_tree_oracle

        return darknet_region_tree_oracle.run(args.darknet.resolve().parent, args.write)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if args.task == "classifier":
        run_classifier(args.darknet.resolve(), work, args.iterations, args.write)
        return 0
    if args.task == "region":
        run_region(args.darknet.resolve(), work, args.write)
        return 0
    fork = args.fork
    random_start = fork == "alexeyab" and args.start == "random"
    counts = oracle_set(args.shared, work, gray=random_start)
    if random_start:
        base_cfg = work / "start.cfg"
        base_cfg.write_text(oracle_cfg(args.shared, 1, fork))
        weights = start_weights(base_cfg, work / "start.weights")
    else:
        weights = (args.shared / "models" / "yolov3-tiny" / "yolov3-tiny.weights").resolve()
    runs = {}
    start = None
    worst = {}
    for n in args.iterations:
        tag = f"oracle{n}"
        final, log = run_darknet(args.darknet.resolve(), work,
                                 oracle_cfg(args.shared, n, fork, args.start),
                                 weights, tag, fork=fork)
        forwards = parse_log(log, fork)
        cfg = work / f"{tag}.cfg"
        order = minibatch_images(forwards, head_counts(cfg) if fork == "alexeyab" else counts)
        cfg = work / f"{tag}.cfg"
        start, _ = darknet_params(cfg, weights)
        ref, ref_seen = darknet_params(cfg, final)
        got, got_seen, reports, used = train_darkpy(work, cfg, weights, order, forwards, fork)
        losses = parse_losses(log)
        print(f"{n} iteration(s): darknet's minibatches {used}; seen darknet {ref_seen}, "
              f"darkpy {got_seen}")
        for k, report in enumerate(reports):
            print(f"  iteration {report.iteration}: loss darknet {losses[k]:.6f} darkpy "
                  f"{report.loss:.6f}")
            for f, heads in enumerate(report.heads):
                for row in forwards[k * SUBDIVISIONS + f]:
                    mine = heads[row["layer"]]
                    off = max((abs(row[key] - mine[key]) for key in report_keys(row)
                               if not np.isnan(row[key])), default=0.0)
                    print(f"    forward {f} [yolo] {row['layer']}: count {row['count']}/"
                          f"{mine['count']}, printed statistics within {off:.1e}")
        table = compare(start, ref, got)
        worst[n] = {m: max(r[m] for r in table.values()) for m in ("weights", "update", "elements")}
        print(f"  max relative weight difference {worst[n]['weights']:.2e}, update "
              f"{worst[n]['update']:.2e}; elements off by > 1e-4 relative: "
              f"{100 * worst[n]['elements']:.3f}% (worst parameter)")
        runs[n] = {"order": used, "forwards": forwards, "losses": losses, "seen": ref_seen,
                   "params": ref}
    if args.write:
        record(work, runs, variant_of(fork, args.start))
        print(f"fixtures written to {FIXTURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
