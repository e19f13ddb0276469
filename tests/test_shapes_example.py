"""tools/make_shapes_dataset.py (README's worked example): labels that darknet's rules accept
and a cfg that builds with 3 classes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from darkpy.train.darknet.data import Problems, label_path, read_labels
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("make_shapes_dataset",
                                                  REPO / "tools" / "make_shapes_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_has_valid_labels_found_by_both_rules(tmp_path):
    tool = _tool()
    listing = tool.write_split(tmp_path, "train", 6, np.random.default_rng(0))
    images = [Path(line) for line in listing.read_text().splitlines()]
    assert len(images) == 6
    problems = Problems()
    for image in images:
        assert label_path(image, "pjreddie") == label_path(image, "alexeyab") == image.with_suffix(".txt")
        rows = read_labels(image.with_suffix(".txt"), 3, problems)
        assert 1 <= len(rows) <= 3
    assert not problems.items


def test_cfg_is_yolov3_tiny_with_three_classes(tmp_path):
    from darkpy.api import read_sections
    from darkpy.network import Network

    official = shared_path("models", "yolov3-tiny", "yolov3-tiny.cfg").read_text()
    cfg = tmp_path / "shapes.cfg"
    cfg.write_text(_tool().shapes_cfg(official))
    network = Network(read_sections(cfg), init=False)
    heads = [layer for layer in network.layers if layer.kind == "yolo"]
    assert [h.classes for h in heads] == [3, 3]
    assert network.input_shape[:2] == (128, 128)
    assert int(network.net.max_batches) == 200
