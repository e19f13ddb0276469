"""[batchnorm]: darknet's inference normalisation per channel, parameters, round trip."""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.layers.batchnorm import BatchNorm


def make(shape):
    section = Section("batchnorm", {}, "b.cfg:4")
    return BatchNorm(parse_options(section, BatchNorm.keys), [shape], 0, "b.cfg:4")


def test_forward_matches_darknet_formula():
    rng = np.random.default_rng(0)
    layer = make((5, 7, 3))
    scales = rng.standard_normal(3).astype(np.float32)
    mean = rng.standard_normal(3).astype(np.float32)
    var = rng.uniform(0.1, 4.0, 3).astype(np.float32)
    for name, value in zip(("scales", "rolling_mean", "rolling_variance"), (scales, mean, var)):
        layer.set_param(name, value)
    x = rng.standard_normal((2, 5, 7, 3)).astype(np.float32)
    expected = np.empty(x.shape)
    for k in range(3):  # channel by channel, as darknet's normalize_cpu loops
        expected[..., k] = (x[..., k] - mean[k]) / (np.sqrt(float(var[k])) + 0.000001) * scales[k]
    out = layer.forward([x])
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_hand_worked_value():
    layer = make((1, 1, 1))
    layer.set_param("scales", np.array([2.0], np.float32))
    layer.set_param("rolling_mean", np.array([1.0], np.float32))
    layer.set_param("rolling_variance", np.array([4.0], np.float32))
    out = layer.forward([np.array([[[[5.0]]]], np.float32)])
    np.testing.assert_allclose(out.ravel(), [(5 - 1) / (2 + 1e-6) * 2], rtol=1e-7)


def test_params_in_pjreddie_order_and_round_trip():
    layer = make((2, 2, 4))
    assert layer.param_layout() == [("scales", (4,)), ("rolling_mean", (4,)),
                                    ("rolling_variance", (4,))]
    rng = np.random.default_rng(1)
    for name, shape in layer.param_layout():
        v = rng.standard_normal(shape).astype(np.float32)
        layer.set_param(name, v)
        np.testing.assert_array_equal(layer.get_param(name), v)
    x = np.ones((1, 2, 2, 4), np.float32)
    fresh = make((2, 2, 4))  # defaults are the identity
    np.testing.assert_allclose(fresh.forward([x]), x / (1 + 1e-6), rtol=1e-7)
