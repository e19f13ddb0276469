"""darkpy's detector training against darknet's: one and two SGD iterations of yolov3-tiny from
the official weights (pjreddie's darknet), and of yolov4-tiny with iou_loss=ciou from a seeded
random start (AlexeyAB's, CPU build), augmentation off, on tools/darknet_train_oracle.py's
mirrored set (in gray for AlexeyAB's).

tests/fixtures/darknet_train/ holds what pjreddie's darknet (CPU build) gave, recorded by that
script: the images of each minibatch, the [yolo] statistics and losses darknet printed, `seen`,
and a spread slice of every parameter (and batch-norm rolling statistic) of its
_final.weights. darkpy repeats the runs here and must land within 1e-5 of darknet's weights
(relative to each parameter's largest value; darkpy gets 1.2e-7 after one iteration, 1.0e-6
after two), with the update itself (the change from the official weights, beyond one float32
ulp of the stored value) within 2e-3 of the largest change (2.0e-4 and 2.5e-4: float sums of
the backward in another order), and darknet's
printed statistics to their 6 decimals. darkpy trains AlexeyAB's runs as his CPU build does
(darknet_build="alexeyab-cpu", darkpy/train/darknet/cpu_build.py). His CIoU loss from the
official weights (yolov3-tiny with yolov4-tiny's [yolo] keys, colour set; fixtures
alexeyab_official_darknet*): 1.5e-7 / 4.2e-6 of the weights after one / two iterations, held
within pjreddie's 1e-5 (issue 11 asks 1e-4) and updates within 5e-3 (3.1e-3). yolov4-tiny from a seeded
random start (fixtures alexeyab_darknet*, gray set) is held to pjreddie's bounds and gets
5.5e-8 after one iteration; its second iteration is still apart (xfail, see
SECOND_ITERATION_OPEN)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_train"


def _tool():
    spec = importlib.util.spec_from_file_location("darknet_train_oracle",
                                                  REPO / "tools" / "darknet_train_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (weights, update) bounds of `_check` per comparison (tools/darknet_train_oracle.variant_of)
# (AlexeyAB's from the official weights: updates 3.1e-4 / 3.1e-3 apart after 1 / 2 iterations)
BOUNDS = {"pjreddie": (1e-5, 2e-3), "alexeyab": (1e-5, 2e-3), "alexeyab-official": (1e-5, 5e-3)}


def _load(tmp_path_factory, fork, start="random"):
    weights = shared_path("models", "yolov3-tiny", "yolov3-tiny.weights")
    shared = weights.parents[2]
    tool = _tool()
    variant = tool.variant_of(fork, start)
    json_path, npz_path = tool.fixture_paths(variant)
    work = tmp_path_factory.mktemp(f"darknet_train_{variant}")
    tool.oracle_set(shared, work, gray=variant == "alexeyab")
    meta = json.loads(json_path.read_text())
    assert tool.pixel_digest(work) == meta["pixels_sha256"], "the training images changed"
    with np.load(npz_path) as npz:
        slices = dict(npz)
    if variant == "alexeyab":
        shared_path("darknet-cfg", "yolov4-tiny.cfg")
        start_cfg = work / "start.cfg"
        start_cfg.write_text(tool.oracle_cfg(shared, 1, fork))
        weights = tool.start_weights(start_cfg, work / "start.weights")
    return tool, shared, work, weights, meta, slices, start


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    return _load(tmp_path_factory, "pjreddie")


@pytest.fixture(scope="module")
def oracle_alexeyab(tmp_path_factory):
    return _load(tmp_path_factory, "alexeyab")


@pytest.fixture(scope="module")
def oracle_alexeyab_official(tmp_path_factory):
    return _load(tmp_path_factory, "alexeyab", "official")


@pytest.mark.parametrize("iterations", [1, 2])
def test_alexeyab_ciou_from_official_weights_equals_darknets(oracle_alexeyab_official,
                                                             iterations):
    # 13 convolutions: biases, weights (11 also scales, rolling mean, rolling variance)
    _check(oracle_alexeyab_official, iterations, "alexeyab", parameters=59)


@pytest.mark.parametrize("iterations", [1, 2])
def test_weights_after_sgd_iterations_equal_darknets(oracle, iterations):
    _check(oracle, iterations, "pjreddie", parameters=59)


SECOND_ITERATION_OPEN = pytest.mark.xfail(
    strict=True, reason="AlexeyAB CPU build, 2nd iteration: the backward sums and the head's "
    "logistic now follow his -Ofast build, but his dx_box_iou (CIoU deltas, SLP-vectorised "
    "with rcpps) still rounds a few box deltas an ulp apart; the first update's ulps flip "
    "leaky kinks in the second forward (weights 3.4e-3 apart at lr 1e-5; the first "
    "iteration agrees to 5.5e-8); open, see NOTES.md")


@pytest.mark.parametrize("iterations", [1, pytest.param(2, marks=SECOND_ITERATION_OPEN)])
def test_alexeyab_ciou_weights_after_sgd_iterations_equal_darknets(oracle_alexeyab, iterations):
    # 21 convolutions: biases, weights (19 also scales, rolling mean, rolling variance)
    _check(oracle_alexeyab, iterations, "alexeyab", parameters=99)


def _check(loaded, iterations, fork, parameters):
    tool, shared, work, weights, meta, slices, start_kind = loaded
    run = meta["runs"][str(iterations)]
    cfg = work / f"oracle{iterations}.cfg"
    cfg.write_text(tool.oracle_cfg(shared, iterations, fork, start_kind))
    got, seen, reports, used = tool.train_darkpy(work, cfg, weights, run["order"], fork=fork)
    assert used == run["order"]
    assert seen == run["seen"] == iterations * tool.BATCH
    start, _ = tool.darknet_params(cfg, weights)
    keys = [(int(k.split("/")[1]), k.split("/")[2]) for k in slices if k.startswith(f"{iterations}/")]
    assert len(keys) == parameters
    ref = {key: slices[f"{iterations}/{key[0]}/{key[1]}"] for key in keys}
    pick = {key: tool.slice_indices(start[key].size) for key in keys}
    table = tool.compare({k: start[k][pick[k]] for k in keys}, ref,
                         {k: got[k][pick[k]] for k in keys}, keys)
    weights_off = max(row["weights"] for row in table.values())
    update_off = max(row["update"] for row in table.values())
    # pjreddie's, before the loader took darknet's HSV round trip on these colour images:
    # 1.2e-6 / 3.4e-3
    weights_bound, update_bound = BOUNDS[tool.variant_of(fork, start_kind)]
    assert weights_off < weights_bound, table
    assert update_off < update_bound, table
    # every parameter moved, by darknet's update, not by nothing (AlexeyAB's CPU build does
    # not train the biases of batch-normalised convolutions: those stay)
    frozen = {k for k in keys if fork == "alexeyab" and k[1] == "biases"
              and (k[0], "scales") in ref}
    for k in keys:
        if k[1] == "rolling_variance":
            continue
        moved = np.any(ref[k] != start[k][pick[k]])
        assert moved != (k in frozen), k
    # darknet's per-iteration loss and the [yolo] statistics it printed for every forward
    assert [r.loss for r in reports] == pytest.approx(run["losses"], rel=1e-5)
    printed = run["forwards"]
    for k, report in enumerate(reports):
        for f, heads in enumerate(report.heads):
            for row in printed[k * tool.SUBDIVISIONS + f]:
                mine = heads[row["layer"]]
                # AlexeyAB prints max(count, 1)
                count = max(mine["count"], 1) if fork == "alexeyab" else mine["count"]
                assert count == row["count"]
                for key in tool.report_keys(row):
                    # AlexeyAB's losses are float32 sums of squares over the whole head, and
                    # iou_loss is total - class_loss: they carry the rounding of the total
                    size = row.get("total_loss", 1.0) if key.endswith("loss") else 1.0
                    if np.isnan(row[key]):
                        assert np.isnan(mine[key])
                    else:
                        assert mine[key] == pytest.approx(row[key], rel=1e-6,
                                                          abs=2e-6 * max(size, 1.0)), (k, f, key)
