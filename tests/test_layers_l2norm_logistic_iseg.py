"""pjreddie's [l2norm], [logistic] and [iseg]: hand-worked values, darknet's CPU loops written
out on the CHW buffer, gradients, cfg building, `darkpy info`, and their training refusals.

None of the three has parameters: a network holding them reads and writes only the other
layers' values in a .weights file (checked by a round trip below)."""
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError
from darkpy.info import summarize
from darkpy.layers.iseg import ISeg
from darkpy.layers.l2norm import L2Norm
from darkpy.layers.logistic import Logistic
from darkpy.layers.registry import REGISTRY
from darkpy.network import Network
from tests.zoo_util import check_gradients, chw_flat, make, nhwc_from_flat


def darknet_l2normalize(flat, c, hw):
    """l2normalize_cpu on one image's CHW buffer: float32 sum over channels, sqrtf, divide."""
    out = np.array(flat, dtype=np.float32).reshape(c, hw)
    for i in range(hw):
        total = np.float32(0)
        for f in range(c):
            total = np.float32(total + out[f, i] * out[f, i])
        norm = np.float32(math.sqrt(total))
        for f in range(c):
            out[f, i] = out[f, i] / norm
    return out.reshape(-1)


def sigmoid64(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# --- [l2norm] ------------------------------------------------------------------------------

def test_l2norm_hand_worked():
    layer = make(L2Norm, {}, [(1, 3, 3)])
    x = np.array([[[[3, 4, 0], [1, 2, 2], [0, 0, 0]]]], np.float32)
    out = layer.forward([x])
    np.testing.assert_allclose(out[0, 0], [[0.6, 0.8, 0], [1 / 3, 2 / 3, 2 / 3], [0, 0, 0]],
                               rtol=1e-7)
    assert out.dtype == np.float32 and not np.isnan(out).any()  # darknet: NaN for 0/0
    np.testing.assert_array_equal(x[0, 0, 0], [3, 4, 0])  # input untouched


@pytest.mark.parametrize("n,h,w,c", [(2, 3, 5, 7), (3, 1, 1, 11), (1, 4, 2, 1)])
def test_l2norm_equals_darknet_loop_bit_for_bit(n, h, w, c):
    x = np.random.default_rng(c).standard_normal((n, h, w, c)).astype(np.float32) * 3
    out = make(L2Norm, {}, [(h, w, c)]).forward([x])
    flat = chw_flat(x)
    want = np.stack([darknet_l2normalize(flat[b], c, h * w) for b in range(n)])
    np.testing.assert_array_equal(out, nhwc_from_flat(want, h, w, c))
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1, rtol=1e-6)


def test_l2norm_gradients_and_zero_pixel():
    x = np.random.default_rng(4).standard_normal((2, 3, 2, 5))
    check_gradients(make(L2Norm, {}, [(3, 2, 5)]), [x], rtol=1e-5, atol=1e-8)
    # true derivative by hand at x = (3, 4): dy/dx = (I - y y^T) / 5 with y = (0.6, 0.8)
    layer = make(L2Norm, {}, [(1, 2, 2)])
    x = np.array([[[[3.0, 4.0], [0.0, 0.0]]]])
    y = layer.forward([x])
    g = np.array([[[[1.0, 0.0], [1.0, 1.0]]]])
    grad = layer.backward(g, [x], y)[0]
    np.testing.assert_allclose(grad[0, 0, 0], [(1 - 0.36) / 5, -0.48 / 5], rtol=1e-12)
    np.testing.assert_array_equal(grad[0, 0, 1], [0, 0])  # no direction at 0: gradient 0
    assert grad.dtype == np.float64


# --- [logistic] ----------------------------------------------------------------------------

def test_logistic_hand_worked_and_naive():
    layer = make(Logistic, {}, [(1, 1, 3)])
    x = np.array([[[[0.0, math.log(3), -math.log(3)]]]], np.float32)
    np.testing.assert_allclose(layer.forward([x])[0, 0, 0], [0.5, 0.75, 0.25], rtol=1e-6)
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 7)).astype(np.float32) * 6
    keep = x.copy()
    out = make(Logistic, {}, [(3, 5, 7)]).forward([x])
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, sigmoid64(x), rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(x, keep)


def test_logistic_refuses_training():
    layer = make(Logistic, {}, [(2, 2, 3)])
    with pytest.raises(ConfigError, match=r"zoo.cfg:7: \[logistic\] layer 3: trains only as "
                                          r"darknet's .*activation=logistic"):
        layer.forward([np.zeros((1, 2, 2, 3), np.float32)], train=True)


# --- [iseg] --------------------------------------------------------------------------------

def darknet_iseg_output(flat, classes, hw):
    """forward_iseg_layer's output: logistic on the first classes*w*h values of the buffer."""
    out = np.array(flat, dtype=np.float64)
    out[:classes * hw] = sigmoid64(out[:classes * hw])
    return out


@pytest.mark.parametrize("classes,ids", [(3, 2), (1, 0), (0, 4)])
def test_iseg_equals_darknet_output(classes, ids):
    n, h, w, c = 2, 3, 5, classes + ids
    x = np.random.default_rng(classes).standard_normal((n, h, w, c)).astype(np.float32) * 4
    keep = x.copy()
    layer = make(ISeg, {"classes": classes, "ids": ids}, [(h, w, c)])
    out = layer.forward([x])
    flat = chw_flat(x)
    want = np.stack([darknet_iseg_output(flat[b], classes, h * w) for b in range(n)])
    np.testing.assert_allclose(out, nhwc_from_flat(want, h, w, c), rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(out[..., classes:], x[..., classes:])  # embeddings exact
    np.testing.assert_array_equal(x, keep)
    assert layer.describe()["filters"] == f"{classes}+{ids}"


def test_iseg_hand_worked_defaults_and_errors():
    layer = make(ISeg, {"classes": 1, "ids": 1}, [(1, 1, 2)])
    out = layer.forward([np.array([[[[0.0, -7.5]]]], np.float32)])
    np.testing.assert_array_equal(out, [[[[0.5, -7.5]]]])
    default = make(ISeg, {}, [(2, 2, 52)])  # classes=20 + ids=32
    assert (default.classes, default.ids) == (20, 32)
    with pytest.raises(ConfigError, match=r"has 6 channels but classes=3 \+ ids=2 = 5.*filters=5"):
        make(ISeg, {"classes": 3, "ids": 2}, [(4, 4, 6)])
    with pytest.raises(ConfigError, match="must be >= 0"):
        make(ISeg, {"classes": -1, "ids": 3}, [(4, 4, 2)])
    with pytest.raises(ConfigError, match="inference only"):
        default.forward([np.zeros((1, 2, 2, 52), np.float32)], train=True)


# --- networks ------------------------------------------------------------------------------

NET_CFG = """[net]
width=7
height=5
channels=3

[convolutional]
filters=6
size=3
pad=1
activation=leaky

[l2norm]

[convolutional]
filters=5
size=1
activation=linear

[logistic]

[route]
layers=-2

[iseg]
classes=3
ids=2
"""


def test_registry_and_unknown_key():
    assert REGISTRY["l2norm"] is L2Norm and REGISTRY["logistic"] is Logistic
    assert REGISTRY["iseg"] is ISeg
    with pytest.raises(ConfigError, match="unknown key `size`"):
        Network(parse_cfg_text("[net]\nwidth=2\nheight=2\nchannels=1\n[l2norm]\nsize=3\n", "n.cfg"))


def test_cfg_builds_runs_and_info(tmp_path):
    path = tmp_path / "pj.cfg"
    path.write_text(NET_CFG)
    net = darkpy.load(path)
    assert [layer.kind for layer in net.layers] == ["convolutional", "l2norm", "convolutional",
                                                    "logistic", "route", "iseg"]
    rows = summarize(net)
    assert [r.output_shape for r in rows] == [(5, 7, 6), (5, 7, 6), (5, 7, 5), (5, 7, 5),
                                              (5, 7, 5), (5, 7, 5)]
    assert [r.params for r in rows[1:]] == [0, 6 * 5 + 5, 0, 0, 0]
    assert rows[5].filters == "3+2"
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "l2norm" in result.output and "logistic" in result.output and "iseg" in result.output

    rng = np.random.default_rng(0)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.standard_normal(shape).astype(np.float32))
    x = rng.standard_normal((2, 5, 7, 3)).astype(np.float32)
    outs = net.forward(x, outputs=[1, 2, 3, 5])
    np.testing.assert_allclose(np.linalg.norm(outs[1], axis=-1), 1, rtol=1e-5)
    np.testing.assert_allclose(outs[3], sigmoid64(outs[2]), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(outs[5][..., :3], sigmoid64(outs[2][..., :3]), rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(outs[5][..., 3:], outs[2][..., 3:])

    # no parameters of their own: the .weights file holds the two convolutions only
    weights = tmp_path / "pj.weights"
    darkpy.save(net, weights)
    assert weights.stat().st_size == 20 + 4 * (6 * 27 + 6 + 5 * 6 + 5)
    again = darkpy.load(path, weights)
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    second = tmp_path / "again.weights"
    darkpy.save(again, second)
    assert second.read_bytes() == weights.read_bytes()


def test_training_l2norm_works_logistic_and_iseg_refuse():
    base = "[net]\nwidth=3\nheight=2\nchannels=2\n[convolutional]\nfilters=4\nsize=1\nactivation=linear\n"
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 3, 2))
    truth = rng.standard_normal((2, 2, 3, 4))
    net = Network(parse_cfg_text(base + "[l2norm]\n[cost]\ntype=sse\n", "t.cfg"))
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.standard_normal(shape))
    net.astype(np.float64)
    net.zero_grads()
    loss = net.train_step(x, truth)
    y = net.forward(x)
    assert loss == pytest.approx(float(np.sum((truth - y) ** 2)), rel=1e-12)
    # the network's input gradient agrees with finite differences of the sse loss / 2
    eps = 1e-6
    net.forward(x, train=True)
    analytic = net.backward(-(truth - y))
    for i in [0, 5, 11, 23]:
        up, down = x.copy(), x.copy()
        up.reshape(-1)[i] += eps
        down.reshape(-1)[i] -= eps
        numeric = (np.sum((truth - net.forward(up)) ** 2)
                   - np.sum((truth - net.forward(down)) ** 2)) / (4 * eps)
        assert analytic.reshape(-1)[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)

    for tail, kind, why in [("[logistic]\n", "logistic", "trains only as darknet's"),
                            ("[iseg]\nclasses=2\nids=2\n", "iseg", "is inference only")]:
        net = Network(parse_cfg_text(base + tail + "[cost]\n", "t.cfg"))
        with pytest.raises(ConfigError, match=rf"\[{kind}\] layer 1: {why}"):
            net.train_step(x.astype(np.float32), truth.astype(np.float32))
