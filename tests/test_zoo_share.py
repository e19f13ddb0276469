"""[convolutional] share_index (AlexeyAB): a layer computing with another layer's parameters.
darknet's load_weights/save_weights skip such a layer, so its values are not in .weights
files; forward equals the owner's parameters on this layer's own geometry; gradients from
both uses add up in the owner."""
from __future__ import annotations

import numpy as np
import pytest

import darkpy
from darkpy.errors import ConfigError, WeightsError
from darkpy.io.darknet_weights import (WeightsHeader, expected_floats, load_darknet_weights,
                                       save_darknet_weights)
from gradcheck import check_network_gradients

HEAD = "[net]\nwidth=9\nheight=7\nchannels=3\n\n"


def conv(filters, size=3, extra="", bn=1, activation="leaky"):
    return (f"[convolutional]\n{extra}batch_normalize={bn}\nfilters={filters}\nsize={size}\n"
            f"stride=1\npad=1\nactivation={activation}\n\n")


# 0: 4 filters on the 3 input channels; 1: 4 filters of 3x3x4; 2: route back to layer 0;
# 3: shares layer 1 (absolute index), so it repeats layer 1; 4: shares layer 1 again (relative
# index) on layer 3's output, with a dilation of its own
CFG = (HEAD + conv(4) + conv(4) + "[route]\nlayers=0\n\n"
       + conv(4, extra="share_index=1\n")
       + conv(4, extra="share_index=-3\ndilation=2\n"))


def build(tmp_path, text=None):
    path = tmp_path / "share.cfg"
    path.write_text(text or CFG)
    return darkpy.load(path)


def randomise(net, seed=0):
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            v = rng.standard_normal(shape).astype(np.float32)
            layer.set_param(name, np.abs(v) + 0.5 if name == "rolling_variance" else v)


def test_cfg_is_what_the_test_says(tmp_path):
    net = build(tmp_path)
    kinds = [layer.kind for layer in net.layers]
    assert kinds == ["convolutional", "convolutional", "route", "convolutional", "convolutional"]
    assert [layer.describe()["size"] for layer in net.layers[3:]] == ["3x3/1 shares 1",
                                                                      "3x3/1 d2 shares 1"]


def test_sharing_layers_have_no_values_in_weights_files(tmp_path):
    net = build(tmp_path)
    own = [4 * 4 + 4 * 3 * 9, 4 * 4 + 4 * 4 * 9]
    assert [layer.num_params() for layer in net.layers] == [own[0], own[1], 0, 0, 0]
    assert expected_floats(net) == sum(own)
    assert net.layers[3].source is net.layers[1] and net.layers[4].source is net.layers[1]
    randomise(net)
    path = tmp_path / "share.weights"
    save_darknet_weights(net, path)
    assert path.stat().st_size == WeightsHeader().nbytes + 4 * sum(own)
    other = build(tmp_path)
    load_darknet_weights(other, path)
    x = np.random.default_rng(1).standard_normal((2, 7, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(other.forward(x), net.forward(x))
    # a file that also holds values for the sharing layers (as if it had its own) is too long
    longer = tmp_path / "long.weights"
    longer.write_bytes(path.read_bytes() + np.zeros(own[1], "<f4").tobytes())
    with pytest.raises(WeightsError, match="more floats"):
        load_darknet_weights(other, longer)


def test_forward_uses_the_owners_parameters(tmp_path):
    net = build(tmp_path)
    randomise(net, 3)
    x = np.random.default_rng(4).standard_normal((2, 7, 9, 3)).astype(np.float32)
    outs = net.forward(x, outputs=[1, 3, 4])
    np.testing.assert_array_equal(outs[3], outs[1])  # same input, same geometry, same params
    # layer 4: layer 1's parameters, dilation 2, on layer 3's output; compare with a network
    # holding copies of them in layers of its own
    alone = build(tmp_path, HEAD + conv(4) + conv(4) + conv(4, extra="dilation=2\n"))
    for mine, theirs in zip(alone.layers, [net.layers[0], net.layers[1], net.layers[1]]):
        for name, _ in mine.param_layout():
            mine.set_param(name, theirs.get_param(name))
    np.testing.assert_array_equal(alone.forward(x), outs[4])
    assert not np.allclose(outs[4], outs[3])


def test_owner_changes_reach_the_sharing_layer(tmp_path):
    net = build(tmp_path)
    randomise(net, 5)
    x = np.random.default_rng(6).standard_normal((1, 7, 9, 3)).astype(np.float32)
    before = net.forward(x, outputs=[3])[3]
    owner = net.layers[1]
    owner.params["weights"] *= 2  # in place, as an optimiser does, then invalidate()
    owner.invalidate()
    after = net.forward(x, outputs=[1, 3])
    np.testing.assert_array_equal(after[3], after[1])
    assert not np.allclose(before, after[3])


def test_gradients_of_both_uses_add_up_in_the_owner(tmp_path):
    # y = f(conv(f(conv(x)))) with one set of weights: each weight's gradient has two terms
    text = ("[net]\nwidth=5\nheight=4\nchannels=2\n\n" + conv(2, bn=0, activation="tanh")
            + conv(2, bn=0, activation="tanh", extra="share_index=-1\n"))
    net = build(tmp_path, text)
    randomise(net, 7)
    assert [name for _, name, _, _ in net.parameters()] == ["biases", "weights"]
    x = np.random.default_rng(8).standard_normal((2, 4, 5, 2))
    check_network_gradients(net, x, rtol=1e-6, atol=1e-8, max_checks=40)


@pytest.mark.parametrize("index,filters,size,message", [
    (1, 4, 3, "must name an earlier layer"),  # itself
    (-5, 4, 3, "must name an earlier layer"),
    (0, 5, 3, "must match"),
    (0, 4, 1, "must match"),
])
def test_bad_share_index(tmp_path, index, filters, size, message):
    text = HEAD + conv(4) + conv(filters, size, extra=f"share_index={index}\n")
    with pytest.raises(ConfigError, match=message) as info:
        build(tmp_path, text)
    assert "share.cfg:" in str(info.value)


def test_share_needs_a_convolution_with_batch_norm_values(tmp_path):
    with pytest.raises(ConfigError, match=r"is \[maxpool\], not \[convolutional\]"):
        build(tmp_path, HEAD + "[maxpool]\nsize=1\nstride=1\n\n" + conv(4, extra="share_index=0\n"))
    with pytest.raises(ConfigError, match="no batch-norm values"):
        build(tmp_path, HEAD + conv(3, bn=0) + conv(3, extra="share_index=0\n"))
    # the other way round is allowed: weights and biases are shared, batch norm unused
    net = build(tmp_path, HEAD + conv(3) + conv(3, bn=0, extra="share_index=0\n"))
    assert net.layers[1].describe()["size"].endswith("shares 0")
