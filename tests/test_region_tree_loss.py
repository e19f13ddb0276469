"""[region] training with tree= (YOLO9000's hierarchical softmax): the class delta against
hand-worked values and against finite differences of the loss it is the gradient of,
darknet's classification-only truths, the refusals, and a short training run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.region import Region
from tests.detection_sets import write_detection_set
from tests.zoo_util import make

# two groups: roots {a, b, c}, children of a {d, e, f}
TWO_GROUPS = "a -1\nb -1\nc -1\nd 0\ne 0\nf 0\n"
# three levels: {a, b}, children of a {c, d, e}, children of c {f, g}
THREE_LEVELS = "a -1\nb -1\nc 0\nd 0\ne 0\nf 2\ng 2\n"
SEEN = 20000  # past darknet's 12800-image prior term


def _head(tmp_path, tree_text, shape, **options):
    tree = tmp_path / "tiny.tree"
    tree.write_text(tree_text)
    opts = {"num": 1, "anchors": "1,1", "coords": 4, "tree": str(tree), **options}
    head = make(Region, opts, [shape])
    head.images_seen = SEEN
    return head


def _truth(rows_per_image, boxes=4):
    truth = np.zeros((len(rows_per_image), boxes, 5), np.float32)
    for b, rows in enumerate(rows_per_image):
        for t, row in enumerate(rows):
            truth[b, t] = row
    return truth


def test_tree_class_delta_and_class_statistic_hand_worked(tmp_path):
    """1x1 grid, one anchor, classes=7 over a 6-node tree (entry 6 lies past the tree).
    Raw class inputs ln 2, 0, 0 | ln 3, 0, 0 give p = .5, .25, .25 | .6, .2, .2."""
    head = _head(tmp_path, TWO_GROUPS, (1, 1, 12), classes=7, class_scale=2)
    x = np.zeros((2, 1, 1, 12), np.float32)
    x[..., 5:12] = [math.log(2), 0, 0, math.log(3), 0, 0, 5.0]
    box = (0.5, 0.5, 0.5, 0.5)
    head.set_truth(_truth([[(*box, 4)], [(*box, 1)]]), 32, 32)
    head.forward([x], train=True)
    d = head._loss_delta.reshape(2, 12)
    # image 0, class e (4): e's group {d, e, f} then its parent a's group {a, b, c}
    np.testing.assert_allclose(d[0, 5:], 2 * np.array([1 - .5, -.25, -.25, -.6, 1 - .2, -.2, 0]),
                               atol=1e-6)
    # image 1, class b (1), a root: only the root group
    np.testing.assert_allclose(d[1, 5:], 2 * np.array([-.5, 1 - .25, -.25, 0, 0, 0, 0]),
                               atol=1e-6)
    r = head.loss
    # Class: the product of the path's probabilities, averaged: (p_e p_a + p_b) / 2
    assert r["avg_class"] == pytest.approx((0.2 * 0.5 + 0.25) / 2, rel=1e-6)
    # the box (0.5, 0.5, 1, 1) against the truth's (0.5, 0.5, 0.5, 0.5)
    assert (r["avg_iou"], r["avg_obj"], r["avg_noobj"], r["recall"], r["count"]) == \
        pytest.approx((0.25, 0.5, 0.5, 0, 2), rel=1e-6)
    dw = 1.75 * math.log(0.5)  # coord_scale (2 - w h) (ln(w W / anchor) - 0)
    classes = 4 * (.25 + .0625 + .0625 + .36 + .64 + .04) + 4 * (.25 + .5625 + .0625)
    assert r["cost"] == pytest.approx(2 * (2 * dw * dw + .25) + classes, rel=1e-5)


def _group_softmax_loss(z: np.ndarray, parents: list[int], groups: list[list[int]],
                        cls: int) -> float:
    """sum over the groups on the path from cls to its root of -log softmax(group)[node]
    (naive, float64)."""
    loss, node = 0.0, cls
    while node >= 0:
        group = next(g for g in groups if node in g)
        values = z[group]
        loss -= values[group.index(node)] - values.max() - math.log(
            np.exp(values - values.max()).sum())
        node = parents[node]
    return loss


def test_tree_class_delta_is_minus_the_gradient_of_the_path_cross_entropy(tmp_path):
    """With a tree the class delta is a true gradient: class_scale times minus the gradient
    (with respect to the raw class inputs) of the summed -log softmax of every group on the
    truth's path; darkpy's backward passes it on unchanged (darknet's GPU backward)."""
    scale = 1.5
    head = _head(tmp_path, THREE_LEVELS, (2, 2, 12), classes=7, class_scale=scale)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (1, 2, 2, 12)).astype(np.float32)
    head.set_truth(_truth([[(0.7, 0.2, 0.3, 0.3, 6)]]), 32, 32)  # class g: cell i=1, j=0
    out = head.forward([x], train=True)
    grad = head.backward(None, [x], out)[0]
    d = head._loss_delta
    parents = [-1, -1, 0, 0, 0, 2, 2]
    groups = [[0, 1], [2, 3, 4], [5, 6]]
    z = x[0, 0, 1, 5:].astype(np.float64)
    numeric = np.zeros(7)
    for k in range(7):
        step = np.zeros(7)
        step[k] = 1e-5
        numeric[k] = (_group_softmax_loss(z + step, parents, groups, 6)
                      - _group_softmax_loss(z - step, parents, groups, 6)) / 2e-5
    np.testing.assert_allclose(-d[0, 0, 1, 5:], scale * numeric, atol=2e-6)
    np.testing.assert_allclose(grad[0, 0, 1, 5:], scale * numeric, atol=2e-6)
    for j, i in [(0, 0), (1, 0), (1, 1)]:  # no truth there: no class delta
        assert not d[0, j, i, 5:].any()


def test_classification_only_truth_trains_the_class_of_the_likeliest_prediction(tmp_path):
    """darknet's truth with x, y > 100000 (read_boxes' label centred at 0, 0): every
    objectness gets the no-object delta, the prediction with the highest objectness x
    hierarchy probability only the class delta; no box, no prior, no count."""
    head = _head(tmp_path, TWO_GROUPS, (1, 2, 24), classes=7, num=2, anchors="1,1, 2,2",
                 noobject_scale=0.5)
    head.images_seen = 0  # the prior term would move every box of a normal image
    x = np.zeros((2, 1, 2, 2, 12), np.float32)  # (image, row, column, anchor, entry)
    x[..., 4] = [[-1.0, 0.0], [0.5, -2.0]]  # objectness by column, anchor
    x[0, 0, 0, 1, 5:11] = [0, 0, 0, 0, 0, 0]  # p(e) p(a) = 1/9: 0.5 * 1/9
    x[0, 0, 1, 0, 5:11] = [math.log(2), 0, 0, 0, math.log(2), 0]  # .5 * .5 = 1/4
    x[0, 0, 0, 0, 5:11] = [math.log(2), 0, 0, 0, math.log(2), 0]  # same p, smaller objectness
    only = (999999.0, 999999.0, 999999.0, 999999.0, 4)
    head.set_truth(_truth([[only, (0.2, 0.5, 0.3, 0.3, 1)], [(0.2, 0.5, 0.3, 0.3, 1)]]), 32, 32)
    out = head.forward([x.reshape(2, 1, 2, 24)], train=True)
    o = out.reshape(2, 1, 2, 2, 12)
    d = head._loss_delta.reshape(2, 1, 2, 2, 12)
    sig = 1 / (1 + np.exp(-x[0, 0, :, :, 4]))
    expected_obj = -0.5 * sig
    expected_obj[1, 0] = 0  # the chosen one: column 1, anchor 0 (p = sigma(.5) / 4)
    np.testing.assert_allclose(d[0, 0, :, :, 4], expected_obj, atol=1e-6)
    np.testing.assert_allclose(d[0, 0, 1, 0, 5:], [.5, -.25, -.25, -.25, .5, -.25, 0],
                               atol=1e-6)
    chosen = np.zeros((2, 2), bool)
    chosen[1, 0] = True
    assert not d[0, 0][~chosen][:, 5:].any()
    assert not d[0, ..., :4].any()  # no box delta, not even the early prior
    assert d[1, ..., :4].any()  # the normal image gets them
    r = head.loss
    assert r["count"] == 1  # only image 1's box
    # Class over both images: image 0's chosen path 1/4, image 1's p(b) at its anchor
    p_b = o[1, 0, 0][np.flatnonzero(d[1, 0, 0, :, 6])[0], 6]
    assert r["avg_class"] == pytest.approx((0.25 + p_b) / 2, rel=1e-6)
    # No Obj sums image 1's objectness only, over all 8 predictions
    assert r["avg_noobj"] == pytest.approx(o[1, ..., 4].sum() / 8, rel=1e-6)


def test_classification_only_ties_go_to_the_first_anchor_then_row_then_column(tmp_path):
    head = _head(tmp_path, TWO_GROUPS, (1, 2, 24), classes=7, num=2, anchors="1,1, 2,2")
    x = np.zeros((1, 1, 2, 2, 12), np.float32)
    x[0, 0, 0, 0, 4] = x[0, 0, 1, 1, 4] = -3.0  # left: column 0 anchor 1, column 1 anchor 0
    head.set_truth(_truth([[(999999.0, 999999.0, 1, 1, 2)]]), 32, 32)
    head.forward([x.reshape(1, 1, 2, 24)], train=True)
    d = head._loss_delta.reshape(1, 2, 2, 12)
    assert d[0, 1, 0, 7] != 0 and not d[0, 0, 1, 5:].any()  # darknet's n = a w h + j w + i


def test_tree_training_refuses_classes_off_the_tree_and_cyclic_trees(tmp_path):
    head = _head(tmp_path, TWO_GROUPS, (1, 1, 12), classes=7)
    with pytest.raises(ConfigError, match="class 6"):
        head.set_truth(_truth([[(0.5, 0.5, 0.2, 0.2, 6)]]), 32, 32)
    head = _head(tmp_path, "a -1\nb 2\nc 1\n", (1, 1, 8), classes=3)
    for _ in range(2):  # the walk is done once, but a refused tree stays refused
        with pytest.raises(ConfigError, match="its own ancestor"):
            head.set_truth(_truth([[(0.5, 0.5, 0.2, 0.2, 0)]]), 32, 32)


TREE_CFG = """[net]
batch=4
subdivisions=1
width=32
height=32
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.02
max_batches=12
policy=constant
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
filters=18
size=1
stride=1
pad=1
activation=linear

[region]
anchors=1,1, 3,3
classes=4
coords=4
num=2
tree=tiny.tree
jitter=0
rescore=1
random=0
"""


def _tree_project(folder, labels: dict) -> None:
    """32x32 noise images with YOLO labels, obj.data, tiny.tree (a 4-node tree: {animal,
    thing}, {cat, dog}) and tree.cfg in `folder`."""
    write_detection_set(folder, labels, classes=4)
    (folder / "tiny.tree").write_text("animal -1\nthing -1\ncat 0\ndog 0\n")
    (folder / "tree.cfg").write_text(TREE_CFG)


def test_a_tree_region_detector_trains(tmp_path, monkeypatch):
    """Training a YOLO9000-style head on the same four images: the loss falls and the path
    probability (Class) rises in 12 iterations."""
    from darkpy.reporting import Reporter
    from darkpy.train.darknet.loop import DarknetTrainer

    monkeypatch.chdir(tmp_path)
    _tree_project(tmp_path, {"p": "2 0.3 0.3 0.4 0.4\n", "q": "3 0.6 0.6 0.5 0.3\n",
                             "r": "1 0.5 0.5 0.6 0.6\n",
                             "s": "2 0.7 0.25 0.3 0.3\n3 0.3 0.7 0.3 0.3\n"})

    class Collect(Reporter):
        def __init__(self):
            self.reports = []

        def iteration(self, report):
            self.reports.append(report)

    trainer = DarknetTrainer("tree.cfg", "obj.data", image_order={i: [0, 1, 2, 3]
                                                                  for i in range(12)})
    out = Collect()
    trainer.run(out)
    losses = [r.loss for r in out.reports]
    assert len(losses) == 12 and np.isfinite(losses).all()
    assert losses[-1] < 0.7 * losses[0], losses
    first, last = (next(iter(r.heads[0].values())) for r in (out.reports[0], out.reports[-1]))
    assert first["count"] == last["count"] == 5
    # Class, the probability of the truth's path, rises (from about 1/4: two groups of two)
    assert 0.2 < first["avg_class"] < 0.3 and last["avg_class"] > first["avg_class"] + 0.3


def test_tree_deltas_statistics_and_cost_equal_darknets(tmp_path):
    """pjreddie darknet's own forward_region_layer with tree= (CPU, through
    tools/darknet_region_tree_oracle.py's harness with l.temperature = 1, on 1x1 grids with
    one anchor: the only layout its CPU tree softmax gets right): box truths at every depth of
    a 9-node tree, the early prior, scales, and classification-only truths. darkpy's outputs,
    every delta, the cost and the printed statistics agree (measured: deltas within 2.4e-7,
    cost within 3.1e-7 relative, statistics to darknet's 6 printed decimals)."""
    import json
    from pathlib import Path

    fixture = Path(__file__).resolve().parent / "fixtures" / "darknet_train_region" / "tree.npz"
    data = np.load(fixture)
    meta = json.loads(bytes(data["meta"]).decode())
    tree = tmp_path / "oracle.tree"
    tree.write_text(meta["tree"])
    anchors = ",".join(str(v) for pair in meta["anchors"] for v in pair)
    assert set(meta["cases"]) == {"boxes", "prior_and_scales", "class_only"}
    for name, case in meta["cases"].items():
        seen, softmax, rescore, thresh, coord, obj, noobj, cls = case["params"]
        head = make(Region, {"classes": meta["classes"], "coords": 4, "num": 1,
                             "anchors": anchors, "tree": str(tree), "softmax": softmax,
                             "rescore": rescore, "thresh": thresh, "coord_scale": coord,
                             "object_scale": obj, "noobject_scale": noobj,
                             "class_scale": cls}, [data[f"{name}/input"].shape[1:]])
        head.images_seen = seen
        head.set_truth(data[f"{name}/truth"])
        out = head.forward([data[f"{name}/input"]], train=True)
        np.testing.assert_allclose(out, data[f"{name}/output"], atol=3e-7, err_msg=name)
        np.testing.assert_allclose(head._loss_delta, data[f"{name}/delta"], atol=1e-6,
                                   err_msg=name)
        assert head.loss["cost"] == pytest.approx(case["cost"], rel=2e-6), name
        for key, value in case["stats"].items():
            assert head.loss[key] == pytest.approx(value, abs=2e-6), (name, key)


def test_labels_centred_at_0_0_are_classification_only_truths_for_a_tree_head(tmp_path,
                                                                               monkeypatch):
    """pjreddie's loader turns a label centred at (0, 0) into the box 999999 x 4 (its
    correct_boxes); darkpy keeps such lines only for a [region] tree= network, whose loss
    then trains that image's class alone; other networks skip them with a warning."""
    from darkpy.reporting import Reporter
    from darkpy.train.darknet.loop import DarknetTrainer

    monkeypatch.chdir(tmp_path)
    _tree_project(tmp_path, {"p": "2 0.3 0.3 0.4 0.4\n", "k": "3 0 0 0 0\n"})
    trainer = DarknetTrainer("tree.cfg", "obj.data", image_order={0: [1, 0, 1, 0]})
    _, truth, _ = trainer.loader.batch(0, 4, [1, 0])
    np.testing.assert_array_equal(truth[0, 0], [999999, 999999, 999999, 999999, 3])
    np.testing.assert_allclose(truth[1, 0], [0.3, 0.3, 0.4, 0.4, 2], atol=1e-6)

    class Collect(Reporter):
        def iteration(self, report):
            self.head = next(iter(report.heads[0].values()))

    out = Collect()
    trainer.run(out, iterations=1)
    assert out.head["count"] == 2  # the two box images; the class-only ones only add a Class
    plain = TREE_CFG.replace("tree=tiny.tree\n", "")
    (tmp_path / "plain.cfg").write_text(plain)
    trainer = DarknetTrainer("plain.cfg", "obj.data")
    assert len(trainer.dataset.items[1].boxes) == 0
    assert any("k.txt:1" in w and "centred at exactly (0, 0)" in w
               for w in trainer.load_warnings), trainer.load_warnings
