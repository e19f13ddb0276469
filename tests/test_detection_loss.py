"""[detection] (YOLOv1) training: darknet's grid truth (fill_truth_region) and the deltas of
forward_detection_layer, worked by hand (darknet's formulas, not one loss's gradient: see
layers/detection.py), and a tiny YOLOv1 cfg through `darkpy train`."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.layers.detection import DetectionLayer
from tests.test_darknet_train_loop import project  # noqa: F401 (fixture)
from tests.zoo_util import make

# side 2, num 2, classes 2: 4 cells x (2 classes + 2 confidences + 2 x 4 coords) = 48 inputs
OPTS = {"side": 2, "num": 2, "classes": 2, "coords": 4}


def _layer(**extra):
    return make(DetectionLayer, {**OPTS, **extra}, [(1, 1, 48)])


def test_grid_truth_is_darknets_fill_truth_region():
    layer = _layer()
    boxes = np.zeros((1, 5, 5), np.float32)
    boxes[0, 0] = [0.75, 0.25, 0.5, 0.25, 1]     # cell col 1, row 0 -> index 1
    boxes[0, 1] = [0.875, 0.125, 0.1, 0.1, 0]    # same cell: the first box keeps it
    boxes[0, 2] = [0.25, 0.75, 0.004, 0.5, 0]    # narrower than .005: skipped
    grid = layer.grid_truth(boxes)
    np.testing.assert_allclose(grid[0, 1], [1, 0, 1, 0.5, 0.5, 0.5, 0.25])
    assert not grid[0, [0, 2, 3]].any()


def test_detection_deltas_hand_worked():
    layer = _layer(rescore=0, coord_scale=5, noobject_scale=0.5, object_scale=2,
                   class_scale=1.5)
    x = np.zeros((1, 1, 1, 48), np.float32)
    flat = x.reshape(-1)
    flat[0:8] = 0.5                       # class scores of all cells
    flat[8:16] = 0.25                     # confidences (cell-major, 2 boxes per cell)
    boxes = flat[16:].reshape(4, 2, 4)
    boxes[1, 0] = [0.5, 0.5, 0.2, 0.2]    # cell 1 box 0: overlaps the truth a little
    boxes[1, 1] = [0.5, 0.5, 0.5, 0.25]   # cell 1 box 1: is the truth -> IoU 1, responsible
    truth = np.zeros((1, 2, 5), np.float32)
    truth[0, 0] = [0.75, 0.25, 0.5, 0.25, 1]
    layer.set_truth(truth)
    layer.forward([x], train=True)
    d = layer._loss_delta.reshape(-1)
    np.testing.assert_allclose(d[0:8], [0, 0, 1.5 * -0.5, 1.5 * 0.5, 0, 0, 0, 0])
    conf = d[8:16].reshape(4, 2)
    np.testing.assert_allclose(conf[[0, 2, 3]], -0.125)           # noobject_scale (0 - .25)
    np.testing.assert_allclose(conf[1], [-0.125, 2 * (1 - 0.25)])  # object_scale (1 - .25)
    bd = d[16:].reshape(4, 2, 4)
    np.testing.assert_allclose(bd[1, 1], 0, atol=1e-7)  # already the truth
    assert not bd[[0, 2, 3]].any() and not bd[1, 0].any()
    r = layer.loss
    assert (r["avg_iou"], r["pos_cat"], r["all_cat"], r["pos_obj"], r["any_obj"], r["count"]) \
        == pytest.approx((1, 0.5, 0.5, 0.25, 0.25, 1))
    assert r["cost"] == pytest.approx(float(np.sum(d.astype(np.float64) ** 2)), rel=1e-6)
    grad = layer.backward(None, [x], layer.forward([x], train=True))[0]
    np.testing.assert_allclose(grad.reshape(-1), -layer._loss_delta.reshape(-1))


def test_detection_rescore_sqrt_and_smallest_rmse():
    layer = _layer(rescore=1, sqrt=1)
    x = np.zeros((1, 1, 1, 48), np.float32)
    boxes = x.reshape(-1)[16:].reshape(4, 2, 4)
    # cell 0 holds the truth (0.25, 0.25, 0.25, 0.25): cell-relative x, y = 0.5
    boxes[0, 0] = [0.0, 0.0, 0.1, 0.1]    # far off: no overlap, RMSE larger
    boxes[0, 1] = [0.5, 0.0, 0.1, 0.1]    # no overlap either, but nearer: responsible
    truth = np.zeros((1, 1, 5), np.float32)
    truth[0, 0] = [0.25, 0.25, 0.25, 0.25, 0]
    layer.set_truth(truth)
    layer.forward([x], train=True)
    d = layer._loss_delta.reshape(-1)
    bd = d[16:].reshape(4, 2, 4)
    # sqrt=1: w, h targets are sqrt(0.25) = 0.5; x, y the cell-relative 0.5
    np.testing.assert_allclose(bd[0, 1], [0.0, 0.5, 0.4, 0.4], atol=1e-7)
    assert d[8 + 1] == pytest.approx(0.0)  # rescore: IoU 0 - confidence 0


def test_darkpy_train_runs_a_yolov1_cfg(project):  # noqa: F811 (the imported fixture)
    from typer.testing import CliRunner

    from darkpy.cli import app

    (project / "v1.cfg").write_text("""[net]
batch=4
subdivisions=2
width=32
height=32
channels=3
learning_rate=0.01
momentum=0.9
decay=0.0005
max_batches=2
policy=constant
flip=0

[convolutional]
batch_normalize=1
filters=4
size=3
stride=2
pad=1
activation=leaky

[connected]
output=48
activation=linear

[detection]
classes=2
coords=4
rescore=1
side=2
num=2
softmax=0
sqrt=1
jitter=0
object_scale=1
noobject_scale=.5
class_scale=1
coord_scale=5
""")
    result = CliRunner().invoke(app, ["train", "v1.cfg", "--data", "obj.data"])
    assert result.exit_code == 0, result.output
    assert result.output.count("Detection Avg IOU:") == 4  # 2 iterations x 2 minibatches
    assert (project / "backup" / "v1_final.weights").is_file()
