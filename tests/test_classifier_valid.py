"""`darkpy map` on a classifier: darknet's `classifier valid` (top-1/top-k), its crop rules by
hand and both darknets' recorded outputs (tools/darknet_classifier_oracle.py)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from darkpy.evaluation.classifier_valid import classifier_input, top_k
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "darknet_classifier"


def ramp(h, w):
    return np.arange(h * w * 3, dtype=np.float32).reshape(h, w, 3)


def test_crops_without_resizing():
    image = ramp(2, 5)
    # AlexeyAB: shorter side 2 is already the width 2 -> no resize; centre window at x = 1
    np.testing.assert_array_equal(classifier_input(image, 2, 2, "alexeyab"), image[:, 1:3])
    # pjreddie: centred 2x2 square at x = (5 - 2) // 2 = 1, resized to 2x2 (unchanged)
    np.testing.assert_array_equal(classifier_input(image, 2, 2, "pjreddie"), image[:, 1:3])


def test_alexeyab_crop_clamps_at_the_edges():
    image = ramp(2, 2)
    # net 2 wide, 4 high: the window starts at row (2 - 4) // 2 = -1; rows clamp to 0..1
    got = classifier_input(image, 2, 4, "alexeyab")
    np.testing.assert_array_equal(got, image[[0, 0, 1, 1]])


def test_rules_differ_when_resizing():
    image = ramp(4, 8)
    alexeyab = classifier_input(image, 2, 2, "alexeyab")   # 8x4 -> 4x2, window x 1..2
    pjreddie = classifier_input(image, 2, 2, "pjreddie")   # 4x4 square at x 2, -> 2x2
    assert alexeyab.shape == pjreddie.shape == (2, 2, 3)
    assert not np.array_equal(alexeyab, pjreddie)


def test_top_k_keeps_ties_in_index_order():
    assert top_k(np.array([0.2, 0.5, 0.5, 0.1], np.float32), 3).tolist() == [1, 2, 0]


def _tool():
    spec = importlib.util.spec_from_file_location("darknet_classifier_oracle",
                                                  REPO / "tools" / "darknet_classifier_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    photos = shared_path("images", "dog.jpg").parent
    # a folder name without label words: they are matched anywhere in the path
    return _tool().stage(photos.parent, tmp_path_factory.mktemp("cls"))


def test_predictions_equal_pjreddie_darknet(staged):
    from darkpy import load
    from darkpy.io.image import load_image

    expected = json.loads((FIXTURES / "expected.json").read_text())["pjreddie"]["per_image"]
    network = load(FIXTURES / "tiny.cfg", FIXTURES / "tiny.weights")
    for record in expected:
        x = classifier_input(load_image(staged.parent / record["image"]), 32, 32, "pjreddie")
        pred = np.asarray(network.forward(x[None])).reshape(-1)
        np.testing.assert_allclose(pred[:2], record["pred"], atol=1.5e-6, err_msg=record["image"])


@pytest.mark.parametrize("fork", ["pjreddie", "alexeyab"])
def test_accuracies_equal_darknet(staged, fork):
    from darkpy import load
    from darkpy.evaluation.classifier_valid import validate_classifier

    want = json.loads((FIXTURES / "expected.json").read_text())[fork]
    network = load(FIXTURES / "tiny.cfg", FIXTURES / "tiny.weights")
    report = validate_classifier(network, staged, rule=fork)
    assert (report.images, report.k) == (want["images"], want["k"])
    assert f"{report.top1:f}" == f"{want['top1']:f}" and f"{report.topk:f}" == f"{want['topk']:f}"
    assert report.unlabelled == 2


def test_cli_scores_a_classifier(staged):
    from typer.testing import CliRunner

    from darkpy.cli import app

    result = CliRunner().invoke(app, ["map", str(FIXTURES / "tiny.cfg"), str(FIXTURES / "tiny.weights"),
                                      "--data", str(staged)])
    assert result.exit_code == 0, result.output
    assert "top 1: 0.142857, top 2: 0.428571" in result.output
