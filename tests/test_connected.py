"""[connected]: darknet's CHW-flattened matrix product computed naively, BN, round trips."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import InputError
from darkpy.layers.connected import Connected


def make(shape, index=0, **options):
    section = Section("connected", {k: str(v) for k, v in options.items()}, "c.cfg:9")
    return Connected(parse_options(section, Connected.keys), [shape], index, "c.cfg:9")


def darknet_connected(x_nhwc, weights, biases, bn=None):
    """darknet: input flattened c-major (CHW), out[o] = sum_i W[o, i] in[i] + b[o]."""
    n = x_nhwc.shape[0]
    flat = x_nhwc.transpose(0, 3, 1, 2).reshape(n, -1).astype(np.float64)
    out = np.zeros((n, weights.shape[0]))
    for b in range(n):
        for o in range(weights.shape[0]):
            out[b, o] = sum(float(weights[o, i]) * flat[b, i] for i in range(flat.shape[1]))
    if bn is not None:
        scales, mean, var = bn
        out = (out - mean) / (np.sqrt(var.astype(np.float64)) + 1e-6) * scales
    return out + biases


def randomise(layer, rng):
    values = {}
    for name, shape in layer.param_layout():
        v = rng.standard_normal(shape).astype(np.float32)
        if name == "rolling_variance":
            v = rng.uniform(0.3, 2.0, shape).astype(np.float32)
        layer.set_param(name, v)
        values[name] = v
    return values


@pytest.mark.parametrize("batch_normalize", [0, 1])
def test_forward_matches_darknet_chw_flattening(batch_normalize):
    rng = np.random.default_rng(0)
    layer = make((3, 2, 4), output=5, activation="leaky", batch_normalize=batch_normalize)
    values = randomise(layer, rng)
    x = rng.standard_normal((2, 3, 2, 4)).astype(np.float32)
    bn = None
    if batch_normalize:
        bn = (values["scales"], values["rolling_mean"], values["rolling_variance"])
    v = darknet_connected(x, values["weights"], values["biases"], bn)
    expected = np.where(v > 0, v, 0.1 * v).reshape(2, 1, 1, 5)
    out = layer.forward([x])
    assert out.shape == (2, 1, 1, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_hand_worked_flattening_order():
    # a 1x2x2 input (h=1, w=2, c=2): darknet's input vector is [c0w0, c0w1, c1w0, c1w1]
    layer = make((1, 2, 2), output=1, activation="linear")
    layer.set_param("weights", np.array([[1, 10, 100, 1000]], np.float32))
    layer.set_param("biases", np.array([0.5], np.float32))
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)  # NHWC: w0 = (1, 2), w1 = (3, 4)
    # c0 = (1, 3), c1 = (2, 4): 1*1 + 10*3 + 100*2 + 1000*4 + 0.5
    assert layer.forward([x]).ravel().tolist() == [4231.5]


def test_param_layout_and_round_trip_bit_exact():
    layer = make((3, 2, 4), output=5, batch_normalize=1)
    assert layer.param_layout() == [("biases", (5,)), ("weights", (5, 24)), ("scales", (5,)),
                                    ("rolling_mean", (5,)), ("rolling_variance", (5,))]
    values = randomise(layer, np.random.default_rng(1))
    for name, _ in layer.param_layout():
        np.testing.assert_array_equal(layer.get_param(name), values[name])
    assert layer.params["weights"].shape == (24, 5)  # (h*w*c, outputs) in memory


def test_shapes_description_and_defaults():
    layer = make((4, 4, 3), index=2, output=7, activation="relu")
    assert layer.output_shape([(4, 4, 3)]) == (1, 1, 7)
    assert layer.describe()["filters"] == "7" and layer.flops([(4, 4, 3)]) == 2 * 48 * 7
    w = layer.get_param("weights")
    assert np.abs(w).max() <= np.sqrt(2.0 / 48)
    np.testing.assert_array_equal(w, make((4, 4, 3), index=2, output=7).get_param("weights"))
    with pytest.raises(InputError, match="4x4x3"):
        layer.forward([np.zeros((1, 5, 4, 3), np.float32)])


def test_default_activation_is_logistic_as_darknet():
    layer = make((1, 1, 2), output=1)
    layer.set_param("weights", np.array([[0.0, 0.0]], np.float32))
    assert layer.forward([np.ones((1, 1, 1, 2), np.float32)]).ravel().tolist() == [0.5]
