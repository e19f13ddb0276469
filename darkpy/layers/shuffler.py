"""[shuffler]: pixel shuffle (sub-pixel convolution upscaling), (h, w, c*r*r) -> (h*r, w*r, c).

    out[y*r + i, x*r + j, k] = x[y, x, k*r*r + i*r + j]        (r = scale)

The channel order is torch.nn.PixelShuffle's, so converted ESPCN/EDSR weights work unchanged.
The shuffle is a permutation: backward is its inverse (torch's PixelUnshuffle) applied to delta.
"""
from __future__ import annotations

from darkpy.config.schema import DARKPY, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
resample = kernels("resample")


class Shuffler(Layer):
    kind = "shuffler"
    summary = "pixel shuffle: channels to space (sub-pixel upscaling)"
    fork = DARKPY
    keys = {"scale": Key("int", 2, minimum=1, fork=DARKPY,
                         doc="upscaling factor r: (h, w, c*r*r) -> (h*r, w*r, c)")}

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.scale = opts.scale
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        r2 = self.scale * self.scale
        if c % r2:
            raise self.error(f"{c} input channels are not divisible by scale^2 = {r2}")
        return (h * self.scale, w * self.scale, c // r2)

    def forward(self, inputs, train=False):
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        return resample.pixel_shuffle(x, self.scale)

    def backward(self, delta, inputs, output):
        return [resample.pixel_unshuffle(delta, self.scale)]

    def describe(self):
        return {"filters": "", "size": f"{self.scale}x"}
