"""A [shortcut] fused into the convolution before it (Network.forward at inference) gives the
same bits as the two layers run one after the other, on every convolution path."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import workers
from darkpy.network import Network


def residual_net(filters: int, activation: str) -> str:
    return f"""
[net]
width=8
height=8
channels=3

[convolutional]
filters={filters}
size=3
pad=1
activation=relu

# 3x3 + shortcut with scales and an activation: Winograd with the shortcut in its blocks
[convolutional]
filters={filters}
size=3
pad=1
activation=leaky

[convolutional]
filters={filters}
size=3
pad=1
activation=linear

[shortcut]
from=-3
alpha=0.5
beta=-1.5
activation={activation}

# 1x1 + shortcut: im2col/GEMM, the shortcut in a pass over the output
[convolutional]
filters={filters}
size=1
activation=logistic

[shortcut]
from=-2
activation=linear

# a convolution read by two layers is not fused
[convolutional]
filters={filters}
size=3
pad=1
activation=linear

[shortcut]
from=-2

[route]
layers=-1,-2
"""


def build(text: str) -> Network:
    net = Network(parse_cfg_text(text, "fuse.cfg"), source="fuse.cfg")
    rng = np.random.default_rng(3)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    return net


@pytest.fixture
def two_workers():
    before = workers.num_threads()
    workers.set_num_threads(2)
    yield
    workers.set_num_threads(before)


# (images, height, width, filters): many tiles (Winograd blocks), few tiles and many channels
# (Winograd split by output channels)
@pytest.mark.parametrize("shape", [(2, 38, 45, 8), (1, 18, 22, 32)])
@pytest.mark.parametrize("activation", ["linear", "leaky"])
def test_fused_shortcut_equals_the_two_layers(shape, activation, two_workers):
    n, h, w, filters = shape
    net = build(residual_net(filters, activation))
    assert net._residual_fusions == {2: 3, 4: 5}
    x = np.random.default_rng(0).uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    fused = net.forward(x)
    # asking for every output keeps each convolution's own output: nothing is fused
    outs = net.forward(x, outputs=list(range(len(net.layers))))
    np.testing.assert_array_equal(fused, outs[len(net.layers) - 1])
    # and the unfused shortcut is what its formula says
    leaky = lambda v: np.where(v > 0, v, np.float32(0.1) * v)  # noqa: E731
    expect = np.float32(0.5) * outs[2] + np.float32(-1.5) * outs[0]
    np.testing.assert_array_equal(outs[3], leaky(expect) if activation == "leaky" else expect)
    np.testing.assert_array_equal(outs[5], outs[4] + outs[3])


TRAIN_NET = """
[net]
width=8
height=8
channels=3

[convolutional]
filters={filters}
size=3
pad=1
activation=relu

[convolutional]
filters={filters}
size=3
pad=1
activation=linear

[shortcut]
from=-2
alpha=0.5
beta=-1.5

# a leaky convolution before a shortcut: its gradient reads its own output, so not fused
[convolutional]
filters={filters}
size=3
pad=1
activation=leaky

[shortcut]
from=-2

[convolutional]
filters=3
size=3
pad=1
activation=linear
"""


def _train_step(net, x, delta):
    net.zero_grads()
    out = net.forward(x, train=True)
    dx = net.backward(delta)
    return out, dx, {(layer.index, name): g.copy() for layer in net.layers
                     for name, g in layer.grads.items()}


@pytest.mark.parametrize("shape", [(2, 38, 45, 16), (1, 18, 22, 32)])
def test_training_fuses_linear_shortcuts_with_the_same_bits(shape, two_workers, monkeypatch):
    n, h, w, filters = shape
    net = build(TRAIN_NET.format(filters=filters))
    assert net._residual_fusions == {1: 2, 3: 4}
    fused_calls = []
    conv = type(net.layers[1])
    real = conv.forward_residual
    def spy(self, *args, **kwargs):
        fused_calls.append(self.index)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(conv, "forward_residual", spy)
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    delta = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    fused = _train_step(net, x, delta)
    assert fused_calls == [1, 3]  # asked for both; the leaky one declines
    monkeypatch.setattr(net, "_residual_fusions", {})
    plain = _train_step(net, x, delta)
    np.testing.assert_array_equal(fused[0], plain[0])
    np.testing.assert_array_equal(fused[1], plain[1])
    assert fused[2].keys() == plain[2].keys()
    for key in plain[2]:
        np.testing.assert_array_equal(fused[2][key], plain[2][key], err_msg=str(key))


def test_training_keeps_a_convolution_output_asked_for(two_workers):
    """A training forward that returns a fused convolution's own output computes it apart
    from its shortcut, as inference does."""
    net = build(TRAIN_NET.format(filters=16))
    x = np.random.default_rng(6).uniform(-1, 1, (1, 20, 24, 3)).astype(np.float32)
    outs = net.forward(x, outputs=[0, 1, 2], train=True)
    expect = np.float32(0.5) * outs[1] + np.float32(-1.5) * outs[0]
    np.testing.assert_array_equal(outs[2], expect)
