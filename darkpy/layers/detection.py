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
class score) is darkpy.detect.decode_detection's work. The loss lives in darknet's forward,
so the layer is inference only.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.head_keys import GRID_TRAINING_KEYS
from darkpy.config.schema import NEITHER, TRAINING, Key
from darkpy.layers.base import Layer, compute_dtype

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
        "max": Key("int", 90, **_T, doc="most truth boxes per training image (pjreddie 90, "
                                        "AlexeyAB 200)"),
        "forced": Key("int", 0, **_T, doc="1: the responsible box is chosen by truth size, "
                                          "not by IoU"),
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
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        n_img = x.shape[0]
        dtype = compute_dtype(x)
        flat = np.array(x.transpose(0, 3, 1, 2).reshape(n_img, -1), dtype=dtype, order="C")
        if self.softmax:
            scores = flat[:, : self.cells * self.classes].reshape(n_img, self.cells, self.classes)
            e = np.exp(scores - scores.max(axis=2, keepdims=True))
            scores[...] = e / e.sum(axis=2, keepdims=True)
        return flat.reshape(n_img, 1, 1, -1)

    def describe(self):
        return {"filters": f"{self.side}x{self.side}x{self.n}", "size": ""}
