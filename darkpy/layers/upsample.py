"""[upsample]: nearest-neighbour upsampling times `scale`; a negative stride downsamples.

    stride s > 0:  out[y, x, k] = scale * x[y // s, x // s, k]            shape (h*s, w*s, c)
    stride -s < 0: out[y, x, k] = scale * sum_{0<=dy,dx<s} x[y*s+dy, x*s+dx, k]
                                                                   shape (h/s, w/s, c)

The downsample is a block SUM (not a mean), as darknet's upsample_cpu run backwards computes
it. darknet reads the input with an (h/s*s, w/s*s) row pitch, which misaligns rows when h or w
is not a multiple of s, so darkpy refuses those sizes instead of copying the misalignment.

The two directions are each other's transposes, so backward runs the other one on delta:
    stride s > 0:  dx[y, x, k] = scale * sum_{0<=dy,dx<s} delta[y*s+dy, x*s+dx, k]
    stride -s < 0: dx[y, x, k] = scale * delta[y // s, x // s, k]
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
resample = kernels("resample")


class Upsample(Layer):
    kind = "upsample"
    summary = "nearest-neighbour upsampling (negative stride: downsample)"
    keys = {
        "stride": Key("int", 2, doc="upsampling factor (nearest neighbour); negative: "
                                    "downsample by -stride (block sum)"),
        "scale": Key("float", 1.0, doc="multiplies the output"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if opts.stride == 0:
            raise self.error("stride must not be 0")
        self.reverse = opts.stride < 0
        self.stride = abs(opts.stride)
        self.scale = np.float32(opts.scale)
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        s = self.stride
        if not self.reverse:
            return (h * s, w * s, c)
        if h % s or w % s:
            raise self.error(f"downsampling by {s} needs h and w divisible by {s}, got {h}x{w}")
        return (h // s, w // s, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        if self.reverse:
            return resample.downsample_sum(x, self.stride, self.scale)
        return resample.upsample_nearest(x, self.stride, self.scale)

    def backward(self, delta, inputs, output):
        if self.reverse:
            return [resample.upsample_nearest(delta, self.stride, self.scale)]
        return [resample.downsample_sum(delta, self.stride, self.scale)]

    def describe(self):
        return {"filters": "", "size": f"/{self.stride}" if self.reverse else f"{self.stride}x"}

    def flops(self, input_shapes):
        if self.scale == 1 and not self.reverse:
            return 0
        h, w, c = input_shapes[0]
        return h * w * c * (2 if self.reverse else self.stride * self.stride)
