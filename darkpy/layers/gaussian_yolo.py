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
x, y locate.

Training (AlexeyAB's forward_gaussian_yolo_layer with state.train=1; the loops are in
darkpy/kernels/gaussian_yolo_loss.py). `set_truth(truth, net_w, net_h)` as for [yolo]
(layers/yolo.py); the next training forward computes darknet's l.delta, which the backward
passes to the layer's input unchanged (the input gradient is -l.delta). It follows AlexeyAB's
[yolo] loss (no-object rule with the 0.25 class test, ignore_thresh, truth_thresh, best
anchor of all `num`, iou_thresh/iou_thresh_kind, obj_normalizer, cls_normalizer,
counters_per_class, label_smooth_eps, objectness_smooth) with these differences:

- the box: for each coordinate k of (x, y, w, h) with mean mu_k (entry 2k), uncertainty
  s_k (entry 2k+1), target t_k (x, y: the truth's point (yolo_point) in cell units minus
  the cell; w, h: log(truth size / anchor), as [yolo]) and s = 2 - w h, darknet's Gaussian
  negative log-likelihood with density N = exp(-z^2/2) / (sqrt(2 pi)(s_k + 0.3)),
  z = (t_k - mu_k) / s_k, and w = N / (N + 1e-9):
      d mu_k = iou_normalizer * s/2 * w * (t_k - mu_k) / s_k^2
      d s_k  = uc_normalizer  * s/2 * w * ((t_k - mu_k)^2 / s_k^3 - 1 / (s_k + 0.3))
  that is -d/d(output) of s/2 * -log(N + 1e-9) (with iou_normalizer = uc_normalizer); the
  0.3 appears in the normaliser only, as in darknet. For w, h the output is the input, so
  d mu is the true (negated) gradient of the layer's input; for x, y and the four
  uncertainties darknet applies it to the input without the logistic's derivative, so it
  is not (checked against that formula, and by finite differences with respect to the
  outputs). iou_loss other than mse replaces the four mean deltas by darknet's dx_box_iou
  (layers/yolo.py; yolo_point left_top/right_bottom move dx, dy by -+dw/2, dh/2), w, h
  times exp(t), times iou_normalizer; the uncertainties keep the Gaussian formula. All
  eight: NaN/inf -> 0, clipped to +-max_delta when set, ADDED to the entry;
- every truth's deltas go to its cell by yolo_point; the anchor's class deltas count as
  "already trained" when the first class's delta is non-zero (darknet's test);
- a truth's objectness delta is m obj_normalizer (1 - obj) (m: the counters_per_class
  weight); objectness_smooth in the ignore branch sets obj_normalizer (IoU^2 - obj) and
  trains the matched class;
- after each image every anchor with k > 0 positive class deltas has its 8 box deltas
  divided by k (always, not only with iou_thresh < 1);
- the report: darknet's avg IoU is the IoU with iou_loss=mse but the GIoU otherwise; its
  printed class_loss is the sum of squared deltas of objectness and classes, iou_loss of
  entries 0-3 and uc_loss of entries 4-7 (darknet's split; w, h means count as
  "uncertainty" there), total_loss all of them, each per image; `cost` is all squared deltas.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from darkpy.config.head_keys import YOLO_TRAINING_KEYS, read_by
from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.truth_loss import box_truth
from darkpy.layers.yolo import _anchor_pairs, class_multipliers

gaussian_loss = kernels("gaussian_yolo_loss")


YOLO_POINTS = ("center", "left_top", "right_bottom")
# the loss keys darkpy's training acts on
_LOSS_KEYS = ("ignore_thresh", "truth_thresh", "iou_thresh", "iou_thresh_kind", "iou_loss",
              "iou_normalizer", "obj_normalizer", "cls_normalizer", "label_smooth_eps",
              "counters_per_class")
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
        **{name: replace(read_by(ALEXEYAB, YOLO_TRAINING_KEYS)[name], used=True)
           for name in _LOSS_KEYS},
        "max": Key("int", 200, fork=ALEXEYAB, phase=TRAINING, doc="most truth boxes per training image"),
        # what these do differs from [yolo]'s
        "max_delta": Key("float", float(np.finfo(np.float32).max), default_text="FLT_MAX",
                         fork=ALEXEYAB, phase=TRAINING, doc="clips the box gradients and caps the counters_per_class "
                                   "weights"),
        "objectness_smooth": Key("int", 0, fork=ALEXEYAB, phase=TRAINING, doc="1: objectness targets are the IoU, "
                                                     "not 1"),
        "random": Key("float", 0.0, fork=ALEXEYAB, phase=TRAINING, doc="random network input size every 10 batches "
                                              "(1, or the range)"),
        "uc_normalizer": Key("float", 1.0, fork=ALEXEYAB, phase=TRAINING, doc="loss weight of the uncertainties"),
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
        self.max_boxes = int(opts.max)
        self.output_shape(self.input_shapes)

    flavor = "alexeyab"  # the trainer's lineage: AlexeyAB's batch norm and update

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if c != self.n * self.entries:
            raise self.error(f"the layer before gives {c} channels, but {self.n} anchors x "
                             f"(9 + {self.classes} classes) need {self.n * self.entries}: set "
                             f"filters={self.n * self.entries} in the [convolutional] before it")
        return (h, w, c)

    def forward(self, inputs, train=False):
        self._loss_delta = None
        self.loss = None
        out = self._activate(inputs[0])
        if train and getattr(self, "_truth", None) is not None:
            self._compute_loss(out)
        return out

    def _activate(self, x):
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

    # --- training ---------------------------------------------------------------------------
    def set_truth(self, truth, net_w: int, net_h: int) -> None:
        """The boxes (N, max_boxes, 5: x, y, w, h, class) of the next training forward and the
        network input size; None stops the loss."""
        if truth is None:
            self._truth = None
            return
        truth = box_truth(self, truth)
        self._truth = (truth, int(net_w), int(net_h))

    def has_loss(self) -> bool:
        return getattr(self, "_loss_delta", None) is not None

    def _settings(self) -> dict:
        """The loss keys as the kernel takes them (checked once, then kept)."""
        cached = getattr(self, "_settings_cache", None)
        if cached is not None:
            return cached
        from darkpy.kernels.yolo_loss_alexeyab import IOU_LOSSES

        o = self.opts
        if o.map:
            raise self.error("map= (class remapping for YOLO9000) is not supported in training")
        # darknet reads an unknown iou_loss as iou, an unknown iou_thresh_kind as iou (warning)
        kind = IOU_LOSSES.get(o.iou_loss, IOU_LOSSES["iou"])
        if o.iou_thresh_kind not in IOU_LOSSES:
            raise self.error(f"iou_thresh_kind={o.iou_thresh_kind}: expected one of "
                             f"{', '.join(IOU_LOSSES)}")
        max_delta = np.float32(o.max_delta)
        multipliers = class_multipliers(self, max_delta)
        self._settings_cache = {
            "cfg": np.array([o.iou_normalizer, o.obj_normalizer, o.cls_normalizer,
                             o.label_smooth_eps, max_delta, o.uc_normalizer], np.float32),
            "kind": kind, "thresh_kind": IOU_LOSSES[o.iou_thresh_kind],
            "flags": np.array([int(o.objectness_smooth), YOLO_POINTS.index(self.yolo_point)],
                              np.int64),
            "multipliers": multipliers}
        return self._settings_cache

    def _compute_loss(self, out: np.ndarray) -> None:
        truth, net_w, net_h = self._truth
        if truth.shape[0] != out.shape[0]:
            raise self.error(f"truth holds {truth.shape[0]} images, the batch {out.shape[0]}")
        out32 = np.ascontiguousarray(out, dtype=np.float32)
        delta = np.zeros_like(out32)
        stats = np.zeros(gaussian_loss.STATS, np.float64)
        s = self._settings()
        gaussian_loss.gaussian_yolo_delta(
            out32, truth, self.all_anchors, np.asarray(self.mask, np.int64), self.classes,
            net_w, net_h, float(self.opts.ignore_thresh), float(self.opts.truth_thresh),
            float(self.opts.iou_thresh), s["cfg"], s["kind"], s["thresh_kind"], s["flags"],
            s["multipliers"], delta, stats)
        self._loss_delta = delta
        self.loss = self._report(stats, delta)

    def _report(self, stats, delta) -> dict:
        """darknet's printed line (averages over the truths, NaN when none, as darknet's
        -nan) and its loss split (module docstring)."""
        G = gaussian_loss
        count = stats[G.COUNT]
        batch = delta.shape[0]
        predictions = delta.shape[0] * delta.shape[1] * delta.shape[2] * self.n
        d = delta.reshape(-1, self.entries).astype(np.float64)
        squares = d * d
        total = float(squares.sum())
        classification = float(squares[:, 8:].sum())
        iou_part = float(squares[:, 0:4].sum())

        def per(value, n):
            return float(value / n) if n else float("nan")

        return {
            "avg_iou": per(stats[G.AVG_IOU], count),
            "avg_class": per(stats[G.AVG_CLASS], stats[G.CLASS_COUNT]),
            "avg_obj": per(stats[G.AVG_OBJ], count),
            "avg_noobj": per(stats[G.AVG_NOOBJ], predictions),
            "recall50": per(stats[G.RECALL50], count),
            "recall75": per(stats[G.RECALL75], count),
            "count": int(count),
            "class_loss": classification / batch,
            "iou_loss": iou_part / batch,
            "uc_loss": (total - classification - iou_part) / batch,
            "total_loss": total / batch,
            "cost": total,
        }

    def backward(self, delta, inputs, output):
        """dL/d(input): an incoming gradient through the activations, minus darknet's loss
        delta when the forward had truth (darknet passes l.delta on unchanged)."""
        x = np.asarray(inputs[0])
        if delta is None:
            grad = np.zeros_like(x)
        else:
            shape = x.shape
            t = x.reshape(-1, self.n, self.entries)
            s = 1 / (1 + np.exp(-t))
            ds = s * (1 - s)
            ds[..., 0] *= self.scale_x_y
            ds[..., 2] *= self.scale_x_y
            ds[..., 4] = 1
            ds[..., 6] = 1
            grad = (np.asarray(delta, x.dtype).reshape(t.shape) * ds).reshape(shape)
        if self.has_loss():
            grad -= self._loss_delta.astype(grad.dtype)
        return [grad]

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}
