"""[local] and [deconvolutional]: naive loops over darknet's weight layouts, hand-worked values,
gradients and .weights round trips."""
import numpy as np
import pytest

import darkpy
from darkpy.errors import ConfigError, InputError, WeightsError
from darkpy.layers.deconvolutional import Deconvolutional
from darkpy.layers.local import Local
from tests.zoo_util import check_gradients, make


def naive_local(x, biases_chw, weights, size, stride, pad, out_h, out_w):
    """forward_local_layer in loops: weights (cells, n, c, size, size), biases (n*cells) CHW."""
    n_img, h, w, c = x.shape
    n = weights.shape[1]
    out = np.zeros((n_img, out_h, out_w, n), np.float64)
    for b, oy, ox, o in np.ndindex(n_img, out_h, out_w, n):
        cell = oy * out_w + ox
        acc = float(biases_chw[o * out_h * out_w + cell])
        for k, ky, kx in np.ndindex(c, size, size):
            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
            if 0 <= iy < h and 0 <= ix < w:
                acc += weights[cell, o, k, ky, kx] * x[b, iy, ix, k]
        out[b, oy, ox, o] = acc
    return out


@pytest.mark.parametrize("opts,shape", [({"size": 3, "pad": 1, "stride": 1}, (4, 5, 2)),
                                        ({"size": 2, "pad": 0, "stride": 2}, (5, 6, 3)),
                                        ({"size": 3, "pad": 0, "stride": 1}, (4, 4, 1))])
def test_local_matches_naive(opts, shape):
    rng = np.random.default_rng(0)
    layer = make(Local, {**opts, "filters": 3, "activation": "linear"}, [shape])
    out_h, out_w, n = layer.output_shape([shape])
    biases = rng.standard_normal(out_h * out_w * n).astype(np.float32)
    weights = rng.standard_normal(dict(layer.param_layout())["weights"]).astype(np.float32)
    layer.set_param("biases", biases)
    layer.set_param("weights", weights)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    want = naive_local(x, biases, weights, opts["size"], opts["stride"], opts["pad"], out_h, out_w)
    np.testing.assert_allclose(layer.forward([x]), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.get_param("weights"), weights)
    np.testing.assert_array_equal(layer.get_param("biases"), biases)


def test_local_hand_worked_geometry_and_refusals():
    # 1x1 kernel, 2x1 image: every cell has its own weight and bias
    layer = make(Local, {"size": 1, "filters": 1, "activation": "linear"}, [(1, 2, 1)])
    layer.set_param("biases", np.array([10, 20], np.float32))
    layer.set_param("weights", np.array([2, -3], np.float32))
    out = layer.forward([np.array([1, 1], np.float32).reshape(1, 1, 2, 1)])
    np.testing.assert_array_equal(out.ravel(), [12, 17])
    # YOLOv1: 7x7, size 3, pad 1 -> 7x7; darknet's rule (h - 1)/stride + 1
    assert make(Local, {"size": 3, "pad": 1, "filters": 4}, [(7, 7, 8)]).out_shape == (7, 7, 4)
    with pytest.raises(ConfigError, match="disagree"):
        make(Local, {"size": 5, "pad": 1, "filters": 4}, [(7, 7, 8)])
    with pytest.raises(InputError, match="fixed by its per-cell"):
        layer.output_shape([(2, 2, 1)])


def test_local_gradients():
    layer = make(Local, {"size": 3, "pad": 1, "stride": 2, "filters": 2, "activation": "leaky"},
                 [(3, 4, 2)])
    rng = np.random.default_rng(8)
    layer.params["weights"] = rng.standard_normal(layer.params["weights"].shape).astype(np.float32)
    layer.params["biases"] = rng.standard_normal(layer.params["biases"].shape).astype(np.float32)
    check_gradients(layer, [rng.standard_normal((2, 3, 4, 2))])


def naive_deconv(x, weights, biases, size, stride, pad):
    """forward_deconvolutional_layer: gemm then col2im; weights (c, n, size, size)."""
    n_img, h, w, c = x.shape
    n = weights.shape[1]
    out_h, out_w = (h - 1) * stride + size - 2 * pad, (w - 1) * stride + size - 2 * pad
    out = np.zeros((n_img, out_h, out_w, n), np.float64)
    for b, y, xx, k, o, ky, kx in np.ndindex(n_img, h, w, c, n, size, size):
        oy, ox = y * stride - pad + ky, xx * stride - pad + kx
        if 0 <= oy < out_h and 0 <= ox < out_w:
            out[b, oy, ox, o] += x[b, y, xx, k] * weights[k, o, ky, kx]
    return out + biases


def test_deconv_hand_worked():
    # one pixel, 2x2 kernel, stride 2: the pixel paints the kernel, scaled, plus the bias
    layer = make(Deconvolutional, {"filters": 1, "size": 2, "stride": 2, "activation": "linear"},
                 [(1, 1, 1)])
    layer.set_param("weights", np.array([1, 2, 3, 4], np.float32))
    layer.set_param("biases", np.array([0.5], np.float32))
    out = layer.forward([np.full((1, 1, 1, 1), 3, np.float32)])
    np.testing.assert_array_equal(out[0, :, :, 0], [[3.5, 6.5], [9.5, 12.5]])


@pytest.mark.parametrize("opts", [{"size": 4, "stride": 2, "pad": 1}, {"size": 3, "stride": 1},
                                  {"size": 3, "stride": 2, "padding": 1}])
def test_deconv_matches_naive(opts):
    rng = np.random.default_rng(1)
    layer = make(Deconvolutional, {**opts, "filters": 3, "activation": "linear"}, [(3, 4, 2)])
    weights = rng.standard_normal((2, 3, opts["size"], opts["size"])).astype(np.float32)
    biases = rng.standard_normal(3).astype(np.float32)
    layer.set_param("weights", weights)
    layer.set_param("biases", biases)
    x = rng.standard_normal((2, 3, 4, 2)).astype(np.float32)
    pad = opts["size"] // 2 if opts.get("pad") else opts.get("padding", 0)
    want = naive_deconv(x, weights, biases, opts["size"], opts["stride"], pad)
    np.testing.assert_allclose(layer.forward([x]), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.get_param("weights"), weights)


def test_deconv_batchnorm_inference():
    layer = make(Deconvolutional, {"filters": 2, "size": 1, "batch_normalize": 1,
                                   "activation": "linear"}, [(1, 1, 1)])
    layer.set_param("weights", np.array([1, 1], np.float32))
    layer.set_param("scales", np.array([2, 1], np.float32))
    layer.set_param("rolling_mean", np.array([1, 0], np.float32))
    layer.set_param("rolling_variance", np.array([4, 1], np.float32))
    layer.set_param("biases", np.array([0, 5], np.float32))
    out = layer.forward([np.full((1, 1, 1, 1), 3, np.float32)]).ravel()
    # (3 - 1) / (2 + 1e-6) * 2 + 0 and (3 - 0) / (1 + 1e-6) * 1 + 5
    np.testing.assert_allclose(out, [2 / (2 + 1e-6) * 2, 3 / (1 + 1e-6) + 5], rtol=1e-6)
    with pytest.raises(ConfigError, match="inference only"):
        layer.forward([np.ones((1, 1, 1, 1), np.float32)], train=True)


@pytest.mark.parametrize("opts", [{"size": 3, "stride": 2, "pad": 1, "activation": "leaky"},
                                  {"size": 2, "stride": 1, "activation": "mish"}])
def test_deconv_gradients(opts):
    layer = make(Deconvolutional, {**opts, "filters": 2}, [(2, 3, 2)])
    check_gradients(layer, [np.random.default_rng(6).standard_normal((2, 2, 3, 2))])


LOCAL_CFG = """[net]
width=5
height=4
channels=2

[local]
filters=3
size=3
stride=1
pad=1
activation=leaky

[local]
filters=2
size=2
stride=2
pad=0
activation=linear
"""

DECONV_CFG = """[net]
width=3
height=3
channels=2

[deconvolutional]
filters=4
size=4
stride=2
pad=1
batch_normalize=1
activation=leaky

[deconv]
filters=1
size=3
stride=1
activation=linear
"""


@pytest.mark.parametrize("text", [LOCAL_CFG, DECONV_CFG])
def test_weights_round_trip(tmp_path, text):
    cfg = tmp_path / "net.cfg"
    cfg.write_text(text)
    net = darkpy.load(cfg)
    rng = np.random.default_rng(2)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.standard_normal(shape).astype(np.float32) + 2)
    first = tmp_path / "a.weights"
    darkpy.save(net, first)
    again = darkpy.load(cfg, first)
    second = tmp_path / "b.weights"
    darkpy.save(again, second)
    assert first.read_bytes() == second.read_bytes()
    x = rng.random((2, *net.input_shape)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(x), again.forward(x))
    # darknet's segment order and sizes: the strict reader refuses a file one float short
    short = tmp_path / "short.weights"
    short.write_bytes(first.read_bytes()[:-4])
    with pytest.raises(WeightsError, match="truncated"):
        darkpy.load(cfg, short)


def test_local_weight_file_layout(tmp_path):
    """biases (cells*filters, CHW) then weights (cells, filters, c, k, k), nothing else."""
    cfg = tmp_path / "net.cfg"
    cfg.write_text(LOCAL_CFG)
    net = darkpy.load(cfg)
    first = net.layers[0]
    assert first.param_layout() == [("biases", (4 * 5 * 3,)), ("weights", (20, 3, 2, 3, 3))]
    floats = np.arange(first.num_params() + net.layers[1].num_params(), dtype=np.float32)
    path = tmp_path / "w.weights"
    path.write_bytes(np.array([0, 2, 0], "<i4").tobytes() + np.zeros(1, "<i8").tobytes()
                     + floats.tobytes())
    net = darkpy.load(cfg, path)
    biases = net.layers[0].params["biases"]  # darkpy's (out_h, out_w, filters)
    assert biases[1, 2, 0] == 0 * 20 + 1 * 5 + 2 and biases[1, 2, 1] == 1 * 20 + 7
