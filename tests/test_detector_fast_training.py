"""Detector training's fast arithmetic (darkpy.train.darknet.step): darknet's formulas computed
fast must give what darknet's exact arithmetic gives, up to float rounding; and the kernels it
runs on (kernels/batchnorm_fast.py, the tiled max-pool backward, the Winograd weight gradient
by planes, the blocked filter transforms, Network.backward without the input gradient)
against naive references."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import activations as act
from darkpy.kernels import batchnorm_darknet as bd
from darkpy.kernels import batchnorm_fast as bf
from darkpy.kernels import pooling, workers
from darkpy.kernels.conv import training, winograd
from darkpy.network import Network
from darkpy.train.darknet.step import EXACT, FAST, set_arithmetic, train_minibatch

f32 = np.float32


# --- batch norm: darknet's formulas, written out in float64 ---------------------------------

def _activation(code, v):
    if code == act.LEAKY:
        return np.where(v > 0, v, 0.1 * v), np.where(v > 0, 1.0, 0.1)
    if code == act.SWISH:  # its derivative needs the input: recomputed by the fast kernel
        s = 1 / (1 + np.exp(-v))
        return v * s, s + v * s * (1 - s)
    return v, np.ones_like(v)


def darknet_batchnorm(x, scales, biases, code, delta, alexeyab=False):
    """(y, mean, var, dx, dscales, dbiases) by darknet's formulas (batchnorm_layer.c), in
    float64: unbiased variance and 1e-6 on the standard deviation forward; var + 1e-5 and
    1/m backward. AlexeyAB's: sqrt(var + 1e-5) forward, the first backward term over
    sqrt(var) + 1e-5."""
    x = x.astype(np.float64)
    m = x.shape[0]
    mean = x.mean(0)
    var = ((x - mean) ** 2).sum(0) / (m - 1)
    xn = (x - mean) / (np.sqrt(var + 1e-5) if alexeyab else np.sqrt(var) + 1e-6)
    y, slope = _activation(code, xn * scales + biases)
    g = delta * slope
    v = var + 1e-5
    gs = g * scales
    mean_delta = -gs.sum(0) / np.sqrt(v)
    var_delta = -0.5 * (gs * (x - mean)).sum(0) * v ** -1.5
    first = np.sqrt(var) + 1e-5 if alexeyab else np.sqrt(v)
    dx = gs / first + var_delta * 2 * (x - mean) / m + mean_delta / m
    return y, mean, var, dx, (g * xn).sum(0), g.sum(0)


def _rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("alexeyab", [False, True])
@pytest.mark.parametrize("code", [act.LEAKY, act.LINEAR, act.SWISH])
def test_fast_batch_norm_is_darknets_formulas(code, alexeyab):
    rng = np.random.default_rng(3)
    m, c = 3000, 11
    # small spreads, where the forks' epsilons matter
    x = rng.normal(2.0, 1.5, (m, c)).astype(f32) * np.geomspace(1e-3, 1, c).astype(f32)
    scales = rng.uniform(0.5, 2, c).astype(f32)
    biases = rng.normal(0, 1, c).astype(f32)
    delta = rng.normal(0, 1, (m, c)).astype(f32)
    want = darknet_batchnorm(x, scales, biases, code, delta, alexeyab)
    other = darknet_batchnorm(x, scales, biases, code, delta, not alexeyab)
    assert _rel(other[0], want[0]) > 1e-3 and _rel(other[3], want[3]) > 1e-3  # they differ
    rolling_mean, rolling_var = np.full(c, 0.5, f32), np.full(c, 2.0, f32)
    y = np.empty_like(x)
    state = bf.train_forward(x.copy(), scales, biases, rolling_mean, rolling_var, code, y,
                             alexeyab=alexeyab)
    assert _rel(y, want[0]) < 1e-5
    np.testing.assert_allclose(rolling_mean, 0.99 * 0.5 + 0.01 * want[1], rtol=1e-5)
    np.testing.assert_allclose(rolling_var, 0.99 * 2.0 + 0.01 * want[2], rtol=1e-5)
    dx, dscales, dbiases = bf.backward(delta, y, state, scales, biases, code)
    assert _rel(dx, want[3]) < 1e-4
    assert _rel(dscales, want[4]) < 1e-5
    assert _rel(dbiases, want[5]) < 1e-5
    with pytest.raises(AttributeError):
        state.xn.shape  # one backward per forward: xn became dx


def test_fast_batch_norm_agrees_with_the_exact_kernel_and_ignores_threads():
    rng = np.random.default_rng(4)
    x = rng.normal(0.3, 0.2, (40000, 8)).astype(f32)  # enough rows for several workers' jobs
    scales = rng.uniform(0.5, 2, 8).astype(f32)
    biases = np.zeros(8, f32)
    delta = rng.normal(0, 1, x.shape).astype(f32)
    exact, state = bd.train_forward(x, scales, np.zeros(8, f32), np.ones(8, f32), 4)
    runs = []
    for threads in (1, 2):
        workers.set_num_threads(threads)
        try:
            y = np.empty_like(x)
            st = bf.train_forward(x.copy(), scales, biases, np.zeros(8, f32), np.ones(8, f32),
                                  act.LINEAR, y)
            runs.append((y, *bf.backward(delta, y, st, scales, biases, act.LINEAR)))
        finally:
            workers.set_num_threads(workers._default_threads())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert _rel(runs[0][0], exact) < 1e-5
    dx, dscales, dbiases = bd.backward(delta, state, scales)
    assert _rel(runs[0][1], dx) < 1e-4 and _rel(runs[0][2], dscales) < 1e-5


# --- a small detector: fast against exact -----------------------------------------------------

CFG = """[net]
batch=2
width=48
height=48
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=8,8, 20,16
classes=2
num=2
"""


def _detector(exact):
    net = Network(parse_cfg_text(CFG, "<fast>"))
    net.init_params(seed=5)
    set_arithmetic(net, exact)
    return net, [net.layers[-1]]


def test_fast_training_gives_exact_trainings_gradients():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, (2, 48, 48, 3)).astype(f32)
    truth = np.zeros((2, 10, 5), f32)
    truth[:, :2] = [[0.3, 0.4, 0.2, 0.3, 0], [0.7, 0.6, 0.4, 0.3, 1]]
    results = []
    for exact in (False, True):
        net, heads = _detector(exact)
        assert {layer.darknet_training for layer in net.layers} == {EXACT if exact else FAST}
        cost, reports = train_minibatch(net, heads, x, truth, 48, 48)
        grads = {(l.index, n): g.copy() for l in net.layers for n, g in l.grads.items()}
        results.append((cost, reports, grads))
    (cost_f, rep_f, fast), (cost_e, rep_e, exact) = results
    assert cost_f == pytest.approx(cost_e, rel=1e-5)
    assert rep_f[4]["count"] == rep_e[4]["count"] == 4
    assert set(fast) == set(exact) and len(fast) == 8
    for key in fast:
        assert _rel(fast[key], exact[key]) < 1e-3, key


def test_backward_without_input_gradient():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (2, 48, 48, 3)).astype(f32)
    delta = None
    grads = []
    for input_gradient in (True, False):
        net, heads = _detector(False)
        out = net.forward(x, train=True)
        delta = rng.normal(0, 1, out.shape).astype(f32) if delta is None else delta
        dx = net.backward(delta, input_gradient=input_gradient)
        assert (dx is None) == (not input_gradient)
        grads.append({(l.index, n): g.copy() for l in net.layers for n, g in l.grads.items()})
    for key in grads[0]:
        np.testing.assert_allclose(grads[1][key], grads[0][key], rtol=1e-5, atol=1e-6)


def test_cli_train_help_documents_exact():
    from darkpy.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--exact" in result.output and "bit for bit" in result.output


# --- kernels ---------------------------------------------------------------------------------

def naive_maxpool_backward(x, delta, size):
    """Windows size x size at stride size from (0, 0): the first strict maximum wins."""
    dx = np.zeros_like(x)
    n, h, w, c = x.shape
    for b in range(n):
        for oy in range(delta.shape[1]):
            for ox in range(delta.shape[2]):
                for k in range(c):
                    best, at = -np.inf, None
                    for iy in range(oy * size, min(h, oy * size + size)):
                        for ix in range(ox * size, min(w, ox * size + size)):
                            if x[b, iy, ix, k] > best:
                                best, at = x[b, iy, ix, k], (iy, ix)
                    dx[b, at[0], at[1], k] += delta[b, oy, ox, k]
    return dx


@pytest.mark.parametrize("shape,size,out", [((2, 8, 6, 5), 2, (4, 3)), ((1, 9, 7, 3), 2, (5, 4)),
                                            ((2, 7, 8, 4), 3, (2, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_maxpool_backward(shape, size, out, dtype):
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties: the first must win
    delta = rng.normal(0, 1, (shape[0], *out, shape[3])).astype(dtype)
    got = pooling.maxpool2d_backward(x, delta, size, size, size, 0, 0)
    np.testing.assert_array_equal(got, naive_maxpool_backward(x, delta, size))


@pytest.mark.parametrize("n,h,cin,cout,planes", [(2, 13, 16, 24, True), (1, 30, 8, 8, False)])
def test_winograd_weight_gradient(monkeypatch, n, h, cin, cout, planes):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(n, h, h, cin)).astype(f32)
    dz = rng.normal(size=(n, h, h, cout)).astype(f32)
    called = []
    by_planes = training._weight_grad_by_planes
    monkeypatch.setattr(training, "_weight_grad_by_planes",
                        lambda *a: called.append(1) or by_planes(*a))
    if not planes:
        monkeypatch.setattr(training, "PLANE_SPLIT_VALUES", 0)
    dw = np.ones((3, 3, cin, cout), f32)
    training.weight_grad_winograd(x, dz, 1, dw)
    assert bool(called) == planes
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.stack([np.stack([np.einsum("nhwc,nhwo->co", xp[:, ky:ky + h, kx:kx + h], dz)
                               for kx in range(3)]) for ky in range(3)])
    assert _rel(dw - 1, want) < 1e-5


def test_blocked_filter_transform_is_the_float64_product():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(3, 3, 5, 130)).astype(f32)  # columns beyond one block
    want = (winograd._G_KRON @ w.astype(np.float64).reshape(9, -1)).reshape(36, 5, 130)
    np.testing.assert_allclose(winograd.transform_filters(w), want, rtol=1e-6, atol=1e-7)
