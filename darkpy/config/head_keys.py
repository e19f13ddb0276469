"""Keys the detection heads share: darknet reads them for its loss, augmentation, tracking or
NMS; darkpy's inference does not use them but accepts and keeps them, so real cfgs load and
round-trip. One table per family, merged into each head's `keys` with what is its own (some
defaults and meanings differ by head: `max`, and [Gaussian_yolo]'s `max_delta`)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from darkpy.config.schema import ALEXEYAB, TRAINING, Key

_T = dict(used=False, phase=TRAINING)  # darknet's loss and augmentation

# training-time augmentation, read by every head's parser; darkpy's detector training applies
# them (darkpy/train/darknet/augment.py)
_A = dict(used=True, phase=TRAINING)
AUGMENTATION_KEYS: dict[str, Key] = {
    "jitter": Key("float", 0.2, **_A, doc="augmentation: random crop and aspect change of up "
                                          "to this fraction"),
    "random": Key("float", 0.0, **_A, doc="random network input size every 10 batches "
                                          "(pjreddie: 1; AlexeyAB: 1 or the range)"),
    "resize": Key("float", 1.0, fork=ALEXEYAB, **_A,
                  doc="augmentation: random image scale range"),
}

# YOLOv3/v4: the loss and NMS of [yolo] and [Gaussian_yolo]
YOLO_TRAINING_KEYS: dict[str, Key] = {
    **AUGMENTATION_KEYS,
    "ignore_thresh": Key("float", 0.5, **_T, doc="predictions overlapping a truth more than "
                                                 "this get no objectness loss"),
    "truth_thresh": Key("float", 1.0, **_T, doc="predictions overlapping a truth more than "
                                                "this are trained as positives"),
    "iou_thresh": Key("float", 1.0, fork=ALEXEYAB, **_T,
                      doc="anchors overlapping a truth more than this are also trained on it"),
    "map": Key("str", None, **_T, doc="file mapping the class ids of the training data"),
    "max_delta": Key("float", float(np.finfo(np.float32).max), default_text="FLT_MAX",
                     fork=ALEXEYAB, **_T, doc="caps the class weights of counters_per_class"),
    "counters_per_class": Key("ints", None, fork=ALEXEYAB, **_T,
                              doc="objects per class in the training set: rarer classes "
                                  "weigh more"),
    "label_smooth_eps": Key("float", 0.0, fork=ALEXEYAB, **_T,
                            doc="label smoothing of the class targets"),
    "objectness_smooth": Key("int", 0, fork=ALEXEYAB, **_T,
                             doc="1: objectness and class targets are the IoU, not 1"),
    "iou_normalizer": Key("float", 0.75, fork=ALEXEYAB, **_T,
                          doc="loss weight of the box (IoU) term"),
    "obj_normalizer": Key("float", 1.0, fork=ALEXEYAB, **_T, doc="loss weight of objectness"),
    "cls_normalizer": Key("float", 1.0, fork=ALEXEYAB, **_T,
                          doc="loss weight of the class scores"),
    "delta_normalizer": Key("float", 1.0, fork=ALEXEYAB, **_T,
                            doc="scales every gradient of the layer"),
    "iou_loss": Key("str", "mse", fork=ALEXEYAB, **_T,
                    doc="box loss: mse, iou, giou, diou or ciou"),
    "iou_thresh_kind": Key("str", "iou", fork=ALEXEYAB, **_T,
                           doc="overlap measure for iou_thresh: iou, giou, diou or ciou"),
    "beta_nms": Key("float", 0.6, fork=ALEXEYAB,
                    doc="detection (last layer's): exponent of diounms' distance term"),
    "nms_kind": Key("str", "default", fork=ALEXEYAB,
                    doc="detection (last layer's): suppression by IoU (default), "
                        "IoU - (d/c)^0.6 (greedynms) or IoU - (d/c)^beta_nms (diounms)"),
}

# YOLOv1/v2: the loss of [region] and [detection]
GRID_TRAINING_KEYS: dict[str, Key] = {
    **AUGMENTATION_KEYS,
    "rescore": Key("int", 0, **_T, doc="1: objectness is trained towards the IoU with the "
                                       "truth"),
    "coord_scale": Key("float", 1.0, **_T, doc="loss weight of the box coordinates"),
    "object_scale": Key("float", 1.0, **_T, doc="loss weight of objectness where an object "
                                                "is"),
    "noobject_scale": Key("float", 1.0, **_T, doc="loss weight of objectness where no object "
                                                  "is"),
    "class_scale": Key("float", 1.0, **_T, doc="loss weight of the class scores"),
}


def read_by(fork: str, keys: dict[str, Key]) -> dict[str, Key]:
    """`keys` as a section kind that only `fork`'s darknet has reads them (every key then
    exists in that darknet alone: [Gaussian_yolo] is AlexeyAB's)."""
    return {name: replace(key, fork=fork) for name, key in keys.items()}
