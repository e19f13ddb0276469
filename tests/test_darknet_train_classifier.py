"""darkpy's classifier training against darknet's `classifier train`: one and two SGD
iterations of tools/darknet_train_oracle.py's small classifier (conv+bn+maxpool x2, 1x1
conv, avgpool, softmax, [cost] sse) from a seeded random start, augmentation off.

tests/fixtures/darknet_train_classifier/ holds what pjreddie's darknet (CPU build) gave,
recorded by `tools/darknet_train_oracle.py DARKNET --task classifier --write`: the images of
every batch row (logged from inside darknet by the script's interposer), darknet's printed
losses, `seen`, every parameter and rolling statistic of its <cfg>.weights, and the start
weights. darkpy repeats the runs and must land within 1e-4 of darknet's weights relative to
each parameter's largest value (darkpy gets ~2e-6) and print darknet's losses."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_train_classifier"


def _tool():
    spec = importlib.util.spec_from_file_location("darknet_train_oracle",
                                                  REPO / "tools" / "darknet_train_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    tool = _tool()
    work = tmp_path_factory.mktemp("darknet_classifier")
    names = tool.classifier_set(work)
    meta = json.loads((FIXTURES / "darknet.json").read_text())
    assert tool.classifier_digest(work, names) == meta["pixels_sha256"], "the images changed"
    start = work / "start.weights"
    shutil.copyfile(FIXTURES / "start.weights", start)
    with np.load(FIXTURES / "darknet_weights.npz") as npz:
        params = dict(npz)
    return tool, work, start, meta, params


@pytest.mark.parametrize("iterations", [1, 2])
def test_classifier_weights_after_sgd_iterations_equal_darknets(oracle, iterations):
    tool, work, start_path, meta, params = oracle
    run = meta["runs"][str(iterations)]
    cfg = work / f"classifier{iterations}.cfg"
    cfg.write_text(tool.classifier_cfg(iterations))
    got, seen, reports = tool.train_darkpy_classifier(work, cfg, start_path, run["order"])
    assert seen == run["seen"] == iterations * tool.BATCH
    start, _ = tool.darknet_params(cfg, start_path)
    keys = [(int(k.split("/")[1]), k.split("/")[2]) for k in params
            if k.startswith(f"{iterations}/")]
    assert len(keys) == 12  # 2 bn convolutions x 5 arrays, the last convolution's 2
    ref = {key: params[f"{iterations}/{key[0]}/{key[1]}"] for key in keys}
    table = tool.compare(start, ref, got, keys)
    assert max(row["weights"] for row in table.values()) < 1e-4, table
    # darknet's update moved every parameter and rolling statistic: the match is not vacuous
    assert all(np.any(ref[k] != start[k]) for k in keys)
    assert [r.loss for r in reports] == pytest.approx(run["losses"], rel=1e-5, abs=1e-6)
    assert [r.epoch for r in reports] == pytest.approx(
        [(k + 1) * tool.BATCH / 6 for k in range(iterations)])
