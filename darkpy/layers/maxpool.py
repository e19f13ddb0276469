"""[maxpool] / [max]: max over size x size windows, darknet's padding rules.

    out_h = (h + padding - size) // stride_y + 1      (C division; padding is the TOTAL padding)
    out_w = (w + padding - size) // stride_x + 1
    out[oy, ox, k] = max_{0<=dy,dx<size} x[oy*stride_y - padding/2 + dy, ox*stride_x - padding/2 + dx, k]

`padding` defaults to size-1, so the window starts padding/2 cells before the image and any
remaining padding falls after it (2x2/1 on 3x3 gives 3x3). Cells outside the image count as
-FLT_MAX and never win. `stride` defaults to 1, `size` to stride, stride_x/stride_y to stride.

AlexeyAB's `maxpool_depth=1` pools across channels instead:
    out[y, x, g] = max_{k = g, g+out_channels, ...} x[y, x, k],  shape (h, w, out_channels).

Backward: each output's gradient goes to the input cell that won its window, the one darknet
stores as the max index (the first strictly greater value in row-major window order, so the
first of tied values; padding never wins); overlapping windows add up.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
pooling = kernels("pooling")


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class MaxPool(Layer):
    kind = "maxpool"
    aliases = ("max",)
    summary = "max pooling over a sliding window (or across channels)"
    keys = {
        "size": Key("int", None, default_text="stride", doc="window size (size x size)"),
        "stride": Key("int", 1, doc="step of the window"),
        "stride_x": Key("int", None, fork=ALEXEYAB, default_text="stride",
                        doc="horizontal step of the window"),
        "stride_y": Key("int", None, fork=ALEXEYAB, default_text="stride",
                        doc="vertical step of the window"),
        "padding": Key("int", None, default_text="size-1",
                       doc="total padding; padding/2 before (pads count as -infinity)"),
        "maxpool_depth": Key("int", 0, fork=ALEXEYAB,
                             doc="1: max across groups of channels instead of across space"),
        "out_channels": Key("int", 1, fork=ALEXEYAB, doc="output channels with maxpool_depth"),
        "antialiasing": Key("int", 0, fork=ALEXEYAB,
                            doc="1: blur after pooling (anti-aliased downsampling); darkpy: "
                                "not supported"),
        "maxpool_zero_nonmax": Key("int", 0, used=False, fork=ALEXEYAB,
                                   doc="1: darknet's GPU forward zeroes outputs that differ "
                                       "from the input at the same place; darkpy: ignored"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.stride_x = opts.stride_x if opts.stride_x is not None else opts.stride
        self.stride_y = opts.stride_y if opts.stride_y is not None else opts.stride
        self.size = opts.size if opts.size is not None else opts.stride
        self.padding = opts.padding if opts.padding is not None else self.size - 1
        self.depth = bool(opts.maxpool_depth)
        self.out_channels = opts.out_channels
        if opts.antialiasing:
            raise self.error("antialiasing is not supported (AlexeyAB's blur after maxpool)")
        if self.depth:
            if self.out_channels < 1:
                raise self.error(f"out_channels must be >= 1, got {self.out_channels}")
        else:
            if self.size < 1 or self.stride_x < 1 or self.stride_y < 1:
                raise self.error(
                    f"size and strides must be >= 1, got size={self.size} "
                    f"stride_x={self.stride_x} stride_y={self.stride_y}"
                )
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if self.depth:
            return (h, w, self.out_channels)
        out_h = _c_div(h + self.padding - self.size, self.stride_y) + 1
        out_w = _c_div(w + self.padding - self.size, self.stride_x) + 1
        if out_h < 1 or out_w < 1:
            raise self.error(
                f"a {self.size}x{self.size} window with padding {self.padding} does not fit "
                f"a {h}x{w} input"
            )
        return (out_h, out_w, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        if self.depth:
            return pooling.maxpool_depth(x, self.out_channels)
        _, h, w, c = x.shape
        out_h, out_w, _ = self.output_shape([(h, w, c)])
        offset = _c_div(-self.padding, 2)
        return pooling.maxpool2d(
            x, self.size, self.stride_y, self.stride_x, offset, offset, out_h, out_w
        )

    def backward(self, delta, inputs, output):
        x = inputs[0]
        if self.depth:
            return [pooling.maxpool_depth_backward(x, delta)]
        offset = _c_div(-self.padding, 2)
        return [pooling.maxpool2d_backward(
            x, delta, self.size, self.stride_y, self.stride_x, offset, offset
        )]

    def describe(self):
        if self.depth:
            return {"filters": str(self.out_channels), "size": "depth"}
        stride = (
            str(self.stride_x)
            if self.stride_x == self.stride_y
            else f"{self.stride_x}x{self.stride_y}"
        )
        return {"filters": "", "size": f"{self.size}x{self.size}/{stride}"}

    def flops(self, input_shapes):
        out_h, out_w, out_c = self.output_shape(input_shapes)
        if self.depth:
            return int(np.prod(input_shapes[0]))
        # one comparison per window cell, as darknet's bflops counts it
        return self.size * self.size * out_c * out_h * out_w
