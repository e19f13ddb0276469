"""Write a small generated classification set and a classifier cfg for darknet-style training.

    python tools/make_classifier_data.py OUT [--train 200] [--valid 50] [--size 32]
    darkpy train OUT/cls.cfg --data OUT/cls.data          (from any folder: paths are absolute)
    darkpy map OUT/cls.cfg OUT/backup/cls_final.weights --data OUT/cls.data    (top-1, top-2)

Three classes of 32x32 pictures (horizontal stripes, an oval, a checkerboard) in random
colours with noise, drawn by tools/darknet_train_oracle.py's `pattern_image` (the pictures of
the classifier oracle), not mirrored. OUT gets images/{train,valid}/<label>_<k>.png,
train.txt, valid.txt, labels.txt, cls.data (classes, train, valid, labels, backup, top=2)
and cls.cfg: three conv + batch norm + max-pool stages, a 1x1 convolution to the classes,
global average pooling, [softmax] and [cost], trained with darknet's default flips and no
other augmentation. `darkpy map` scores it on `valid` as darknet's `classifier valid` does.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent


def _oracle():
    spec = importlib.util.spec_from_file_location("darknet_train_oracle",
                                                  TOOLS / "darknet_train_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CFG = """[net]
batch=32
subdivisions=1
width={size}
height={size}
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.05
burn_in=50
policy=poly
power=2
max_batches={iterations}
min_crop={size}
max_crop={size}
seed=1

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
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters={classes}
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


def write_set(out: Path, train: int, valid: int, size: int, iterations: int, seed: int = 1) -> None:
    import cv2

    oracle = _oracle()
    labels = oracle.CLASSIFIER_LABELS
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train), ("valid", valid)):
        folder = out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for k in range(per_class):
            for label, word in enumerate(labels):
                path = folder / f"{word}_{k}.png"
                image = oracle.pattern_image(label, rng, size, mirrored=False)
                if not cv2.imwrite(str(path), image[:, :, ::-1]):
                    raise OSError(f"cannot write {path}")
                lines.append(str(path.resolve()))
        (out / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    (out / "backup").mkdir(exist_ok=True)
    root = out.resolve()
    (out / "cls.data").write_text(
        f"classes = {len(labels)}\ntrain = {root / 'train.txt'}\nvalid = {root / 'valid.txt'}\n"
        f"labels = {root / 'labels.txt'}\nbackup = {root / 'backup'}\ntop = 2\n")
    (out / "cls.cfg").write_text(CFG.format(size=size, iterations=iterations,
                                            classes=len(labels)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--train", type=int, default=200, help="training images per class")
    p.add_argument("--valid", type=int, default=50, help="validation images per class")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--iterations", type=int, default=300, help="max_batches of cls.cfg")
    args = p.parse_args(argv)
    write_set(args.out, args.train, args.valid, args.size, args.iterations)
    print(f"wrote {args.out}: {3 * args.train} training and {3 * args.valid} validation images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
