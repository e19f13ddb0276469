"""`darkpy export MODEL OUT.onnx`: the thin CLI over darkpy.export_onnx."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from tests.onnx_util import network, randomize, run_onnx

runner = CliRunner()

DETECTOR = """[net]
width=32
height=32
channels=3

[convolutional]
filters=8
size=3
stride=2
pad=1
batch_normalize=1
activation=mish

[convolutional]
filters=14
size=1
activation=linear

[yolo]
classes=2
num=2
anchors=5,6,9,10
scale_x_y=1.05
"""


@pytest.fixture
def h5(tmp_path):
    path = tmp_path / "det.h5"
    net = randomize(network(DETECTOR, "det.cfg"))
    darkpy.save(net, path, extras={"names": ["cat", "dog"]})
    return path, net


def test_export_an_h5_with_decoded_heads(h5, tmp_path):
    path, _ = h5
    out = tmp_path / "det.onnx"
    result = runner.invoke(app, ["export", str(path), str(out), "--heads", "decoded",
                                 "--size", "64x48", "--batch", "1", "--opset", "13"])
    assert result.exit_code == 0, result.output
    assert "outputs boxes 1x1536x4, objectness 1x1536, scores 1x1536x2" in result.output
    import onnx

    model = onnx.load(str(out))
    assert model.opset_import[0].version == 13
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["names"]) == ["cat", "dog"]
    assert json.loads(meta["input"])["shape"] == [1, 3, 48, 64]
    x = np.random.default_rng(0).uniform(0, 1, (1, 48, 64, 3)).astype(np.float32)
    got = run_onnx(model, x, image_size=np.float32([[64, 48]]))
    assert got["scores"].shape == (1, 1536, 2) and np.isfinite(got["boxes"]).all()


def test_export_a_cfg_with_weights_raw(h5, tmp_path):
    path, _ = h5
    cfg = tmp_path / "det.cfg"
    cfg.write_text(DETECTOR)
    out = tmp_path / "raw.onnx"
    result = runner.invoke(app, ["export", str(cfg), str(out), "--weights", str(path),
                                 "--size", "dynamic"])
    assert result.exit_code == 0, result.output
    assert "inputs input batchx3xheightxwidth; outputs yolo_2 batchx14x?x?" in result.output


def test_verify_runs_onnxruntime_against_darkpy(h5, tmp_path):
    path, _ = h5
    for heads in ("raw", "decoded"):
        result = runner.invoke(app, ["export", str(path), str(tmp_path / f"{heads}.onnx"),
                                     "--heads", heads, "--verify"])
        assert result.exit_code == 0, result.output
        assert "ONNX Runtime vs darkpy: largest difference" in result.output
        assert "(yolo_2)" in result.output


@pytest.mark.parametrize("args,message", [
    (["{cfg}", "{out}"], "needs --weights"),
    (["{h5}", "{out}", "--heads", "boxes"], "heads 'boxes'"),
    (["{h5}", "{out}", "--size", "4x"], "size '4x'"),
    (["{h5}", "{out}", "--opset", "9"], "opset 9"),
    (["{bad}", "{out}", "--weights", "{bad_h5}"], "bad.cfg:6: [local] layer 0 cannot be exported"),
])
def test_errors_are_one_line_and_exit_2(h5, tmp_path, args, message):
    path, _ = h5
    cfg = tmp_path / "det.cfg"
    cfg.write_text(DETECTOR)
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\nwidth=8\nheight=8\nchannels=3\n\n[local]\nfilters=2\nsize=3\n"
                   "stride=1\npad=1\n")
    darkpy.save(network(bad.read_text(), str(bad)), tmp_path / "bad.h5")
    out = tmp_path / "x.onnx"
    values = {"cfg": cfg, "out": out, "h5": path, "bad": bad, "bad_h5": tmp_path / "bad.h5"}
    result = runner.invoke(app, ["export"] + [a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_help_explains_every_option():
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    for option in ("--weights", "--opset", "--batch", "--size", "--heads", "--names",
                   "--letterbox"):
        assert option in result.output


def test_verify_fails_when_the_graph_differs(h5, tmp_path, monkeypatch):
    import darkpy.export.verify as verify

    monkeypatch.setattr(verify, "compare_with_onnxruntime", lambda net, model: {"yolo_2": 0.5})
    path, _ = h5
    result = runner.invoke(app, ["export", str(path), str(tmp_path / "x.onnx"), "--verify"])
    assert result.exit_code == 1
    assert "differs from darkpy by more than 0.0001" in result.output
