"""[yolo]: the YOLOv3/v4 detection head (darknet's forward_yolo_layer at inference).

Input and output are NHWC with num_masked * (5 + classes) channels; anchor a (the a-th entry of
`mask`) owns channels a*(5+classes) ... and within them entry k is: 0 x, 1 y, 2 w, 3 h,
4 objectness, 5.. class scores. The forward leaves what darknet leaves in l.output:

    x, y          sigma(t) * scale_x_y - (scale_x_y - 1) / 2
    w, h          t                      (raw; decoding takes exp(t) * anchor)
    obj, classes  sigma(t)

With new_coords=1 (AlexeyAB's scaled-YOLOv4 heads, whose last convolution is already logistic)
no logistic is applied here; the scale_x_y step still is, and decoding reads w, h as
(2 t)^2 * anchor. Turning these numbers into boxes is darkpy.detect's work, not the layer's.
"""
from __future__ import annotations

import warnings

import numpy as np

from darkpy.config.head_keys import YOLO_TRAINING_KEYS
from darkpy.config.schema import ALEXEYAB, NEITHER, RUNTIME, TRAINING, Key
from darkpy.kernels.yolo import yolo_activate
from darkpy.layers.base import Layer

_T = dict(used=False, phase=TRAINING)  # darknet's loss and augmentation


class Yolo(Layer):
    kind = "yolo"
    summary = "YOLOv3/v4 head (anchors in pixels)"
    keys = {
        "classes": Key("int", 20, doc="object classes"),
        "num": Key("int", 1, doc="number of anchors listed in `anchors`"),
        "mask": Key("ints", None, default_text="all",
                    doc="indices of the anchors this head predicts"),
        "anchors": Key("floats", None, doc="w,h pairs in pixels of the network input"),
        "scale_x_y": Key("float", 1.0, fork=ALEXEYAB,
                         doc="box centre = (sigmoid*scale_x_y - (scale_x_y-1)/2 + cell) / grid"),
        "new_coords": Key("int", 0, choices=(0, 1), fork=ALEXEYAB,
                          doc="1: scaled-YOLOv4 decoding (inputs already sigmoid, w = "
                              "(2x)^2 * anchor)"),
        # read by darknet for training, tracking or its own NMS; kept for round trips
        **YOLO_TRAINING_KEYS,
        "max": Key("int", 90, **_T, doc="most truth boxes per training image (pjreddie 90, "
                                        "AlexeyAB 200)"),
        "show_details": Key("int", 1, fork=ALEXEYAB, used=False, phase=RUNTIME,
                            doc="0: print less about the loss while training"),
        "focal_loss": Key("int", 0, fork=ALEXEYAB, **_T,
                          doc="1: focal loss on the class scores"),
        "track_history_size": Key("int", 5, fork=ALEXEYAB, used=False,
                                  doc="darknet's video tracker: frames of embeddings kept"),
        "sim_thresh": Key("float", 0.8, fork=ALEXEYAB, used=False,
                          doc="darknet's video tracker: embedding similarity for the same "
                              "track"),
        "dets_for_track": Key("int", 1, fork=ALEXEYAB, used=False,
                              doc="darknet's video tracker: detections before a track starts"),
        "dets_for_show": Key("int", 1, fork=ALEXEYAB, used=False,
                             doc="darknet's video tracker: detections before a track is shown"),
        "track_ciou_norm": Key("float", 0.01, fork=ALEXEYAB, used=False,
                               doc="darknet's video tracker: weight of box overlap vs "
                                   "embedding"),
        "embedding_layer": Key("int", 999999, fork=ALEXEYAB, used=False,
                               default_text="none",
                               doc="darknet's video tracker: the layer giving per-box "
                                   "embeddings (negative: relative)"),
        # read by [Gaussian_yolo] but not by darknet's [yolo] parser (it warns "Unused field");
        # AlexeyAB's yolov4-sam-mish-csp-reorg-bfm.cfg sets both in [yolo]
        "uc_normalizer": Key("float", 1.0, fork=NEITHER, **_T,
                             doc="a [Gaussian_yolo] key; darknet's [yolo] ignores it"),
        "beta1": Key("float", 0.6, fork=NEITHER, **_T,
                     doc="in yolov4-sam-mish-csp-reorg-bfm.cfg; read by no darknet"),
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
        listed = len(opts.anchors or []) // 2
        beyond = [m for m in self.mask if m >= self.total]
        if beyond and max(beyond) < listed:
            # darknet keeps only num anchors and reads past them (undefined behaviour; in
            # practice the listed values that follow in memory); AlexeyAB's cspx-p7-mish.cfg
            # lists 20 anchors with num=16 and masks 16..19: use the anchors as listed
            warnings.warn(
                f"{self.origin}: [{self.kind}] layer {self.index}: mask uses anchor "
                f"{max(beyond)} but num={self.total}; using the {listed} anchors listed "
                f"(set num={listed} to silence this)", stacklevel=2)
            self.total = listed
        for m in self.mask:
            if not 0 <= m < self.total:
                raise self.error(f"mask value {m} is not an anchor index 0..{self.total - 1} "
                                 f"(num={self.total}) and anchors lists {listed} pairs")
        self.all_anchors = _anchor_pairs(self, opts.anchors, self.total, self.mask)
        # the anchors this head predicts, in its channel order, (n, 2) in network-input pixels
        self.anchors = self.all_anchors[self.mask]
        self.n = len(self.mask)
        self.entries = 5 + self.classes
        self.scale_x_y = float(opts.scale_x_y)
        self.new_coords = int(opts.new_coords)
        channels = self.input_shapes[0][2]
        if channels != self.n * self.entries:
            raise self.error(
                f"the layer before gives {channels} channels, but {self.n} anchors x "
                f"(5 + {self.classes} classes) need {self.n * self.entries}: set filters="
                f"{self.n * self.entries} in the [convolutional] before it"
            )

    def forward(self, inputs, train=False):
        x = np.ascontiguousarray(inputs[0], dtype=np.float32)
        out = np.empty_like(x)
        if x.size:
            scale = np.float32(self.scale_x_y)
            shift = np.float32(-0.5 * (self.scale_x_y - 1.0))
            yolo_activate(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]),
                          self.n, self.entries, scale, shift, not self.new_coords)
        return out

    def backward(self, delta, inputs, output):
        raise self.error(f"[{self.kind}] is inference only: detector training is not supported yet")

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}


def _anchor_pairs(layer: Layer, values, total: int, mask: list[int]) -> np.ndarray:
    """(total, 2) anchors; darknet's 0.5 default fills pairs a cfg leaves out.

    An odd count is read as darknet reads it: the numbers fill w, h, w, h, ... in order and
    the last height keeps the 0.5 default. darknet strips all whitespace first, so a missing
    comma (`61,45  61,45`) merges two numbers; AlexeyAB's cspx-p7-mish_hp.cfg has one.
    """
    anchors = np.full((total, 2), 0.5, dtype=np.float32)
    if values is None:
        return anchors
    if len(values) % 2:
        warnings.warn(
            f"{layer.origin}: [{layer.kind}] layer {layer.index}: anchors has {len(values)} "
            "numbers, not w,h pairs (a missing comma merges two numbers once whitespace is "
            "removed); they are paired in order and the last height is 0.5, as in darknet",
            stacklevel=2,
        )
        values = list(values) + [0.5]
    given = min(len(values) // 2, total)
    anchors[:given] = np.asarray(values[: 2 * given], dtype=np.float32).reshape(given, 2)
    missing = [m for m in mask if m >= given]
    if missing:
        raise layer.error(
            f"anchors lists {len(values) // 2} pairs but mask uses anchor {max(missing)}; "
            f"give {total} pairs (num={total})"
        )
    return anchors
