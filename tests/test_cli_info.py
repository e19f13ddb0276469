"""`darkpy info`, `--help`, `--version`, `convert`, and one-line errors with exit code 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app

runner = CliRunner()

CFG = """[net]
width=16
height=16
channels=3

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[convolutional]
filters=4
size=1
activation=linear
"""


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "tiny.cfg"
    path.write_text(CFG)
    return path


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and darkpy.__version__ in result.stdout
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("info", "convert", "convert-cfg"):
        assert command in result.stdout


def test_info_rows_params_flops(cfg):
    result = runner.invoke(app, ["info", str(cfg)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    # conv 3x3 3->8: 8*27 + 8 = 224 params; 2*27*8*16*16 = 110,592 FLOPs
    assert "224" in out and "16x16x3" in out and "16x16x8" in out and "8x8x8" in out
    assert "8x8x4" in out
    # totals: 224 + (4*8 + 4) = 260
    assert "parameters: 260" in out
    result = runner.invoke(app, ["info", str(cfg), "--width", "32", "--height", "8"])
    assert "4x16x4" in result.stdout.replace(" ", "") or "16x4x4" in result.stdout


def test_info_bad_cfg_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text(CFG.replace("filters=8", "filtres=8"))
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{bad}:7: unknown key `filtres`" in result.output and "did you mean `filters`" in result.output
    missing = runner.invoke(app, ["info", str(tmp_path / "nope.cfg")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_cli_subprocess_no_traceback(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text(CFG.replace("size=3", "size=x"))
    proc = subprocess.run([sys.executable, "-m", "darkpy", "info", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "expects an integer" in proc.stderr


def test_convert_cfg_plus_weights_to_h5(tmp_path, cfg):
    net = darkpy.load(cfg)
    rng = np.random.default_rng(0)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.standard_normal(shape).astype(np.float32))
    weights = tmp_path / "tiny.weights"
    darkpy.save(net, weights)
    out = tmp_path / "tiny.h5"
    result = runner.invoke(app, ["convert", str(cfg), str(weights), str(out)])
    assert result.exit_code == 0, result.output
    back = darkpy.load(out)
    x = rng.standard_normal((1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    truncated = tmp_path / "short.weights"
    truncated.write_bytes(weights.read_bytes()[:-8])
    result = runner.invoke(app, ["convert", str(cfg), str(truncated), str(tmp_path / "x.h5")])
    assert result.exit_code == 2 and "truncated" in result.output
    assert not (tmp_path / "x.h5").exists()
