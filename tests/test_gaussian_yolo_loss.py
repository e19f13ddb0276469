"""[Gaussian_yolo]'s training deltas (AlexeyAB's forward_gaussian_yolo_layer, darkpy/kernels/
gaussian_yolo_loss.py) and its training through `darkpy train`.

True gradients, checked by finite differences of losses written out here: objectness and
classes (binary cross-entropy of the layer's input) and the w, h means (the Gaussian negative
log-likelihood; the output is the input there). darknet's x, y mean and uncertainty deltas
are gradients with respect to the layer's OUTPUT that darknet applies to the input without
the logistic's derivative: checked by finite differences with respect to the outputs, and
against darknet's formula worked by hand. The rules around them (normalisers, averaging of a
box trained for two classes, yolo_point, the IoU losses) with hand-worked cases."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import gaussian_yolo_loss as G
from darkpy.kernels import yolo_loss_alexeyab as A
from darkpy.network import Network
from tests.detection_sets import write_detection_set

NET = 64
ANCHORS = [(12, 14), (30, 26)]
CLASSES = 2
ENTRIES = 9 + CLASSES


def make_head(extra="", mask="1"):
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

[Gaussian_yolo]
mask={mask}
anchors={','.join(f'{w},{h}' for w, h in ANCHORS)}
classes={CLASSES}
num={len(ANCHORS)}
{extra}
"""
    return Network(parse_cfg_text(text, "<test>")).layers[1]


def run(head, x, truth):
    head.set_truth(truth, NET, NET)
    out = head.forward([x], train=True)
    return out, head._loss_delta, head.loss


def truth_rows(*boxes):
    t = np.zeros((1, 4, 5), np.float32)
    for k, b in enumerate(boxes):
        t[0, k] = b
    return t


def sig(v):
    return 1 / (1 + np.exp(-v))


def nll(target, mean, sigma, scale):
    """s/2 * -log(N + 1e-9), darknet's density: exp(-z^2/2) / (sqrt(2 pi) (sigma + 0.3))."""
    z = (target - mean) / sigma
    density = math.exp(-z * z / 2) / (math.sqrt(2 * math.pi) * (sigma + 0.3))
    return scale / 2 * -math.log(density + 1e-9)


BOX = (0.40, 0.55, 0.45, 0.38, 1)  # one truth: cell (j, i) = (2, 1) of the 4x4 grid


def box_targets(box, i, j, anchor):
    x, y, w, h, _ = box
    return (x * 4 - i, y * 4 - j, math.log(w * NET / anchor[0]), math.log(h * NET / anchor[1]))


def test_hand_worked_coordinate():
    """d = 0.3, sigma = 0.5, scale 1.5: z = 0.6, N = e^-0.18 / (sqrt(2 pi) 0.8) (weight
    N/(N+1e-9) = 1 - ~4e-9): mean delta 0.75 * 0.6 / 0.5 = 0.9, uncertainty delta
    0.75 * (0.36 / 0.5 - 1 / 0.8) = -0.3975."""
    mean, unc = G.gaussian_terms(np.float32(0.3), np.float32(0.5), np.float32(1.5))
    assert mean == pytest.approx(0.9, rel=1e-6)
    assert unc == pytest.approx(-0.3975, rel=1e-6)


def test_box_deltas_are_minus_the_nll_gradient_of_the_outputs():
    rng = np.random.default_rng(1)
    out = np.zeros((1, 4, 4, ENTRIES), np.float32)
    out[..., :] = rng.uniform(0.2, 0.8, out.shape)
    out[..., 4] = rng.normal(0, 0.3, out.shape[:3])
    out[..., 6] = rng.normal(0, 0.3, out.shape[:3])
    head = make_head("iou_normalizer=0.6\nuc_normalizer=0.6\nignore_thresh=1")
    truth = truth_rows(BOX)
    s = head._settings()
    delta = np.zeros_like(out)
    stats = np.zeros(G.STATS)
    G.gaussian_yolo_delta(out, truth, head.all_anchors, np.array([1]), CLASSES, NET, NET, 1.0,
                          1.0, 1.0, s["cfg"], s["kind"], s["thresh_kind"], s["flags"],
                          s["multipliers"], delta, stats)
    j, i = 2, 1
    targets = box_targets(BOX, i, j, ANCHORS[1])
    scale = 2 - BOX[2] * BOX[3]

    def loss(o):
        return sum(0.6 * nll(targets[k], o[2 * k], o[2 * k + 1], scale) for k in range(4))

    o = out[0, j, i, :8].astype(np.float64)
    eps = 1e-5
    for e in range(8):
        up, down = o.copy(), o.copy()
        up[e] += eps
        down[e] -= eps
        grad = (loss(up) - loss(down)) / (2 * eps)
        assert -delta[0, j, i, e] == pytest.approx(grad, rel=2e-3, abs=1e-5), e
    # only the truth's cell has box deltas
    others = np.ones((4, 4), bool)
    others[j, i] = False
    assert not delta[0][others][:, :8].any()


def test_objectness_classes_and_wh_are_true_input_gradients():
    rng = np.random.default_rng(2)
    head = make_head("iou_normalizer=0.5\nignore_thresh=1")
    x = rng.normal(0, 0.5, (1, 4, 4, ENTRIES))
    truth = truth_rows(BOX)
    j, i = 2, 1
    targets = box_targets(BOX, i, j, ANCHORS[1])
    scale = 2 - BOX[2] * BOX[3]

    def loss(xx):
        p = sig(xx[0])
        total = 0.0
        for jj in range(4):
            for ii in range(4):
                q = p[jj, ii]
                if (jj, ii) == (j, i):
                    total += -math.log(q[8]) - math.log(1 - q[9]) - math.log(q[10])
                    total += sum(0.5 * nll(targets[k], xx[0, jj, ii, 2 * k], q[2 * k + 1], scale)
                                 for k in (2, 3))
                else:
                    total += -math.log(1 - q[8])
        return total

    _, delta, _ = run(head, x.astype(np.float32), truth)
    eps = 1e-5
    cells = [(j, i, e) for e in (4, 6, 8, 9, 10)] + [(0, 0, 8), (3, 2, 8)]
    for jj, ii, e in cells:
        up, down = x.copy(), x.copy()
        up[0, jj, ii, e] += eps
        down[0, jj, ii, e] -= eps
        grad = (loss(up) - loss(down)) / (2 * eps)
        assert -delta[0, jj, ii, e] == pytest.approx(grad, rel=2e-3, abs=1e-5), (jj, ii, e)


def test_normalisers_scale_means_and_uncertainties_apart():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.5, (1, 4, 4, ENTRIES)).astype(np.float32)
    truth = truth_rows(BOX)
    _, plain, _ = run(make_head("iou_normalizer=1"), x, truth)
    _, scaled, report = run(make_head("iou_normalizer=0.25\nuc_normalizer=3"), x, truth)
    cell = (0, 2, 1)
    np.testing.assert_allclose(scaled[cell][[0, 2, 4, 6]], 0.25 * plain[cell][[0, 2, 4, 6]],
                               rtol=1e-6)
    np.testing.assert_allclose(scaled[cell][[1, 3, 5, 7]], 3 * plain[cell][[1, 3, 5, 7]],
                               rtol=1e-6)
    np.testing.assert_array_equal(scaled[cell][8:], plain[cell][8:])
    # darknet's split of the printed loss: entries 0-3, 4-7, objectness and classes
    sq = scaled.astype(np.float64) ** 2
    assert report["iou_loss"] == pytest.approx(sq[..., 0:4].sum())
    assert report["uc_loss"] == pytest.approx(sq[..., 4:8].sum())
    assert report["class_loss"] == pytest.approx(sq[..., 8:].sum())
    assert report["count"] == 1 and report["cost"] == pytest.approx(sq.sum())


def test_two_classes_on_one_box_average_its_deltas():
    """Two truths of different classes at one cell and anchor: each adds its box deltas, the
    class entries both become positive (1 - p), so the 8 box deltas are halved."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.5, (1, 4, 4, ENTRIES)).astype(np.float32)
    first = (0.40, 0.55, 0.45, 0.38, 0)
    second = (0.45, 0.60, 0.50, 0.40, 1)
    head = make_head()
    _, d1, _ = run(head, x, truth_rows(first))
    _, d2, _ = run(head, x, truth_rows(second))
    _, both, _ = run(head, x, truth_rows(first, second))
    cell = (0, 2, 1)
    np.testing.assert_allclose(both[cell][:8], (d1[cell][:8] + d2[cell][:8]) / 2, rtol=1e-5)
    p = sig(x[cell][9:])
    np.testing.assert_allclose(both[cell][9:], 1 - p, rtol=1e-5)


def test_yolo_point_left_top_trains_the_corner_cell():
    """left_top: the truth's cell is that of its top-left corner, x, y targets that corner
    in cell units (0.40 - 0.45/2 = 0.175 -> column 0, 0.55 - 0.19 = 0.36 -> row 1)."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.5, (1, 4, 4, ENTRIES)).astype(np.float32)
    out, delta, _ = run(make_head("yolo_point=left_top"), x, truth_rows(BOX))
    assert delta[0, 1, 0, :8].any() and not delta[0, 2, 1, :8].any()
    tx = 0.175 * 4 - 0
    sigma = out[0, 1, 0, 1]
    z = (tx - out[0, 1, 0, 0]) / sigma
    scale = 2 - BOX[2] * BOX[3]
    assert delta[0, 1, 0, 0] == pytest.approx(0.75 * scale / 2 * z / sigma, rel=1e-4)


def test_giou_replaces_the_mean_deltas_only():
    rng = np.random.default_rng(6)
    x = rng.normal(0, 0.5, (1, 4, 4, ENTRIES)).astype(np.float32)
    _, mse, _ = run(make_head("iou_normalizer=0.07"), x, truth_rows(BOX))
    out, giou, report = run(make_head("iou_normalizer=0.07\niou_loss=giou"), x,
                            truth_rows(BOX))
    cell = (0, 2, 1)
    np.testing.assert_array_equal(giou[cell][[1, 3, 5, 7]], mse[cell][[1, 3, 5, 7]])
    o = out[cell]
    px, py = (1 + o[0]) / 4, (2 + o[2]) / 4
    pw = np.float32(math.exp(o[4]) * ANCHORS[1][0] / NET)
    ph = np.float32(math.exp(o[6]) * ANCHORS[1][1] / NET)
    dx, dy, dw, dh = A.dx_box_iou(np.float32(px), np.float32(py), pw, ph,
                                  *np.float32(BOX[:4]), A.GIOU)
    expected = [dx * 0.07, dy * 0.07, dw * math.exp(o[4]) * 0.07, dh * math.exp(o[6]) * 0.07]
    np.testing.assert_allclose(giou[cell][[0, 2, 4, 6]], expected, rtol=1e-5)
    # darknet reports the GIoU as "IOU" with an IoU loss
    giou_value = A.box_iou_kind(A.GIOU, np.float32(px), np.float32(py), pw, ph,
                                *np.float32(BOX[:4]))
    assert report["avg_iou"] == pytest.approx(float(giou_value), rel=1e-5)


def _oracle_tool():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "darknet_gaussian_oracle.py"
    spec = importlib.util.spec_from_file_location("darknet_gaussian_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed(line: str) -> dict:
    """darknet's 'Region ... Avg IOU: v, Class: v, ... count: n, class_loss = v, ...' line."""
    import re

    pairs = re.findall(r"([A-Za-z_.0-9 ]+?)(?::|\s=)\s+(-?[0-9.]+|-?nan)", line)
    return {key.strip().split(" ")[-1] if key.strip().startswith("Region") else key.strip():
            float(v) for key, v in pairs}


@pytest.mark.parametrize("case", ["mse", "giou_bdd", "ciou_left_top", "mse_smooth"])
def test_deltas_and_report_equal_darknets(case):
    """tools/darknet_gaussian_oracle.py ran AlexeyAB's own forward_gaussian_yolo_layer (his
    built objects, CPU) on these seeded heads: darkpy's l.delta within 1e-4 relative (~1e-5
    measured: darknet's logistic and darkpy's differ by an ulp), its printed line to the
    digits darknet prints."""
    tool = _oracle_tool()
    with np.load(Path(__file__).resolve().parent / "fixtures" / "darknet_gaussian_yolo.npz") as f:
        fx = {k: f[k] for k in f.files if k.startswith(case + "/")}
    head = Network(parse_cfg_text(tool.head_cfg(case), "<oracle>")).layers[1]
    head.set_truth(fx[f"{case}/truth"], tool.NET, tool.NET)
    out = head.forward([fx[f"{case}/input"]], train=True)
    np.testing.assert_allclose(out, fx[f"{case}/output"], rtol=0, atol=5e-7)
    ref = fx[f"{case}/delta"]
    np.testing.assert_allclose(head._loss_delta, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    printed = _printed(str(fx[f"{case}/printed"]))
    report = head.loss
    assert report["count"] == printed["count"]
    for mine, theirs in (("avg_iou", "IOU"), ("avg_class", "Class"), ("avg_obj", "Obj"),
                         ("avg_noobj", "No Obj"), ("recall50", ".5R"), ("recall75", ".75R")):
        assert report[mine] == pytest.approx(printed[theirs], abs=2e-6), mine
    for key in ("class_loss", "iou_loss", "uc_loss", "total_loss"):
        assert report[key] == pytest.approx(printed[key], abs=6e-3, rel=1e-5), key


CFG = """[net]
batch=2
subdivisions=1
width=32
height=32
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.001
burn_in=0
max_batches=12
policy=constant
flip=0
hue=0
saturation=1
exposure=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=22
size=1
stride=1
pad=1
activation=linear

[Gaussian_yolo]
mask=0,1
anchors=8,8, 16,16
classes=2
num=2
jitter=0
random=0
iou_normalizer=0.5
iou_loss=giou
iou_thresh=0.213
"""


def test_darkpy_train_trains_a_gaussian_yolo_head(tmp_path, monkeypatch):
    """The zoo's Gaussian_yolov3_BDD.cfg head settings (giou, iou_thresh, iou_normalizer .5)
    on a tiny network: darknet's loss is erratic from a random start (uncertainties near 0
    make (t - mu)^2 / s^3 large), but it is finite and falls."""
    monkeypatch.chdir(tmp_path)
    labels = {"a": "0 0.25 0.25 0.25 0.25\n1 0.7 0.6 0.5 0.5\n", "b": "1 0.5 0.5 0.3 0.4\n"}
    write_detection_set(tmp_path, labels, classes=2)
    (tmp_path / "g.cfg").write_text(CFG)
    result = CliRunner().invoke(app, ["train", "g.cfg", "--data", "obj.data"])
    assert result.exit_code == 0, result.output
    assert "uc_loss = " in result.output
    losses = [float(line.split(": ")[1].split(",")[0]) for line in result.output.splitlines()
              if line[:1].isdigit() and " avg, " in line]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert (tmp_path / "backup" / "g_final.weights").is_file()
