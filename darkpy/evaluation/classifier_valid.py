"""Top-1 / top-k accuracy of a classifier, as darknet's `classifier valid` computes it
(validate_classifier_single in examples/classifier.c (pjreddie), src/classifier.c (AlexeyAB)).

    from darkpy.evaluation.classifier_valid import classifier_accuracy
    report = classifier_accuracy("net.cfg", "net.weights", "obj.data")
    report.top1, report.topk

For each image of the `.data` file's `valid` list:
- its class is the first name of the `labels` file that occurs in the image's path (-1 when
  none: the image then counts as wrong), darknet's strstr rule;
- the image is read as darknet reads it and cut to the network's size by the fork's rule:
  AlexeyAB resizes it so its shorter side equals the network width (resize_min, keeping the
  aspect, integer arithmetic) and takes the centred net_w x net_h window (crop_image);
  pjreddie takes the centred square of the shorter side and resizes that to the network
  (center_crop_image). Both resize with darknet's bilinear resize_image;
- the prediction is the last layer's output in darknet's CHW order; its first `classes`
  values are ranked (top_k: ties keep the lower index first), and the image is right at
  top-1 when the best is its class, right at top-k when its class is among the first k.
`classes` comes from the .data file (darknet's default 2), k from `top` (default 1; AlexeyAB
caps it at `classes`). Accuracies are the fractions of images right.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import ConfigError
from darkpy.reporting import Reporter

CROP_RULES = ("alexeyab", "pjreddie")


@dataclass
class ClassifierReport:
    images: int
    top1: float
    topk: float
    k: int
    classes: int
    unlabelled: int   # images whose path matches no label name

    def to_json(self) -> dict:
        return asdict(self)

    def darknet_text(self) -> str:
        return f"top 1: {self.top1:f}, top {self.k}: {self.topk:f}"


def is_classifier(network) -> bool:
    """A network darknet validates as a classifier: its last layer is a softmax (a [cost]
    after it is looked through)."""
    layers = [layer for layer in network.layers if layer.kind != "cost"]
    return bool(layers) and layers[-1].kind == "softmax"


def classifier_input(image: np.ndarray, net_w: int, net_h: int, rule: str = "alexeyab") -> np.ndarray:
    """The (net_h, net_w, 3) input darknet's `classifier valid` makes of an (H, W, 3) image."""
    from darkpy.kernels.resize import darknet_resize

    h, w = image.shape[:2]
    if rule == "alexeyab":
        if w < h:
            new_w, new_h = net_w, (h * net_w) // w
        else:
            new_w, new_h = (w * net_w) // h, net_w
        if (new_w, new_h) != (w, h):
            image = darknet_resize(image, new_w, new_h)
        dx, dy = (new_w - net_w) // 2, (new_h - net_h) // 2
        rows = np.clip(np.arange(net_h) + dy, 0, new_h - 1)   # crop_image clamps at the edges
        cols = np.clip(np.arange(net_w) + dx, 0, new_w - 1)
        return np.ascontiguousarray(image[rows][:, cols])
    if rule == "pjreddie":
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        return darknet_resize(image[top:top + side, left:left + side], net_w, net_h)
    raise ConfigError(f"unknown crop rule {rule!r} (choose {', '.join(CROP_RULES)})")


def top_k(pred: np.ndarray, k: int) -> np.ndarray:
    """darknet's top_k: indices of the k largest values, ties in index order."""
    return np.argsort(-pred, kind="stable")[:k]


def validate_classifier(network, data, rule: str = "alexeyab",
                        reporter: Reporter | None = None) -> ClassifierReport:
    """`classifier valid` of a loaded network on a `.data` file (module docstring)."""
    from darkpy.io.image import load_image
    from darkpy.train.darknet.data import Problems, read_data_file, read_image_list, read_names

    reporter = reporter or Reporter()
    data_file = data if not isinstance(data, (str, Path)) else read_data_file(data)
    if any(getattr(layer, "tree", None) is not None for layer in network.layers):
        raise ConfigError("classifiers with a class tree (hierarchy predictions) are not supported")
    classes = data_file.classes if "classes" in data_file.options else 2
    k = min(data_file.integer("top", 1, minimum=1), classes)
    labels = read_names(data_file.file("labels", "data/labels.list"))
    if len(labels) < classes:
        raise ConfigError(f"{data_file.where('labels')}: {len(labels)} labels, fewer than "
                          f"classes = {classes}")
    problems = Problems()
    entries = read_image_list(data_file.file("valid", "data/train.list"), problems)
    net_w, net_h = int(network.net["width"]), int(network.net["height"])
    top1 = topk = unlabelled = 0
    for i, entry in enumerate(entries):
        reporter.start_file(entry.path, i, len(entries))
        text = str(entry.path)
        label = next((j for j in range(classes) if labels[j] in text), -1)
        unlabelled += label < 0
        x = classifier_input(load_image(entry.path), net_w, net_h, rule)
        out = np.asarray(network.forward(x[None]))[0]
        pred = (np.moveaxis(out, -1, 0) if out.ndim == 3 else out).reshape(-1)  # darknet's CHW
        if pred.size < classes:
            raise ConfigError(f"the network gives {pred.size} outputs, fewer than classes = "
                              f"{classes} ({data_file.where('classes')})")
        best = top_k(pred[:classes], k)
        top1 += int(best[0] == label)
        topk += int(label in best)
        reporter.end_file(entry.path, None)
    summary = problems.summary()
    if summary:
        reporter.message(summary)
    n = max(len(entries), 1)
    return ClassifierReport(len(entries), top1 / n, topk / n, k, classes, unlabelled)
