"""A small labelled detection set and a yolov3-tiny fine-tuning setup for it (README's worked
example: fine-tune the COCO yolov3-tiny on new classes).

    python tools/make_shapes_dataset.py OUT [--shared ../shared] [--train 240] [--valid 60]

writes, all seeded (--seed), into OUT:
- train/NNNN.png, valid/NNNN.png: 160x160 images of 1-3 filled shapes (circle, square,
  triangle; random colour, size 18-64 px, position, square rotations) on a smooth random
  background with noise; beside each image its YOLO label file NNNN.txt (`class x y w h`,
  relative to the image). Labels beside the images are found by both darknet rules.
- shapes.names, train.txt, valid.txt, shapes.data (backup = OUT/backup);
- shapes.cfg: the official yolov3-tiny.cfg with a 160x160 input, 3 classes (the two
  convolutions before the [yolo] layers get (5 + 3) * 3 = 24 filters), batch 16 in 2,
  learning rate 0.001 with burn_in 30, max_batches 300 (x0.1 at 240), and the augmentation
  darkpy does not apply yet switched off (hue 0, saturation/exposure 1, jitter 0, random 0);
- shapes_init.weights: layers 0-14 from the COCO yolov3-tiny.weights (what darknet's
  `partial ... 15` keeps), the new head from darknet's random initialisation (seed 0), so
  `darkpy map` can score the starting point and `darkpy train --weights` starts from it.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NAMES = ("circle", "square", "triangle")
SIZE = 128
BACKBONE_LAYERS = 15


def background(rng) -> np.ndarray:
    """A smooth colour gradient plus noise, uint8 (SIZE, SIZE, 3)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    corners = rng.uniform(40, 215, (4, 3))
    image = ((1 - yy)[..., None] * ((1 - xx)[..., None] * corners[0] + xx[..., None] * corners[1])
             + yy[..., None] * ((1 - xx)[..., None] * corners[2] + xx[..., None] * corners[3]))
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_shape(image, kind: int, cx, cy, size, colour, angle) -> tuple:
    """Draw one filled shape; returns its tight box (x0, y0, x1, y1) in pixels."""
    import cv2

    r = size / 2
    if kind == 0:
        cv2.circle(image, (int(round(cx)), int(round(cy))), int(round(r)), colour, -1, cv2.LINE_AA)
        points = np.array([[cx - r, cy - r], [cx + r, cy + r]])
    else:
        corners = 4 if kind == 1 else 3
        t = angle + np.arange(corners) * 2 * np.pi / corners
        points = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
        cv2.fillPoly(image, [np.round(points).astype(np.int32)], colour, cv2.LINE_AA)
    x0, y0 = np.clip(points.min(axis=0), 0, SIZE)
    x1, y1 = np.clip(points.max(axis=0), 0, SIZE)
    return x0, y0, x1, y1


def make_image(rng) -> tuple[np.ndarray, list]:
    image = background(rng)
    labels, placed = [], []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            size = rng.uniform(0.11, 0.4) * SIZE
            cx, cy = rng.uniform(size / 2, SIZE - size / 2, 2)
            if all(abs(cx - px) > (size + ps) / 2 or abs(cy - py) > (size + ps) / 2
                   for px, py, ps in placed):
                break
        else:
            continue
        placed.append((cx, cy, size))
        kind = int(rng.integers(0, 3))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0, x1, y1 = draw_shape(image, kind, cx, cy, size, colour, rng.uniform(0, np.pi))
        labels.append((kind, (x0 + x1) / 2 / SIZE, (y0 + y1) / 2 / SIZE, (x1 - x0) / SIZE,
                       (y1 - y0) / SIZE))
    return image, labels


def write_split(out: Path, split: str, count: int, rng) -> Path:
    import cv2

    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(count):
        image, labels = make_image(rng)
        path = folder / f"{k:04d}.png"
        cv2.imwrite(str(path), image[:, :, ::-1])
        path.with_suffix(".txt").write_text(
            "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels))
        lines.append(f"{path.resolve()}\n")
    listing = out / f"{split}.txt"
    listing.write_text("".join(lines))
    return listing


def shapes_cfg(official: str) -> str:
    """yolov3-tiny.cfg adapted as the module docstring says."""
    text = official
    net = {"batch": 8, "subdivisions": 1, "width": SIZE, "height": SIZE, "learning_rate": 0.002,
           "burn_in": 20, "max_batches": 200, "policy": "steps", "steps": 160, "scales": 0.1,
           "hue": 0, "saturation": 1, "exposure": 1, "angle": 0}
    for key, value in net.items():
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key}={value}", text, count=1)
        if n == 0:
            text = text.replace("[net]\n", f"[net]\n{key}={value}\n", 1)
    text = re.sub(r"(?m)^classes\s*=\s*80", f"classes={len(NAMES)}", text)
    text = re.sub(r"(?m)^filters\s*=\s*255", f"filters={(5 + len(NAMES)) * 3}", text)
    text = re.sub(r"(?m)^jitter\s*=.*$", "jitter=0", text)
    text = re.sub(r"(?m)^random\s*=.*$", "random=0", text)
    return text


def init_weights(cfg: Path, coco_cfg: Path, coco_weights: Path, out: Path) -> None:
    """The fine-tuning start: the COCO backbone (layers 0-14), darknet's random head."""
    sys.path.insert(0, str(REPO))
    from darkpy import load
    from darkpy.api import read_sections
    from darkpy.io.darknet_weights import WeightsHeader, save_darknet_weights
    from darkpy.network import Network
    from darkpy.train.model import initialise

    coco = load(coco_cfg, coco_weights, max_layers=BACKBONE_LAYERS)
    network = Network(read_sections(cfg), source=str(cfg), init=False)
    initialise(network, 0)
    for layer in network.layers[:BACKBONE_LAYERS]:
        for name, value in coco.layers[layer.index].params.items():
            layer.params[name][...] = value
        layer.invalidate()
    save_darknet_weights(network, out, WeightsHeader(0, 2, 0, 0))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--valid", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    train = write_split(out, "train", args.train, rng)
    valid = write_split(out, "valid", args.valid, rng)
    (out / "shapes.names").write_text("".join(f"{n}\n" for n in NAMES))
    (out / "shapes.data").write_text(
        f"classes = {len(NAMES)}\ntrain = {train}\nvalid = {valid}\n"
        f"names = {out / 'shapes.names'}\nbackup = {out / 'backup'}\n")
    model = args.shared / "models" / "yolov3-tiny"
    cfg = out / "shapes.cfg"
    cfg.write_text(shapes_cfg((model / "yolov3-tiny.cfg").read_text()))
    init_weights(cfg, model / "yolov3-tiny.cfg", model / "yolov3-tiny.weights",
                 out / "shapes_init.weights")
    print(f"{args.train} training and {args.valid} validation images, {cfg}, "
          f"{out / 'shapes_init.weights'}, {out / 'shapes.data'}")


if __name__ == "__main__":
    main()
