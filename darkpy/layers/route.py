"""[route]: concatenate earlier outputs along channels, optionally one channel group of each.

    out = concat_k( x_k[:, :, group_id*C_k/groups : (group_id+1)*C_k/groups] )

With groups=1 (pjreddie) this is a plain channel concatenation; AlexeyAB's groups/group_id
(yolov4-tiny) take slice `group_id` of `groups` equal channel slices from every input. darknet
copies a contiguous 1/groups part of each input's CHW buffer, which is exactly that channel
slice when C_k is divisible by groups (required here). All inputs must share h and w.

Backward hands each input its slice of delta back; with groups > 1 the channels the route did
not take get zero gradient.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, RUNTIME, Key
from darkpy.errors import ConfigError
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

recycle = kernels("recycle")


class Route(Layer):
    kind = "route"
    summary = "concatenates earlier outputs along channels"
    keys = {
        "layers": Key("ints", None, doc="required: the layers to concatenate along channels "
                                        "(negative: relative to this layer)"),
        "groups": Key("int", 1, minimum=1, fork=ALEXEYAB,
                      doc="split each input's channels into this many equal groups ..."),
        "group_id": Key("int", 0, fork=ALEXEYAB, doc="... and take group number group_id"),
        "stream": Key("int", -1, used=False, fork=ALEXEYAB, phase=RUNTIME,
                      doc="CUDA stream to run this layer on"),
        "wait_stream": Key("int", -1, used=False, fork=ALEXEYAB, phase=RUNTIME,
                           doc="CUDA stream to wait for before this layer"),
    }

    @classmethod
    def references(cls, opts):
        if not opts.layers:
            raise ConfigError("[route] needs `layers = ...` (one or more layer indices)")
        return [(ref, "layers") for ref in opts.layers]

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.groups = opts.groups
        self.group_id = opts.group_id
        if not 0 <= self.group_id < self.groups:
            raise self.error(f"group_id must be in 0..{self.groups - 1}, got {self.group_id}")
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, _ = input_shapes[0]
        if any((s[0], s[1]) != (h, w) for s in input_shapes):
            shapes = ", ".join("x".join(map(str, s)) for s in input_shapes)
            raise self.mismatch(f"inputs differ in height/width (h x w x c): {shapes}",
                                "spatial sizes differ")
        for s in input_shapes:
            if s[2] % self.groups:
                raise self.mismatch(f"an input with {s[2]} channels cannot form {self.groups} "
                                    "groups", f"channels not divisible by groups={self.groups}")
        return (h, w, sum(s[2] for s in input_shapes) // self.groups)

    def forward(self, inputs, train=False):
        shape = self.output_shape([x.shape[1:] for x in inputs])
        out = recycle.empty((inputs[0].shape[0], *shape), inputs[0].dtype)
        start = 0
        for x in inputs:
            part = x.shape[3] // self.groups
            # numpy's strided copy, on this thread: a numba loop was slower, and the copy
            # is memory-bound (on the workers no faster)
            np.copyto(out[..., start:start + part],
                      x[..., self.group_id * part:(self.group_id + 1) * part])
            start += part
        return out

    def backward(self, delta, inputs, output):
        grads = []
        start = 0
        for x in inputs:
            part = x.shape[3] // self.groups
            piece = delta[..., start : start + part]
            start += part
            if self.groups == 1:
                grads.append(np.ascontiguousarray(piece))
                continue
            grad = np.zeros(x.shape, dtype=delta.dtype)
            grad[..., self.group_id * part : (self.group_id + 1) * part] = piece
            grads.append(grad)
        return grads

    def describe(self):
        size = f"{self.group_id}/{self.groups}" if self.groups > 1 else ""
        return {"filters": "", "size": size}
