"""[convolutional]: every algorithm against an independent naive convolution in darknet's
NCHW layout, hand-worked numbers, torch where installed, parameter round trips, errors."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.kernels import workers
from darkpy.kernels.conv import dispatch
from darkpy.kernels.conv import inference
from darkpy.layers.convolutional import Convolutional


def make(shape, index=0, **options):
    # the Network merges the keys every section has into each layer's schema; so do the tests
    section = Section("convolutional", {k: str(v) for k, v in options.items()}, "t.cfg:3")
    opts = parse_options(section, {**COMMON_KEYS, **Convolutional.keys})
    return Convolutional(opts, [shape], index, "t.cfg:3")


# --- independent reference: darknet layout, float64, one output pixel at a time ---------------

def naive_conv(x_nchw, w, bias, stride_y, stride_x, padding, dilation, groups):
    """x (N, C, H, W), w (F, C/groups, K, K) as darknet stores them; zero padding."""
    n, c, h, wd = x_nchw.shape
    f, cg, k, _ = w.shape
    fg = f // groups
    xp = np.pad(x_nchw.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (h + 2 * padding - dilation * (k - 1) - 1) // stride_y + 1
    out_w = (wd + 2 * padding - dilation * (k - 1) - 1) // stride_x + 1
    out = np.zeros((n, f, out_h, out_w))
    taps = np.arange(k) * dilation
    for oy in range(out_h):
        for ox in range(out_w):
            rows, cols = oy * stride_y + taps, ox * stride_x + taps
            for g in range(groups):
                patch = xp[:, g * cg:(g + 1) * cg][:, :, rows][:, :, :, cols]  # (N, cg, K, K)
                wg = w[g * fg:(g + 1) * fg].astype(np.float64)  # (fg, cg, K, K)
                out[:, g * fg:(g + 1) * fg, oy, ox] = np.einsum("ncij,fcij->nf", patch, wg)
    return out + bias.astype(np.float64)[None, :, None, None]


def ref_activation(v, name):
    if name == "linear":
        return v
    if name == "leaky":
        return np.where(v > 0, v, 0.1 * v)
    if name == "relu":
        return np.maximum(v, 0)
    if name == "logistic":
        return 1 / (1 + np.exp(-v))
    if name == "tanh":
        return np.tanh(v)
    raise AssertionError(name)


def random_params(layer, rng):
    values = {}
    for name, shape in layer.param_layout():
        v = rng.standard_normal(shape).astype(np.float32)
        if name == "rolling_variance":
            v = (rng.uniform(0.2, 3.0, shape)).astype(np.float32)
        if name == "weights":
            v *= 0.5
        layer.set_param(name, v)
        values[name] = v
    return values


def reference_forward(layer, values, x_nhwc, activation):
    x = x_nhwc.transpose(0, 3, 1, 2)
    if layer.batch_normalize:
        v = naive_conv(x, values["weights"], np.zeros_like(values["biases"]), layer.stride_y,
                       layer.stride_x, layer.padding * layer.dilation, layer.dilation, layer.groups)
        shape = (1, -1, 1, 1)
        v = (v - values["rolling_mean"].reshape(shape)) / (
            np.sqrt(values["rolling_variance"].astype(np.float64)).reshape(shape) + 1e-6)
        v = v * values["scales"].reshape(shape) + values["biases"].reshape(shape)
    else:
        v = naive_conv(x, values["weights"], values["biases"], layer.stride_y, layer.stride_x,
                       layer.padding * layer.dilation, layer.dilation, layer.groups)
    return ref_activation(v, activation).transpose(0, 2, 3, 1)


CASES = [
    # (input h, w, c), options
    ((7, 9, 3), dict(filters=5, size=3, stride=1, pad=1, activation="leaky")),
    ((7, 9, 4), dict(filters=6, size=3, stride=2, pad=1, activation="linear")),
    ((8, 10, 3), dict(filters=4, size=3, stride=3, pad=0, activation="relu")),
    ((9, 7, 2), dict(filters=3, size=5, stride=1, padding=2, activation="linear")),
    ((9, 8, 3), dict(filters=4, size=3, stride=1, pad=0, padding=1, activation="tanh")),
    ((10, 11, 3), dict(filters=4, size=3, stride=1, pad=1, dilation=2, activation="leaky")),
    ((7, 9, 4), dict(filters=6, size=3, stride=1, pad=1, groups=2, activation="leaky")),
    ((7, 9, 12), dict(filters=8, size=3, stride=1, pad=1, groups=4, activation="linear")),
    ((7, 9, 4), dict(filters=4, size=3, stride=2, pad=1, groups=4, activation="relu")),
    ((7, 9, 6), dict(filters=6, size=3, stride=1, pad=1, groups=6, dilation=2, activation="linear")),
    ((7, 9, 5), dict(filters=3, size=1, stride=1, activation="logistic")),
    ((7, 9, 5), dict(filters=3, size=1, stride=2, activation="linear")),
    ((8, 8, 4), dict(filters=4, size=1, stride=1, groups=2, activation="linear")),
    ((7, 9, 3), dict(filters=4, size=3, stride_x=2, stride_y=1, pad=1, activation="leaky")),
    ((6, 7, 3), dict(filters=2, size=2, stride=1, pad=1, activation="linear")),
    ((7, 9, 3), dict(filters=5, size=3, stride=1, pad=1, batch_normalize=1, activation="logistic")),
    ((6, 5, 4), dict(filters=3, size=3, stride=2, pad=1, batch_normalize=1, activation="leaky")),
    ((9, 9, 2), dict(filters=3, size=3, stride=1, padding=2, activation="linear")),
]


def _forced(monkeypatch, algorithm):
    """Make `algorithm` the one chosen for these small inputs where it applies."""
    if algorithm == "winograd":
        monkeypatch.setattr(Convolutional, "winograd", True)
        monkeypatch.setattr(dispatch, "WINOGRAD_MIN_TILES", 1)
        monkeypatch.setattr(dispatch, "WINOGRAD_MIN_CHANNELS", 1)
    else:
        monkeypatch.setattr(Convolutional, "winograd", False)
    if algorithm == "gemm":
        monkeypatch.setattr(dispatch, "DIRECT_GROUP_SIZE", 0)


@pytest.mark.parametrize("algorithm", ["winograd", "gemm", "default"])
@pytest.mark.parametrize("shape,options", CASES)
def test_forward_matches_naive_conv(monkeypatch, shape, options, algorithm):
    _forced(monkeypatch, algorithm)
    layer = make(shape, **options)
    rng = np.random.default_rng(7)
    values = random_params(layer, rng)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    x_before = x.copy()
    out = layer.forward([x])
    expected = reference_forward(layer, values, x, options["activation"])
    assert out.shape == (2, *layer.output_shape([shape])) == expected.shape
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(x, x_before)  # the input is left alone


def test_algorithms_are_selected(monkeypatch):
    _forced(monkeypatch, "winograd")
    assert make((7, 9, 3), filters=2, size=3, pad=1).algorithm((1, 7, 9, 3)) == "winograd"
    assert make((7, 9, 3), filters=2, size=3, stride=2, pad=1).algorithm((1, 7, 9, 3)) == "gemm"
    assert make((7, 9, 4), filters=4, size=3, pad=1, groups=4).algorithm((1, 7, 9, 4)) == "direct"
    monkeypatch.setattr(Convolutional, "winograd", False)
    assert make((7, 9, 3), filters=2, size=3, pad=1).algorithm((1, 7, 9, 3)) == "gemm"


def test_hand_worked_2x2_kernel():
    # input 1..9 in a 3x3 single-channel image, two 2x2 filters, bias 0.5 and -1
    layer = make((3, 3, 1), filters=2, size=2, stride=1, pad=0, activation="linear")
    layer.set_param("weights", np.array([[[[1, 2], [3, 4]]], [[[0, 0], [0, 1]]]], np.float32))
    layer.set_param("biases", np.array([0.5, -1.0], np.float32))
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    out = layer.forward([x])
    # filter 0: 1*1+2*2+3*4+4*5 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77
    np.testing.assert_array_equal(out[0, :, :, 0], [[37.5, 47.5], [67.5, 77.5]])
    # filter 1 picks the bottom-right tap: 5, 6, 8, 9
    np.testing.assert_array_equal(out[0, :, :, 1], [[4, 5], [7, 8]])
    # pad=1 gives padding = size/2 = 1: a 4x4 output whose corner sees only x[0,0]*w[1,1]
    padded = make((3, 3, 1), filters=2, size=2, stride=1, pad=1, activation="linear")
    padded.set_param("weights", layer.get_param("weights"))
    out = padded.forward([x])
    assert out.shape == (1, 4, 4, 2)
    assert out[0, 0, 0, 0] == 4 * 1 and out[0, 3, 3, 0] == 1 * 9


def test_batchnorm_uses_darknet_epsilon_on_the_standard_deviation():
    layer = make((1, 1, 1), filters=1, size=1, batch_normalize=1, activation="linear")
    layer.set_param("weights", np.ones((1, 1, 1, 1), np.float32))
    layer.set_param("biases", np.array([0.25], np.float32))
    layer.set_param("scales", np.array([3.0], np.float32))
    layer.set_param("rolling_mean", np.array([1.0], np.float32))
    layer.set_param("rolling_variance", np.array([1e-8], np.float32))
    out = layer.forward([np.full((1, 1, 1, 1), 1.5, np.float32)])
    # (1.5 - 1) / (sqrt(1e-8) + 1e-6) * 3 + 0.25 = 0.5 / 1.01e-4 * 3 + 0.25
    np.testing.assert_allclose(out.ravel(), [0.5 / 1.01e-4 * 3 + 0.25], rtol=1e-6)


def test_blocks_and_workers_cover_every_pixel(monkeypatch):
    # tiny blocks: many jobs per image, blocks that start mid-row, Winograd segments split
    monkeypatch.setattr(inference, "COL_BLOCK_BYTES", 64)
    monkeypatch.setattr(inference, "MIN_BLOCK_PIXELS", 5)
    monkeypatch.setattr(inference, "WINOGRAD_BLOCK_BYTES", 64)
    monkeypatch.setattr(inference, "MIN_BLOCK_TILES", 3)
    workers.set_num_threads(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 13, 17, 4)).astype(np.float32)
    for algorithm, options in [("gemm", dict(stride=2)), ("gemm", dict(stride=1)),
                               ("winograd", dict(stride=1))]:
        _forced(monkeypatch, algorithm)
        layer = make((13, 17, 4), filters=5, size=3, pad=1, activation="leaky", **options)
        values = random_params(layer, rng)
        assert layer.algorithm(x.shape) == algorithm
        np.testing.assert_allclose(layer.forward([x]), reference_forward(layer, values, x, "leaky"),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ksize,stride,cout", [
    (1, 1, 32),   # input read in place: whole register blocks into out, the last rows copied
    (3, 2, 48),   # im2col rows: the same split
    (3, 1, 20),   # Cout off whole vectors: every row through the buffer
])
def test_gemm_blocks_in_place_and_through_the_buffer(monkeypatch, threads, ksize, stride, cout):
    from tests.conv_reference import float64_conv

    # blocks of 50 pixels: two register blocks of 24 rows written in place and 2 rows left
    monkeypatch.setattr(inference, "COL_BLOCK_BYTES", 4 * 50 * ksize * ksize * 16)
    monkeypatch.setattr(inference, "MIN_BLOCK_PIXELS", 50)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 19, 21, 16)).astype(np.float32)
    w = rng.standard_normal((ksize, ksize, 16, cout)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    pad = ksize // 2
    out_h, out_w = (19 + 2 * pad - ksize) // stride + 1, (21 + 2 * pad - ksize) // stride + 1
    out = np.full((2, out_h, out_w, cout), np.nan, np.float32)
    inference.conv2d_gemm(x, w.reshape(-1, cout), bias, 0, ksize, stride, stride, pad, 1, 1, out)
    np.testing.assert_allclose(out, float64_conv(x, w, bias, stride, pad), rtol=1e-5, atol=1e-4)


def test_winograd_accuracy_with_many_channels(monkeypatch):
    _forced(monkeypatch, "winograd")
    rng = np.random.default_rng(5)
    layer = make((10, 12, 64), filters=16, size=3, pad=1, activation="linear")
    values = random_params(layer, rng)
    x = rng.standard_normal((1, 10, 12, 64)).astype(np.float32)
    out = layer.forward([x])
    expected = reference_forward(layer, values, x, "linear")
    assert np.abs(out - expected).max() <= 2e-5 * np.abs(expected).max()


def test_matches_torch_conv2d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    cases = [((12, 11, 8), dict(filters=6, size=3, stride=1, pad=1)),
             ((12, 11, 8), dict(filters=6, size=3, stride=2, pad=1, groups=2)),
             ((12, 11, 8), dict(filters=8, size=3, stride=1, pad=1, groups=8, dilation=2)),
             ((12, 11, 8), dict(filters=6, size=5, stride=3, padding=1))]
    for shape, options in cases:
        layer = make(shape, activation="linear", **options)
        values = random_params(layer, rng)
        x = rng.standard_normal((2, *shape)).astype(np.float32)
        expected = torch.nn.functional.conv2d(
            torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(values["weights"]),
            torch.from_numpy(values["biases"]), stride=(layer.stride_y, layer.stride_x),
            padding=layer.padding * layer.dilation, dilation=layer.dilation, groups=layer.groups,
        ).numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(layer.forward([x]), expected, rtol=1e-4, atol=1e-4)


# --- parameters --------------------------------------------------------------------------------

def test_param_layout_in_darknet_file_order():
    layer = make((5, 5, 6), filters=4, size=3, groups=2, batch_normalize=1)
    assert layer.param_layout() == [("biases", (4,)), ("scales", (4,)), ("rolling_mean", (4,)),
                                    ("rolling_variance", (4,)), ("weights", (4, 3, 3, 3))]
    assert layer.params["weights"].shape == (3, 3, 3, 4)
    assert layer.num_params() == 4 * 4 + 4 * 27
    plain = make((5, 5, 6), filters=4, size=1)
    assert [n for n, _ in plain.param_layout()] == ["biases", "weights"]


@pytest.mark.parametrize("flipped", [0, 1])
def test_get_set_param_round_trip_bit_exact(flipped):
    layer = make((5, 6, 4), filters=3, size=3, pad=1, batch_normalize=1, flipped=flipped)
    rng = np.random.default_rng(2)
    values = random_params(layer, rng)
    for name, shape in layer.param_layout():
        got = layer.get_param(name)
        assert got.shape == shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, values[name])


def test_memory_layout_is_kkcn():
    layer = make((5, 6, 2), filters=3, size=3)
    w = np.arange(3 * 2 * 3 * 3, dtype=np.float32).reshape(3, 2, 3, 3)
    layer.set_param("weights", w)
    assert layer.params["weights"][1, 2, 0, 2] == w[2, 0, 1, 2]


def test_flipped_weights_are_the_transposed_matrix():
    rng = np.random.default_rng(4)
    normal = make((5, 6, 2), filters=3, size=3, pad=1, activation="linear")
    flipped = make((5, 6, 2), filters=3, size=3, pad=1, activation="linear", flipped=1)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    normal.set_param("weights", w)
    # darknet reads a flipped file as the (c*k*k, n) matrix and transposes it
    flipped.set_param("weights", w.reshape(3, 18).T.copy().reshape(3, 2, 3, 3))
    x = rng.standard_normal((1, 5, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(normal.forward([x]), flipped.forward([x]))


def test_changed_params_are_used():
    layer = make((4, 4, 2), filters=2, size=3, pad=1, batch_normalize=1, activation="linear")
    x = np.ones((1, 4, 4, 2), np.float32)
    first = layer.forward([x])
    layer.set_param("scales", np.full(2, 2.0, np.float32))
    np.testing.assert_allclose(layer.forward([x]), 2 * first, rtol=1e-5, atol=1e-6)
    layer.params["weights"] *= 0  # in place: invalidate() tells the layer
    layer.invalidate()
    np.testing.assert_array_equal(layer.forward([x]), np.zeros_like(first))


def test_default_params_deterministic_and_darknet_scaled():
    a = make((8, 8, 6), index=3, filters=4, size=3, groups=2, batch_normalize=1)
    b = make((8, 8, 6), index=3, filters=4, size=3, groups=2, batch_normalize=1)
    np.testing.assert_array_equal(a.params["weights"], b.params["weights"])
    scale = np.sqrt(2.0 / (3 * 3 * 3))
    w = a.params["weights"]
    assert np.abs(w).max() <= scale and np.abs(w).max() > 0.8 * scale
    assert not np.array_equal(w, make((8, 8, 6), index=4, filters=4, size=3, groups=2).params["weights"])
    np.testing.assert_array_equal(a.params["rolling_variance"], np.ones(4, np.float32))
    np.testing.assert_array_equal(a.params["biases"], np.zeros(4, np.float32))


# --- geometry, description, errors --------------------------------------------------------------

def test_output_shapes_follow_darknet():
    assert make((13, 13, 3), filters=8, size=3, stride=2, pad=1).output_shape([(13, 13, 3)]) == (7, 7, 8)
    assert make((10, 10, 3), filters=8, size=3, stride=1).output_shape([(10, 10, 3)]) == (8, 8, 8)
    assert make((10, 9, 3), filters=2, size=3, stride_x=2, stride_y=3, padding=1).output_shape(
        [(10, 9, 3)]) == (4, 5, 2)
    assert make((10, 10, 3), filters=2, size=3, pad=1, dilation=2).output_shape([(10, 10, 3)]) == (10, 10, 2)


def test_describe_and_flops():
    layer = make((16, 16, 8), filters=4, size=3, stride=2, pad=1, groups=2)
    assert layer.describe() == {"filters": "4/2", "size": "3x3/2"}
    assert layer.flops([(16, 16, 8)]) == 2 * 3 * 3 * 4 * 4 * 8 * 8
    assert make((9, 9, 2), filters=3, size=3, pad=1, dilation=2).describe()["size"] == "3x3/1 d2"
    assert make((9, 9, 2), filters=3, size=3, stride_x=2, stride_y=1).describe()["size"] == "3x3/2x1"


@pytest.mark.parametrize("options,message", [
    (dict(xnor=1, dilation=2, pad=1), "xnor=1 with dilation=2"),
    (dict(antialiasing=1), "antialiasing=1 is not supported"),
    (dict(coordconv=1), "coordconv"),
    (dict(dontload=1), "dontload=1 is not supported"),
    (dict(dilation=2, padding=0), "dilation=2 needs padding"),
    (dict(groups=4), "groups=4 must divide"),
    (dict(filters=0), "filters"),
    (dict(size=7), "does not fit"),
])
def test_unsupported_or_invalid_options_raise(options, message):
    opts = dict(filters=4, size=3, stride=1)
    opts.update(options)
    with pytest.raises(ConfigError, match=message) as info:
        make((5, 5, 6), **opts)
    assert "t.cfg:3" in str(info.value)


def test_unused_darknet_keys_are_accepted():
    layer = make((5, 5, 3), filters=2, size=3, pad=1, sway=1, angle=10, stopbackward=1,
                 learning_rate=0.5, assisted_excitation=1, stream=2, cbn=1)
    assert layer.batch_normalize  # cbn is batch norm at inference
    assert not Convolutional.keys["sway"].used and Convolutional.keys["filters"].used
