"""[convolutional] binary=1 / xnor=1 (layers/conv_binary.py, kernels/binary.py): darknet's
binarize_weights and binarize_cpu against loops written here, hand-worked padding cases for
both darknets' CPU paths, an independent naive convolution in darknet's NCHW layout, and the
.weights accounting (the float weights are what the file holds)."""
from __future__ import annotations

import numpy as np
import pytest

import darkpy
from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.io.darknet_weights import load_darknet_weights, save_darknet_weights
from darkpy.kernels.binary import binarize_filters, offset_scale_shift, sign_input
from darkpy.layers.convolutional import Convolutional


def make(shape, index=1, **options):
    section = Section("convolutional", {k: str(v) for k, v in options.items()}, "b.cfg:5")
    opts = parse_options(section, {**COMMON_KEYS, **Convolutional.keys})
    return Convolutional(opts, [shape], index, "b.cfg:5")


def set_params(layer, rng, scale=1.0):
    for name, shape in layer.param_layout():
        v = rng.standard_normal(shape).astype(np.float32) * scale
        if name == "rolling_variance":
            v = np.abs(v) + 0.5
        layer.set_param(name, v)


# --- independent references (darknet's NCHW layout, plain loops) --------------------------------

def naive_binarize(w_nchw):
    """darknet's binarize_weights: per filter, a float32 sum of |w| in (c, ky, kx) order,
    divided in float32; +mean where w > 0, else -mean."""
    out = np.empty_like(w_nchw)
    for f in range(w_nchw.shape[0]):
        total = np.float32(0)
        for v in w_nchw[f].reshape(-1):
            total = np.float32(total + np.float32(abs(v)))
        mean = np.float32(total / np.float32(w_nchw[f].size))
        out[f] = np.where(w_nchw[f] > 0, mean, -mean)
    return out


def naive_conv(x_nchw, w, stride, pad, groups, pad_value=0.0):
    """float64 convolution, x (N, C, H, W), w (F, C/groups, K, K); outside taps = pad_value."""
    n, c, h, wd = x_nchw.shape
    f, cg, k, _ = w.shape
    fg = f // groups
    xp = np.pad(x_nchw.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                constant_values=pad_value)
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, f, out_h, out_w))
    for oy in range(out_h):
        for ox in range(out_w):
            patch = xp[:, :, oy * stride:oy * stride + k, ox * stride:ox * stride + k]
            for g in range(groups):
                out[:, g * fg:(g + 1) * fg, oy, ox] = np.einsum(
                    "ncij,fcij->nf", patch[:, g * cg:(g + 1) * cg], w[g * fg:(g + 1) * fg])
    return out


def bn_params(layer):
    """pjreddie's inference batch norm as (a, b): y = x * a + b, from the darknet-layout values."""
    p = {name: layer.get_param(name).astype(np.float64) for name, _ in layer.param_layout()}
    if "scales" not in p:
        return np.ones_like(p["biases"]), p["biases"]
    a = p["scales"] / (np.sqrt(p["rolling_variance"]) + 1e-6)
    return a, p["biases"] - p["rolling_mean"] * a


def leaky(v):
    return np.where(v > 0, v, 0.1 * v)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


# --- kernels ------------------------------------------------------------------------------------

def test_binarize_filters_is_darknets_bit_for_bit():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((5, 3, 3, 3)) * 0.3).astype(np.float32)  # darknet (F, C, K, K)
    w[0, 0, 0, 0] = 0.0  # 0 counts as negative
    expected = naive_binarize(w)
    got, means = binarize_filters(np.ascontiguousarray(w.transpose(2, 3, 1, 0)))
    np.testing.assert_array_equal(got.transpose(3, 2, 0, 1), expected)
    np.testing.assert_array_equal(means, np.abs(expected[:, 0, 0, 0]))
    assert got.transpose(3, 2, 0, 1)[0, 0, 0, 0] == -means[0]


def test_binarize_filters_hand_worked():
    # one filter of 4 weights: mean |w| = (0.5 + 0.25 + 0 + 1.25) / 4 = 0.5
    w = np.array([0.5, -0.25, 0.0, 1.25], np.float32).reshape(1, 2, 2, 1)  # (K, K, 1, 1)
    got, means = binarize_filters(w)
    np.testing.assert_array_equal(got.reshape(-1), [0.5, -0.5, -0.5, 0.5])
    assert means[0] == 0.5


def test_sign_input_counts_zero_and_nan_as_negative():
    x = np.array([[2.0, 0.0, -0.0, -3.0, np.nan, 1e-30]], np.float32)
    np.testing.assert_array_equal(sign_input(x), [[1, -1, -1, -1, -1, 1]])
    np.testing.assert_array_equal(sign_input(x, 0.0, 2.0), [[2, 0, 0, 0, 0, 2]])
    assert sign_input(x).dtype == np.float32
    assert sign_input(x.astype(np.float64)).dtype == np.float64


def test_offset_scale_shift_rounds_like_darknet():
    y = np.array([[3.0, -5.0]], np.float32)
    offset_scale_shift(y, np.array([-1.0, 2.0]), np.array([0.1, 0.3]), np.array([0.5, 0.25]))
    f = np.float32
    np.testing.assert_array_equal(y, [[f(f(f(2.0) * f(0.1)) + f(0.5)),
                                       f(f(f(-3.0) * f(0.3)) + f(0.25))]])


# --- hand-worked: where the two darknets' CPU paths differ ----------------------------------------

def test_padding_counts_zero_for_pjreddie_and_minus_one_for_alexeyab():
    # a 3x3 image of positive values, one 3x3 filter of ones (mean 1, every sign +1):
    # a corner output sees 4 taps inside the image and 5 outside
    x = np.full((1, 3, 3, 1), 0.7, np.float32)
    for flavor, corner, edge in (("pjreddie", 4.0, 6.0), ("alexeyab", 4.0 - 5.0, 6.0 - 3.0)):
        layer = make((3, 3, 1), filters=1, size=3, pad=1, xnor=1, activation="linear",
                     flavor=flavor)
        layer.set_param("weights", np.ones((1, 1, 3, 3), np.float32))
        y = layer.forward([x])[0, :, :, 0]
        assert y[0, 0] == corner and y[0, 1] == edge and y[1, 1] == 9.0, flavor


def test_folding_before_binarising_agrees_without_padding():
    # AlexeyAB binarises the batch-norm-folded weights a*w; mean|a w| sign(a w) = a mean|w| sign(w)
    # (negative scales included), so without padding taps both flavors agree up to rounding
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    outs = []
    for flavor in ("pjreddie", "alexeyab"):
        layer = make((4, 5, 6), filters=7, size=1, xnor=1, batch_normalize=1,
                     activation="linear", flavor=flavor)
        set_params(layer, np.random.default_rng(1))  # scales of both signs
        assert (layer.get_param("scales") < 0).any()
        outs.append(layer.forward([x]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    assert not np.array_equal(outs[0], np.zeros_like(outs[0]))


def test_bin_output_is_linear_for_alexeyab_only():
    x = np.full((1, 1, 1, 1), -1.0, np.float32)  # x_b = -1, w = 1: conv = -1
    for flavor, expected in (("pjreddie", -0.1), ("alexeyab", -1.0), ("auto", -1.0)):
        layer = make((1, 1, 1), filters=1, size=1, xnor=1, bin_output=1, activation="leaky",
                     flavor=flavor)
        layer.set_param("weights", np.ones((1, 1, 1, 1), np.float32))
        np.testing.assert_allclose(layer.forward([x])[0, 0, 0, 0], expected, rtol=1e-6)
    assert make((2, 2, 1), filters=1, size=1, xnor=1).binary.flavor == "pjreddie"
    assert make((2, 2, 1), filters=1, size=1, xnor=1, bin_output=1).binary.flavor == "alexeyab"


# --- against the naive convolution --------------------------------------------------------------

CASES = [  # (input h, w, c), options
    ((7, 9, 4), dict(filters=6, size=3, stride=1, pad=1)),
    ((8, 5, 6), dict(filters=4, size=3, stride=2, pad=1, batch_normalize=1)),
    ((5, 7, 6), dict(filters=4, size=3, stride=1, pad=1, groups=2, batch_normalize=1)),
    ((6, 6, 3), dict(filters=5, size=1, stride=1, pad=1, batch_normalize=1)),
    ((9, 7, 3), dict(filters=2, size=5, stride=2, padding=1)),
]


@pytest.mark.parametrize("shape,options", CASES)
@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_xnor_matches_naive(shape, options, flavor):
    rng = np.random.default_rng(len(options) + shape[0])
    layer = make(shape, xnor=1, activation="leaky", flavor=flavor, **options)
    set_params(layer, rng, 0.5)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    x[0, 0, 0, :] = 0.0  # zeros binarise to -1
    w = layer.get_param("weights")  # darknet layout, the floats the file holds
    a, b = bn_params(layer)
    xb = np.where(nchw(x) > 0, 1.0, -1.0)
    pad = layer.padding
    if flavor == "pjreddie":
        groups = options.get("groups", 1)
        z = naive_conv(xb, naive_binarize(w).astype(np.float64), layer.stride_x, pad, groups)
        expected = z * a[None, :, None, None] + b[None, :, None, None]
    else:  # AlexeyAB: fold, binarise, groups ignored, padding reads -1
        assert layer.groups == 1 and w.shape[1] == shape[2]
        folded = (w.astype(np.float64) * a[:, None, None, None]).astype(np.float32)
        z = naive_conv(xb, naive_binarize(folded).astype(np.float64), layer.stride_x, pad, 1,
                       pad_value=-1.0)
        expected = z + b[None, :, None, None]
    y = layer.forward([x])
    assert y.dtype == np.float32 and y.shape == nhwc(expected).shape
    np.testing.assert_allclose(y, nhwc(leaky(expected)), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(layer.forward([x.astype(np.float64)]), nhwc(leaky(expected)),
                               rtol=1e-6, atol=1e-6)


def test_xnor_alexeyab_without_batch_norm_is_bit_exact():
    # darknet: (2*count - K) * mean + bias, two float32 roundings; darkpy's sums are exact
    rng = np.random.default_rng(3)
    layer = make((6, 5, 32), filters=8, size=3, pad=1, xnor=1, activation="linear",
                 flavor="alexeyab")
    set_params(layer, rng, 0.2)
    x = rng.standard_normal((1, 6, 5, 32)).astype(np.float32)
    w = layer.get_param("weights")
    binarised = naive_binarize(w)
    signs, means = np.sign(binarised), np.abs(binarised[:, 0, 0, 0])
    counts = naive_conv(np.where(nchw(x) > 0, 1.0, -1.0), signs, 1, 1, 1, pad_value=-1.0)
    expected = (counts.astype(np.float32) * means[None, :, None, None]).astype(np.float32)
    expected = expected + layer.get_param("biases")[None, :, None, None]
    np.testing.assert_array_equal(layer.forward([x]), nhwc(expected))


@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_binary_weights_only_keeps_the_input(flavor):
    rng = np.random.default_rng(8)
    layer = make((6, 7, 3), filters=4, size=3, pad=1, binary=1, batch_normalize=1,
                 activation="linear", flavor=flavor)
    set_params(layer, rng, 0.5)
    x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    w = layer.get_param("weights")
    a, b = bn_params(layer)
    if flavor == "pjreddie":
        z = naive_conv(nchw(x), naive_binarize(w).astype(np.float64), 1, 1, 1)
        expected = z * a[None, :, None, None] + b[None, :, None, None]
    else:
        folded = (w.astype(np.float64) * a[:, None, None, None]).astype(np.float32)
        expected = naive_conv(nchw(x), naive_binarize(folded).astype(np.float64), 1, 1, 1)
        expected += b[None, :, None, None]
    np.testing.assert_allclose(layer.forward([x]), nhwc(expected), rtol=1e-5, atol=1e-5)


def test_forward_keeps_float_weights_and_follows_parameter_changes():
    rng = np.random.default_rng(2)
    layer = make((5, 5, 2), filters=3, size=3, pad=1, xnor=1)
    set_params(layer, rng)
    w = layer.get_param("weights").copy()
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    first = layer.forward([x])
    np.testing.assert_array_equal(layer.get_param("weights"), w)  # params stay float
    layer.set_param("weights", -w)
    assert not np.allclose(layer.forward([x]), first)  # the binarised cache was renewed


def test_training_is_refused():
    layer = make((4, 4, 2), filters=2, size=3, pad=1, xnor=1)
    x = np.ones((2, 4, 4, 2), np.float32)
    with pytest.raises(ConfigError, match="inference only"):
        layer.forward([x], train=True)
    with pytest.raises(ConfigError, match="inference only"):
        layer.backward(np.ones((2, 4, 4, 2), np.float32), [x], layer.forward([x]))


@pytest.mark.parametrize("options,message", [
    (dict(xnor=1, dilation=2, pad=1), "xnor=1 with dilation=2"),
    (dict(xnor=1, stride_x=2, stride_y=1, flavor="alexeyab"), "stride_x != stride_y"),
    (dict(xnor=1, flavor="darknet"), "flavor"),
])
def test_refused_options(options, message):
    with pytest.raises(ConfigError, match=message):
        make((6, 6, 2), filters=2, size=3, **options)


# --- in a network, with a .weights file ----------------------------------------------------------

CFG = """[net]
width=10
height=8
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
xnor=1
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[convolutional]
binary=1
filters=5
size=1
stride=1
pad=1
activation=linear
"""


def test_network_weights_hold_the_float_weights(tmp_path):
    cfg = tmp_path / "xnor.cfg"
    cfg.write_text(CFG)
    net = darkpy.load(cfg)
    rng = np.random.default_rng(5)
    for layer in net.layers:
        set_params(layer, rng, 0.3)
    counts = [8 * 4 + 8 * 3 * 9, 4 * 4 + 4 * 8 * 9, 5 + 5 * 4]  # floats per layer
    path = tmp_path / "xnor.weights"
    save_darknet_weights(net, path)
    assert path.stat().st_size == 20 + 4 * sum(counts)
    other = darkpy.load(cfg)
    load_darknet_weights(other, path)
    for mine, theirs in zip(net.layers, other.layers):
        for name, _ in mine.param_layout():
            np.testing.assert_array_equal(mine.get_param(name), theirs.get_param(name))
    x = rng.standard_normal((2, 8, 10, 3)).astype(np.float32)
    y = other.forward(x)
    # the same, one layer at a time
    h = net.layers[0].forward([x])
    h = net.layers[1].forward([h])
    np.testing.assert_array_equal(y, net.layers[2].forward([h]))
    assert net.layers[1].describe()["size"].endswith("xnor")
