"""[detection]: the YOLOv1 output layer (darknet's forward_detection_layer at inference).

It reads its input as one flat vector in darknet's CHW order (normally a [connected] output)
of side*side*((1 + coords)*num + classes) values and outputs it as a (1, 1, that) tensor in
the same order, which darknet lays out as three blocks:

    [0, S*classes)                        class scores, cell-major: cell i owns i*classes ...
    [S*classes, S*(classes + num))        confidences: cell i, box n at S*classes + i*num + n
    [S*(classes + num), end)              boxes: x, y, w, h of (i, n) at ... + (i*num + n)*coords

(S = side*side). With softmax=1 each cell's class scores become a softmax over the classes
(darknet's CPU forward; its GPU forward skips it at test time); everything else is left raw.
Decoding (box x = (col + tx)/side, w = tw or tw^2 with sqrt=1, probability = confidence *
class score) is darkpy.detect.decode_detection's work.

Training (pjreddie's forward_detection_layer with net.train=1). `set_truth(truth, ...)` takes
the trainer's box rows ((N, max_boxes, 5) x, y, w, h, class; the list ends at x = 0) and
builds darknet's grid truth as fill_truth_region does: boxes narrower or lower than .005
skipped, each box to cell (col, row) = (int(x side), int(y side)) with x, y made relative to
the cell, the first box of a cell kept. Then for every image and cell, with outputs o:

- every confidence: delta = noobject_scale (0 - o);
- a cell with an object: class k delta = class_scale ([k = c] - o_k); of its `num` boxes
  (x, y relative to the cell, w, h squared first with sqrt=1) the responsible one has the
  highest IoU with the truth (if no box overlaps it, the smallest RMSE; with forced=1 box 1
  for truths of area < .1, else box 0; with random=1 while seen < 64000 a random box, drawn
  here from a generator seeded by seen); its confidence delta = object_scale (1 - o)
  (rescore=1: object_scale (IoU - o)) and its box deltas coord_scale (truth - o) for x, y,
  w, h (with sqrt=1 the truth's sqrt(w), sqrt(h)).

darknet's cost is the sum of squared deltas; its backward hands the deltas to the previous
layer unchanged (darkpy returns minus them). These are darknet's formulas: for the squared
terms they are the gradient of scale/2 (target - o)^2 with the scale once, not squared (the
unit tests check them as formulas). `loss` holds the cost and darknet's report (Avg IOU, Pos
Cat, All Cat, Pos Obj, Any Obj, count).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from darkpy.config.head_keys import GRID_TRAINING_KEYS
from darkpy.config.schema import NEITHER, TRAINING, Key
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.truth_loss import box_truth

F32 = np.float32
MIN_SIDE = F32(0.005)  # fill_truth_region skips boxes narrower or lower than this
RANDOM_SEEN = 64000   # random=1 picks the responsible box at random below this many images

_T = dict(used=False, phase=TRAINING)  # darknet's loss and augmentation


class DetectionLayer(Layer):
    kind = "detection"
    summary = "YOLOv1 head: boxes and classes on a side x side grid"
    keys = {
        "classes": Key("int", 1, doc="object classes"),
        "coords": Key("int", 1, doc="numbers per box (4: x, y, w, h)"),
        "num": Key("int", 1, doc="boxes predicted per grid cell"),
        "side": Key("int", 7, doc="grid cells per side (side x side grid)"),
        "softmax": Key("int", 0, choices=(0, 1), doc="1: softmax over the class scores"),
        "sqrt": Key("int", 0, choices=(0, 1), doc="1: w and h are predicted as square roots"),
        # darknet's training and loss options, kept for round trips
        **GRID_TRAINING_KEYS,
        # darkpy's detector training (darkpy.train.darknet) acts on these
        **{name: replace(GRID_TRAINING_KEYS[name], used=True)
           for name in ("rescore", "coord_scale", "object_scale", "noobject_scale",
                        "class_scale")},
        "max": Key("int", 90, **_T, doc="most truth boxes per training image (pjreddie 90, "
                                        "AlexeyAB 200)"),
        "forced": Key("int", 0, phase=TRAINING, doc="1: the responsible box is chosen by "
                                                    "truth size, not by IoU"),
        "random": Key("float", 0.0, **_T, doc="1: random network input size every 10 "
                                              "batches (AlexeyAB: a float sets the range)"),
        "reorg": Key("int", 0, **_T, doc="read, but its use is commented out in darknet: "
                                         "no effect"),
        # read by neither darknet (it warns "Unused field") but present in the original
        # YOLOv1 yolo.cfg kept in AlexeyAB's cfg folder
        "joint": Key("int", 0, fork=NEITHER, **_T, doc="in YOLOv1's yolo.cfg; read by no "
                                                       "darknet"),
        "objectness": Key("int", 0, fork=NEITHER, **_T, doc="in YOLOv1's yolo.cfg; read by "
                                                            "no darknet"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.classes, self.coords, self.n, self.side = opts.classes, opts.coords, opts.num, opts.side
        self.softmax = bool(opts.softmax)
        self.sqrt = bool(opts.sqrt)
        if min(self.classes, self.n, self.side) < 1 or self.coords < 4:
            raise self.error(f"needs classes, num, side >= 1 and coords >= 4 (classes="
                             f"{self.classes} num={self.n} side={self.side} coords={self.coords})")
        self.output_shape(self.input_shapes)

    @property
    def cells(self) -> int:
        return self.side * self.side

    def output_shape(self, input_shapes):
        size = int(np.prod(input_shapes[0]))
        need = self.cells * ((1 + self.coords) * self.n + self.classes)
        if size != need:
            raise self.error(f"side={self.side}, num={self.n}, coords={self.coords} and classes="
                             f"{self.classes} need {need} inputs (side^2 * ((1 + coords)*num + "
                             f"classes)); the previous layer gives {size}")
        return (1, 1, size)

    def forward(self, inputs, train=False):
        self._loss_delta = None
        self.loss = None
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        n_img = x.shape[0]
        dtype = compute_dtype(x)
        flat = np.array(x.transpose(0, 3, 1, 2).reshape(n_img, -1), dtype=dtype, order="C")
        if self.softmax:
            scores = flat[:, : self.cells * self.classes].reshape(n_img, self.cells, self.classes)
            e = np.exp(scores - scores.max(axis=2, keepdims=True))
            scores[...] = e / e.sum(axis=2, keepdims=True)
        if train and getattr(self, "_truth", None) is not None:
            self._compute_loss(flat.astype(F32))
        return flat.reshape(n_img, 1, 1, -1)

    # --- training ---------------------------------------------------------------------------
    images_seen = 0  # darknet's *net.seen during the next training forward (set by the trainer)

    def set_truth(self, truth, net_w: int = 0, net_h: int = 0) -> None:
        """The boxes (N, max_boxes, 5: x, y, w, h, class) of the next training forward; None
        stops the loss."""
        if truth is None:
            self._truth = None
            return
        truth = box_truth(self, truth)
        if self.coords != 4:
            raise self.error(f"coords={self.coords}: training needs coords=4")
        self._truth = self.grid_truth(truth)

    def grid_truth(self, boxes: np.ndarray) -> np.ndarray:
        """darknet's fill_truth_region: (N, side*side, 5 + classes) rows is_object, one-hot
        class, x, y (relative to the cell), w, h."""
        side, classes = self.side, self.classes
        grid = np.zeros((boxes.shape[0], self.cells, 5 + classes), F32)
        for b, rows in enumerate(boxes):
            for x, y, w, h, cls in rows:
                if x == 0:
                    break
                if w < MIN_SIDE or h < MIN_SIDE:
                    continue
                col, row = int(x * F32(side)), int(y * F32(side))
                cell = grid[b, min(row, side - 1) * side + min(col, side - 1)]
                if cell[0]:
                    continue
                cell[0] = 1
                if int(cls) < classes:
                    cell[1 + int(cls)] = 1
                cell[1 + classes:] = (x * F32(side) - F32(col), y * F32(side) - F32(row), w, h)
        return grid

    def has_loss(self) -> bool:
        return getattr(self, "_loss_delta", None) is not None

    def _compute_loss(self, out: np.ndarray) -> None:
        from darkpy.kernels.yolo_loss import box_iou
        from darkpy.layers.truth_loss import darknet_sum

        truth = self._truth
        if truth.shape[0] != out.shape[0]:
            raise self.error(f"truth holds {truth.shape[0]} images, the batch {out.shape[0]}")
        o = self.opts
        S, C, n, side = self.cells, self.classes, self.n, F32(self.side)
        noobj, obj_scale = F32(o.noobject_scale), F32(o.object_scale)
        class_scale, coord_scale = F32(o.class_scale), F32(o.coord_scale)
        delta = np.zeros_like(out)
        sums = dict(iou=0.0, cat=0.0, allcat=0.0, obj=0.0, anyobj=0.0, count=0)
        rng = np.random.default_rng(int(self.images_seen))
        for b in range(out.shape[0]):
            scores = out[b, :S * C].reshape(S, C)
            conf = out[b, S * C:S * (C + n)].reshape(S, n)
            boxes = out[b, S * (C + n):].reshape(S, n, 4)
            d_scores = delta[b, :S * C].reshape(S, C)
            d_conf = delta[b, S * C:S * (C + n)].reshape(S, n)
            d_boxes = delta[b, S * (C + n):].reshape(S, n, 4)
            d_conf[...] = noobj * (F32(0) - conf)
            sums["anyobj"] += float(conf.sum(dtype=np.float64))
            for i in np.flatnonzero(truth[b, :, 0]):
                t = truth[b, i]
                onehot = t[1:1 + C]
                d_scores[i] = class_scale * (onehot - scores[i])
                sums["cat"] += float(scores[i][onehot != 0].sum(dtype=np.float64))
                sums["allcat"] += float(scores[i].sum(dtype=np.float64))
                tx, ty, tw, th = t[1 + C:]
                tb = (tx / side, ty / side, tw, th)
                best, best_iou, best_rmse = -1, F32(0), 20.0
                for j in range(n):
                    pb = self._box(boxes[i, j], side)
                    iou = box_iou(*pb, *tb)
                    rmse = float(np.sqrt(sum((float(p) - float(q)) ** 2 for p, q in zip(pb, tb))))
                    if best_iou > 0 or iou > 0:
                        if iou > best_iou:
                            best_iou, best = iou, j
                    elif rmse < best_rmse:
                        best_rmse, best = rmse, j
                if o.forced:
                    best = 1 if tw * th < F32(0.1) else 0
                if o.random and self.images_seen < RANDOM_SEEN:
                    best = int(rng.integers(n))
                iou = box_iou(*self._box(boxes[i, best], side), *tb)
                sums["obj"] += float(conf[i, best])
                target = iou if o.rescore else F32(1)
                d_conf[i, best] = obj_scale * (target - conf[i, best])
                goal = np.array([tx, ty, tw, th], F32)
                if self.sqrt:
                    goal[2:] = np.sqrt(goal[2:])
                d_boxes[i, best] = coord_scale * (goal - boxes[i, best])
                sums["iou"] += float(iou)
                sums["count"] += 1
        self._loss_delta = delta
        count = sums["count"]

        def per(value, k):
            return float(value / k) if k else float("nan")

        self.loss = {"avg_iou": per(sums["iou"], count), "pos_cat": per(sums["cat"], count),
                     "all_cat": per(sums["allcat"], count * C),
                     "pos_obj": per(sums["obj"], count),
                     "any_obj": per(sums["anyobj"], out.shape[0] * S * n), "count": count,
                     "cost": float(F32(np.sqrt(darknet_sum(delta * delta)) ** 2))}

    def _box(self, v, side):
        """A predicted box in image units: x, y from the cell; w, h squared with sqrt=1."""
        x, y, w, h = (F32(a) for a in v)
        if self.sqrt:
            w, h = w * w, h * h
        return x / side, y / side, w, h

    def backward(self, delta, inputs, output):
        """darknet: the loss delta handed to the previous layer unchanged (minus it here, in
        the input's layout); nothing flows back through the layer otherwise."""
        if delta is not None:
            raise self.error("takes no gradient from later layers (darknet's [detection] has "
                             "no backward but its loss)")
        x = inputs[0]
        n, h, w, c = x.shape
        if not self.has_loss():
            return [np.zeros(x.shape, np.float32)]
        grad = -self._loss_delta.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        return [np.ascontiguousarray(grad)]

    def describe(self):
        return {"filters": f"{self.side}x{self.side}x{self.n}", "size": ""}
