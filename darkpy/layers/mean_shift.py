"""[mean_shift]: subtract (or add back) a per-channel mean, with one scale for all channels.

    reverse=0:  out[..., c] = (x[..., c] - mean[c]) / scale
    reverse=1:  out[..., c] = x[..., c] * scale + mean[c]

Super-resolution networks (EDSR, WDSR) take RGB on 0..255, centre it on the training set's
mean before the first convolution and add the mean back after the last. This has to be its
own stage: folding the shift into the first convolution's bias would be exact only inside
the image, because zero padding pads the *shifted* image (a pad of 0 after the shift is a pad
of `mean` before it). The constants live in the cfg; the layer has no weights, so darknet
`.weights` files of other networks are unaffected. The default mean is DIV2K's RGB mean
(0.4488, 0.4371, 0.4040) on the 0..255 scale, as EDSR and WDSR use.

mean and scale are constants, not parameters: backward only scales delta,
dx = delta / scale (reverse=0) or delta * scale (reverse=1).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import DARKPY, Key
from darkpy.kernels import recycle
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
elementwise = kernels("elementwise")

DIV2K_MEAN_255 = (114.444, 111.4605, 103.02)


class MeanShift(Layer):
    kind = "mean_shift"
    summary = "subtracts (or adds back) a per-channel mean"
    fork = DARKPY
    keys = {
        "mean": Key("floats", DIV2K_MEAN_255, fork=DARKPY,
                    doc="per-channel mean (one value, or one per channel)"),
        "scale": Key("float", 1.0, fork=DARKPY,
                     doc="divide by it after subtracting (multiply before adding back)"),
        "reverse": Key("int", 0, choices=(0, 1), fork=DARKPY,
                       doc="0: (x - mean) / scale, 1: x * scale + mean"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if not opts.mean:
            raise self.error("`mean` needs at least one value")
        if opts.scale == 0:
            raise self.error("`scale` must not be 0")
        self.mean = np.asarray(opts.mean, dtype=np.float32)
        self.scale = np.float32(opts.scale)
        self.reverse = bool(opts.reverse)
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if self.mean.size not in (1, c):
            raise self.error(f"`mean` has {self.mean.size} values, the input has {c} channels")
        return (h, w, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        # float64 stays float64 (gradient checks); anything else (e.g. uint8 pixels) -> float32
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        # in place in a recycled array: a fresh one per operation would fault its pages in
        out = recycle.empty(x.shape, dtype)
        if x.dtype == np.float32 and x.ndim == 4 and x.flags.c_contiguous:
            elementwise.channel_affine(x, self.scale, self.mean, self.reverse, out)
        elif self.reverse:
            np.add(np.multiply(x, self.scale, out=out), self.mean, out=out)
        else:
            np.divide(np.subtract(x, self.mean, out=out), self.scale, out=out)
        return out

    def backward(self, delta, inputs, output):
        if self.reverse:
            return [delta * self.scale]
        return [delta / self.scale]

    def describe(self):
        sign = "+" if self.reverse else "-"
        return {"filters": "", "size": f"{sign}mean"}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return 2 * h * w * c
