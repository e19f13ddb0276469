"""[crop]: darknet's crop layer, centre crop at test time, random crop (and flip) in training.

    out[y, x, k] = a * in[y + dy, x + dx, k] + b        (a, b) = (2, -1), or (1, 0) with noadjust=1

so by default it also maps pixels from 0..1 to -1..1. At inference dy = (h - crop_height)/2
and dx = (w - crop_width)/2 (C division), as darknet's CPU forward does when not training; in
training dy, dx are uniform in 0..h-crop_height / 0..w-crop_width and, with flip=1, half the
crops are mirrored (x read from the right). angle, saturation, exposure and shift drive
darknet's GPU-only augmentation and are kept but not applied.

The output is crop_height x crop_width for the [net] input size. For another size darknet's
resize rule applies: both sides scale by crop_height / h (the height ratio, for the width
too), truncated to integers.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import TRAINING, Key
from darkpy.layers.base import Layer, compute_dtype

_U = dict(used=False)


class Crop(Layer):
    kind = "crop"
    summary = "centre crop (random in training), values mapped to -1..1"
    keys = {
        "crop_height": Key("int", 1, minimum=1, doc="output height for the [net] input size"),
        "crop_width": Key("int", 1, minimum=1, doc="output width for the [net] input size"),
        "flip": Key("int", 0, phase=TRAINING, doc="1: mirror half of the random crops"),
        "noadjust": Key("int", 0, doc="1: keep values; 0: map 0..1 to -1..1"),
        "angle": Key("float", 0.0, **_U, phase=TRAINING,
                     doc="GPU augmentation: random rotation up to this many degrees"),
        "saturation": Key("float", 1.0, **_U, phase=TRAINING,
                          doc="GPU augmentation: random saturation factor up to this"),
        "exposure": Key("float", 1.0, **_U, phase=TRAINING,
                        doc="GPU augmentation: random exposure factor up to this"),
        "shift": Key("float", 0.0, **_U, phase=TRAINING,
                     doc="GPU augmentation: random brightness shift up to this"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.crop_h, self.crop_w = opts.crop_height, opts.crop_width
        h = self.input_shapes[0][0]
        self.ratio = np.float32(self.crop_h) / np.float32(h)  # darknet's l.scale
        self.a, self.b = (1.0, 0.0) if opts.noadjust else (2.0, -1.0)
        self.flip = bool(opts.flip)
        self.rng = np.random.default_rng()
        self._window = None  # (dy, dx, flipped) of the last forward, for backward
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if (h, w) == self.input_shapes[0][:2]:
            out_h, out_w = self.crop_h, self.crop_w
        else:
            out_h, out_w = int(self.ratio * np.float32(h)), int(self.ratio * np.float32(w))
        if not (1 <= out_h <= h and 1 <= out_w <= w):
            raise self.error(f"cannot crop {out_h}x{out_w} from a {h}x{w} input")
        return (out_h, out_w, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n, h, w, c = x.shape
        out_h, out_w, _ = self.output_shape([x.shape[1:]])
        if train:
            dy = int(self.rng.integers(0, h - out_h + 1))
            dx = int(self.rng.integers(0, w - out_w + 1))
            flipped = self.flip and bool(self.rng.integers(0, 2))
        else:
            dy, dx, flipped = (h - out_h) // 2, (w - out_w) // 2, False
        self._window = (dy, dx, flipped)
        dtype = compute_dtype(x)
        window = x[:, dy:dy + out_h, dx:dx + out_w]
        if flipped:  # darknet reads column w - dx - 1 - j: the window mirrored in the image
            window = x[:, dy:dy + out_h, w - dx - out_w:w - dx][:, :, ::-1]
        out = window.astype(dtype) * dtype.type(self.a) + dtype.type(self.b)
        return np.ascontiguousarray(out, dtype=dtype)

    def backward(self, delta, inputs, output):
        x = inputs[0]
        _, h, w, _ = x.shape
        dy, dx, flipped = self._window
        out_h, out_w = delta.shape[1:3]
        grad = np.zeros(x.shape, dtype=delta.dtype)
        if flipped:
            grad[:, dy:dy + out_h, w - dx - out_w:w - dx] = delta[:, :, ::-1] * self.a
        else:
            grad[:, dy:dy + out_h, dx:dx + out_w] = delta * self.a
        return [grad]

    def describe(self):
        return {"filters": "", "size": f"{self.crop_w}x{self.crop_h}"}
