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
"""
from __future__ import annotations

import numpy as np

from darkpy.config.head_keys import GRID_TRAINING_KEYS
from darkpy.config.schema import ALEXEYAB, PJREDDIE, TRAINING, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer
from darkpy.layers.tree import load_tree, tree_softmax
from darkpy.layers.yolo import _anchor_pairs

# kernels, loaded on first use (darkpy/kernels/lazy.py)
yolo_kernels = kernels("yolo")

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
                                     "group of sibling classes"),
        # read by darknet for training; kept for round trips
        **GRID_TRAINING_KEYS,
        "map": Key("str", None, **_T, doc="file mapping the class ids of the training data"),
        "max": Key("int", 30, **_T, doc="most truth boxes per training image"),
        "log": Key("int", 0, **_T, doc="read, but used by no darknet: no effect"),
        "sqrt": Key("int", 0, **_T, doc="read, but used by no darknet's [region]: no effect"),
        "focal_loss": Key("int", 0, fork=ALEXEYAB, **_T,
                          doc="1: focal loss on the class scores"),
        "thresh": Key("float", 0.5, **_T, doc="predictions overlapping a truth more than this "
                                              "get no objectness loss"),
        "classfix": Key("int", 0, **_T, doc="AlexeyAB's class-loss variants for unmatched "
                                            "predictions (pjreddie: no effect)"),
        "absolute": Key("int", 0, **_T, doc="read, but used by no darknet: no effect"),
        "mask_scale": Key("float", 1.0, **_T, doc="loss weight of the mask (coords > 4)"),
        "bias_match": Key("int", 0, **_T, doc="1: the responsible anchor is chosen by shape "
                                              "alone"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.tree = (load_tree(opts.tree, origin, f"{origin}: [{self.kind}] layer {index}")
                     if opts.tree else None)
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
        x = np.ascontiguousarray(inputs[0], dtype=np.float32)
        out = np.empty_like(x)
        if x.size:
            softmax = self.softmax if self.tree is None else 0
            yolo_kernels.region_activate(x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1]),
                                         self.n, self.coords, self.classes, self.background,
                                         softmax)
        if self.tree is not None:
            self._tree_classes(x, out)
        return out

    def _tree_classes(self, x, out):
        """Class entries of every anchor and cell: the tree softmax of the raw values."""
        first = self.coords + 1
        raw = x.reshape(-1, self.n, self.entries)[..., first:]
        classes = out.reshape(-1, self.n, self.entries)[..., first:]
        classes[...] = raw  # entries past the tree stay raw
        classes[..., :self.tree.n] = tree_softmax(raw, self.tree)[..., :self.tree.n]

    def backward(self, delta, inputs, output):
        raise self.error(f"[{self.kind}] is inference only: detector training is not supported yet")

    def describe(self):
        return {"filters": f"{self.n}x{self.entries}", "size": ""}
