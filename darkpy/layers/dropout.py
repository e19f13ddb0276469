"""[dropout]: identity at inference; in training darknet's inverted dropout.

    inference: out = x            (the input array itself is returned, not a copy: layers never
                                   write to their inputs, so sharing it is safe and saves memory)
    training:  out_i = 0 if r_i < p else x_i / (1 - p),   r_i ~ U[0, 1)

pjreddie's default probability is 0.5 (AlexeyAB's is 0.2); darkpy follows pjreddie. AlexeyAB's
DropBlock keys are accepted; training with dropblock=1 is not supported.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.layers.base import Layer


class Dropout(Layer):
    kind = "dropout"
    keys = {
        "probability": Key("float", 0.5, doc="probability of dropping a value (training)"),
        "dropblock": Key("int", 0, used=False, doc="AlexeyAB DropBlock (training only)"),
        "dropblock_size_rel": Key("float", 0.0, used=False),
        "dropblock_size_abs": Key("float", 0.0, used=False),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.probability = float(opts.probability)
        if not 0.0 <= self.probability < 1.0:
            raise self.error(f"probability must be in [0, 1), got {self.probability}")
        self.rng = np.random.default_rng()
        self.keep_mask: np.ndarray | None = None  # for backward: which values survived

    def forward(self, inputs, train=False):
        x = inputs[0]
        if not train:
            return x
        if self.opts.dropblock:
            raise self.error("training with dropblock=1 is not supported")
        self.keep_mask = self.rng.random(x.shape, dtype=np.float32) >= np.float32(self.probability)
        scale = np.float32(1.0 / (1.0 - self.probability))
        return np.where(self.keep_mask, x * scale, np.float32(0)).astype(np.float32, copy=False)

    def describe(self):
        return {"filters": "", "size": f"p={self.probability:g}"}
