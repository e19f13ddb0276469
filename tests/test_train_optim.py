"""Optimiser steps (SGD with momentum and decay, Adam) against numbers worked out here from
darknet's update rules, and every learning-rate policy against hand-worked values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.config.net_keys import NET_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.network import Network
from darkpy.train.optim import Optimizer
from darkpy.train.schedule import learning_rate

NET = """
[net]
width=1
height=1
channels=2
batch={batch}
subdivisions={subdivisions}
learning_rate=0.1
momentum=0.9
decay=0.01
adam={adam}
B1=0.9
B2=0.999
eps=0.0000001

[connected]
output=2
activation=linear
{extra}
"""

W0 = np.array([[1.0, -2.0], [0.5, 3.0]])  # darkpy layout (inputs, outputs)
B0 = np.array([0.25, -0.75])
GW = np.array([[0.5, 0.25], [-1.0, 0.125]])
GB = np.array([0.3, -0.6])


def setup(adam=0, batch=2, subdivisions=1, extra=""):
    text = NET.format(adam=adam, batch=batch, subdivisions=subdivisions, extra=extra)
    net = Network(parse_cfg_text(text, "t.cfg"), source="t.cfg")
    layer = net.layers[0]
    layer.params["weights"][...] = W0
    layer.params["biases"][...] = B0
    return net, layer, Optimizer.for_network(net)


def set_grads(layer):
    layer.zero_grads()
    layer.grads["weights"][...] = GW
    layer.grads["biases"][...] = GB


def sgd_reference(steps, lr=0.1, batch=2, momentum=0.9, decay=0.01, lr_scale=1.0):
    """darknet's update_connected_layer in float64, written out."""
    w, b = W0.copy(), B0.copy()
    uw, ub = np.zeros_like(w), np.zeros_like(b)
    rate = lr * lr_scale
    for _ in range(steps):
        uw -= GW  # backward accumulates the negated gradient
        ub -= GB
        b += rate / batch * ub
        ub *= momentum
        uw += -decay * batch * w
        w += rate / batch * uw
        uw *= momentum
    return w, b


def test_sgd_first_step_hand_worked():
    net, layer, opt = setup()
    set_grads(layer)
    assert opt.step(net, 1) == pytest.approx(0.1)
    # w[0,0]: u = -0.5 - 0.01*2*1 = -0.52; w = 1 + 0.1/2 * -0.52 = 0.974
    # b[0]:   u = -0.3;                   b = 0.25 + 0.05 * -0.3 = 0.235 (no decay)
    assert layer.params["weights"][0, 0] == pytest.approx(0.974, rel=1e-6)
    assert layer.params["biases"][0] == pytest.approx(0.235, rel=1e-6)
    # the momentum buffer is darknet's weight_updates after scaling: 0.9 * -0.52
    assert opt.state["updates/0/weights"][0, 0] == pytest.approx(-0.468, rel=1e-6)
    assert not layer.grads["weights"].any()  # zeroed for the next batch


def test_sgd_three_steps_match_darknet_rule():
    net, layer, opt = setup()
    for k in range(1, 4):
        set_grads(layer)
        opt.step(net, k)
    w, b = sgd_reference(3)
    np.testing.assert_allclose(layer.params["weights"], w, rtol=2e-6)
    np.testing.assert_allclose(layer.params["biases"], b, rtol=2e-6)


def test_layer_learning_rate_scales_the_step():
    net, layer, opt = setup(extra="learning_rate=0.5")
    set_grads(layer)
    opt.step(net, 1)
    w, b = sgd_reference(1, lr_scale=0.5)
    np.testing.assert_allclose(layer.params["weights"], w, rtol=2e-6)
    np.testing.assert_allclose(layer.params["biases"], b, rtol=2e-6)


def test_batch_and_subdivisions():
    _, _, opt = setup(batch=4, subdivisions=2)
    assert (opt.batch, opt.minibatch, opt.subdivisions) == (4, 2, 2)
    _, _, opt = setup(batch=10, subdivisions=3)  # darknet: batch /= subdivisions (integer)
    assert (opt.batch, opt.minibatch) == (9, 3)
    with pytest.raises(ConfigError, match="subdivisions"):
        setup(batch=2, subdivisions=4)


def test_adam_two_steps_hand_worked():
    net, layer, opt = setup(adam=1)
    b1, b2, eps, lr, decay, batch = 0.9, 0.999, 1e-7, 0.1, 0.01, 2
    w, b = W0.copy(), B0.copy()
    mw, vw, mb, vb = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    for t in (1, 2):
        set_grads(layer)
        opt.step(net, t)
        # darknet's adam_update_gpu, decay on every parameter
        for p, g, m, v in ((w, GW, mw, vw), (b, GB, mb, vb)):
            d = -g - decay * batch * p
            m[...] = b1 * m + (1 - b1) * d
            v[...] = b2 * v + (1 - b2) * d * d
            p += lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    # float32 as darknet: 1 - B2^t is rounded to float, about 3e-5 relative at t = 2
    np.testing.assert_allclose(layer.params["weights"], w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.params["biases"], b, rtol=1e-6, atol=1e-6)
    assert opt.t == 2


def test_adam_first_step_moves_by_learning_rate():
    net, layer, opt = setup(adam=1)
    set_grads(layer)
    opt.step(net, 1)
    d = -GW - 0.01 * 2 * W0  # mhat = d, vhat = d^2 at t = 1
    np.testing.assert_allclose(layer.params["weights"] - W0, 0.1 * np.sign(d), rtol=1e-5)


@pytest.mark.parametrize("adam", [0, 1])
def test_state_dict_resume_is_bit_exact(adam):
    net, layer, opt = setup(adam=adam)
    for k in (1, 2):
        set_grads(layer)
        opt.step(net, k)
    state = {k: v.copy() for k, v in opt.state_dict().items()}
    params = {k: v.copy() for k, v in layer.params.items()}
    set_grads(layer)
    opt.step(net, 3)
    expected = {k: v.copy() for k, v in layer.params.items()}
    # a fresh network and optimiser, restored
    net2, layer2, opt2 = setup(adam=adam)
    for k, v in params.items():
        layer2.params[k][...] = v
    opt2.load_state_dict(state)
    set_grads(layer2)
    opt2.step(net2, 3)
    for k, v in expected.items():
        np.testing.assert_array_equal(layer2.params[k], v)
    assert all(isinstance(v, np.ndarray) for v in state.values())


def test_state_dict_rejects_other_optimiser():
    net, layer, opt = setup(adam=0)
    set_grads(layer)
    opt.step(net, 1)
    _, _, adam = setup(adam=1)
    with pytest.raises(ConfigError, match="SGD"):
        adam.load_state_dict(opt.state_dict())


def test_step_invalidates_cached_inference_weights():
    net, layer, opt = setup()
    x = np.ones((1, 1, 1, 2), np.float32)
    before = net.forward(x).copy()
    set_grads(layer)
    opt.step(net, 1)
    after = net.forward(x)
    w, b = layer.params["weights"], layer.params["biases"]
    np.testing.assert_allclose(after.reshape(-1), (x.reshape(1, 2) @ w + b).reshape(-1), rtol=1e-6)
    assert not np.allclose(before, after)


# --- learning-rate policies -------------------------------------------------------------------

def net_options(**values):
    section = Section("net", {k: str(v) for k, v in values.items()}, "t.cfg:1")
    return parse_options(section, NET_KEYS)


F = np.float32


def test_constant():
    assert learning_rate(net_options(learning_rate=0.01), 123) == float(F(0.01))


def test_burn_in_comes_first():
    o = net_options(learning_rate=0.001, burn_in=100, power=4, policy="steps", steps="10",
                    scales="0.1")
    assert learning_rate(o, 50) == pytest.approx(0.001 * 0.5 ** 4, rel=1e-6)
    assert learning_rate(o, 0) == 0.0
    assert learning_rate(o, 100) == pytest.approx(0.0001, rel=1e-6)  # burn-in over: steps


def test_step():
    o = net_options(learning_rate=0.1, policy="step", step=10, scale=0.5)
    assert learning_rate(o, 9) == pytest.approx(0.1, rel=1e-7)
    assert learning_rate(o, 25) == pytest.approx(0.025, rel=1e-7)  # 25 // 10 = 2


def test_steps():
    o = net_options(learning_rate=0.1, policy="steps", steps="100,200", scales="0.1,0.5")
    assert learning_rate(o, 99) == float(F(0.1))
    assert learning_rate(o, 100) == float(F(F(0.1) * F(0.1)))  # steps[0] > 100 is false
    assert learning_rate(o, 250) == float(F(F(F(0.1) * F(0.1)) * F(0.5)))
    with pytest.raises(ConfigError, match="scales"):
        learning_rate(net_options(policy="steps", steps="1,2", scales="0.1"), 5)


def test_exp():
    o = net_options(learning_rate=0.1, policy="exp", gamma=0.99)
    assert learning_rate(o, 10) == pytest.approx(0.1 * 0.99 ** 10, rel=1e-6)


def test_poly():
    o = net_options(learning_rate=0.1, policy="poly", power=4, max_batches=1000)
    assert learning_rate(o, 500) == pytest.approx(0.1 * 0.5 ** 4, rel=1e-6)
    assert learning_rate(o, 1000) == 0.0


def test_sigmoid():
    o = net_options(learning_rate=0.1, policy="sigmoid", gamma=0.1, step=100)
    assert learning_rate(o, 100) == pytest.approx(0.05, rel=1e-6)
    assert learning_rate(o, 120) == pytest.approx(0.1 / (1 + math.exp(2.0)), rel=1e-6)
    assert learning_rate(o, 80) == pytest.approx(0.1 / (1 + math.exp(-2.0)), rel=1e-6)


def test_random_is_reproducible():
    o = net_options(learning_rate=0.1, policy="random", power=1)
    a, b = learning_rate(o, 7, seed=3), learning_rate(o, 7, seed=3)
    assert a == b and 0 <= a < 0.1
    assert learning_rate(o, 8, seed=3) != a


def test_sgdr():
    o = net_options(learning_rate=0.1, policy="sgdr", sgdr_cycle=10, sgdr_mult=2,
                    learning_rate_min=0.001)
    assert learning_rate(o, 0) == pytest.approx(0.1, rel=1e-6)
    assert learning_rate(o, 5) == pytest.approx(0.001 + 0.5 * 0.099, rel=1e-6)
    # b = 15: the first cycle [0, 10] is over, the second is 20 long and starts at 10
    assert learning_rate(o, 15) == pytest.approx(
        0.001 + 0.5 * 0.099 * (1 + math.cos(math.pi * 5 / 20)), rel=1e-6)


@pytest.mark.parametrize("adam", [0, 1])
def test_training_fits_a_linear_map(adam):
    """End to end: train_step + step on y = x @ A; the loss must fall by orders of magnitude."""
    text = NET.format(adam=adam, batch=8, subdivisions=2, extra="") + "\n[cost]\ntype=sse\n"
    text = text.replace("learning_rate=0.1", "learning_rate=0.05").replace("decay=0.01", "decay=0")
    net = Network(parse_cfg_text(text, "t.cfg"), source="t.cfg")
    opt = Optimizer.for_network(net)
    rng = np.random.default_rng(0)
    a = np.array([[1.5, -0.5], [0.25, 2.0]], np.float32)
    losses = []
    for batch_num in range(1, 301):
        for _ in range(opt.subdivisions):
            x = rng.standard_normal((opt.minibatch, 1, 1, 2)).astype(np.float32)
            losses.append(net.train_step(x, (x.reshape(-1, 2) @ a).reshape(-1, 1, 1, 2)))
        opt.step(net, batch_num)
    assert np.mean(losses[-10:]) < 1e-3 * np.mean(losses[:10])


CONV_CFG = """
[net]
width=12
height=10
channels=3
batch=4
subdivisions=2
learning_rate=0.01
momentum=0.9
decay=0.0005

[convolutional]
filters=8
size=3
pad=1
batch_normalize=1
activation=leaky

[convolutional]
filters=3
size=3
pad=1
activation=linear

[cost]
type=sse
"""


def test_training_is_deterministic():
    """Two runs from the same start give bit-identical parameters (no racing reductions)."""
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((2, 10, 12, 3)).astype(np.float32),
                rng.standard_normal((2, 10, 12, 3)).astype(np.float32)) for _ in range(4)]
    finals = []
    for _ in range(2):
        net = Network(parse_cfg_text(CONV_CFG, "t.cfg"), source="t.cfg")
        opt = Optimizer.for_network(net)
        for k in range(2):
            for x, y in batches[2 * k:2 * k + 2]:
                net.train_step(x, y)
            opt.step(net, k + 1)
        finals.append([p.copy() for layer in net.layers for p in layer.params.values()])
    for a, b in zip(*finals):
        np.testing.assert_array_equal(a, b)


def test_update_kernels_on_a_chunk_match_the_rules_value_by_value():
    # the kernels' vector loops (and their scalar tails) over elements [i0, i1) of long
    # arrays, against the same float32 operations in numpy; elements outside stay as they were
    from darkpy.kernels import update

    rng = np.random.default_rng(7)
    n, i0, i1 = 1000, 13, 990
    f = np.float32
    w, g, m = (rng.standard_normal(n).astype(f) for _ in range(3))
    v = np.abs(rng.standard_normal(n)).astype(f)
    sl = slice(i0, i1)

    w1, g1, u1 = w.copy(), g.copy(), m.copy()
    rate, minus_decay, momentum = f(0.05), f(-0.02), f(0.9)
    update.sgd_update(w1, g1, u1, rate, minus_decay, momentum, True, i0, i1)
    u = (m[sl] - g[sl]) + minus_decay * w[sl]
    np.testing.assert_array_equal(w1[sl], w[sl] + rate * u)
    np.testing.assert_array_equal(u1[sl], u * momentum)
    assert not g1[sl].any()

    w2, g2, m2, v2 = w.copy(), g.copy(), m.copy(), v.copy()
    b1, b2, c1, c2, eps = f(0.9), f(0.999), f(0.19), f(0.002), f(1e-7)
    update.adam_update(w2, g2, m2, v2, rate, minus_decay, b1, f(1) - b1, b2, f(1) - b2, c1, c2,
                       eps, i0, i1)
    d = -g[sl] + minus_decay * w[sl]
    mi = m[sl] * b1 + (f(1) - b1) * d
    vi = v[sl] * b2 + (f(1) - b2) * (d * d)
    np.testing.assert_array_equal(m2[sl], mi)
    np.testing.assert_array_equal(v2[sl], vi)
    np.testing.assert_array_equal(w2[sl], w[sl] + rate * (mi / c1) / (np.sqrt(vi / c2) + eps))
    assert not g2[sl].any()
    for new, old in ((w1, w), (g1, g), (u1, m), (w2, w), (g2, g), (m2, m), (v2, v)):
        np.testing.assert_array_equal(new[:i0], old[:i0])
        np.testing.assert_array_equal(new[i1:], old[i1:])
