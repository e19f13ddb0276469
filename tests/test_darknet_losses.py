"""darknet's training losses without boxes ([softmax] cross-entropy, [logistic], [cost] given
the trainer's truth) and the classifier batches darkpy.train.darknet feeds them.

Where darknet's delta is a true gradient (softmax with groups=1, T=1; logistic) it is checked
against finite differences of the loss in float64; where it is not (softmax with a
temperature, softmax + [cost] passing their deltas on without the softmax Jacobian) against
darknet's formulas worked by hand."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.layers.cost import Cost
from darkpy.layers.logistic import Logistic
from darkpy.layers.softmax import Softmax
from darkpy.train.darknet.augment import distort_darknet
from darkpy.train.darknet.placement import rotate_crop_image
from tests.zoo_util import make

REPO = Path(__file__).resolve().parents[1]


def _softmax64(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_cross_entropy_hand_worked():
    layer = make(Softmax, {}, [(1, 1, 3)])
    x = np.array([[[[1.0, 2.0, 3.0]]]], np.float32)
    layer.set_truth(np.array([[0, 0, 1]], np.float32))
    y = layer.forward([x], train=True)
    e = [math.exp(v) for v in (1.0, 2.0, 3.0)]
    p = [v / sum(e) for v in e]  # 0.0900, 0.2447, 0.6652
    assert layer.loss_report["cost"] == pytest.approx(-math.log(p[2]), rel=1e-6)
    np.testing.assert_allclose(layer._loss_delta.reshape(-1), [-p[0], -p[1], 1 - p[2]], rtol=1e-6)
    # darknet's backward: the delta unchanged (the cross-entropy gradient is y - t)
    grad = layer.backward(None, [x], y)[0]
    np.testing.assert_allclose(grad.reshape(-1), [p[0], p[1], p[2] - 1], rtol=1e-6)


def test_softmax_delta_is_the_cross_entropy_gradient_by_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 1, 5))
    t = np.zeros((2, 5))
    t[0, 1] = t[1, 4] = 1
    layer = make(Softmax, {}, [(1, 1, 5)])
    layer.set_truth(t)
    y = layer.forward([x], train=True)
    grad = layer.backward(None, [x], y)[0].reshape(2, 5)

    def loss(v):
        return -float(np.sum(t * np.log(_softmax64(v.reshape(2, 5)))))

    eps = 1e-6
    for i in range(10):
        up, down = x.copy(), x.copy()
        up.reshape(-1)[i] += eps
        down.reshape(-1)[i] -= eps
        numeric = (loss(up) - loss(down)) / (2 * eps)
        assert grad.reshape(-1)[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_softmax_with_temperature_keeps_darknets_delta_not_the_gradient():
    """darknet's delta t - y ignores the temperature (the true gradient is (y - t) / T)."""
    layer = make(Softmax, {"temperature": 2}, [(1, 1, 2)])
    x = np.array([[[[0.0, 2.0]]]])
    layer.set_truth(np.array([[1.0, 0.0]]))
    y = layer.forward([x], train=True)
    p0 = 1 / (1 + math.exp(1.0))  # softmax([0, 1])[0]
    np.testing.assert_allclose(y.reshape(-1), [p0, 1 - p0], rtol=1e-6)
    np.testing.assert_allclose(layer.backward(None, [x], y)[0].reshape(-1), [p0 - 1, 1 - p0],
                               rtol=1e-6)


def test_softmax_then_cost_sends_one_plus_scale_times_the_delta():
    """[cost] adds scale * (t - y) to the softmax's delta t - y; darknet hands the sum on."""
    softmax = make(Softmax, {}, [(1, 1, 3)], index=1)
    cost = make(Cost, {"type": "sse", "scale": 0.5}, [(1, 1, 3)], index=2)
    x = np.array([[[[0.5, -1.0, 0.25]]]], np.float32)
    t = np.array([[0, 1, 0]], np.float32)
    softmax.set_truth(t)
    cost.set_truth(t)
    y = softmax.forward([x], train=True)
    out = cost.forward([y], train=True)
    assert out is y
    d = t.reshape(-1) - y.reshape(-1).astype(np.float64)
    assert cost.loss_report["cost"] == pytest.approx(float(np.sum(d * d)), rel=1e-6)
    g = cost.backward(None, [y], out)[0]
    grad = softmax.backward(g, [x], y)[0]
    np.testing.assert_allclose(grad.reshape(-1), -1.5 * d, rtol=1e-6)


def test_softmax_noloss_and_no_truth():
    layer = make(Softmax, {"noloss": 1}, [(1, 1, 2)])
    layer.set_truth(np.array([[1.0, 0.0]]))
    x = np.zeros((1, 1, 1, 2), np.float32)
    layer.forward([x], train=True)
    assert layer.loss_report == {"cost": 0.0} and not layer.has_loss()
    layer.set_truth(None)
    layer.forward([x], train=True)
    assert layer.loss_report is None and not layer.has_loss()


def test_truth_rows_are_read_in_darknets_chw_order():
    layer = make(Cost, {"type": "L1"}, [(1, 2, 2)])
    x = np.zeros((1, 1, 2, 2), np.float32)  # NHWC: pixel 0 channels (0, 1), pixel 1 (0, 1)
    layer.set_truth(np.array([[1, 2, 3, 4]], np.float32))  # CHW: channel 0 = 1, 2; channel 1 = 3, 4
    layer.forward([x], train=True)
    assert layer.loss_report["cost"] == 10.0
    np.testing.assert_array_equal(layer._loss_delta.reshape(-1), [1, 1, 1, 1])
    np.testing.assert_array_equal(layer.backward(None, [x], x)[0][0, 0], [[-1, -1], [-1, -1]])


def test_logistic_delta_is_the_cross_entropy_gradient():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 2, 3))
    t = (rng.random((2, 1, 2, 3)) > 0.5).astype(np.float64)
    layer = make(Logistic, {}, [(1, 2, 3)])
    layer.set_truth(t)
    y = layer.forward([x], train=True)

    def loss(v):
        s = 1 / (1 + np.exp(-v))
        return float(np.sum(-t * np.log(s) - (1 - t) * np.log(1 - s)))

    assert layer.loss_report["cost"] == pytest.approx(loss(x), rel=1e-6)
    grad = layer.backward(None, [x], y)[0]
    eps = 1e-6
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up.reshape(-1)[i] += eps
        down.reshape(-1)[i] -= eps
        assert grad.reshape(-1)[i] == pytest.approx((loss(up) - loss(down)) / (2 * eps),
                                                     rel=1e-5, abs=1e-7)


def test_unrotated_crop_hand_worked():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    # scale 1/2, no offset: output pixel x samples (x - 1) * 2 + 2 = 2x: every second pixel
    np.testing.assert_array_equal(rotate_crop_image(image, 0.0, 0.5, 2, 2, 0.0, 0.0, 1.0)[..., 0],
                                  [[0, 2], [8, 10]])
    # scale 1, offset 0.5: halfway between neighbours; past the right edge darknet reads 0
    out = rotate_crop_image(image, 0.0, 1.0, 4, 4, 0.5, 0.0, 1.0)[..., 0]
    np.testing.assert_allclose(out[0], [0.5, 1.5, 2.5, 1.5])


def _hsv_round_trip_scalar(r, g, b):
    """pjreddie's rgb_to_hsv / hsv_to_rgb for one pixel, one float32 operation at a time."""
    f = np.float32
    r, g, b = f(r), f(g), f(b)
    top, low = max(r, g, b), min(r, g, b)
    delta = f(top - low)
    v = top
    if top == 0:
        s, h = f(0), f(0)
    else:
        s = f(delta / top)
        if r == top:
            h = f((g - b) / delta) if delta else f("nan")
        elif g == top:
            h = f(f(2) + f((b - r) / delta))
        else:
            h = f(f(4) + f((r - g) / delta))
        if h < 0:
            h = f(h + f(6))
        h = f(float(h) / 6.0)
    if s == 0:
        return v, v, v
    h = f(f(6) * h)
    index = math.floor(h)
    frac = f(h - f(index))
    p = f(v * f(f(1) - s))
    q = f(v * f(f(1) - f(s * frac)))
    t = f(v * f(f(1) - f(s * f(f(1) - frac))))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][min(index, 5)]


def test_hsv_round_trip_equals_darknets_steps():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(300, 3)).astype(np.float32) / np.float32(255)
    pixels[:5] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 0, 1]]
    got = distort_darknet(pixels[None], 0.0, 1.0, 1.0)[0]  # darknet's unchanged distort
    want = np.array([_hsv_round_trip_scalar(*p) for p in pixels], np.float32)
    np.testing.assert_array_equal(got, np.clip(want, 0, 1))
    assert np.max(np.abs(got - pixels)) <= 4e-7  # a few ulps, not a colour change


def test_cli_trains_a_classifier_with_darknets_lines(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("oracle",
                                                  REPO / "tools" / "darknet_train_oracle.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.classifier_set(tmp_path)
    (tmp_path / "cls.cfg").write_text(tool.classifier_cfg(3))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "cls.cfg", "--data", "cls.data"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " avg, " in line]
    assert [line.split(":")[0] for line in lines] == ["1, 0.667", "2, 1.333", "3, 2.000"]
    assert "Region" not in result.output
    assert (tmp_path / "backup" / "cls_final.weights").is_file()


def test_label_smoothing_and_hierarchy_truth(tmp_path):
    from darkpy.layers.tree import load_tree
    from darkpy.train.darknet.classifier_batch import SECRET_NUM, hierarchy_truth, smoothed_truth

    np.testing.assert_allclose(smoothed_truth(np.array([0, 1, 0, 0], np.float32), 0.3),
                               [0.1, 0.7, 0.1, 0.1])
    # nodes: 0 animal, 1 thing (roots, one group); 2 cat, 3 dog (children of 0); 4 cup (of 1)
    (tmp_path / "t.tree").write_text("animal -1\nthing -1\ncat 0\ndog 0\ncup 1\n")
    tree = load_tree(str(tmp_path / "t.tree"), "x.cfg:1")
    got = hierarchy_truth(np.array([0, 0, 0, 1, 0], np.float32), tree)  # a dog
    # its parent set; the roots' group and the cat/dog group hold set nodes; cup's does not
    np.testing.assert_array_equal(got, [1, 0, 0, 1, SECRET_NUM])
