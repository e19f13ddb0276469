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

Training (pjreddie's forward_yolo_layer with net.train=1; the loops are in
darkpy/kernels/yolo_loss.py). `set_truth(truth, net_w, net_h)` gives the boxes of the next
training forward: (N, max_boxes, 5) float32 rows x, y, w, h, class (relative to the network
input; the list ends at the first x = 0). The forward then computes darknet's l.delta, the
target minus the output at every entry, where for a cell (i, j) of this W x H head, anchor
n of the mask with size (aw, ah) in input pixels, output entries t and input size (W_in, H_in):

- every prediction: obj delta = 0 - obj, cleared to 0 when its box's best IoU with any truth
  exceeds ignore_thresh; above truth_thresh it is treated as that truth's anchor (below);
- every truth (x, y, w, h, c): its best anchor is the one of all `num` whose (aw, ah) box
  centred on it has the highest IoU; if that anchor is in this head's mask, at the cell
  i = int(x W), j = int(y H) with s = 2 - w h:
      dx = s (x W - i - out_x)        dw = s (log(w W_in / aw) - t_w)
      dy = s (y H - j - out_y)        dh = s (log(h H_in / ah) - t_h)
      dobj = 1 - obj,   dclass_k = [k = c] - out_k   (only the entry of c if the anchor
      already carries class deltas from another truth)

darknet adds l.delta to the input's delta unchanged, so the loss gradient with respect to
the head's input is -l.delta: for the logistic entries (x, y, objectness, classes) that is
the true gradient of binary cross-entropy with targets as above (weight s for x, y), for
w, h the true gradient of s/2 (target - t)^2; the ignore rule and the overwriting of a
shared anchor make it piecewise (finite differences hold away from those switches).
darknet's reported cost is sum(delta^2), not that cross-entropy. `loss` holds it with the
report darknet prints (Avg IOU, Class, Obj, No Obj, .5R, .75R, count).

AlexeyAB's loss (`flavor=alexeyab`; auto picks it when the section sets a key only his
darknet reads, as yolov4's iou_loss, scale_x_y, *_normalizer do; the loops are in
darkpy/kernels/yolo_loss_alexeyab.py). Same structure, with these changes (his CPU build):

- no-object: dobj = obj_normalizer (0 - obj), cleared only when the best IoU above
  ignore_thresh is with a prediction that scores some class > 0.25 (objectness_smooth=1:
  raised to obj_normalizer (IoU - obj) instead of cleared);
- a truth trains its best anchor (of all `num`, if in the mask) and, with iou_thresh < 1,
  every other anchor of the mask whose shape overlaps it by more than iou_thresh
  (iou_thresh_kind: iou/giou/diou/ciou of the centred shapes); with m = the class weight
  (counters_per_class: max count / count, capped at max_delta; 1 without):
      dobj = m obj_normalizer (1 - obj)
      dclass_k = y_k - out_k with y = [k = c] smoothed to y (1 - eps) + eps/2
      (label_smooth_eps); the true class's entry times m cls_normalizer only when
      counters_per_class is set (as darknet). focal_loss=1: dclass_k = ([k = c] - out_k)
      * 0.5 g with g = -(1 - p)(2 p log p + p - 1), p = out_c.
      iou_loss=mse: the box deltas above times iou_normalizer * m (w, h with new_coords:
      sqrt(w W_in / (4 aw)) - t_w), ADDED to what the entry holds (two truths on one anchor
      add up);
      iou_loss=giou/diou/ciou: (dx, dy, dw, dh) = darknet's dx_box_iou of the predicted box
      against the truth (in image fractions; for w, h times exp(t) unless new_coords), times
      iou_normalizer * m, NaN/inf -> 0, clipped to +-max_delta when set, added. The
      scale 2 - w h is not applied here;
  with iou_thresh < 1 an anchor whose class deltas have k > 0 positive entries gets its box
  deltas divided by k.

dx_box_iou is not the gradient of the score it names (darknet's choice, kept): d/dx and d/dy
of the IoU term are the sums of its edge derivatives (top+bottom, left+right), d/dw and
d/dh their differences without the factor 1/2; DIoU/CIoU add the distance term's
derivative in which the enclosing box counts only its prediction-owned edges, and CIoU
adds alpha * (8/pi^2)(atan(w_t/h_t) - atan(w/h)) * (h, -w) with alpha held constant, and
only where the boxes overlap the IoU part at all (else the distance term alone). The
unit tests check these against hand-worked darknet formulas, not finite differences; the
mse box terms, objectness and classes are true gradients (checked by finite differences).
darknet's CPU backward adds the deltas to the head's input gradient unchanged, as above:
scale_x_y enters through the forward's output (the predicted box), not as a factor on the
x, y deltas. `loss` adds AlexeyAB's printed class_loss, iou_loss and total_loss; his `cost`
is iou_normalizer * mean(1 - IoU) + class_loss for the IoU losses, sum(delta^2) for mse.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from darkpy.config.head_keys import YOLO_TRAINING_KEYS
from darkpy.config.schema import ALEXEYAB, DARKPY, NEITHER, RUNTIME, TRAINING, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer
from darkpy.layers.truth_loss import box_truth

# kernels, loaded on first use (darkpy/kernels/lazy.py)
yolo_loss = kernels("yolo_loss")
yolo_kernels = kernels("yolo")
logistic_alexeyab_cpu = kernels("logistic_alexeyab_cpu")
yolo_loss_alexeyab = kernels("yolo_loss_alexeyab")

_T = dict(used=False, phase=TRAINING)  # darknet's loss and augmentation
FLAVORS = ("auto", "pjreddie", "alexeyab")
# the loss keys darkpy's training acts on (AlexeyAB's loss reads all; pjreddie's the first two)
_LOSS_KEYS = ("ignore_thresh", "truth_thresh", "iou_thresh", "iou_thresh_kind", "iou_loss",
              "iou_normalizer", "obj_normalizer", "cls_normalizer", "label_smooth_eps",
              "max_delta", "counters_per_class", "objectness_smooth")


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
        # darkpy's detector training (darkpy.train.darknet) acts on these and on `max`
        **{name: replace(YOLO_TRAINING_KEYS[name], used=True) for name in _LOSS_KEYS},
        "max": Key("int", None, phase=TRAINING, default_text="90 (pjreddie), 200 (AlexeyAB)",
                   doc="most truth boxes per training image"),
        "flavor": Key("str", "auto", choices=FLAVORS, fork=DARKPY, phase=TRAINING,
                      doc="train with pjreddie's or AlexeyAB's [yolo] loss; auto: AlexeyAB's "
                          "when the section sets a key only AlexeyAB reads"),
        "show_details": Key("int", 1, fork=ALEXEYAB, used=False, phase=RUNTIME,
                            doc="0: print less about the loss while training"),
        "focal_loss": Key("int", 0, fork=ALEXEYAB, phase=TRAINING,
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
        self.flavor = opts.flavor
        if self.flavor == "auto":
            self.flavor = "alexeyab" if self._alexeyab_keys_set() else "pjreddie"
        # darknet's default differs by fork (parse_yolo: 90 pjreddie, 200 AlexeyAB)
        self.max_boxes = int(opts.max if opts.max is not None
                             else 200 if self.flavor == "alexeyab" else 90)
        channels = self.input_shapes[0][2]
        if channels != self.n * self.entries:
            raise self.error(
                f"the layer before gives {channels} channels, but {self.n} anchors x "
                f"(5 + {self.classes} classes) need {self.n * self.entries}: set filters="
                f"{self.n * self.entries} in the [convolutional] before it"
            )

    def _alexeyab_keys_set(self) -> bool:
        """Whether the section gives a key only AlexeyAB's darknet reads a non-default value."""
        return any(key.fork == ALEXEYAB and self.opts.get(name) != key.default
                   for name, key in self.keys.items())

    def forward(self, inputs, train=False):
        self._loss_delta = None
        self.loss = None
        dtype = np.asarray(inputs[0]).dtype
        if dtype == np.float64:
            out = self._forward_float64(inputs[0])
        else:
            x = np.ascontiguousarray(inputs[0], dtype=np.float32)
            out = np.empty_like(x)
            if x.size:
                scale = np.float32(self.scale_x_y)
                shift = np.float32(-0.5 * (self.scale_x_y - 1.0))
                yolo_kernels.yolo_activate(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]),
                                           self.n, self.entries, scale, shift, not self.new_coords)
                if self._alexeyab_cpu_logistic():
                    self._logistic_as_alexeyab_cpu(x, out, scale, shift)
        if train and getattr(self, "_truth", None) is not None:
            self._compute_loss(out)
        return out

    def _alexeyab_cpu_logistic(self) -> bool:
        """Exact training as AlexeyAB's CPU build: his -Ofast logistic, ulp for ulp."""
        return (self.darknet_exact and self.darknet_flavor == "alexeyab-cpu"
                and not self.new_coords and logistic_alexeyab_cpu.available())

    def _logistic_as_alexeyab_cpu(self, x, out, scale, shift):
        """Recompute the logistic entries of `out` as his forward_yolo_layer does: per image
        and anchor, activate_array over the NCHW planes (x, y) and (objectness, classes)
        (kernels/logistic_alexeyab_cpu.py: where a plane block's groups of four fall decides
        the instructions), then x, y times scale_x_y plus shift (scal_add_cpu)."""
        n_img, h, w, _ = x.shape
        planes = x.reshape(n_img, h * w, self.n, self.entries).transpose(0, 2, 3, 1)
        result = out.reshape(n_img, h * w, self.n, self.entries)
        for b in range(n_img):
            for a in range(self.n):
                for first, last in ((0, 2), (4, self.entries)):
                    block = np.ascontiguousarray(planes[b, a, first:last])
                    logistic_alexeyab_cpu.logistic_in_place(block)
                    if first == 0:
                        block = block * scale + shift
                    result[b, :, a, first:last] = block.T

    def _forward_float64(self, x):
        """The activations in float64 (gradient checks)."""
        x = np.asarray(x, np.float64)
        out = x.reshape(-1, self.n, self.entries).copy()
        if not self.new_coords:
            out[..., 0:2] = 1 / (1 + np.exp(-out[..., 0:2]))
            out[..., 4:] = 1 / (1 + np.exp(-out[..., 4:]))
        out[..., 0:2] = out[..., 0:2] * self.scale_x_y - 0.5 * (self.scale_x_y - 1.0)
        return out.reshape(x.shape)

    # --- training ---------------------------------------------------------------------------
    def set_truth(self, truth, net_w: int, net_h: int) -> None:
        """The boxes (N, max_boxes, 5: x, y, w, h, class) the next training forward computes
        darknet's deltas against, and the network input size; None stops the loss."""
        if truth is None:
            self._truth = None
            return
        truth = box_truth(self, truth)
        if self.opts.map:
            raise self.error("map= (class remapping for YOLO9000) is not supported in training")
        self._truth = (truth, int(net_w), int(net_h))

    def has_loss(self) -> bool:
        return getattr(self, "_loss_delta", None) is not None

    def _compute_loss(self, out: np.ndarray) -> None:
        truth, net_w, net_h = self._truth
        if truth.shape[0] != out.shape[0]:
            raise self.error(f"truth holds {truth.shape[0]} images, the batch {out.shape[0]}")
        out32 = np.ascontiguousarray(out, dtype=np.float32)
        delta = np.zeros_like(out32)
        if self.flavor == "alexeyab":
            stats = np.zeros(yolo_loss_alexeyab.STATS, np.float64)
            s = self._alexeyab_settings()
            yolo_loss_alexeyab.yolo_delta_alexeyab(
                out32, truth, self.all_anchors, np.asarray(self.mask, np.int64), self.classes,
                net_w, net_h, float(self.opts.ignore_thresh), float(self.opts.truth_thresh),
                float(self.opts.iou_thresh), s["cfg"], s["kind"], s["thresh_kind"],
                s["flags"], s["multipliers"], delta, stats)
            self._loss_delta = delta
            self.loss = _report_alexeyab(stats, delta, out.shape, self.n, self.entries,
                                         s["kind"], float(self.opts.iou_normalizer),
                                         float(self.opts.obj_normalizer))
            return
        if self.new_coords or self.scale_x_y != 1.0:
            raise self.error("scale_x_y and new_coords train with AlexeyAB's loss only: set "
                             "flavor=alexeyab")
        stats = np.zeros(yolo_loss.STATS, np.float64)
        yolo_loss.yolo_delta(out32, truth, self.all_anchors, np.asarray(self.mask, np.int64),
                             self.classes, net_w, net_h, float(self.opts.ignore_thresh),
                             float(self.opts.truth_thresh), delta, stats)
        self._loss_delta = delta
        self.loss = _report(stats, delta, out.shape, self.n)

    def _alexeyab_settings(self) -> dict:
        """The loss keys as the AlexeyAB kernel takes them (checked once, then kept)."""
        cached = getattr(self, "_alexeyab_cache", None)
        if cached is not None:
            return cached
        o = self.opts
        for key in ("iou_loss", "iou_thresh_kind"):
            if o[key] not in yolo_loss_alexeyab.IOU_LOSSES:
                raise self.error(f"{key}={o[key]}: expected one of "
                                 f"{', '.join(yolo_loss_alexeyab.IOU_LOSSES)}")
        max_delta = np.float32(o.max_delta)
        multipliers = class_multipliers(self, max_delta)
        cfg = np.array([o.iou_normalizer, o.obj_normalizer, o.cls_normalizer,
                        o.label_smooth_eps, max_delta], np.float32)
        flags = np.array([int(o.focal_loss), self.new_coords, int(o.objectness_smooth)],
                         np.int64)
        self._alexeyab_cache = dict(
            cfg=cfg, kind=yolo_loss_alexeyab.IOU_LOSSES[o.iou_loss],
            thresh_kind=yolo_loss_alexeyab.IOU_LOSSES[o.iou_thresh_kind], flags=flags,
            multipliers=multipliers)
        return self._alexeyab_cache

    def backward(self, delta, inputs, output):
        """dL/d(input): an incoming gradient through the activations, minus darknet's loss
        delta when the forward had truth (see the module docstring)."""
        x = np.asarray(inputs[0])
        grad = np.zeros_like(x) if delta is None else self._activation_backward(delta, x)
        if self.has_loss():
            grad -= self._loss_delta.astype(grad.dtype)
        return [grad]

    def _activation_backward(self, delta, x):
        """delta times d(output)/d(input), element-wise (the activations are per entry)."""
        shape = x.shape
        x = x.reshape(-1, self.n, self.entries)
        g = np.array(delta, dtype=x.dtype).reshape(x.shape)
        scale = x.dtype.type(self.scale_x_y)
        if self.new_coords:
            g[..., 0:2] *= scale
            return g.reshape(shape)
        s = 1 / (1 + np.exp(-x))
        ds = s * (1 - s)
        g[..., 0:2] *= ds[..., 0:2] * scale
        g[..., 4:] *= ds[..., 4:]
        return g.reshape(shape)

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}


def _report(stats: np.ndarray, delta: np.ndarray, shape, anchors: int) -> dict:
    """darknet's per-forward report of a [yolo] head: averages over the truths it assigned
    (NaN when none, as darknet prints), over all predictions for No Obj; `cost` is darknet's
    l.cost, the sum of squared deltas."""
    count = stats[yolo_loss.COUNT]
    class_count = stats[yolo_loss.CLASS_COUNT]
    predictions = shape[0] * shape[1] * shape[2] * anchors

    def per(value, n):
        return float(value / n) if n else float("nan")

    return {
        "avg_iou": per(stats[yolo_loss.AVG_IOU], count),
        "avg_class": per(stats[yolo_loss.AVG_CLASS], class_count),
        "avg_obj": per(stats[yolo_loss.AVG_OBJ], count),
        "avg_noobj": per(stats[yolo_loss.AVG_NOOBJ], predictions),
        "recall50": per(stats[yolo_loss.RECALL50], count),
        "recall75": per(stats[yolo_loss.RECALL75], count),
        "count": int(count),
        "cost": float(np.dot(delta.reshape(-1).astype(np.float64), delta.reshape(-1))),
    }


def _report_alexeyab(stats, delta, shape, anchors, entries, kind, iou_normalizer,
                     obj_normalizer) -> dict:
    """AlexeyAB's report of a [yolo] head: the averages of `_report` (divided by at least
    1, as he does) and what he prints: class_loss (obj_normalizer times the squared deltas
    of objectness and classes), iou_loss (the rest of all squared deltas), total_loss (all),
    each per image; `cost` is his l.cost: all squared deltas for iou_loss=mse, else
    iou_normalizer * mean(1 - IoU) (1 - GIoU for giou) + class_loss before the division."""
    A = yolo_loss_alexeyab
    count = max(stats[A.COUNT], 1.0)
    class_count = max(stats[A.CLASS_COUNT], 1.0)
    predictions = shape[0] * shape[1] * shape[2] * anchors
    d = delta.reshape(-1, entries).astype(np.float64)
    total = float(np.sum(d * d))
    classification = obj_normalizer * float(np.sum(d[:, 4:] * d[:, 4:]))
    if kind == A.MSE:
        cost = total
    else:
        iou_term = stats[A.GIOU_LOSS] if kind == A.GIOU else stats[A.IOU_LOSS]
        cost = iou_normalizer * iou_term / count + classification
    batch = shape[0]
    return {
        "avg_iou": float(stats[A.AVG_IOU] / count),
        "avg_class": float(stats[A.AVG_CLASS] / class_count),
        "avg_obj": float(stats[A.AVG_OBJ] / count),
        "avg_noobj": float(stats[A.AVG_NOOBJ] / predictions) if predictions else 0.0,
        "recall50": float(stats[A.RECALL50] / count),
        "recall75": float(stats[A.RECALL75] / count),
        "count": int(stats[A.COUNT]),
        "class_loss": classification / batch,
        "iou_loss": (total - classification) / batch,
        "total_loss": total / batch,
        "cost": float(cost),
    }


def class_multipliers(layer, max_delta) -> np.ndarray:
    """AlexeyAB's per-class loss multipliers from `counters_per_class` (both [yolo] and
    [Gaussian_yolo]): min(largest count / count, max_delta), counts below 1 read as 1; an
    empty array when the key is unset."""
    counters = layer.opts.counters_per_class
    if counters is None:
        return np.zeros(0, np.float32)
    counts = [max(1, int(c)) for c in counters]
    if len(counts) != layer.classes:
        raise layer.error(f"counters_per_class has {len(counts)} values but classes="
                          f"{layer.classes}")
    return np.minimum(np.float32(max(counts)) / np.asarray(counts, np.float32),
                      max_delta).astype(np.float32)


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
