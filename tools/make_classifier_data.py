"""Write a small generated classification set and a classifier cfg for darknet-style training,
and score a trained classifier's top-1 / top-k on its validation list.

    python tools/make_classifier_data.py OUT [--train 200] [--valid 50] [--size 32]
    darkpy train OUT/cls.cfg --data OUT/cls.data          (from any folder: paths are absolute)
    python tools/make_classifier_data.py OUT --score OUT/backup/cls_final.weights

Three classes of 32x32 pictures (horizontal stripes, an oval, a checkerboard) in random
colours with noise, drawn by tools/darknet_train_oracle.py's `pattern_image` (the pictures of
the classifier oracle), not mirrored. OUT gets images/{train,valid}/<label>_<k>.png,
train.txt, valid.txt, labels.txt, cls.data (classes, train, valid, labels, backup, top=2)
and cls.cfg: three conv + batch norm + max-pool stages, a 1x1 convolution to the classes,
global average pooling, [softmax] and [cost], trained with darknet's default flips and no
other augmentation. `--score` runs the network on `valid` and prints top-1 and top-k
accuracy (darknet's `classifier valid`: the label is the `labels` name in the path).
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


def score(out: Path, weights: Path, top: int = 2) -> tuple[float, float, int]:
    """(top-1, top-k, images) of the network on the valid list (images fed at their size)."""
    import darkpy
    from darkpy.io.image import load_image
    from darkpy.train.darknet.data import classifier_truth, read_image_list, read_names

    network = darkpy.load(out / "cls.cfg", weights)
    labels = read_names(out / "labels.txt")
    entries = read_image_list(out / "valid.txt")
    hits1 = hitsk = 0
    for start in range(0, len(entries), 64):
        chunk = entries[start:start + 64]
        x = np.stack([load_image(e.path) for e in chunk])
        probs = network.forward(x).reshape(len(chunk), -1)
        for e, p in zip(chunk, probs):
            truth = int(np.argmax(classifier_truth(e.path, labels)))
            order = np.argsort(-p)
            hits1 += int(order[0] == truth)
            hitsk += int(truth in order[:top])
    return hits1 / len(entries), hitsk / len(entries), len(entries)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--train", type=int, default=200, help="training images per class")
    p.add_argument("--valid", type=int, default=50, help="validation images per class")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--iterations", type=int, default=300, help="max_batches of cls.cfg")
    p.add_argument("--score", type=Path, metavar="WEIGHTS",
                   help="score these weights on the valid list instead of writing the set")
    args = p.parse_args(argv)
    if args.score:
        top1, top2, n = score(args.out, args.score)
        print(f"top-1 {100 * top1:.1f}%, top-2 {100 * top2:.1f}% on {n} validation images")
        return 0
    write_set(args.out, args.train, args.valid, args.size, args.iterations)
    print(f"wrote {args.out}: {3 * args.train} training and {3 * args.valid} validation images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
