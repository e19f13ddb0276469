"""Training fast paths outside the convolution: the optimiser's chunked update on the
workers, the plain residual sum's backward, pixel_unshuffle on the workers, and the
Winograd filter transform and its adjoint against the definitions."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.kernels import resample, workers
from darkpy.kernels.conv import winograd
from darkpy.kernels.conv.winograd_grad import filter_gradient
from darkpy.layers.shortcut import Shortcut
from darkpy.train import optim
from darkpy.train.optim import Optimizer


class _Layer:
    """The little of a layer the optimiser reads."""

    def __init__(self, index, params):
        self.index = index
        self.opts = {}
        self.params = params
        self.grads = {name: np.zeros_like(p) for name, p in params.items()}
        self.invalidated = 0

    def invalidate(self):
        self.invalidated += 1


class _Net:
    def __init__(self, layers):
        self.layers = layers

    def parameters(self):
        for layer in self.layers:
            for name, p in layer.params.items():
                yield layer, name, p, layer.grads[name]


def _net(rng):
    return _Net([_Layer(0, {"weights": rng.standard_normal((5, 7)).astype(np.float32),
                            "biases": rng.standard_normal(5).astype(np.float32)}),
                 _Layer(1, {"weights": rng.standard_normal(13).astype(np.float32)})])


def _naive_adam(p, g, m, v, t, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, decay=0.0005, batch=2):
    d = -g - decay * batch * p
    m[...] = b1 * m + (1 - b1) * d
    v[...] = b2 * v + (1 - b2) * d * d
    p += lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


@pytest.mark.parametrize("adam", [True, False])
def test_chunked_update_on_workers_matches_naive(adam, monkeypatch):
    monkeypatch.setattr(optim, "UPDATE_CHUNK", 4)  # ragged chunks of every parameter
    monkeypatch.setattr(optim, "SERIAL_WORK", 0)  # on the workers
    saved = workers.num_threads()
    workers.set_num_threads(3)
    rng = np.random.default_rng(0)
    net = _net(rng)
    want = {(l.index, n): p.astype(np.float64) for l, n, p, _ in net.parameters()}
    state = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in want.items()}
    opt = Optimizer({"adam": int(adam), "momentum": 0.9, "decay": 0.0005, "B1": 0.9,
                     "B2": 0.999, "eps": 1e-8, "batch": 2, "subdivisions": 1,
                     "learning_rate": 0.01, "policy": "constant", "burn_in": 0, "power": 4,
                     "max_batches": 10})
    try:
        for t in (1, 2, 3):
            grads = {}
            for layer, name, _, grad in net.parameters():
                grad[...] = rng.standard_normal(grad.shape)
                grads[(layer.index, name)] = grad.astype(np.float64)
            opt.step(net, t)
            for key, p in want.items():
                g = grads[key]
                a, b = state[key]
                if adam:
                    _naive_adam(p, g, a, b, t)
                else:  # darknet SGD: updates -= g (+ decay on weights); w += lr/batch * u
                    a -= g
                    if key[1] == "weights":
                        a -= 0.0005 * 2 * p
                    p += 0.01 / 2 * a
                    a *= 0.9
    finally:
        workers.set_num_threads(saved)
    for layer, name, p, grad in net.parameters():
        np.testing.assert_allclose(p, want[(layer.index, name)], rtol=1e-5, atol=1e-6)
        assert not grad.any()  # the step clears the gradients
        assert layer.invalidated == 3


def _shortcut(shapes, **options):
    section = Section("shortcut", {"from": "-3", **{k: str(v) for k, v in options.items()}},
                      "t.cfg:1")
    opts = parse_options(section, {**COMMON_KEYS, **Shortcut.keys})
    return Shortcut(opts, shapes, 3, "t.cfg:1")


@pytest.mark.parametrize("alpha, beta", [(1, 1), (1, -0.5), (2, 1)])
def test_linear_shortcut_backward_returns_scaled_delta(alpha, beta):
    shape = (2, 3, 4, 5)
    layer = _shortcut([shape[1:], shape[1:]], alpha=alpha, beta=beta)
    rng = np.random.default_rng(1)
    prev, other = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    out = layer.forward([prev, other])
    np.testing.assert_allclose(out, alpha * prev + beta * other, rtol=1e-6)
    delta = rng.standard_normal(shape).astype(np.float32)
    saved = delta.copy()
    d_prev, d_other = layer.backward(delta, [prev, other], out)
    np.testing.assert_array_equal(delta, saved)
    np.testing.assert_allclose(d_prev, alpha * saved, rtol=1e-7)
    np.testing.assert_allclose(d_other, beta * saved, rtol=1e-7)
    assert d_prev.dtype == d_other.dtype == np.float32


@pytest.mark.parametrize("r", [2, 3])
def test_pixel_unshuffle_on_workers(r, monkeypatch):
    monkeypatch.setattr(workers, "SERIAL_WORK", 0)
    saved = workers.num_threads()
    workers.set_num_threads(3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5 * r, 3 * r, 4)).astype(np.float32)
    try:
        got = resample.pixel_unshuffle(x, r)
    finally:
        workers.set_num_threads(saved)
    n, big_h, big_w, c = x.shape
    want = np.empty((n, big_h // r, big_w // r, c * r * r), np.float32)
    for y in range(big_h // r):
        for ix in range(big_w // r):
            for i in range(r):
                for j in range(r):
                    for cc in range(c):
                        want[:, y, ix, cc * r * r + i * r + j] = x[:, y * r + i, ix * r + j, cc]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(resample.pixel_shuffle(got, r), x)


def test_filter_transform_and_its_adjoint_match_the_definition():
    g_mat = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                      [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3, 4, 5))
    for u in (winograd.transform_filters(w),):
        assert u.dtype == np.float32 and u.shape == (36, 4, 5)
        for c in range(4):
            for o in range(5):
                want = g_mat @ w[:, :, c, o] @ g_mat.T
                np.testing.assert_allclose(u[:, c, o].reshape(6, 6), want, rtol=1e-6, atol=1e-7)
    # the adjoint: <transform(w), du> = <w, filter_gradient(du)>
    du = rng.standard_normal((36, 4, 5))
    u64 = np.einsum("ai,ijco,bj->abco", g_mat, w, g_mat).reshape(36, 4, 5)
    assert np.sum(u64 * du) == pytest.approx(np.sum(w * filter_gradient(du)), rel=1e-12)
