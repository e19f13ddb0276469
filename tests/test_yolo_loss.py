"""[yolo] training deltas (pjreddie's forward_yolo_layer): hand-worked values, the darknet rules
(best anchor of all `num`, ignore_thresh, a shared anchor keeping its class deltas), and finite
differences of the loss whose gradient the deltas are (binary cross-entropy on the logistic
entries, weighted squares on w, h), through the layer and through a small network."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.network import Network

NET = 64
ANCHORS = [(10, 14), (23, 27), (37, 58), (60, 50)]


def make_net(grid=4, mask="2,3", classes=2, ignore=0.5, extra=""):
    n = len(mask.split(","))
    text = f"""[net]
width={NET}
height={NET}
channels=3

[convolutional]
filters={n * (5 + classes)}
size=1
stride={NET // grid}
pad=0
activation=linear

[yolo]
mask={mask}
anchors={','.join(f'{w},{h}' for w, h in ANCHORS)}
classes={classes}
num={len(ANCHORS)}
ignore_thresh={ignore}
{extra}
"""
    return Network(parse_cfg_text(text, "<test>"))


def sig(v):
    return 1 / (1 + math.exp(-v))


def yolo_layer_delta(layer, x, truth):
    layer.set_truth(truth, NET, NET)
    out = layer.forward([x], train=True)
    return out, layer._loss_delta, layer.loss


def test_hand_worked_truth_deltas():
    net = make_net(grid=4, mask="2,3", classes=2)
    yolo = net.layers[1]
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.5, (1, 4, 4, 2 * 7)).astype(np.float32)
    # one box of 36x56 input pixels centred at (40, 24): best anchor of all four is 2 (37x58)
    truth = np.zeros((1, 90, 5), np.float32)
    truth[0, 0] = [40 / 64, 24 / 64, 36 / 64, 56 / 64, 1]
    out, delta, report = yolo_layer_delta(yolo, x, truth)
    i, j = int(40 / 64 * 4), int(24 / 64 * 4)  # cell (2, 1)
    a = 0  # anchor 2 is the first of the mask
    e = x[0, j, i, a * 7: a * 7 + 7].astype(np.float64)
    s = 2 - (36 / 64) * (56 / 64)
    expect_box = [s * (40 / 64 * 4 - i - sig(e[0])), s * (24 / 64 * 4 - j - sig(e[1])),
                  s * (math.log(36 / 37) - e[2]), s * (math.log(56 / 58) - e[3])]
    got = delta[0, j, i, a * 7: a * 7 + 7]
    np.testing.assert_allclose(got[:4], expect_box, rtol=1e-5, atol=1e-6)
    assert got[4] == pytest.approx(1 - sig(e[4]), rel=1e-5)
    np.testing.assert_allclose(got[5:], [0 - sig(e[5]), 1 - sig(e[6])], rtol=1e-5)
    # predicted box and its IoU with the truth, by hand
    px, py = (i + sig(e[0])) / 4, (j + sig(e[1])) / 4
    pw, ph = math.exp(e[2]) * 37 / 64, math.exp(e[3]) * 58 / 64
    ix = max(0.0, min(px + pw / 2, 40 / 64 + 18 / 64) - max(px - pw / 2, 40 / 64 - 18 / 64))
    iy = max(0.0, min(py + ph / 2, 24 / 64 + 28 / 64) - max(py - ph / 2, 24 / 64 - 28 / 64))
    iou = ix * iy / (pw * ph + 36 * 56 / 64 ** 2 - ix * iy)
    assert report["count"] == 1
    assert report["avg_iou"] == pytest.approx(iou, rel=1e-5)
    assert report["avg_class"] == pytest.approx(sig(e[6]), rel=1e-5)
    assert report["avg_obj"] == pytest.approx(sig(e[4]), rel=1e-5)
    assert report["cost"] == pytest.approx(float(np.sum(delta.astype(np.float64) ** 2)), rel=1e-6)
    # every other prediction: objectness pushed to 0 unless it overlaps the truth by > .5
    raw = x[0].reshape(4, 4, 2, 7).astype(np.float64)
    d_obj = delta[0].reshape(4, 4, 2, 7)[..., 4]
    ignored = 0
    for jj, ii, n in np.ndindex(4, 4, 2):
        if (jj, ii, n) == (j, i, a):
            continue
        e = raw[jj, ii, n]
        aw, ah = ANCHORS[2 + n]
        box = ((ii + sig(e[0])) / 4, (jj + sig(e[1])) / 4, math.exp(e[2]) * aw / 64,
               math.exp(e[3]) * ah / 64)
        if box_iou(box, (40 / 64, 24 / 64, 36 / 64, 56 / 64)) > 0.5:
            ignored += 1
            assert d_obj[jj, ii, n] == 0
        else:
            assert d_obj[jj, ii, n] == pytest.approx(-sig(e[4]), rel=1e-5)
    assert 0 < ignored < 31  # both cases occur


def box_iou(a, b):
    ix = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    iy = min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2)
    inter = ix * iy if ix > 0 and iy > 0 else 0.0
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_truth_whose_best_anchor_is_elsewhere_is_not_this_heads():
    net = make_net(mask="0,1")  # anchors 2 and 3 belong to another head
    truth = np.zeros((1, 90, 5), np.float32)
    truth[0, 0] = [0.5, 0.5, 36 / 64, 56 / 64, 0]
    x = np.zeros((1, 4, 4, 14), np.float32)
    _, delta, report = yolo_layer_delta(net.layers[1], x, truth)
    assert report["count"] == 0 and math.isnan(report["avg_iou"])
    box = delta[0].reshape(4, 4, 2, 7)
    assert np.all(box[..., :4] == 0) and np.all(box[..., 5:] == 0)


def test_ignore_thresh_clears_the_no_object_delta():
    net = make_net(grid=1, mask="2,3", classes=1, ignore=0.5)
    yolo = net.layers[1]
    # anchor 3 (60x50) predicts a box centred in the image: x, y raw 0 -> sigmoid .5
    x = np.zeros((1, 1, 1, 12), np.float32)
    x[0, 0, 0, 6 + 4] = 0.3
    truth = np.zeros((1, 90, 5), np.float32)
    # a truth the anchor-3 prediction overlaps with IoU 2/3, but whose best anchor is 2
    truth[0, 0] = [0.5, 0.5, 40 / 64, 50 / 64, 0]
    _, delta, _ = yolo_layer_delta(yolo, x, truth)
    assert delta[0, 0, 0, 6 + 4] == 0
    yolo2 = make_net(grid=1, mask="2,3", classes=1, ignore=0.9).layers[1]
    _, delta2, _ = yolo_layer_delta(yolo2, x, truth)
    assert delta2[0, 0, 0, 6 + 4] == pytest.approx(-sig(0.3), rel=1e-6)


def test_two_truths_on_one_anchor_keep_the_first_class_delta():
    net = make_net(grid=2, mask="2,3", classes=3)
    x = np.zeros((1, 2, 2, 2 * 8), np.float32)
    truth = np.zeros((1, 90, 5), np.float32)
    truth[0, 0] = [0.2, 0.2, 36 / 64, 56 / 64, 0]
    truth[0, 1] = [0.3, 0.3, 36 / 64, 56 / 64, 2]  # same cell (0, 0), same best anchor
    _, delta, report = yolo_layer_delta(net.layers[1], x, truth)
    cls = delta[0, 0, 0, 5:8]
    # the second truth overwrote the box but only set its own class entry
    np.testing.assert_allclose(cls, [0.5, -0.5, 0.5])
    assert report["count"] == 2


def implied_loss(raw, truth, anchors, mask, classes, ignore):
    """The loss whose negative gradient darknet's deltas are, written out independently:
    BCE on the logistic entries against darknet's targets (box x, y weighted by 2 - w h),
    (2 - w h)/2 (target - t)^2 on w, h; predictions overlapping a truth above `ignore` carry
    no objectness loss."""
    raw = np.asarray(raw, np.float64)
    _, gh, gw, _ = raw.shape
    entries = 5 + classes
    loss = 0.0

    def bce(t, target):
        p = sig(t)
        return -(target * math.log(p) + (1 - target) * math.log(1 - p))

    assigned = {}
    for t in truth:
        tx, ty, tw, th, c = (float(v) for v in t)
        if tx == 0:
            break
        ious = []
        for aw, ah in anchors:
            aw, ah = aw / NET, ah / NET
            inter = min(aw, tw) * min(ah, th)
            ious.append(inter / (aw * ah + tw * th - inter))
        best = int(np.argmax(ious))
        if best in mask:
            assigned[(int(ty * gh), int(tx * gw), mask.index(best))] = (tx, ty, tw, th, int(c), best)
    for j in range(gh):
        for i in range(gw):
            for n, a in enumerate(mask):
                e = raw[0, j, i, n * entries:(n + 1) * entries]
                if (j, i, n) in assigned:
                    tx, ty, tw, th, c, best = assigned[(j, i, n)]
                    s = 2 - tw * th
                    loss += s * (bce(e[0], tx * gw - i) + bce(e[1], ty * gh - j))
                    loss += s / 2 * ((math.log(tw * NET / anchors[best][0]) - e[2]) ** 2
                                     + (math.log(th * NET / anchors[best][1]) - e[3]) ** 2)
                    loss += bce(e[4], 1.0)
                    loss += sum(bce(e[5 + k], 1.0 if k == c else 0.0) for k in range(classes))
                    continue
                px, py = (i + sig(e[0])) / gw, (j + sig(e[1])) / gh
                pw = math.exp(e[2]) * anchors[a][0] / NET
                ph = math.exp(e[3]) * anchors[a][1] / NET
                best_iou = 0.0
                for t in truth:
                    if t[0] == 0:
                        break
                    ix = min(px + pw / 2, t[0] + t[2] / 2) - max(px - pw / 2, t[0] - t[2] / 2)
                    iy = min(py + ph / 2, t[1] + t[3] / 2) - max(py - ph / 2, t[1] - t[3] / 2)
                    inter = ix * iy if ix > 0 and iy > 0 else 0.0
                    best_iou = max(best_iou, inter / (pw * ph + t[2] * t[3] - inter))
                if best_iou <= ignore:
                    loss += bce(e[4], 0.0)
    return loss


def test_deltas_are_the_gradient_of_the_implied_loss():
    net = make_net(grid=4, mask="1,2,3", classes=2)
    yolo = net.layers[1]
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.7, (1, 4, 4, 3 * 7))
    truth = np.zeros((1, 90, 5), np.float32)
    truth[0, 0] = [0.30, 0.40, 0.55, 0.80, 1]
    truth[0, 1] = [0.80, 0.70, 0.30, 0.40, 0]
    truth[0, 2] = [0.10, 0.85, 0.12, 0.20, 1]
    yolo.set_truth(truth, NET, NET)
    yolo.forward([x.astype(np.float32)], train=True)
    grad = yolo.backward(None, [x], None)[0]
    args = (truth[0], ANCHORS, [1, 2, 3], 2, 0.5)
    eps = 1e-5
    numeric = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += eps
        down[k] -= eps
        numeric[k] = (implied_loss(up, *args) - implied_loss(down, *args)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=2e-4, atol=2e-6)


def test_network_backward_reaches_a_head_that_feeds_nothing():
    """A head with truth gets its gradient into the layers below it even when nothing
    consumes its output, and the conv gradient equals finite differences of the loss."""
    net = make_net(grid=4, mask="1,2,3", classes=2).astype(np.float64)
    conv, yolo = net.layers
    rng = np.random.default_rng(3)
    conv.params["weights"][...] = rng.normal(0, 0.3, conv.params["weights"].shape)
    x = rng.uniform(0, 1, (1, NET, NET, 3))
    truth = np.zeros((1, 90, 5), np.float32)
    truth[0, 0] = [0.30, 0.40, 0.55, 0.80, 1]
    truth[0, 1] = [0.80, 0.70, 0.30, 0.40, 0]
    args = (truth[0], ANCHORS, [1, 2, 3], 2, 0.5)
    net.zero_grads()
    yolo.set_truth(truth, NET, NET)
    net.forward(x, train=True)
    assert net.backward(None) is not None
    grad = conv.grads["weights"].copy()
    yolo.set_truth(None, 0, 0)
    w = conv.params["weights"]
    eps = 1e-5
    for k in [(0, 0, 0, 0), (0, 0, 2, 5), (0, 0, 1, 13), (0, 0, 0, 20)]:
        old = w[k]
        w[k] = old + eps
        up = implied_loss(net.forward(x, outputs=[0])[0], *args)
        w[k] = old - eps
        down = implied_loss(net.forward(x, outputs=[0])[0], *args)
        w[k] = old
        assert grad[k] == pytest.approx((up - down) / (2 * eps), rel=1e-3, abs=1e-6)


def test_activation_backward_of_an_incoming_gradient():
    net = make_net(grid=2, mask="2,3", classes=1)
    yolo = net.layers[1]
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (1, 2, 2, 12))
    d = rng.normal(0, 1, x.shape)
    g = yolo.backward(d, [x], yolo.forward([x]))[0]
    eps = 1e-6
    numeric = (np.sum(yolo.forward([x + eps * d / np.linalg.norm(d)]) * d)
               - np.sum(yolo.forward([x - eps * d / np.linalg.norm(d)]) * d)) / (2 * eps)
    assert np.sum(g * d / np.linalg.norm(d)) == pytest.approx(numeric, rel=1e-6)
