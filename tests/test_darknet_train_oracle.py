"""darkpy's detector training against darknet's: one and two SGD iterations of yolov3-tiny from
the official weights, augmentation off, on tools/darknet_train_oracle.py's mirrored set.

tests/fixtures/darknet_train/ holds what pjreddie's darknet (CPU build) gave, recorded by that
script: the images of each minibatch, the [yolo] statistics and losses darknet printed, `seen`,
and a spread slice of every parameter (and batch-norm rolling statistic) of its
_final.weights. darkpy repeats the runs here and must land within 1e-4 of darknet's weights
(relative to each parameter's largest value; darkpy gets ~3e-6), with the update itself
(the change from the official weights, beyond one float32 ulp of the stored value) within 1e-2
of the largest change (~1e-3: float sums of the backward in another order), and darknet's
printed statistics to their 6 decimals."""
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


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    weights = shared_path("models", "yolov3-tiny", "yolov3-tiny.weights")
    shared = weights.parents[2]
    tool = _tool()
    work = tmp_path_factory.mktemp("darknet_train")
    tool.oracle_set(shared, work)
    meta = json.loads((FIXTURES / "darknet.json").read_text())
    assert tool.pixel_digest(work) == meta["pixels_sha256"], "the training images changed"
    with np.load(FIXTURES / "darknet_weights.npz") as npz:
        slices = dict(npz)
    return tool, shared, work, weights, meta, slices


@pytest.mark.parametrize("iterations", [1, 2])
def test_weights_after_sgd_iterations_equal_darknets(oracle, iterations):
    tool, shared, work, weights, meta, slices = oracle
    run = meta["runs"][str(iterations)]
    cfg = work / f"oracle{iterations}.cfg"
    cfg.write_text(tool.oracle_cfg(shared, iterations))
    got, seen, reports, used = tool.train_darkpy(work, cfg, weights, run["order"])
    assert used == run["order"]
    assert seen == run["seen"] == iterations * tool.BATCH
    start, _ = tool.darknet_params(cfg, weights)
    keys = [(int(k.split("/")[1]), k.split("/")[2]) for k in slices if k.startswith(f"{iterations}/")]
    assert len(keys) == 59  # 13 convolutions: biases, weights (11 also scales, rolling mean, variance)
    ref = {key: slices[f"{iterations}/{key[0]}/{key[1]}"] for key in keys}
    pick = {key: tool.slice_indices(start[key].size) for key in keys}
    table = tool.compare({k: start[k][pick[k]] for k in keys}, ref,
                         {k: got[k][pick[k]] for k in keys}, keys)
    weights_off = max(row["weights"] for row in table.values())
    update_off = max(row["update"] for row in table.values())
    assert weights_off < 1e-4, table
    assert update_off < 1e-2, table
    # every parameter moved, by darknet's update, not by nothing
    assert all(np.any(ref[k] != start[k][pick[k]]) for k in keys if k[1] != "rolling_variance")
    # darknet's per-iteration loss and the [yolo] statistics it printed for every forward
    assert [r.loss for r in reports] == pytest.approx(run["losses"], rel=1e-5)
    printed = run["forwards"]
    for k, report in enumerate(reports):
        for f, heads in enumerate(report.heads):
            for row in printed[k * tool.SUBDIVISIONS + f]:
                mine = heads[row["layer"]]
                assert mine["count"] == row["count"]
                for key in tool.REPORT_KEYS:
                    if np.isnan(row[key]):
                        assert np.isnan(mine[key])
                    else:
                        assert mine[key] == pytest.approx(row[key], abs=2e-6), (k, f, key)
