"""Keys the detection heads share: darknet reads them for its loss, augmentation, tracking or
NMS; darkpy's inference does not use them but accepts and keeps them, so real cfgs load and
round-trip. One table per family, merged into each head's `keys` with what is its own (some
defaults differ by head: `max`)."""
from __future__ import annotations

from darkpy.config.schema import Key


def _unused(type_: str, default, doc: str = "") -> Key:
    return Key(type_, default, used=False, doc=doc)


# training-time augmentation, read by every head's parser
AUGMENTATION_KEYS: dict[str, Key] = {
    "jitter": _unused("float", 0.2),
    "random": _unused("float", 0.0),
    "resize": _unused("float", 1.0),
}

# YOLOv3/v4: the loss and NMS of [yolo] and [Gaussian_yolo]
YOLO_TRAINING_KEYS: dict[str, Key] = {
    **AUGMENTATION_KEYS,
    "ignore_thresh": _unused("float", 0.5),
    "truth_thresh": _unused("float", 1.0),
    "iou_thresh": _unused("float", 1.0),
    "map": _unused("str", None),
    "max_delta": _unused("float", 3.4028234663852886e+38),  # FLT_MAX
    "counters_per_class": _unused("ints", None),
    "label_smooth_eps": _unused("float", 0.0),
    "objectness_smooth": _unused("int", 0),
    "iou_normalizer": _unused("float", 0.75),
    "obj_normalizer": _unused("float", 1.0),
    "cls_normalizer": _unused("float", 1.0),
    "delta_normalizer": _unused("float", 1.0),
    "iou_loss": _unused("str", "mse"),
    "iou_thresh_kind": _unused("str", "iou"),
    "beta_nms": _unused("float", 0.6),
    "nms_kind": _unused("str", "default"),
}

# YOLOv1/v2: the loss of [region] and [detection]
GRID_TRAINING_KEYS: dict[str, Key] = {
    **AUGMENTATION_KEYS,
    "rescore": _unused("int", 0),
    "coord_scale": _unused("float", 1.0),
    "object_scale": _unused("float", 1.0),
    "noobject_scale": _unused("float", 1.0),
    "class_scale": _unused("float", 1.0),
}
