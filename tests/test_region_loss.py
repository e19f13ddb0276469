"""[region] (YOLOv2) training deltas against darknet's forward_region_layer formulas, worked by
hand (they are darknet's formulas, not one loss's gradient: see layers/region.py), and the
backward darknet's GPU code applies (logistic derivative on x, y and objectness)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.region import Region
from tests.test_darknet_train_loop import CFG, project  # noqa: F401 (fixture)
from tests.zoo_util import make


def _head(**options):
    opts = {"classes": 2, "num": 1, "anchors": "1,1", "softmax": 1, **options}
    return make(Region, opts, [(2, 2, 7)])


def _one_truth(x=0.3, y=0.3, w=0.5, h=0.5, cls=1):
    truth = np.zeros((1, 4, 5), np.float32)
    truth[0, 0] = [x, y, w, h, cls]
    return truth


def _iou_cell0():
    inter = 0.45 * 0.45  # pred (0.25, 0.25, 0.5, 0.5) against truth (0.3, 0.3, 0.5, 0.5)
    return inter / (0.25 + 0.25 - inter)


def test_region_deltas_and_report_hand_worked():
    head = _head()
    head.set_truth(_one_truth(), 64, 64)
    head.images_seen = 20000  # past darknet's 12800-image prior term
    x = np.zeros((1, 2, 2, 7), np.float32)  # every output 0.5, boxes the anchors, classes 1/2
    out = head.forward([x], train=True)
    d = head._loss_delta.reshape(2, 2, 7)
    s = 1.75  # coord_scale * (2 - w h)
    np.testing.assert_allclose(d[0, 0], [s * 0.1, s * 0.1, 0, 0, 0.5, -0.5, 0.5], atol=1e-6)
    for j, i in [(0, 1), (1, 0), (1, 1)]:  # no truth overlaps them by > thresh = .5
        np.testing.assert_allclose(d[j, i], [0, 0, 0, 0, -0.5, 0, 0], atol=1e-7)
    r = head.loss
    assert r["avg_iou"] == pytest.approx(_iou_cell0(), rel=1e-6)
    assert (r["recall"], r["avg_obj"], r["avg_noobj"], r["avg_class"], r["count"]) == \
        pytest.approx((1, 0.5, 0.5, 0.5, 1))
    assert r["cost"] == pytest.approx(2 * (s * 0.1) ** 2 + 3 * 0.25 + 3 * 0.25, rel=1e-6)
    # backward: minus the delta, x, y and objectness through sigma' = 1/4 at 0.5
    g = head.backward(None, [x], out)[0].reshape(2, 2, 7)
    np.testing.assert_allclose(g[0, 0], [-s * 0.025, -s * 0.025, 0, 0, -0.125, 0.5, -0.5],
                               atol=1e-6)
    np.testing.assert_allclose(g[1, 1], [0, 0, 0, 0, 0.125, 0, 0], atol=1e-7)


def test_region_rescore_scales_and_logistic_classes():
    head = _head(rescore=1, object_scale=5, noobject_scale=0.5, class_scale=2, coord_scale=3,
                 softmax=0)
    head.set_truth(_one_truth(), 64, 64)
    head.images_seen = 20000
    x = np.zeros((1, 2, 2, 7), np.float32)
    head.forward([x], train=True)
    d = head._loss_delta.reshape(2, 2, 7)
    assert d[0, 0, 0] == pytest.approx(3 * 1.75 * 0.1, rel=1e-5)
    assert d[0, 0, 4] == pytest.approx(5 * (_iou_cell0() - 0.5), rel=1e-5)
    np.testing.assert_allclose(d[0, 0, 5:], [2 * -0.5, 2 * 0.5], rtol=1e-6)
    assert d[1, 1, 4] == pytest.approx(0.5 * -0.5)


def test_region_prior_pulls_every_box_to_its_anchor_early():
    head = _head(anchors="1.5,0.5")
    head.set_truth(np.zeros((1, 4, 5), np.float32), 64, 64)  # no boxes
    x = np.zeros((1, 2, 2, 7), np.float32)
    x[0, 1, 1, 0] = 1.0   # out_x = sigma(1) at cell (1, 1)
    x[0, 1, 1, 2] = 0.25  # t_w
    head.images_seen = 100
    head.forward([x], train=True)
    d = head._loss_delta.reshape(2, 2, 7)
    sig = 1 / (1 + math.exp(-1))
    # target x: the cell centre (0.5); target t_w: log((1.5/2) * 2 / 1.5) = 0
    np.testing.assert_allclose(d[1, 1, :4], [0.01 * (0.5 - sig), 0, 0.01 * -0.25, 0], atol=1e-8)
    head.images_seen = 12800
    head.forward([x], train=True)
    assert not head._loss_delta.reshape(2, 2, 7)[..., :4].any()


def test_region_bias_match_picks_the_anchor_by_shape():
    # two anchors: (1, 1) and (2, 1) cells; the truth is 1 cell x 0.5 cell -> IoU with
    # (1, 1) is 1/2, with (2, 1) 1/4; but the prediction of anchor 0 is made huge, so without
    # bias_match anchor 1 wins, with it anchor 0
    opts = {"classes": 2, "num": 2, "anchors": "1,1, 2,1", "softmax": 1}
    truth = _one_truth(w=0.5, h=0.25)
    x = np.zeros((1, 2, 2, 14), np.float32)
    x[0, 0, 0, 2] = x[0, 0, 0, 3] = 3.0  # anchor 0's predicted w, h: e^3 cells
    for bias_match, responsible in [(0, 1), (1, 0)]:
        head = make(Region, {**opts, "bias_match": bias_match}, [(2, 2, 14)])
        head.set_truth(truth, 64, 64)
        head.images_seen = 20000
        head.forward([x], train=True)
        d = head._loss_delta.reshape(2, 2, 2, 7)
        assert d[0, 0, responsible, 4] == pytest.approx(0.5)  # object_scale (1 - 0.5)
        assert d[0, 0, responsible, 6] == pytest.approx(0.5)  # class 1


def test_region_refuses_what_it_does_not_train():
    head = make(Region, {"classes": 2, "num": 1, "coords": 5}, [(2, 2, 8)])
    with pytest.raises(ConfigError, match="coords=5"):
        head.set_truth(_one_truth(), 64, 64)


def test_darkpy_train_runs_a_region_detector(project):  # noqa: F811 (the imported fixture)
    """A tiny YOLOv2-style cfg trains through the darknet trainer and prints darknet's
    [region] line; the head's gradient reaches the weights."""
    from typer.testing import CliRunner

    from darkpy.cli import app

    head = "[yolo]\nmask=0,1\nanchors=8,8, 16,16\nclasses=2\nnum=2\njitter=0\nrandom=0\n"
    cfg = CFG.replace(head, "[region]\nanchors=0.5,0.5, 1,1\nclasses=2\nnum=2\ncoords=4\n"
                            "softmax=1\nrescore=1\njitter=0\n")
    assert cfg != CFG
    (project / "v2.cfg").write_text(cfg)
    result = CliRunner().invoke(app, ["train", "v2.cfg", "--data", "obj.data", "--iterations", "1"])
    assert result.exit_code == 0, result.output
    assert "Region Avg IOU:" in result.output and "Avg Recall:" in result.output
    import darkpy
    from darkpy.train.model import initialise

    start = darkpy.load(project / "v2.cfg")
    initialise(start, 0)  # the trainer's random start ([net] has no seed: 0)
    trained = darkpy.load(project / "v2.cfg", project / "backup" / "v2_final.weights")
    moved = np.abs(trained.layers[2].params["weights"] - start.layers[2].params["weights"])
    assert moved.max() > 1e-4


def test_region_statistics_and_loss_equal_darknets():
    """One iteration of tools/darknet_train_oracle.py's YOLOv2-style cfg (--task region) from
    its recorded start: darkpy prints the [region] statistics and the loss pjreddie's darknet
    printed (the loss is the mean of the head's sum of squared deltas, so every delta counts;
    darkpy lands within ~7e-7 relative, ~1e-6 before the batches took darknet's HSV round
    trip; the statistics agree to darknet's printed 6 decimals)."""
    import importlib.util
    import json
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    fixtures = repo / "tests" / "fixtures" / "darknet_train_region"
    spec = importlib.util.spec_from_file_location("oracle",
                                                  repo / "tools" / "darknet_train_oracle.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    meta = json.loads((fixtures / "darknet.json").read_text())
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tool.region_set(work)
        assert tool.classifier_digest(work, list(tool.REGION_IMAGES)) == meta["pixels_sha256"]
        shutil.copyfile(fixtures / "start.weights", work / "start.weights")
        cfg = work / "region1.cfg"
        cfg.write_text(tool.region_cfg(1))
        reports = tool.train_darkpy_region(work, cfg, work / "start.weights", meta["order"])
    assert reports[0].loss == pytest.approx(meta["losses"][0], rel=1.5e-6)
    forwards = [next(iter(h.values())) for h in reports[0].heads]
    assert len(forwards) == len(meta["forwards"]) == 2
    for mine, row in zip(forwards, meta["forwards"]):
        assert mine["count"] == row["count"]
        for key in tool.REGION_KEYS:
            assert mine[key] == pytest.approx(row[key], abs=2e-6), key
