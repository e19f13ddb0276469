"""[Gaussian_yolo]: the Gaussian YOLOv3 head (AlexeyAB's forward_gaussian_yolo_layer at inference).

Like [yolo], but every box coordinate comes with an uncertainty. Input and output are NHWC
with n * (9 + classes) channels (n = anchors in `mask`); anchor a owns channels a*(9+classes)
... and within them entry e is:

    e   meaning          output
    0   x mean           sigma(t) * scale_x_y - (scale_x_y - 1) / 2
    1   x uncertainty    sigma(t)
    2   y mean           sigma(t) * scale_x_y - (scale_x_y - 1) / 2
    3   y uncertainty    sigma(t)
    4   w mean           t            (raw; decoding takes exp(t) * anchor)
    5   w uncertainty    sigma(t)
    6   h mean           t
    7   h uncertainty    sigma(t)
    8   objectness       sigma(t)
    9.. class scores     sigma(t)

Decoding (darkpy.detect.decode_gaussian) scales every class probability by (1 - the mean of
the four uncertainties). `yolo_point` (center, left_top, right_bottom) says which box point
x, y locate. The loss lives in darknet's forward, so the layer is inference only.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.head_keys import YOLO_TRAINING_KEYS, read_by
from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.yolo import _anchor_pairs

_T = dict(used=False, fork=ALEXEYAB, phase=TRAINING)  # darknet's loss and augmentation

YOLO_POINTS = ("center", "left_top", "right_bottom")
ENTRIES = 9  # 4 means, 4 uncertainties, objectness


class GaussianYolo(Layer):
    kind = "Gaussian_yolo"
    summary = "Gaussian YOLOv3 head: boxes with uncertainties"
    fork = ALEXEYAB
    keys = {
        "classes": Key("int", 20, fork=ALEXEYAB, doc="object classes"),
        "num": Key("int", 1, fork=ALEXEYAB, doc="number of anchors listed in `anchors`"),
        "mask": Key("ints", None, fork=ALEXEYAB, default_text="all",
                    doc="indices of the anchors this head predicts"),
        "anchors": Key("floats", None, fork=ALEXEYAB,
                       doc="w,h pairs in pixels of the network input"),
        "scale_x_y": Key("float", 1.0, fork=ALEXEYAB,
                         doc="box centre = (sigmoid*scale_x_y - (scale_x_y-1)/2 + cell) / grid"),
        "yolo_point": Key("str", "center", fork=ALEXEYAB,
                          doc="what x, y locate: center, left_top or right_bottom (any other "
                              "word: center)"),
        # read by darknet for training or its own NMS; kept for round trips
        **read_by(ALEXEYAB, YOLO_TRAINING_KEYS),
        "max": Key("int", 200, **_T, doc="most truth boxes per training image"),
        # what these do differs from [yolo]'s
        "max_delta": Key("float", float(np.finfo(np.float32).max), default_text="FLT_MAX",
                         **_T, doc="clips the box gradients and caps the counters_per_class "
                                   "weights"),
        "objectness_smooth": Key("int", 0, **_T, doc="1: objectness targets are the IoU, "
                                                     "not 1"),
        "random": Key("float", 0.0, **_T, doc="random network input size every 10 batches "
                                              "(1, or the range)"),
        "uc_normalizer": Key("float", 1.0, **_T, doc="loss weight of the uncertainties"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.classes = int(opts.classes)
        self.total = int(opts.num)
        if self.classes < 1:
            raise self.error(f"classes={self.classes}: needs at least one class")
        if self.total < 1:
            raise self.error(f"num={self.total}: needs at least one anchor")
        self.mask = list(opts.mask) if opts.mask else list(range(self.total))
        for m in self.mask:
            if not 0 <= m < self.total:
                raise self.error(f"mask value {m} is not an anchor index 0..{self.total - 1} "
                                 f"(num={self.total})")
        self.all_anchors = _anchor_pairs(self, opts.anchors, self.total, self.mask)
        self.anchors = self.all_anchors[self.mask]
        self.n = len(self.mask)
        self.entries = ENTRIES + self.classes
        self.scale_x_y = float(opts.scale_x_y)
        self.yolo_point = opts.yolo_point if opts.yolo_point in YOLO_POINTS else "center"
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if c != self.n * self.entries:
            raise self.error(f"the layer before gives {c} channels, but {self.n} anchors x "
                             f"(9 + {self.classes} classes) need {self.n * self.entries}: set "
                             f"filters={self.n * self.entries} in the [convolutional] before it")
        return (h, w, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        dtype = compute_dtype(x)
        t = np.asarray(x, dtype=dtype).reshape(*x.shape[:3], self.n, self.entries)
        with np.errstate(over="ignore"):  # exp overflow gives inf and sigma 0, as in darknet
            out = 1 / (1 + np.exp(-t, dtype=dtype))
        out[..., 4] = t[..., 4]
        out[..., 6] = t[..., 6]
        scale = dtype.type(self.scale_x_y)
        shift = dtype.type(-0.5 * (self.scale_x_y - 1.0))
        out[..., 0] = out[..., 0] * scale + shift
        out[..., 2] = out[..., 2] * scale + shift
        return np.ascontiguousarray(out.reshape(x.shape), dtype=dtype)

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}
