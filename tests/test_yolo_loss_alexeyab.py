"""AlexeyAB's [yolo] training deltas (flavor=alexeyab, darkpy/kernels/yolo_loss_alexeyab.py).

Where darknet's delta is a true gradient (iou_loss=mse box terms, objectness, classes with
label smoothing, all with their normalizers) it is compared with finite differences of the
loss written out here independently; where it is not (darknet's dx_box_iou for giou, diou and
ciou) with darknet's own formulas worked by hand in float64 below, written from box.c's
definitions edge by edge; and the rules around them (the ignore rule that needs a class
score above .25, iou_thresh's extra anchors and their averaging, counters_per_class, focal
loss, which loss a cfg gets) with hand-worked cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import yolo_loss_alexeyab as A
from darkpy.network import Network

NET = 64
ANCHORS = [(10, 14), (23, 27), (37, 58), (60, 50)]
ENTRIES = 7  # 2 classes


def make_head(mask="2,3", extra=""):
    n = len(mask.split(","))
    text = f"""[net]
width={NET}
height={NET}
channels=3

[convolutional]
filters={n * ENTRIES}
size=1
stride=16
pad=0
activation=linear

[yolo]
mask={mask}
anchors={','.join(f'{w},{h}' for w, h in ANCHORS)}
classes=2
num={len(ANCHORS)}
{extra}
"""
    return Network(parse_cfg_text(text, "<test>")).layers[1]


def head_delta(head, x, truth):
    head.set_truth(truth, NET, NET)
    out = head.forward([x], train=True)
    return out, head._loss_delta, head.loss


def sig(v):
    return 1 / (1 + np.exp(-v))


def bce(target, p):
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def one_truth(x=40, y=24, w=36, h=56, cls=1):
    truth = np.zeros((1, 200, 5), np.float32)
    truth[0, 0] = [x / 64, y / 64, w / 64, h / 64, cls]
    return truth


# --- which loss --------------------------------------------------------------------------
def test_flavor_follows_the_keys_a_section_sets():
    assert make_head().flavor == "pjreddie"
    assert make_head().max_boxes == 90
    head = make_head(extra="iou_loss=ciou")
    assert head.flavor == "alexeyab" and head.max_boxes == 200
    assert make_head(extra="scale_x_y=1.05").flavor == "alexeyab"
    assert make_head(extra="iou_loss=ciou\nflavor=pjreddie").flavor == "pjreddie"
    assert make_head(extra="flavor=alexeyab\nmax=7").max_boxes == 7


def test_pjreddie_loss_refuses_alexeyab_coordinates():
    head = make_head(extra="scale_x_y=1.1\nflavor=pjreddie")
    x = np.zeros((1, 4, 4, 14), np.float32)
    with pytest.raises(Exception, match="flavor=alexeyab"):
        head_delta(head, x, one_truth())


# --- finite differences where darknet's delta is a gradient --------------------------------
def mse_loss(x, truth_row, iou_norm, obj_norm, eps, grid=4):
    """The loss whose negated gradient AlexeyAB's mse deltas are, for one truth whose best
    anchor is anchor 2 (the first of mask 2,3), no ignoring (ignore_thresh=1): binary
    cross-entropy on objectness (target 0, the trained anchor 1) and classes (smoothed
    one-hot), weight s * iou_norm on BCE(x, y) and squares / 2 on w, h."""
    tx, ty, tw, th, cls = truth_row
    i, j = int(tx * grid), int(ty * grid)
    v = x.reshape(grid, grid, 2, ENTRIES).astype(np.float64)
    loss = obj_norm * np.sum(bce(0.0, sig(v[..., 4])))
    e = v[j, i, 0]
    loss -= obj_norm * bce(0.0, sig(e[4]))
    loss += obj_norm * bce(1.0, sig(e[4]))
    for k in range(2):
        y = (1.0 if k == cls else 0.0) * (1 - eps) + 0.5 * eps
        loss += bce(y, sig(e[5 + k]))
    s = (2 - tw * th) * iou_norm
    loss += s * (bce(tx * grid - i, sig(e[0])) + bce(ty * grid - j, sig(e[1])))
    loss += s / 2 * ((math.log(tw * NET / 37) - e[2]) ** 2 + (math.log(th * NET / 58) - e[3]) ** 2)
    return loss


def test_mse_objectness_and_class_deltas_are_the_gradient():
    extra = ("iou_loss=mse\niou_normalizer=0.5\nobj_normalizer=0.8\nlabel_smooth_eps=0.1\n"
             "ignore_thresh=1.0\nflavor=alexeyab")
    head = make_head(extra=extra)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    truth = one_truth()
    _, delta, report = head_delta(head, x, truth)
    assert report["count"] == 1
    row = [float(v) for v in truth[0, 0]]
    flat = x.reshape(-1).astype(np.float64)
    h = 1e-5
    numeric = np.empty_like(flat)
    for k in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[k] += h
        down[k] -= h
        numeric[k] = (mse_loss(up, row, 0.5, 0.8, 0.1) - mse_loss(down, row, 0.5, 0.8, 0.1)) / (2 * h)
    np.testing.assert_allclose(-delta.reshape(-1), numeric, rtol=2e-4, atol=2e-6)


def test_backward_hands_the_deltas_to_the_input_unchanged():
    head = make_head(extra="iou_loss=ciou\nscale_x_y=1.05")
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    _, delta, _ = head_delta(head, x, one_truth())
    grad = head.backward(None, [x], None)[0]
    np.testing.assert_array_equal(grad, -delta)


# --- darknet's dx_box_iou, by hand ---------------------------------------------------------
def darknet_dx(p, t, kind):
    """box.c's dx_box_iou for boxes whose prediction has positive size, in float64, from its
    definitions: IoU edge derivatives; x, y take top+bottom / left+right, w, h the differences
    (no 1/2); GIoU's enclosing-area term; DIoU/CIoU's distance term over the enclosing box's
    prediction-owned edges; CIoU's aspect term with alpha constant; no overlap: only the
    added term."""
    px, py, pw, ph = (float(v) for v in p)
    tx, ty, tw, th = (float(v) for v in t)
    pt, pb, pl, pr = py - ph / 2, py + ph / 2, px - pw / 2, px + pw / 2
    tt, tb, tl, tr = ty - th / 2, ty + th / 2, tx - tw / 2, tx + tw / 2
    Iw = min(pr, tr) - max(pl, tl)
    Ih = min(pb, tb) - max(pt, tt)
    I = Iw * Ih
    U = pw * ph + tw * th - I
    dI = {"t": -Iw if pt > tt else 0, "b": Iw if pb < tb else 0,
          "l": -Ih if pl > tl else 0, "r": Ih if pr < tr else 0}
    dX = {"t": -pw, "b": pw, "l": -ph, "r": ph}
    dU = {e: dX[e] - dI[e] for e in "tblr"}
    d = {e: (U * dI[e] - I * dU[e]) / U ** 2 if U > 0 else 0.0 for e in "tblr"}
    Cw = max(pr, tr) - min(pl, tl)
    Ch = max(pb, tb) - min(pt, tt)
    if kind == "giou":
        C = Cw * Ch
        dC = {"t": -Cw if pt < tt else 0, "b": Cw if pb > tb else 0,
              "l": -Ch if pl < tl else 0, "r": Ch if pr > tr else 0}
        extra = {e: (C * dU[e] - U * dC[e]) / C ** 2 for e in "tblr"}
        d = extra if (Iw <= 0 or Ih <= 0) else {e: d[e] + extra[e] for e in "tblr"}
    grad = [d["l"] + d["r"], d["t"] + d["b"], d["r"] - d["l"], d["b"] - d["t"]]
    if kind in ("diou", "ciou"):
        C = Cw ** 2 + Ch ** 2
        S = (px - tx) ** 2 + (py - ty) ** 2
        dCw_dx = (pr > tr) - (pl < tl)
        dCh_dy = (pb > tb) - (pt < tt)
        dCw_dw = 0.5 * (pr > tr) + 0.5 * (pl < tl)
        dCh_dh = 0.5 * (pb > tb) + 0.5 * (pt < tt)
        extra = [(2 * (tx - px) * C - 2 * Cw * dCw_dx * S) / C ** 2,
                 (2 * (ty - py) * C - 2 * Ch * dCh_dy * S) / C ** 2,
                 2 * Cw * dCw_dw * S / C ** 2, 2 * Ch * dCh_dh * S / C ** 2]
        if kind == "ciou":
            arc = math.atan(tw / th) - math.atan(pw / ph)
            v = 4 / math.pi ** 2 * arc ** 2
            alpha = v / (1 - I / U + v + 1e-6)
            extra[2] += alpha * 8 / math.pi ** 2 * arc * ph
            extra[3] += alpha * -8 / math.pi ** 2 * arc * pw
        grad = extra if (Iw <= 0 or Ih <= 0) else [g + e for g, e in zip(grad, extra)]
    return np.array(grad)


CASES = [((0.5, 0.5, 0.2, 0.3), (0.55, 0.45, 0.25, 0.2)),   # overlapping, truth wider
         ((0.4, 0.6, 0.3, 0.1), (0.45, 0.55, 0.1, 0.35)),   # crossing
         ((0.3, 0.3, 0.5, 0.5), (0.35, 0.32, 0.2, 0.2)),    # truth inside
         ((0.2, 0.2, 0.1, 0.1), (0.7, 0.6, 0.2, 0.2))]      # disjoint


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_dx_box_iou_is_darknets_formula(kind, case):
    p, t = CASES[case]
    got = A.dx_box_iou(*np.float32(p), *np.float32(t), A.IOU_LOSSES[kind])
    np.testing.assert_allclose(got, darknet_dx(p, t, kind), rtol=1e-4, atol=1e-5)


def test_ciou_score_by_hand():
    p, t = CASES[0]
    # intersection 0.2 x 0.2 (x from 0.425 to 0.6 clipped ...) worked out edge by edge
    left, right = max(0.4, 0.425), min(0.6, 0.675)
    top, bot = max(0.35, 0.35), min(0.65, 0.55)
    inter = (right - left) * (bot - top)
    iou = inter / (0.06 + 0.05 - inter)
    cw, ch = 0.675 - 0.4, 0.65 - 0.35
    dist = (0.05 ** 2 + 0.05 ** 2) / (cw ** 2 + ch ** 2)
    v = 4 / math.pi ** 2 * (math.atan(0.25 / 0.2) - math.atan(0.2 / 0.3)) ** 2
    alpha = v / (1 - iou + v + 1e-6)
    got = A.box_iou_kind(A.CIOU, *np.float32(p), *np.float32(t))
    assert got == pytest.approx(iou - dist - alpha * v, rel=1e-5)


def test_ciou_box_delta_in_the_head():
    """A ciou head's box deltas: darknet's dx_box_iou at the predicted box (decoded with
    scale_x_y), times exp(t) for w and h, times iou_normalizer; the scale 2 - w h is not
    applied."""
    head = make_head(extra="iou_loss=ciou\niou_normalizer=0.07\nscale_x_y=1.05")
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    _, delta, _ = head_delta(head, x, one_truth())
    i, j = 2, 1
    e = x[0, j, i, :7].astype(np.float64)
    bx = (i + sig(e[0]) * 1.05 - 0.025) / 4
    by = (j + sig(e[1]) * 1.05 - 0.025) / 4
    bw, bh = math.exp(e[2]) * 37 / 64, math.exp(e[3]) * 58 / 64
    g = darknet_dx((bx, by, bw, bh), (40 / 64, 24 / 64, 36 / 64, 56 / 64), "ciou")
    g[2] *= math.exp(e[2])
    g[3] *= math.exp(e[3])
    np.testing.assert_allclose(delta[0, j, i, :4], 0.07 * g, rtol=2e-4, atol=1e-7)


# --- darknet's rules ----------------------------------------------------------------------
def test_ignore_rule_needs_a_class_score_above_a_quarter():
    """A prediction on the truth itself (IoU ~1 > ignore_thresh) loses its no-object delta
    only when some class score exceeds .25."""
    head = make_head(extra="flavor=alexeyab\nignore_thresh=0.5")
    x = np.full((1, 4, 4, 14), -4.0, np.float32)  # every score ~0.018
    # anchor 3 (second of the mask) of cell (1, 1) predicts exactly the truth's box
    truth = np.zeros((1, 200, 5), np.float32)
    truth[0, 0] = [24 / 64, 24 / 64, 23 / 64, 27 / 64, 0]  # best anchor 1: not in the mask
    x[0, 1, 1, 7:11] = [0.0, 0.0, math.log(23 / 60), math.log(27 / 50)]
    _, delta, _ = head_delta(head, x, truth)
    assert delta[0, 1, 1, 7 + 4] == pytest.approx(-sig(-4.0), rel=1e-5)
    x[0, 1, 1, 7 + 6] = 0.0  # class 1 scores 0.5 now
    _, delta, _ = head_delta(head, x, truth)
    assert delta[0, 1, 1, 7 + 4] == 0.0


def test_iou_thresh_trains_extra_anchors_and_averages_their_boxes():
    """A 48x52 box: best anchor 3 (60x50); anchor 2 (37x58) overlaps it by 0.70 > 0.6 and
    trains too, at the same cell; both get count, objectness and class deltas."""
    extra = "flavor=alexeyab\niou_thresh=0.6\nignore_thresh=1.0"
    head = make_head(extra=extra)
    rng = np.random.default_rng(6)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    truth = one_truth(x=40, y=40, w=48, h=52, cls=0)
    out, delta, report = head_delta(head, x, truth)
    assert report["count"] == 2
    for a in (0, 1):
        e = out[0, 2, 2, a * 7:(a + 1) * 7]
        assert delta[0, 2, 2, a * 7 + 4] == pytest.approx(1 - e[4], rel=1e-6)
        assert delta[0, 2, 2, a * 7 + 5] == pytest.approx(1 - e[5], rel=1e-6)
    # without iou_thresh only anchor 3 trains; the extra anchor's box deltas are its own
    # (one positive class delta each: averaged by 1)
    plain = make_head(extra="flavor=alexeyab\nignore_thresh=1.0")
    _, alone, report = head_delta(plain, x, truth)
    assert report["count"] == 1
    np.testing.assert_array_equal(alone[0, 2, 2, 7:11], delta[0, 2, 2, 7:11])
    assert np.all(alone[0, 2, 2, 0:4] == 0) and np.all(delta[0, 2, 2, 0:4] != 0)


def test_two_classes_on_one_anchor_average_the_box_deltas():
    """Two truths of different classes on one cell and anchor: mse box deltas add up, then
    (iou_thresh < 1) are divided by the 2 positive class deltas."""
    extra = "flavor=alexeyab\niou_thresh=0.99\nignore_thresh=1.0\niou_normalizer=1"
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    one = np.zeros((1, 200, 5), np.float32)
    one[0, 0] = [40 / 64, 40 / 64, 60 / 64, 50 / 64, 0]
    two = one.copy()
    two[0, 1] = [41 / 64, 41 / 64, 58 / 64, 48 / 64, 1]
    single = np.zeros_like(one)
    single[0, 0] = two[0, 1]
    _, d_one, _ = head_delta(make_head(extra=extra), x, one)
    _, d_single, _ = head_delta(make_head(extra=extra), x, single)
    _, d_two, _ = head_delta(make_head(extra=extra), x, two)
    np.testing.assert_allclose(d_two[0, 2, 2, 7:11],
                               (d_one[0, 2, 2, 7:11] + d_single[0, 2, 2, 7:11]) / 2, rtol=1e-5)


def test_counters_per_class_weight_the_rare_class():
    """counters_per_class=100,25 gives class 1 weight 4 (capped by max_delta=3): its box
    deltas (mse, times iou_normalizer * 3), objectness (times 3) and class entry (times
    3 * cls_normalizer)."""
    base = "flavor=alexeyab\nignore_thresh=1.0\ncls_normalizer=0.5"
    rng = np.random.default_rng(8)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    truth = one_truth(cls=1)
    out, plain, _ = head_delta(make_head(extra=base), x, truth)
    _, weighted, _ = head_delta(make_head(extra=base + "\ncounters_per_class=100,25\n"
                                          "max_delta=3"), x, truth)
    i, j = 2, 1
    np.testing.assert_allclose(weighted[0, j, i, 0:5], 3 * plain[0, j, i, 0:5], rtol=1e-5)
    assert weighted[0, j, i, 6] == pytest.approx(3 * 0.5 * (1 - out[0, j, i, 6]), rel=1e-5)
    assert weighted[0, j, i, 5] == pytest.approx(0 - out[0, j, i, 5], rel=1e-6)


def test_focal_loss_class_deltas():
    head = make_head(extra="flavor=alexeyab\nfocal_loss=1\nignore_thresh=1.0")
    rng = np.random.default_rng(9)
    x = rng.normal(0, 0.5, (1, 4, 4, 14)).astype(np.float32)
    out, delta, _ = head_delta(head, x, one_truth(cls=1))
    p = float(out[0, 1, 2, 6])
    grad = -(1 - p) * (2 * p * math.log(p) + p - 1)
    assert delta[0, 1, 2, 5] == pytest.approx((0 - out[0, 1, 2, 5]) * 0.5 * grad, rel=1e-5)
    assert delta[0, 1, 2, 6] == pytest.approx((1 - p) * 0.5 * grad, rel=1e-5)


def test_report_and_cost_as_alexeyab_prints_them():
    head = make_head(extra="iou_loss=ciou\niou_normalizer=0.07\nobj_normalizer=1")
    rng = np.random.default_rng(10)
    x = rng.normal(0, 0.5, (2, 4, 4, 14)).astype(np.float32)
    truth = np.concatenate([one_truth(), one_truth(x=20, y=44, w=50, h=40, cls=0)])
    _, delta, report = head_delta(head, x, truth)
    d = delta.reshape(-1, 7).astype(np.float64)
    total = np.sum(d ** 2)
    cls = np.sum(d[:, 4:] ** 2)
    assert report["count"] == 2
    assert report["total_loss"] == pytest.approx(total / 2, rel=1e-6)
    assert report["class_loss"] == pytest.approx(cls / 2, rel=1e-6)
    assert report["iou_loss"] == pytest.approx((total - cls) / 2, rel=1e-6)
    assert report["cost"] == pytest.approx(0.07 * (1 - report["avg_iou"]) + cls, rel=1e-5)
    # no truth at all: darknet divides by 1, not 0
    _, _, empty = head_delta(head, x, np.zeros((2, 200, 5), np.float32))
    assert empty["count"] == 0 and empty["avg_iou"] == 0.0


def test_iou_family_and_dx_box_iou_equal_darknets_box_c():
    """200 seeded box pairs through AlexeyAB darknet's own box.c (tests/fixtures/
    darknet_box_iou.json, recorded by tools/darknet_box_oracle.py): the scores and darknet's
    dx_box_iou agree to its -Ofast float rounding."""
    import json
    from pathlib import Path

    path = Path(__file__).parent / "fixtures" / "darknet_box_iou.json"
    rows = json.loads(path.read_text())["rows"]
    assert len(rows) == 200
    for row in rows:
        kind, p, t, ref = row[0], np.float32(row[1:5]), np.float32(row[5:9]), row[9:]
        got = [A.box_iou_kind(k, *p, *t) for k in (A.IOU, A.GIOU, A.DIOU, A.CIOU)]
        got += list(A.dx_box_iou(*p, *t, A.IOU_LOSSES[kind]))
        np.testing.assert_allclose(np.float64(got), ref, rtol=2e-4, atol=1e-6, err_msg=str(row))
