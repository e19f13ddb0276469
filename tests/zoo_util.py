"""Helpers for the tests of darknet's layer zoo (tests/test_zoo_*.py)."""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import parse_options
from darkpy.config.section import Section


def make(cls, options, shapes, index=3):
    """A layer of class `cls` built from cfg-style string options for input shapes (h, w, c)."""
    opts = parse_options(Section(cls.kind, {k: str(v) for k, v in options.items()}), cls.keys)
    return cls(opts, [tuple(s) for s in shapes], index=index, origin="zoo.cfg:7")


def chw_flat(x_nhwc: np.ndarray) -> np.ndarray:
    """Each image's darknet buffer (CHW order), shape (n, h*w*c)."""
    return np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)).reshape(x_nhwc.shape[0], -1)


def nhwc_from_flat(flat: np.ndarray, h: int, w: int, c: int) -> np.ndarray:
    """Inverse of chw_flat."""
    return np.ascontiguousarray(flat.reshape(-1, c, h, w).transpose(0, 2, 3, 1))


def check_gradients(layer, inputs, eps=1e-6, rtol=1e-5, atol=1e-8, seed=1):
    """Compare layer.backward with central differences of L = sum(w * forward(inputs)) in
    float64, for every value of every input and every trainable parameter."""
    layer.astype(np.float64)
    inputs = [np.array(x, dtype=np.float64) for x in inputs]
    out = layer.forward(inputs, train=True)
    w = np.random.default_rng(seed).standard_normal(out.shape)

    def loss():
        return float(np.sum(w * layer.forward(inputs, train=True)))

    layer.zero_grads()
    out = layer.forward(inputs, train=True)
    grads = layer.backward(w.copy(), inputs, out)
    assert len(grads) == len(inputs)
    targets = [(x, g) for x, g in zip(inputs, grads) if g is not None]
    targets += [(layer.params[name], layer.grads[name]) for name in layer.trainable()]
    for x, g in targets:
        assert g.shape == x.shape and g.dtype == np.float64
        numeric = np.zeros_like(x)
        flat, nflat = x.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + eps
            layer.invalidate()
            up = loss()
            flat[i] = keep - eps
            layer.invalidate()
            down = loss()
            flat[i] = keep
            nflat[i] = (up - down) / (2 * eps)
        layer.invalidate()
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol)
