"""[reorg]: pjreddie's space-to-depth of YOLOv2 (passthrough layer), exactly as darknet does it.

Shapes: (h, w, c) -> (h/s, w/s, c*s*s), or with reverse=1 (h*s, w*s, c/(s*s)).

darknet's reorg_cpu is not the textbook space-to-depth: with reverse=0 it reads the input's
CHW buffer as if it had the larger (c/s^2, h*s, w*s) grid and writes the output buffer in the
input's (c, h, w) grid (see darkpy.kernels.resample.reorg). reverse=1 is a clean
depth-to-space whose output channel is k % (c/s^2) and whose offset in the s x s block is
k // (c/s^2). Weights trained with darknet expect this exact order, so darkpy reproduces it.

flatten=1 only reorders the flat buffer (CHW <-> HWC, darknet's flatten()) and reinterprets it
with the shapes above; extra=N outputs the input's CHW buffer followed by N zeros as a
(1, 1, h*w*c + N) tensor.

Every variant is a permutation of the values (extra: plus zeros), so backward sends each
output cell's delta back to the input cell it came from (the zeros' deltas are dropped).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
resample = kernels("resample")


class Reorg(Layer):
    kind = "reorg"
    summary = "YOLOv2 passthrough space-to-depth, in darknet's order"
    keys = {
        "stride": Key("int", 1, minimum=1, doc="block size: (h, w, c) -> (h/s, w/s, c*s*s)"),
        "reverse": Key("int", 0, doc="1: the inverse, depth-to-space"),
        "flatten": Key("int", 0, fork=PJREDDIE, doc="1: only reorder CHW <-> HWC"),
        "extra": Key("int", 0, minimum=0, fork=PJREDDIE,
                     doc="append this many zeros to the flat output"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.stride = opts.stride
        self.reverse = bool(opts.reverse)
        self.flatten = bool(opts.flatten)
        self.extra = opts.extra
        if self.flatten and self.extra:
            # darknet would copy h*w*c + extra floats from an h*w*c input
            raise self.error("flatten and extra cannot be combined")
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if self.extra:
            return (1, 1, h * w * c + self.extra)
        s = self.stride
        if c % (s * s):
            raise self.error(f"{c} channels are not divisible by stride^2 = {s * s}")
        if self.reverse:
            return (h * s, w * s, c // (s * s))
        if h % s or w % s:
            raise self.error(f"reorg by {s} needs h and w divisible by {s}, got {h}x{w}")
        return (h // s, w // s, c * s * s)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n = x.shape[0]
        out_h, out_w, out_c = self.output_shape([x.shape[1:]])
        if self.extra:
            out = np.zeros((n, 1, 1, out_c), dtype=x.dtype)
            out[:, 0, 0, : x[0].size] = x.transpose(0, 3, 1, 2).reshape(n, -1)
            return out
        if self.flatten:
            return self._flatten(x, out_h, out_w, out_c)
        return resample.reorg(x, self.stride, self.reverse)

    def _flatten(self, x, out_h, out_w, out_c):
        n, h, w, c = x.shape
        if self.reverse:
            # darknet flatten(..., forward=0): the CHW buffer is read as if it were HWC
            chw = x.transpose(0, 3, 1, 2).reshape(n, h * w, c)
            flat = chw.transpose(0, 2, 1)
        else:
            # flatten(..., forward=1): the output buffer holds the input in HWC order
            flat = x
        chw_out = flat.reshape(n, out_c, out_h, out_w)
        return np.ascontiguousarray(chw_out.transpose(0, 2, 3, 1))

    def backward(self, delta, inputs, output):
        n, h, w, c = inputs[0].shape
        if self.extra:
            chw = delta[:, 0, 0, : h * w * c].reshape(n, c, h, w)
            return [np.ascontiguousarray(chw.transpose(0, 2, 3, 1))]
        if self.flatten:
            return [self._flatten_backward(delta, h, w, c)]
        return [resample.reorg_backward(delta, h, w, c, self.stride, self.reverse)]

    def _flatten_backward(self, delta, h, w, c):
        """_flatten's steps undone in reverse order."""
        n = delta.shape[0]
        chw_out = delta.transpose(0, 3, 1, 2)
        if self.reverse:
            flat = chw_out.reshape(n, c, h * w)
            chw = flat.transpose(0, 2, 1).reshape(n, c, h, w)
            return np.ascontiguousarray(chw.transpose(0, 2, 3, 1))
        return np.ascontiguousarray(chw_out.reshape(n, h, w, c))

    def describe(self):
        size = f"/{self.stride}" if not self.reverse else f"{self.stride}x"
        return {"filters": "", "size": size}
