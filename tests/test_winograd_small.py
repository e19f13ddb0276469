"""Winograd F(2x2, 3x3) on small maps (kernels/conv/winograd_small.py) against a float64
convolution worked with numpy, its filter transform against G g G^T worked by hand, and the
dispatcher's choice of it for a detector's 13x13 and 26x26 layers."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import workers
from darkpy.kernels.activations import LEAKY, LINEAR, LOGISTIC, RELU
from darkpy.kernels.conv import dispatch, inference, small_gemm, winograd_small
from darkpy.network import Network
from tests.conv_reference import float64_conv


def _convolve(x, wt, bias, code, pad=1):
    n, h, w, _ = x.shape
    out = np.full((n, h + 2 * pad - 2, w + 2 * pad - 2, wt.shape[3]), np.nan, np.float32)
    packed = small_gemm.packed(winograd_small.transform_filters(wt))
    inference.conv2d_winograd_small(x, packed, bias, code, pad, out)
    return out


@pytest.mark.parametrize("code", [LINEAR, RELU, LEAKY])
@pytest.mark.parametrize("n,h,w,c,f,pad", [
    (1, 13, 13, 32, 64, 1),   # a detector's 13x13: ragged last tiles in both directions
    (2, 6, 9, 16, 20, 1),     # two images; output channels past a whole vector
    (1, 8, 7, 48, 5, 0),      # unpadded; fewer outputs than a vector
    (3, 1, 2, 16, 16, 1),     # every pixel on an edge
    (1, 4, 4, 16, 130, 1),    # three 64-channel panels, the last one short
])
def test_matches_a_float64_convolution(threads, n, h, w, c, f, pad, code):
    rng = np.random.default_rng(21)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((3, 3, c, f)).astype(np.float32)
    bias = rng.standard_normal(f).astype(np.float32)
    out = _convolve(x, wt, bias, code, pad)
    np.testing.assert_allclose(out, float64_conv(x, wt, bias, 1, pad, code), rtol=1e-5,
                               atol=1e-5 * np.sqrt(9 * c))


def test_filter_transform_is_g_g_gt():
    # G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], U[4a + b] = (G g G^T)[a, b]
    g = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    u = winograd_small.transform_filters(g.reshape(3, 3, 1, 1))[:, 0, 0].reshape(4, 4)
    # G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 -> [1 2 3], [6 7.5 9], [2 2.5 3], [7 8 9];
    # then the same along each row: [a, (a+b+c)/2, (a-b+c)/2, c]
    expected = [[1, 3, 1, 3], [6, 11.25, 3.75, 9], [2, 3.75, 1.25, 3], [7, 12, 4, 9]]
    np.testing.assert_array_equal(u, expected)


def test_the_same_bits_on_any_number_of_threads():
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, 13, 11, 32)).astype(np.float32)
    wt = rng.standard_normal((3, 3, 32, 200)).astype(np.float32)
    results = []
    saved = workers.num_threads()
    try:
        for count in (1, 3):
            workers.set_num_threads(count)
            results.append(_convolve(x, wt, None, LEAKY))
    finally:
        workers.set_num_threads(saved)
    np.testing.assert_array_equal(results[0], results[1])


def test_which_convolutions_take_it():
    g = dispatch.Geometry(3, 1, 1, 1, 1, 1)
    assert dispatch.choose(g, (1, 13, 13, 512), 1024) == dispatch.SMALL_WINOGRAD
    assert dispatch.choose(g, (1, 26, 26, 384), 256) == dispatch.SMALL_WINOGRAD
    assert dispatch.choose(g, (1, 38, 38, 256), 256) == "winograd"  # 100 tiles of 4x4
    assert dispatch.choose(g, (16, 13, 13, 512), 1024) == "winograd"  # a training batch
    assert dispatch.choose(g, (1, 1, 1, 512), 1024) == "gemm"  # one tile
    assert dispatch.choose(dispatch.Geometry(3, 2, 2, 1, 1, 1), (1, 13, 13, 64), 64) == "gemm"
    assert dispatch.choose(g, (1, 13, 13, 64), 64, use_winograd=False) == "gemm"
    assert winograd_small.applies(32, LEAKY) and not winograd_small.applies(24, LEAKY)
    assert not winograd_small.applies(32, LOGISTIC)  # activations it does not fuse: gemm


@pytest.mark.parametrize("channels,activation,kernel", [
    (32, "leaky", "winograd_small"),
    (24, "leaky", "gemm"),      # input channels off runs of 16
    (32, "logistic", "gemm"),   # an activation the output transform does not apply
])
def test_a_13x13_layer_runs_where_it_applies(monkeypatch, channels, activation, kernel):
    called = []
    for name in ("conv2d_winograd_small", "conv2d_gemm"):
        real = getattr(inference, name)
        monkeypatch.setattr(inference, name, lambda *a, _real=real, _name=name:
                            called.append(_name) or _real(*a))
    net = Network(parse_cfg_text(
        f"[net]\nwidth=13\nheight=13\nchannels={channels}\n\n[convolutional]\nfilters=40\n"
        f"size=3\npad=1\nactivation={activation}\n", "small.cfg"), source="small.cfg")
    rng = np.random.default_rng(23)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    x = rng.standard_normal((1, 13, 13, channels)).astype(np.float32)
    out = net.forward(x)
    assert called == ["conv2d_" + kernel]
    p = net.layers[0].params
    want = float64_conv(x, p["weights"], p["biases"], 1, 1, LOGISTIC if activation == "logistic"
                        else LEAKY)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-4)
