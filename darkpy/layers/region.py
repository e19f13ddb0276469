"""[region]: the YOLOv2 detection head (darknet's forward_region_layer at inference).

Input and output are NHWC with num * (coords + classes + 1) channels; anchor a owns channels
a*(coords+classes+1) ... and within them: 0 x, 1 y, 2 w, 3 h, (4 .. coords-1 extra coords),
coords objectness, coords+1.. class scores. The forward leaves what darknet leaves in l.output:

    x, y        sigma(t)
    w, h        t                   (raw; decoding takes exp(t) * anchor, anchors in grid cells)
    objectness  sigma(t)            (left raw with background=1: it is a softmax entry then)
    classes     softmax over the classes of each anchor (softmax=1), else sigma(t)

With background=1 the softmax spans the objectness slot and the classes (classes + 1 entries).

tree=<file> (YOLO9000): the classes of each anchor and cell get the hierarchical softmax
instead (one softmax per group of siblings, temperature 1; layers/tree.py), the first n class
entries for a tree of n nodes, further entries left raw. This is darknet's GPU computation
(softmax_tree); its CPU code offsets the groups without the w*h stride and divides by an unset
temperature, which darkpy does not reproduce. Decoding boxes from a tree (hierarchy
thresholds) is not supported by darkpy's detect.

Training (pjreddie's forward_region_layer with net.train=1; the loops are in
darkpy/kernels/region_loss.py). `set_truth(truth, net_w, net_h)` gives the boxes of the next
training forward ((N, max_boxes, 5) rows x, y, w, h, class, ending at the first x = 0; darknet
reads at most 30) and `images_seen` darknet's seen counter (it includes this minibatch). For
a cell (i, j) of this W x H head and anchor n of size (aw, ah) in grid cells, with outputs
out (x, y already logistic) and raw t_w, t_h:

- every prediction: obj delta = noobject_scale (0 - obj) (background=1: (1 - obj)), 0 when
  its box (i + x)/W, (j + y)/H, exp(t_w) aw/W, exp(t_h) ah/H overlaps a truth by more than
  `thresh`; while seen < 12800 images also 0.01 (target - out) towards the anchor's own box
  (centre of the cell, size of the anchor), by the box rule below;
- every truth (x, y, w, h, c), at cell i = int(x W), j = int(y H): the anchor whose box
  (with `bias_match` the anchor's size, else its predicted size), centred on the truth, has
  the highest IoU with it gets, with s = coord_scale (2 - w h):
      dx = s (x W - i - out_x)      dw = s (log(w W / aw) - t_w)
      dy = s (y H - j - out_y)      dh = s (log(h H / ah) - t_h)
      dobj = object_scale (1 - obj)    (rescore=1: (IoU of its predicted box - obj);
                                         background=1: (0 - obj))
      dclass_k = class_scale ([k = c] - out_k)   (logistic classes: only class c if the
                                                  anchor already has class deltas)

With tree= (YOLO9000) the class delta follows the hierarchy: for every node m on the path
from c up to its root, every node k of m's group of siblings gets class_scale (0 - out_k)
and m itself class_scale (1 - out_m); groups off the path and entries past the tree get
none, and the report's Class is the product of out_m along the path (the probability of c),
averaged over the truths. Being out - onehot per group, this delta is a true gradient:
class_scale times minus the gradient, with respect to the raw class inputs, of the sum over
the path's groups of -log softmax(group)[m] (tests/test_region_tree_loss.py checks it by
finite differences). A truth with x and y above 100000 (pjreddie's correct_boxes writes
999999 for a label centred at (0, 0); darkpy's loader keeps such lines for a tree network in
pjreddie's lineage) is darknet's classification-only label: its image gets the no-object
delta on every objectness (left out of the report's No Obj sum), the prediction with the
highest objectness x probability of c (the first in darknet's anchor, row, column order)
gets the tree class delta and no objectness delta, and nothing else of that image trains
(no boxes, no prior term, no count, one more Class); the first such truth of an image
decides. Evidence: tools/darknet_region_tree_oracle.py runs pjreddie's own
forward_region_layer through a harness. `darknet detector train` cannot serve: its CPU tree
softmax runs at l.temperature, which parse_region never sets (0: NaN everywhere), and lays
the groups out without the w*h stride; with the temperature set to 1 and a 1x1 grid of one
anchor, where the stride does not matter, its outputs, deltas, cost and printed statistics
equal darkpy's (tests/fixtures/darknet_train_region/tree.npz).

darknet's reported cost is the sum of squared deltas. Its CPU backward_region_layer is empty
(commented out in pjreddie's source: the CPU build trains nothing through [region]); darkpy
does what its GPU backward does: the deltas of x, y and objectness (unless background=1) are
multiplied by the logistic derivative out (1 - out), the others passed on as they are, and the
gradient with respect to the input is minus that. For logistic x, y and objectness with
target g that is the gradient of the cross-entropy times the scale only in part: x, y get
the derivative of scale/2 (g - out)^2 (squared error on the sigmoid), objectness likewise;
w, h the gradient of scale/2 (g - t)^2; the softmax classes the cross-entropy gradient
class_scale (out - onehot). darknet's formulas, not one loss's gradient (the scales multiply
once, not squared): the unit tests check them as formulas; the tree's class delta (above)
is a true gradient. Not trained: map=, coords > 4 (masks).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from darkpy.config.head_keys import GRID_TRAINING_KEYS
from darkpy.config.schema import ALEXEYAB, PJREDDIE, TRAINING, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer
from darkpy.layers.tree import load_tree, tree_cycle, tree_softmax
from darkpy.layers.truth_loss import box_truth
from darkpy.layers.yolo import _anchor_pairs

# kernels, loaded on first use (darkpy/kernels/lazy.py)
yolo_kernels = kernels("yolo")
region_loss = kernels("region_loss")

_T = dict(used=False, phase=TRAINING)  # darknet's loss and augmentation


class Region(Layer):
    kind = "region"
    summary = "YOLOv2 head (anchors in grid cells)"
    keys = {
        "classes": Key("int", 20, doc="object classes"),
        "coords": Key("int", 4, doc="numbers per box (4: x, y, w, h; more: a mask)"),
        "num": Key("int", 1, doc="anchors, i.e. boxes predicted per grid cell"),
        "anchors": Key("floats", None, doc="w,h pairs in grid cells of this layer"),
        "softmax": Key("int", 0, choices=(0, 1),
                       doc="1: softmax over the class scores (else logistic)"),
        "background": Key("int", 0, choices=(0, 1), fork=PJREDDIE,
                          doc="1: no objectness; an extra background class joins the softmax"),
        "tree": Key("str", None, doc="hierarchy file (YOLO9000's data/9k.tree): a softmax per "
                                     "group of sibling classes, trained per group"),
        # read by darknet for training; kept for round trips
        **GRID_TRAINING_KEYS,
        # darkpy's detector training (darkpy.train.darknet) acts on these
        **{name: replace(GRID_TRAINING_KEYS[name], used=True)
           for name in ("rescore", "coord_scale", "object_scale", "noobject_scale",
                        "class_scale")},
        "map": Key("str", None, **_T, doc="file mapping the class ids of the training data"),
        "max": Key("int", 30, phase=TRAINING, doc="most truth boxes per training image (the "
                                                   "loss reads at most 30)"),
        "log": Key("int", 0, **_T, doc="read, but used by no darknet: no effect"),
        "sqrt": Key("int", 0, **_T, doc="read, but used by no darknet's [region]: no effect"),
        "focal_loss": Key("int", 0, fork=ALEXEYAB, **_T,
                          doc="1: focal loss on the class scores"),
        "thresh": Key("float", 0.5, phase=TRAINING, doc="predictions overlapping a truth more "
                                                        "than this get no objectness loss"),
        "classfix": Key("int", 0, **_T, doc="AlexeyAB's class-loss variants for unmatched "
                                            "predictions (pjreddie: no effect)"),
        "absolute": Key("int", 0, **_T, doc="read, but used by no darknet: no effect"),
        "mask_scale": Key("float", 1.0, **_T, doc="loss weight of the mask (coords > 4)"),
        "bias_match": Key("int", 0, phase=TRAINING, doc="1: the responsible anchor is chosen "
                                                        "by shape alone"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.tree = (load_tree(opts.tree, origin, f"{origin}: [{self.kind}] layer {index}")
                     if opts.tree else None)
        self._tree_roots_checked = False  # the tree's walk to its roots, at the first batch
        self.classes = int(opts.classes)
        self.coords = int(opts.coords)
        self.n = int(opts.num)
        if self.classes < 1:
            raise self.error(f"classes={self.classes}: needs at least one class")
        if self.n < 1:
            raise self.error(f"num={self.n}: needs at least one anchor")
        if self.coords < 4:
            raise self.error(f"coords={self.coords}: a box needs at least 4 coordinates")
        self.anchors = _anchor_pairs(self, opts.anchors, self.n, list(range(self.n)))
        self.softmax = int(opts.softmax)
        self.background = int(opts.background)
        self.entries = self.coords + self.classes + 1
        if self.tree is not None and self.tree.n > self.classes:
            raise self.error(f"the tree {self.tree.path} has {self.tree.n} nodes but the layer "
                             f"has classes={self.classes}")
        channels = self.input_shapes[0][2]
        if channels != self.n * self.entries:
            raise self.error(
                f"the layer before gives {channels} channels, but {self.n} anchors x "
                f"({self.coords} coords + 1 + {self.classes} classes) need "
                f"{self.n * self.entries}: set filters={self.n * self.entries} in the "
                f"[convolutional] before it"
            )

    def forward(self, inputs, train=False):
        self._loss_delta = None
        self.loss = None
        x = np.ascontiguousarray(inputs[0], dtype=np.float32)
        out = np.empty_like(x)
        if x.size:
            softmax = self.softmax if self.tree is None else 0
            yolo_kernels.region_activate(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]),
                                         self.n, self.coords, self.classes, self.background,
                                         softmax)
        if self.tree is not None:
            self._tree_classes(x, out)
        if train and getattr(self, "_truth", None) is not None:
            self._compute_loss(out)
        return out

    # --- training ---------------------------------------------------------------------------
    images_seen = 0  # darknet's *net.seen during the next training forward (set by the trainer)

    def set_truth(self, truth, net_w: int = 0, net_h: int = 0) -> None:
        """The boxes (N, max_boxes, 5: x, y, w, h, class) the next training forward computes
        darknet's deltas against; None stops the loss."""
        if truth is None:
            self._truth = None
            return
        if self.opts.get("map"):
            raise self.error("map= (class remapping) is not supported in training")
        if self.coords > 4:
            raise self.error(f"coords={self.coords}: masks (coords > 4) are not supported in "
                             "training")
        truth = box_truth(self, truth)
        if self.tree is not None:
            self._check_tree_truth(truth)
        self._truth = truth

    def _check_tree_truth(self, truth: np.ndarray) -> None:
        """Every class the loss reads must be a node of the tree, and the tree's parents must
        lead to a root (darknet would read past its arrays or loop forever). The tree is
        walked once, at the first batch (9418 nodes of 9k.tree: 15 ms)."""
        if not self._tree_roots_checked:
            cycle = tree_cycle(self.tree)
            if cycle is not None:
                raise self.error(f"tree={self.opts.tree}: node {cycle} "
                                 f"({self.tree.names[cycle]}) is its own ancestor in "
                                 f"{self.tree.path}")
            self._tree_roots_checked = True
        read = truth[:, :region_loss.MAX_TRUTHS]
        valid = np.cumprod(read[..., 0] != 0, axis=1).astype(bool)  # up to the first x = 0
        classes = read[..., 4][valid]
        if classes.size and (classes.min() < 0 or classes.max() >= self.tree.n):
            bad = classes[(classes < 0) | (classes >= self.tree.n)][0]
            raise self.error(f"a truth of class {int(bad)}: the tree {self.tree.path} has "
                             f"nodes 0..{self.tree.n - 1} (classes={self.classes})")

    def has_loss(self) -> bool:
        return getattr(self, "_loss_delta", None) is not None

    def _compute_loss(self, out: np.ndarray) -> None:
        truth = self._truth
        if truth.shape[0] != out.shape[0]:
            raise self.error(f"truth holds {truth.shape[0]} images, the batch {out.shape[0]}")
        o = out.reshape(*out.shape[:3], self.n, self.entries)
        delta = np.zeros_like(o)
        stats = np.zeros(region_loss.STATS, np.float64)
        opts = self.opts
        tree = self.tree
        none = np.zeros(0, np.int64)
        parent, group, offset, size = ((tree.parent, tree.group, tree.group_offset,
                                        tree.group_size) if tree is not None else (none,) * 4)
        region_loss.region_delta(o, truth, self.anchors, self.classes, self.coords,
                                 bool(self.softmax), bool(self.background), bool(opts.rescore),
                                 bool(opts.bias_match), float(opts.thresh),
                                 float(opts.coord_scale), float(opts.object_scale),
                                 float(opts.noobject_scale), float(opts.class_scale),
                                 int(self.images_seen), parent, group, offset, size, delta,
                                 stats)
        self._loss_delta = delta.reshape(out.shape)
        self.loss = _report(stats, self._loss_delta, out.shape[0] * out.shape[1] * out.shape[2]
                            * self.n)

    def _tree_classes(self, x, out):
        """Class entries of every anchor and cell: the tree softmax of the raw values."""
        first = self.coords + 1
        raw = x.reshape(-1, self.n, self.entries)[..., first:]
        classes = out.reshape(-1, self.n, self.entries)[..., first:]
        classes[...] = raw  # entries past the tree stay raw
        classes[..., :self.tree.n] = tree_softmax(raw, self.tree)[..., :self.tree.n]

    def backward(self, delta, inputs, output):
        """minus darknet's loss delta, x, y and objectness through the logistic derivative
        (darknet's GPU backward; module docstring). Nothing flows back through [region]
        otherwise, as in darknet."""
        if delta is not None:
            raise self.error("takes no gradient from later layers (darknet's [region] has no "
                             "backward but its loss)")
        if not self.has_loss():
            return [np.zeros_like(np.asarray(inputs[0], np.float32))]
        d = self._loss_delta.reshape(-1, self.n, self.entries).copy()
        y = np.asarray(output, np.float32).reshape(d.shape)
        logistic = [0, 1] if self.background else [0, 1, self.coords]
        d[..., logistic] *= (np.float32(1) - y[..., logistic]) * y[..., logistic]
        return [np.ascontiguousarray(-d.reshape(output.shape))]

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}


def _report(stats: np.ndarray, delta: np.ndarray, predictions: int) -> dict:
    """darknet's `Region Avg IOU: .., Class: .., Obj: .., No Obj: .., Avg Recall: ..,
    count: ..` (NaN where it divides by 0) and its cost, pow(mag_array(delta), 2): a float
    sum of squares in darknet's memory order."""
    from darkpy.layers.truth_loss import darknet_sum, nchw

    count = stats[region_loss.COUNT]
    class_count = stats[region_loss.CLASS_COUNT]

    def per(value, n):
        return float(value / n) if n else float("nan")

    n, h, w, c = delta.shape
    squares = nchw(delta * delta)
    return {
        "avg_iou": per(stats[region_loss.AVG_IOU], count),
        "avg_class": per(stats[region_loss.AVG_CLASS], class_count),
        "avg_obj": per(stats[region_loss.AVG_OBJ], count),
        "avg_noobj": per(stats[region_loss.AVG_NOOBJ], predictions),
        "recall": per(stats[region_loss.RECALL], count),
        "count": int(count),
        "cost": float(np.float32(math.sqrt(darknet_sum(squares)) ** 2)),
    }
