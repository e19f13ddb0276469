"""[empty] / [silence]: AlexeyAB's placeholder layer: the previous output passes unchanged.

    out = x            (the input array itself: layers never write to their inputs)

darknet points the layer's output at the previous layer's buffer and gives it no forward or
backward work; placeholders keep layer indices stable when a block is removed. The gradient
passes through unchanged too.
"""
from __future__ import annotations

from darkpy.config.schema import ALEXEYAB
from darkpy.layers.base import Layer


class Empty(Layer):
    kind = "empty"
    aliases = ("silence",)
    summary = "passes the previous output through unchanged"
    fork = ALEXEYAB
    keys = {}

    def forward(self, inputs, train=False):
        return inputs[0]

    def backward(self, delta, inputs, output):
        return [delta]
