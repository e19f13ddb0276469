"""[normalization] / [lrn]: darknet's local response normalisation across channels.

    out[..., k] = x[..., k] * N[..., k] ^ -beta,    N[..., k] = kappa + alpha * sum_j M[k, j] x[..., j]^2

darknet builds N with a running sum rather than a centred window: channel 0 sums channels
0 .. size/2 - 1, and each next channel k copies channel k-1's sum, subtracts channel
k - (size-1)/2 - 1 and adds channel k + size/2 (each only when it exists). So the windows
are not the textbook ones (with size=5, channel 0 misses channel 2 and channel 1 covers
0, 1 and 3); M holds exactly darknet's coefficients (M[k, j] counts how often channel j was
added minus removed), so the results are darknet's, up to float rounding of the sums.

Backward, the true gradient of that formula (darknet's own backward is an approximation):
    dx_j = g_j N_j^-beta - 2 alpha beta x_j sum_k M[k, j] g_k x_k N_k^(-beta-1)
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.layers.base import Layer, compute_dtype


def darknet_window_matrix(c: int, size: int) -> np.ndarray:
    """(c, c) coefficients of darknet's running channel sums: N_k = kappa + alpha * M[k] . x^2."""
    m = np.zeros((c, c), np.float64)
    for k in range(size // 2):
        m[0, k] += 1
    for k in range(1, c):
        m[k] = m[k - 1]
        prev, nxt = k - (size - 1) // 2 - 1, k + size // 2
        if prev >= 0:
            m[k, prev] -= 1
        if nxt < c:
            m[k, nxt] += 1
    return m


class Normalization(Layer):
    kind = "normalization"
    aliases = ("lrn",)
    summary = "local response normalisation across channels"
    keys = {
        "size": Key("int", 5, minimum=1, doc="channels in the normalisation window"),
        "alpha": Key("float", 0.0001, doc="scale of the windowed sum of squares"),
        "beta": Key("float", 0.75, doc="exponent of the denominator"),
        "kappa": Key("float", 1.0, doc="constant added in the denominator"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.size, self.alpha, self.beta, self.kappa = opts.size, opts.alpha, opts.beta, opts.kappa
        self._matrices: dict[int, np.ndarray] = {}
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if self.size // 2 > c:
            raise self.error(f"size={self.size} starts channel 0's sum with {self.size // 2} "
                             f"channels, more than the input's {c} (darknet reads past its buffer)")
        return (h, w, c)

    def _window(self, c: int, dtype) -> np.ndarray:
        if c not in self._matrices:
            self._matrices[c] = darknet_window_matrix(c, self.size)
        return self._matrices[c].astype(dtype)

    def _norms(self, x: np.ndarray) -> np.ndarray:
        dtype = compute_dtype(x)
        m = self._window(x.shape[-1], dtype)
        squares = np.square(x, dtype=dtype)
        return dtype.type(self.kappa) + dtype.type(self.alpha) * (squares @ m.T)

    def forward(self, inputs, train=False):
        x = inputs[0]
        dtype = compute_dtype(x)
        norms = self._norms(x)
        return np.ascontiguousarray(x * np.power(norms, dtype.type(-self.beta)), dtype=dtype)

    def backward(self, delta, inputs, output):
        x = inputs[0].astype(delta.dtype, copy=False)
        norms = self._norms(x)
        m = self._window(x.shape[-1], delta.dtype)
        direct = delta * np.power(norms, -self.beta)
        through = (delta * x * np.power(norms, -self.beta - 1)) @ m
        return [np.ascontiguousarray(direct - 2 * self.alpha * self.beta * x * through)]

    def describe(self):
        return {"filters": "", "size": f"{self.size}"}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return (self.size + 4) * h * w * c
