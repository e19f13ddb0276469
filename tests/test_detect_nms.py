"""do_nms_sort / do_nms_obj semantics: hand-worked cases and a plain port of darknet's loops."""
import functools

import numpy as np

from darkpy.detect.nms import _drop_zero_objectness, box_iou, nms_objectness, nms_sort


def boxes_1d(*xs, w=1.0):
    """Unit-height boxes centred at x on one row: IoU is the 1-D overlap ratio."""
    return np.array([[x, 0.0, w, 1.0] for x in xs], np.float32)


def test_iou_hand_worked():
    b = boxes_1d(0.0, 0.25, 0.5, 3.0)
    iou = box_iou(b, b)
    np.testing.assert_allclose(iou[0], [1.0, 0.6, 1 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(iou[1, 2], 0.6, rtol=1e-6)
    np.testing.assert_allclose(iou, iou.T)


def test_kernel_iou_is_the_same_float32_arithmetic():
    from darkpy.kernels.nms import box_iou_pair

    rng = np.random.default_rng(5)
    b = np.column_stack([rng.random(30), rng.random(30), rng.random(30), rng.random(30)]).astype(np.float32)
    b[3] = b[4]
    b[7, 2] = 0  # empty box
    want = box_iou(b, b)
    got = np.array([[box_iou_pair(b, i, j) for j in range(30)] for i in range(30)], np.float32)
    np.testing.assert_array_equal(got, want)


def test_suppressed_box_does_not_suppress():
    # A-B overlap 0.6, B-C 0.6, A-C 1/3: B goes, C stays because B no longer counts
    b = boxes_1d(0.0, 0.25, 0.5)
    probs = np.array([[0.9, 0.0], [0.8, 0.5], [0.7, 0.0]], np.float32)
    order, out = nms_sort(b, np.array([0.9, 0.8, 0.7], np.float32), probs, 0.45)
    np.testing.assert_allclose(out[:, 0], [0.9, 0.0, 0.7])
    np.testing.assert_allclose(out[:, 1], [0.0, 0.5, 0.0])  # classes are independent
    np.testing.assert_allclose(probs[1], [0.8, 0.5])  # input untouched


def test_threshold_is_strict():
    b = np.array([[0, 0, 2, 1], [1, 0, 2, 1]], np.float32)  # IoU exactly 1/3
    probs = np.array([[0.9], [0.8]], np.float32)
    _, out = nms_sort(b, np.ones(2, np.float32), probs, np.float32(1 / 3))
    np.testing.assert_allclose(out[:, 0], [0.9, 0.8])
    _, out = nms_sort(b, np.ones(2, np.float32), probs, 0.3)
    np.testing.assert_allclose(out[:, 0], [0.9, 0.0])


def test_ties_keep_input_order():
    b = boxes_1d(0.0, 0.0, 0.0)
    probs = np.array([[0.5], [0.7], [0.7]], np.float32)
    order, out = nms_sort(b, np.ones(3, np.float32), probs, 0.45)
    np.testing.assert_array_equal(order, [1, 2, 0])
    np.testing.assert_allclose(out[:, 0], [0.0, 0.7, 0.0])  # the first of the tied boxes wins


def test_zero_objectness_dropped_with_darknets_swap_order():
    objectness = np.array([0.9, 0.0, 0.8, 0.7, 0.0, 0.6], np.float32)
    # darknet swaps each zero with the current last entry and re-examines the slot
    np.testing.assert_array_equal(_drop_zero_objectness(objectness), [0, 5, 2, 3])
    order, _ = nms_sort(boxes_1d(*range(6)), objectness, np.zeros((6, 2), np.float32), 0.45)
    np.testing.assert_array_equal(order, [0, 5, 2, 3])


def test_final_order_is_the_last_class_sort():
    b = boxes_1d(0, 5, 10, 15)
    probs = np.array([[0.3, 0.0], [0.9, 0.0], [0.0, 0.4], [0.5, 0.4]], np.float32)
    order, _ = nms_sort(b, np.ones(4, np.float32), probs, 0.45)
    # sorted by class 1; ties (0.4, 0.4) and zeros keep the order left by the class-0 sort
    np.testing.assert_array_equal(order, [3, 2, 1, 0])


def test_agnostic_removes_across_classes():
    b = boxes_1d(0.0, 0.1)
    objectness = np.array([0.9, 0.8], np.float32)
    probs = np.array([[0.9, 0.0], [0.0, 0.8]], np.float32)
    _, out = nms_sort(b, objectness, probs, 0.45)
    assert out[1, 1] == np.float32(0.8)  # per class: a different class survives
    order, obj, out = nms_objectness(b, objectness, probs, 0.45)
    np.testing.assert_array_equal(order, [0, 1])
    np.testing.assert_allclose(obj, [0.9, 0.0])
    np.testing.assert_allclose(out, [[0.9, 0.0], [0.0, 0.0]])


def test_empty_inputs():
    order, out = nms_sort(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros((0, 3), np.float32), 0.45)
    assert order.size == 0 and out.shape == (0, 3)
    order, _, _ = nms_objectness(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                 np.zeros((0, 3), np.float32), 0.45)
    assert order.size == 0


def darknet_do_nms_sort(boxes, objectness, probs, thresh):
    """box.c's do_nms_sort on a list of dicts, with a stable comparison sort."""
    dets = [{"i": i, "box": boxes[i], "obj": objectness[i], "prob": list(probs[i])}
            for i in range(len(boxes))]
    k = len(dets) - 1
    i = 0
    while i <= k:
        if dets[i]["obj"] == 0:
            dets[i], dets[k] = dets[k], dets[i]
            k -= 1
        else:
            i += 1
    dets = dets[:k + 1]
    for c in range(probs.shape[1]):
        def cmp(a, b):
            diff = a["prob"][c] - b["prob"][c]
            return 1 if diff < 0 else (-1 if diff > 0 else 0)
        dets.sort(key=functools.cmp_to_key(cmp))
        for i in range(len(dets)):
            if dets[i]["prob"][c] == 0:
                continue
            for j in range(i + 1, len(dets)):
                a, b = dets[i]["box"], dets[j]["box"]
                if box_iou(a[None], b[None])[0, 0] > thresh:
                    dets[j]["prob"][c] = 0
    return [d["i"] for d in dets], {d["i"]: d["prob"] for d in dets}


def test_random_sets_match_a_port_of_darknets_loops():
    rng = np.random.default_rng(11)
    for trial in range(20):
        n, classes = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        boxes = np.column_stack([rng.random(n), rng.random(n), 0.1 + 0.3 * rng.random(n),
                                 0.1 + 0.3 * rng.random(n)]).astype(np.float32)
        objectness = np.where(rng.random(n) < 0.2, 0, rng.random(n)).astype(np.float32)
        probs = np.round(rng.random((n, classes)), 1).astype(np.float32)  # many ties
        probs[probs < 0.3] = 0
        probs[objectness == 0] = 0
        want_order, want_probs = darknet_do_nms_sort(boxes, objectness, probs, 0.45)
        order, got = nms_sort(boxes, objectness, probs, 0.45)
        assert list(order) == want_order
        for i in want_order:
            np.testing.assert_array_equal(got[i], want_probs[i])


# --- AlexeyAB's nms_kind (diounms_sort): DIoU measures instead of IoU ------------------------

def _diou(a, b, beta):
    """box_diounms worked in float64: IoU - (d / c)^beta (d: squared centre distance, c: squared
    diagonal of the smallest box holding both)."""
    iou = float(box_iou(a[None], b[None])[0, 0])
    left = min(a[0] - a[2] / 2, b[0] - b[2] / 2)
    right = max(a[0] + a[2] / 2, b[0] + b[2] / 2)
    top = min(a[1] - a[3] / 2, b[1] - b[3] / 2)
    bot = max(a[1] + a[3] / 2, b[1] + b[3] / 2)
    c = (right - left) ** 2 + (bot - top) ** 2
    d = (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
    return iou - (d / c) ** beta


def test_diou_measure_is_hand_worked():
    from darkpy.kernels.nms import box_diounms_pair

    # 1-D unit boxes 0.25 apart: IoU 0.6; enclosing box 1.25 x 1, so c = 2.5625, d = 0.0625
    b = boxes_1d(0.0, 0.25)
    want = 0.6 - (0.0625 / 2.5625) ** 0.6
    assert abs(_diou(b[0], b[1], 0.6) - want) < 1e-7
    assert abs(box_diounms_pair(b, 0, 1, 0.6) - want) < 1e-6
    rng = np.random.default_rng(8)
    boxes = np.concatenate([rng.uniform(0, 1, (30, 2)), rng.uniform(0.05, 0.5, (30, 2))],
                           axis=1).astype(np.float32)
    for i, j in rng.integers(0, 30, (50, 2)):
        assert abs(box_diounms_pair(boxes, i, j, 0.8) - _diou(boxes[i], boxes[j], 0.8)) < 1e-5


def test_nms_kinds_suppress_by_their_measure():
    # IoU 0.6 > 0.55 suppresses the second box by default; its DIoU, 0.6 - 0.108 = 0.49
    # (greedynms, exponent 0.6) does not; diounms with beta 3 (distance term 1.5e-5) does
    b = boxes_1d(0.0, 0.25)
    obj = np.ones(2, np.float32)
    probs = np.array([[0.9], [0.8]], np.float32)
    assert nms_sort(b, obj, probs, 0.55)[1][1, 0] == 0
    assert nms_sort(b, obj, probs, 0.55, "greedynms")[1][1, 0] == np.float32(0.8)
    assert nms_sort(b, obj, probs, 0.55, "diounms", beta=3.0)[1][1, 0] == 0
    assert nms_sort(b, obj, probs, 0.55, "diounms", beta=0.6)[1][1, 0] == np.float32(0.8)


def test_unknown_nms_kind_is_an_error():
    import pytest

    from darkpy.errors import ConfigError

    with pytest.raises(ConfigError, match="nms_kind=cornersnms"):
        nms_sort(boxes_1d(0.0), np.ones(1, np.float32), np.ones((1, 1), np.float32), 0.45,
                 "cornersnms")


def test_detector_takes_nms_kind_from_the_last_layer(tmp_path):
    import pytest

    import darkpy
    from darkpy.detect.api import Detector
    from darkpy.errors import ConfigError
    from tests.conftest import shared_path

    cfg = shared_path("darknet-cfg", "yolov4-tiny.cfg")
    text = cfg.read_text()
    detector = Detector(darkpy.load(cfg))
    assert (detector.nms_kind, detector.beta_nms) == ("greedynms", 0.6)
    bad = tmp_path / "bad.cfg"
    bad.write_text(text.replace("nms_kind=greedynms", "nms_kind=cornersnms"))
    with pytest.raises(ConfigError, match="bad.cfg:.*nms_kind=cornersnms"):
        Detector(darkpy.load(bad))
