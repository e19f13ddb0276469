"""Decoding [yolo] / [region] outputs into boxes, and undoing the letterbox, by hand."""
import numpy as np
import pytest

from darkpy.detect.decode import correct_boxes, decode_region, decode_yolo
from darkpy.detect.result import clip_box, to_detections
from darkpy.detect.candidates import Candidates


def yolo_output(grid_h, grid_w, n, classes, cells):
    """A [yolo] forward output with every objectness 0.1 except the given
    {(row, col, anchor): [x, y, w, h, obj, class scores...]}."""
    out = np.zeros((grid_h, grid_w, n * (5 + classes)), np.float32)
    out[..., 4::5 + classes] = 0.1
    for (r, c, a), entries in cells.items():
        out[r, c, a * (5 + classes):(a + 1) * (5 + classes)] = entries
    return out


def test_yolo_box_hand_worked():
    out = yolo_output(2, 2, 1, 2, {(1, 0, 0): [0.5, 0.25, 0.0, np.log(2), 0.8, 0.5, 0.2]})
    c = decode_yolo(out, np.array([[10, 20]], np.float32), 2, net_w=20, net_h=40, thresh=0.25)
    assert len(c) == 1
    # x = (col + tx)/W, y = (row + ty)/H, w = e^tw * 10/20, h = e^th * 20/40
    np.testing.assert_allclose(c.boxes[0], [0.25, 0.625, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(c.objectness, [0.8])
    np.testing.assert_allclose(c.probs[0], [0.4, 0.0], rtol=1e-6)  # 0.8*0.2 = 0.16 <= 0.25


def test_yolo_new_coords_box():
    out = yolo_output(1, 1, 1, 1, {(0, 0, 0): [0.5, 0.5, 0.5, 1.0, 0.9, 0.9]})
    c = decode_yolo(out, np.array([[10, 20]], np.float32), 1, 20, 40, 0.25, new_coords=True)
    # w = (2 * 0.5)^2 * 10 / 20, h = (2 * 1)^2 * 20 / 40
    np.testing.assert_allclose(c.boxes[0], [0.5, 0.5, 0.5, 2.0], rtol=1e-6)


def test_yolo_order_is_cells_row_major_then_anchors():
    cells = {(0, 1, 1): [0, 0, 0, 0, 0.5, 1], (0, 1, 0): [0, 0, 0, 0, 0.6, 1],
             (1, 0, 1): [0, 0, 0, 0, 0.7, 1], (0, 0, 1): [0, 0, 0, 0, 0.8, 1]}
    c = decode_yolo(yolo_output(2, 2, 2, 1, cells), np.ones((2, 2), np.float32), 1, 2, 2, 0.25)
    np.testing.assert_allclose(c.objectness, [0.8, 0.6, 0.5, 0.7])


def test_yolo_threshold_is_strict_and_empty_output_is_empty():
    out = yolo_output(3, 3, 1, 2, {(1, 1, 0): [0, 0, 0, 0, 0.25, 1, 1]})
    c = decode_yolo(out, np.ones((1, 2), np.float32), 2, 10, 10, 0.25)
    assert len(c) == 0 and c.boxes.shape == (0, 4) and c.probs.shape == (0, 2)


def test_region_hand_worked_anchor_major():
    # grid 2 rows x 3 cols, 2 anchors in grid units, 2 classes, softmaxed scores given directly
    e = 4 + 1 + 2
    out = np.zeros((2, 3, 2 * e), np.float32)
    out[..., 4::e] = 0.2
    out[0, 2, e:2 * e] = [0.5, 0.5, 0.0, 0.0, 0.9, 0.7, 0.3]
    out[1, 0, 0:e] = [0.25, 0.75, np.log(2), 0.0, 0.6, 0.1, 0.9]
    c = decode_region(out, np.array([[1, 1], [2, 3]], np.float32), 2, 4, False, 0.25)
    assert len(c) == 12  # every anchor x cell, anchor 0's six cells first
    first = 0 * 6 + 1 * 3 + 0
    second = 1 * 6 + 0 * 3 + 2
    np.testing.assert_allclose(c.boxes[first], [0.25 / 3, 1.75 / 2, 2 / 3, 1 / 2], rtol=1e-6)
    np.testing.assert_allclose(c.boxes[second], [2.5 / 3, 0.5 / 2, 2 / 3, 3 / 2], rtol=1e-6)
    np.testing.assert_allclose(c.probs[first], [0, 0.54], rtol=1e-6)
    np.testing.assert_allclose(c.probs[second], [0.63, 0.27], rtol=1e-6)
    others = np.setdiff1d(np.arange(12), [first, second])
    assert (c.objectness[others] == 0).all() and (c.probs[others] == 0).all()
    # background=1: the objectness slot is ignored, scale 1
    c = decode_region(out, np.array([[1, 1], [2, 3]], np.float32), 2, 4, True, 0.25)
    np.testing.assert_allclose(c.probs[second], [0.7, 0.3], rtol=1e-6)
    assert (c.objectness == 1).all()


def test_correct_boxes_undoes_the_letterbox():
    # 200x100 image into 100x100: resized to 100x50, 25 rows of padding above and below
    boxes = np.array([[0.5, 0.5, 0.2, 0.1], [0.1, 0.25, 0.2, 0.2], [0.9, 0.75, 0.1, 0.1]], np.float32)
    out = correct_boxes(boxes, 200, 100, 100, 100, letterbox=True)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.2, 0.2], [0.1, 0.0, 0.2, 0.4], [0.9, 1.0, 0.1, 0.2]],
                               atol=1e-6)
    # portrait: 100x300 into 60x60 -> 20x60, 20 columns of padding each side
    out = correct_boxes(np.array([[0.5, 0.5, 1 / 3, 0.5]], np.float32), 100, 300, 60, 60)
    np.testing.assert_allclose(out, [[0.5, 0.5, 1.0, 0.5]], atol=1e-6)
    np.testing.assert_array_equal(correct_boxes(boxes, 200, 100, 100, 100, letterbox=False), boxes)


def test_boxes_at_the_image_border_are_clipped_for_coco_only():
    assert clip_box(0.0, 50.0, 40.0, 20.0, 200, 100) == (0.0, 40.0, 20.0, 20.0)
    assert clip_box(190.0, 95.0, 40.0, 20.0, 200, 100) == (170.0, 85.0, 30.0, 15.0)
    cands = Candidates(np.array([[0.0, 0.5, 0.2, 0.2]], np.float32), np.array([0.9], np.float32),
                       np.array([[0.0, 0.6]], np.float32))
    (det,) = to_detections(cands, np.array([0]), cands.probs, 0.25, 200, 100, ["a", "b"], "img.jpg")
    assert (det.class_id, det.class_name, det.image) == (1, "b", "img.jpg")
    assert det.confidence == pytest.approx(0.6)
    assert det.bbox == pytest.approx((0.0, 40.0, 20.0, 20.0))
    assert det.center == pytest.approx((0.0, 50.0, 40.0, 20.0))
    record = det.to_json()
    assert record == {"image": "img.jpg", "class_id": 1, "class_name": "b",
                      "confidence": pytest.approx(0.6), "bbox": [0.0, 40.0, 20.0, 20.0]}
    assert det.darknet_line() == "b: 60%"
