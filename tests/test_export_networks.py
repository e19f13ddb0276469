"""Whole networks exported to ONNX: the darknet zoo cfgs in ../shared (random weights, small
inputs, convolutions 8 times narrower), every cfg in cfg/ (the super-resolution networks, at a
dynamic size, as narrow), the yaml form of one, the shipped
darkpy-sr-x2 model with its trained weights, and an .h5 round trip carrying class names.
ONNX Runtime's outputs equal darkpy's forward within 1e-4 relative; onnx.checker passes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import darkpy
from darkpy.export import export_onnx
from tests.conftest import REPO, shared_path
from tests.onnx_util import compare, randomize


def _x(shape, seed=0, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _meta(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


def slim(path, factor=8):
    """The network of `path` with every convolution of 32 or more filters (a multiple of 8)
    `factor` times narrower: the same layers, shapes and routing at a fraction of the weights
    (detection heads' convolutions, 255 or 425 filters, those before a pixel shuffle and RGB
    outputs keep theirs)."""
    from darkpy.api import read_sections
    from darkpy.network import Network

    sections = read_sections(path)
    for section, after in zip(sections, sections[1:] + [None]):
        if section.kind not in ("convolutional", "conv") or (after and after.kind == "shuffler"):
            continue  # a pixel shuffle needs its input's channels as they are
        filters = int(section.options.get("filters", "1"))
        if filters >= 32 and filters % factor == 0:
            section.options["filters"] = str(filters // factor)
            if int(section.options.get("groups", "1")) == filters:  # depthwise stays so
                section.options["groups"] = str(filters // factor)
    return Network(sections, source=str(path))


# the zoo cfgs ../shared holds, each at a small fixed size and a second size through a
# dynamic-size export (multiples of the network's stride)
ZOO = {
    "darknet-cfg/yolov2-tiny.cfg": (64, 96),
    "darknet-cfg/yolov3.cfg": (64, 96),
    "darknet-cfg/yolov4-tiny.cfg": (64, 96),
    "darknet-cfg/yolov4.cfg": (64, 96),
    "models/yolov3-tiny/yolov3-tiny.cfg": (64, 96),
}


@pytest.mark.parametrize("cfg", sorted(ZOO))
def test_darknet_zoo_cfgs(cfg):
    net = randomize(slim(shared_path(*cfg.split("/"))), seed=len(cfg))
    size, other = ZOO[cfg]
    model = export_onnx(net, size=f"{size}x{size}", batch=1)
    meta = _meta(model)
    assert meta["task"] == "detector"
    assert json.loads(meta["preprocess"])["resize"] == "letterbox"
    assert len(json.loads(meta["heads"])) == len(model.graph.output)
    compare(net, model, _x((1, size, size, 3)))
    dynamic = export_onnx(net, size="dynamic")
    multiple = json.loads(_meta(dynamic)["input"])["size_multiple"]
    assert other % multiple == 0
    compare(net, dynamic, _x((2, other, size, 3), seed=1))


@pytest.mark.parametrize("cfg", sorted(p.name for p in (REPO / "cfg").glob("*.cfg")))
def test_shipped_cfgs_at_a_dynamic_size(cfg):
    net = randomize(slim(REPO / "cfg" / cfg), seed=3)
    model = export_onnx(net, size="dynamic", batch="dynamic")
    meta = _meta(model)
    assert meta["task"] == "image-to-image"
    assert json.loads(meta["preprocess"])["range"] == [0, 255]
    assert json.loads(meta["input"])["shape"] == ["batch", 3, "height", "width"]
    compare(net, model, _x((2, 10, 13, 3), high=255.0))


def test_a_yaml_description_exports_like_its_cfg():
    net = randomize(darkpy.load(REPO / "cfg" / "wdsr_b_x2.yaml"), seed=4)
    compare(net, export_onnx(net, size="dynamic"), _x((1, 9, 7, 3), high=255.0))


def test_the_shipped_model_with_its_trained_weights(tmp_path):
    h5 = REPO / "weights" / "darkpy_sr_x2.h5"
    if not h5.exists():
        pytest.skip("weights/darkpy_sr_x2.h5 is not in this checkout")
    net = darkpy.load(h5)
    path = tmp_path / "sr.onnx"
    export_onnx(net, path, size="dynamic")
    import onnx

    model = onnx.load(str(path))
    compare(net, model, _x((1, 12, 16, 3), high=255.0))


def test_an_h5_carries_its_class_names_into_the_metadata(tmp_path):
    net = randomize(slim(shared_path("darknet-cfg", "yolov2-tiny.cfg")), seed=5)
    names = [f"class{k}" for k in range(net.layers[-1].classes)]
    darkpy.save(net, tmp_path / "tiny.h5", extras={"names": names})
    loaded = darkpy.load(tmp_path / "tiny.h5")
    model = export_onnx(loaded, size="64x64", heads="decoded")
    meta = _meta(model)
    assert json.loads(meta["names"]) == names
    assert meta["darknet_cfg"].startswith("[net]")
    assert [i.name for i in model.graph.input] == ["input", "image_size"]
    assert [o.name for o in model.graph.output] == ["boxes", "objectness", "scores"]


def test_export_writes_the_file_atomically(tmp_path):
    net = randomize(darkpy.load(REPO / "cfg" / "srcnn.cfg"))
    path = tmp_path / "out" / "srcnn.onnx"
    model = darkpy.export_onnx(net, path, size="dynamic")
    assert path.read_bytes() == model.SerializeToString()
    assert [p.name for p in path.parent.iterdir()] == ["srcnn.onnx"]  # no temporary left
    assert Path(path).stat().st_size > 1000
