"""`darkpy upscale`: batches, failures and exit codes, never writing over inputs, models."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from darkpy.io import image as io
from darkpy.upscale.models import load_model, resolve_model, shipped_names
from upscale_nets import NEAREST_X2, nearest, nearest_network, write

runner = CliRunner()


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "nearest.h5"
    darkpy.save(nearest_network(tmp_path), path)
    return path


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (6, 4), dtype=np.uint16)
    io.write_image(folder / "a.png", rgb)
    io.write_image(folder / "b.tif", gray16)
    (folder / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated nonsense")
    return folder, rgb, gray16


def test_batch_finishes_the_good_files_and_reports_the_corrupt_one(tmp_path, model, inputs):
    folder, rgb, gray16 = inputs
    out = tmp_path / "out"
    result = runner.invoke(app, ["upscale", str(folder), "--model", str(model), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "c.jpg" in result.output and "1 input(s) failed" in result.output
    assert np.array_equal(io.read_image(out / "a_x2.png"), nearest(rgb))
    back = io.read_image(out / "b_x2.tif")
    assert back.dtype == np.uint16 and np.array_equal(back, nearest(gray16))
    assert not (out / "c_x2.jpg").exists()
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.tif"]  # no temp files left


def test_all_good_exits_zero_with_options(tmp_path, model, inputs):
    folder, rgb, gray16 = inputs
    out = tmp_path / "out"
    result = runner.invoke(app, ["upscale", str(folder / "b.tif"), "--model", str(model), "--out", str(out),
                                 "--tile", "3", "--ensemble", "--channel", "all", "--suffix", "_big"])
    assert result.exit_code == 0, result.output
    back = io.read_image(out / "b_big.tif")
    assert back.shape == (12, 8, 3) and np.array_equal(back[:, :, 0], nearest(gray16))


def test_never_writes_over_an_input(tmp_path, model, inputs):
    folder, _, _ = inputs
    before = (folder / "a.png").read_bytes()
    result = runner.invoke(app, ["upscale", str(folder / "a.png"), "--model", str(model),
                                 "--out", str(folder), "--suffix", ""])
    assert result.exit_code == 2
    assert "overwrite the input" in result.output and "Traceback" not in result.output
    assert (folder / "a.png").read_bytes() == before


def test_missing_input_is_reported_and_others_run(tmp_path, model, inputs):
    folder, _, _ = inputs
    out = tmp_path / "out"
    result = runner.invoke(app, ["upscale", str(folder / "a.png"), str(tmp_path / "ghost.png"),
                                 "--model", str(model), "--out", str(out)])
    assert result.exit_code == 1 and "ghost.png" in result.output
    assert (out / "a_x2.png").exists()


def test_bad_model_and_options_are_one_line_errors(tmp_path, inputs):
    folder, _, _ = inputs
    cfg = write(tmp_path, NEAREST_X2)
    for args, message in (
        (["--model", "no-such-model"], "available models"),
        (["--model", str(cfg)], "--weights"),
        (["--model", str(tmp_path / "missing.h5")], "no such model file"),
        (["--model", str(cfg), "--weights", str(tmp_path / "w.h5"), "--channel", "7"], "--channel"),
    ):
        result = runner.invoke(app, ["upscale", str(folder), *args, "--out", str(tmp_path / "o")])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_shipped_names_resolve_to_cfg_plus_h5(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "weights").mkdir()
    net = nearest_network(tmp_path)
    darkpy.save(net, tmp_path / "weights" / "tiny-x2.h5")
    (tmp_path / "cfg" / "tiny-x2.cfg").write_text(NEAREST_X2)
    (tmp_path / "cfg" / "cfg-only.cfg").write_text(NEAREST_X2)
    assert shipped_names(tmp_path) == ["tiny-x2"]
    assert resolve_model("tiny-x2", root=tmp_path) == (tmp_path / "cfg" / "tiny-x2.cfg",
                                                       tmp_path / "weights" / "tiny-x2.h5")
    assert resolve_model("tiny_x2", root=tmp_path)[1] == tmp_path / "weights" / "tiny-x2.h5"
    loaded = load_model("tiny-x2", root=tmp_path)
    assert np.array_equal(loaded.layers[0].get_param("weights"), net.layers[0].get_param("weights"))
    with pytest.raises(darkpy.DarkpyError, match="cfg/cfg-only.cfg is there.*available models: tiny-x2"):
        resolve_model("cfg-only", root=tmp_path)
