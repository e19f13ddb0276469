"""[reorg3d]: AlexeyAB's space-to-depth, and how it differs from the two [reorg]s.

darknet's parsers map three names onto two reorg kernels:
- pjreddie's [reorg] and AlexeyAB's [reorg] run the same code (AlexeyAB keeps it as
  reorg_old_layer.c and reads only `stride` and `reverse`, so `flatten`/`extra` are pjreddie's
  alone): YOLOv2's passthrough shuffle that reads the input buffer with the wrong grid. That is
  darkpy's [reorg] (darkpy/layers/reorg.py).
- AlexeyAB's [reorg3d] hands darknet's reorg kernel the OUTPUT's dimensions instead, which
  turns the forward into the textbook space-to-depth (the channel order of TensorFlow's
  space_to_depth):

    reverse=0:  out[y, x, (dy*s + dx)*C + k] = in[y*s + dy, x*s + dx, k]     (h/s, w/s, C*s*s)

  h and w must be multiples of s: darknet reads rows with a (w/s)*s pitch otherwise, so
  darkpy refuses those sizes instead of copying the misaligned read.

    reverse=1:  output (h*s, w*s, C/s^2)

  Here darknet's kernel is called with the output's (C/s^2, h*s, w*s) grid as its input grid:
  it reads the input's CHW buffer as a (C/s^2, h*s, w*s) tensor G1, applies a clean
  depth-to-space of factor s to it, G2[c, j*s + dy, i*s + dx] = G1[(dy*s + dx)*C/s^4 + c, j, i],
  and the output is G2's buffer read back as (C/s^2, h*s, w*s). That stays inside darknet's
  buffers only when C is a multiple of s^4, which darkpy therefore requires.

Both directions are permutations; backward applies the inverse permutation.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.layers.base import Layer


def space_to_depth(x: np.ndarray, s: int) -> np.ndarray:
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // s, s, w // s, s, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks).reshape(n, h // s, w // s, s * s * c)


def depth_to_space(x: np.ndarray, s: int) -> np.ndarray:
    """Inverse of space_to_depth."""
    n, h, w, cs = x.shape
    c = cs // (s * s)
    blocks = x.reshape(n, h, w, s, s, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks).reshape(n, h * s, w * s, c)


def _chw_depth_to_space(g1: np.ndarray, s: int) -> np.ndarray:
    """(n, a, H, W) -> (n, a/s^2, H*s, W*s): g2[c, j*s+dy, i*s+dx] = g1[(dy*s+dx)*a/s^2 + c, j, i]."""
    n, a, hh, ww = g1.shape
    oc = a // (s * s)
    blocks = g1.reshape(n, s, s, oc, hh, ww).transpose(0, 3, 4, 1, 5, 2)
    return np.ascontiguousarray(blocks).reshape(n, oc, hh * s, ww * s)


def _chw_space_to_depth(g2: np.ndarray, s: int) -> np.ndarray:
    """Inverse of _chw_depth_to_space."""
    n, oc, hs, ws = g2.shape
    blocks = g2.reshape(n, oc, hs // s, s, ws // s, s).transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(blocks).reshape(n, s * s * oc, hs // s, ws // s)


def reorg3d_reverse(x: np.ndarray, s: int) -> np.ndarray:
    n, h, w, c = x.shape
    a = c // (s * s)
    g1 = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(n, a, h * s, w * s)
    g2 = _chw_depth_to_space(g1, s).reshape(n, a, h * s, w * s)
    return np.ascontiguousarray(g2.transpose(0, 2, 3, 1))


def reorg3d_reverse_backward(delta: np.ndarray, s: int) -> np.ndarray:
    n, hs, ws, a = delta.shape
    g2 = np.ascontiguousarray(delta.transpose(0, 3, 1, 2)).reshape(n, a // (s * s), hs * s, ws * s)
    g1 = _chw_space_to_depth(g2, s).reshape(n, a * s * s, hs // s, ws // s)
    return np.ascontiguousarray(g1.transpose(0, 2, 3, 1))


class Reorg3d(Layer):
    kind = "reorg3d"
    summary = "space-to-depth in the textbook order"
    fork = ALEXEYAB
    keys = {
        "stride": Key("int", 1, minimum=1, fork=ALEXEYAB,
                      doc="block size: (h, w, c) -> (h/s, w/s, c*s*s)"),
        "reverse": Key("int", 0, fork=ALEXEYAB,
                       doc="1: the inverse direction (darknet's buffer reading; see docs)"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.stride = opts.stride
        self.reverse = bool(opts.reverse)
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        s = self.stride
        if self.reverse:
            if c % (s ** 4):
                raise self.error(f"reverse=1 needs channels divisible by stride^4 = {s ** 4} "
                                 f"(darknet reads outside its buffers otherwise), got {c}")
            return (h * s, w * s, c // (s * s))
        if h % s or w % s:
            raise self.error(f"reorg3d by {s} needs h and w divisible by {s}, got {h}x{w}")
        return (h // s, w // s, c * s * s)

    def forward(self, inputs, train=False):
        x = inputs[0]
        self.output_shape([x.shape[1:]])
        if self.reverse:
            return reorg3d_reverse(x, self.stride)
        return space_to_depth(x, self.stride)

    def backward(self, delta, inputs, output):
        if self.reverse:
            return [reorg3d_reverse_backward(delta, self.stride)]
        return [depth_to_space(np.ascontiguousarray(delta), self.stride)]

    def describe(self):
        return {"filters": "", "size": f"{self.stride}x" if self.reverse else f"/{self.stride}"}
