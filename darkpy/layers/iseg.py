"""[iseg]: pjreddie's instance-segmentation head.

The input has exactly classes + ids channels (darknet asserts it). At every pixel

    y[..., :classes] = 1 / (1 + e^-x[..., :classes])     class masks, sigmoid
    y[..., classes:] = x[..., classes:]                     `ids` embedding values, unchanged

which is what darknet's forward writes to the layer's output. The rest of that forward is the
training loss, and it reads the truth unconditionally (up to 90 instances an image, each a
class id and a w*h mask): per-pixel mask errors t - y for the classes, and for the embedding a
pull towards the mean embedding of the pixel's own instance and a push from the others (steps
of +-0.1, scaled by 0.01). darknet therefore cannot run the layer without truth; darkpy gives
the output above and, not implementing the loss, is inference only here.

Keys (parse_iseg): classes (default 20), ids (default 32). No parameters.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE, Key
from darkpy.kernels.activation_codes import LOGISTIC
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class ISeg(Layer):
    kind = "iseg"
    summary = "instance segmentation head: class masks and embeddings"
    fork = PJREDDIE
    keys = {
        "classes": Key("int", 20, minimum=0, fork=PJREDDIE,
                       doc="mask channels, one per class (logistic)"),
        "ids": Key("int", 32, minimum=0, fork=PJREDDIE,
                   doc="instance-embedding channels after them (passed unchanged)"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.classes, self.ids = opts.classes, opts.ids
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if c != self.classes + self.ids:
            raise self.error(f"the input has {c} channels but classes={self.classes} + "
                             f"ids={self.ids} = {self.classes + self.ids} are needed (set "
                             f"filters={self.classes + self.ids} in the layer before)")
        return (h, w, c)

    def forward(self, inputs, train=False):
        if train:
            raise self.error("is inference only: darkpy does not implement darknet's "
                             "instance-segmentation loss")
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        dtype = compute_dtype(x)
        out = np.array(x, dtype=dtype, order="C", copy=True)
        if self.classes:
            masks = np.ascontiguousarray(out[..., :self.classes])
            activations.activate(masks, LOGISTIC)
            out[..., :self.classes] = masks
        return out

    def describe(self):
        return {"filters": f"{self.classes}+{self.ids}", "size": ""}
