"""3x3 convolutions to 3 outputs (kernels/conv/few_outputs.py) against a float64 convolution
worked with numpy: padding, ragged rows, several images, activations, threads; and the
dispatcher sends a layer's RGB tail there."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import workers
from darkpy.kernels.activations import LEAKY, LINEAR, LOGISTIC, RELU
from darkpy.kernels.conv import few_outputs, inference
from darkpy.network import Network
from tests.conv_reference import float64_conv


@pytest.mark.parametrize("code", [LINEAR, RELU, LEAKY])
@pytest.mark.parametrize("n,h,w,c,pad", [
    (1, 9, 11, 16, 1),   # rows of 11: two runs of 4 pixels and a ragged one of 3
    (2, 7, 5, 32, 1),    # two images
    (1, 8, 13, 64, 0),   # unpadded
    (1, 3, 3, 16, 1),    # every pixel on an edge
])
def test_matches_a_float64_convolution(threads, n, h, w, c, pad, code):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((3, 3, c, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    out = np.full((n, h + 2 * pad - 2, w + 2 * pad - 2, 3), np.nan, np.float32)
    inference.conv2d_few_outputs(x, few_outputs.pack(wt), bias, code, pad, out)
    expected = float64_conv(x, wt, bias, 1, pad, code)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.sqrt(9 * c))


def test_the_same_bits_on_any_number_of_threads():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 19, 23, 32)).astype(np.float32)
    packed = few_outputs.pack(rng.standard_normal((3, 3, 32, 3)).astype(np.float32))
    results = []
    saved = workers.num_threads()
    try:
        for count in (1, 3):
            workers.set_num_threads(count)
            out = np.empty((2, 19, 23, 3), np.float32)
            inference.conv2d_few_outputs(x, packed, None, LINEAR, 1, out)
            results.append(out)
    finally:
        workers.set_num_threads(saved)
    np.testing.assert_array_equal(results[0], results[1])


def test_which_convolutions_it_takes():
    assert few_outputs.applies(3, 64, 3, LINEAR)
    assert not few_outputs.applies(3, 24, 3, LINEAR)   # input channels off runs of 16
    assert not few_outputs.applies(3, 64, 4, LINEAR)   # other output counts: Winograd
    assert not few_outputs.applies(3, 64, 3, LOGISTIC)  # activations it does not fuse
    assert not few_outputs.applies(5, 64, 3, LINEAR)


def test_a_layers_rgb_tail_runs_here(monkeypatch):
    called = []
    real = inference.conv2d_few_outputs
    monkeypatch.setattr(inference, "conv2d_few_outputs",
                        lambda *a: called.append(a[1].shape) or real(*a))
    net = Network(parse_cfg_text("[net]\nwidth=40\nheight=36\nchannels=16\n\n[convolutional]\n"
                                 "filters=3\nsize=3\npad=1\nactivation=linear\n", "tail.cfg"),
                  source="tail.cfg")
    rng = np.random.default_rng(13)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    x = rng.standard_normal((1, 36, 40, 16)).astype(np.float32)
    out = net.forward(x)
    assert called == [(9 * 16 * 3,)]
    p = net.layers[0].params
    np.testing.assert_allclose(out, float64_conv(x, p["weights"], p["biases"], 1, 1), rtol=1e-5,
                               atol=1e-4)
