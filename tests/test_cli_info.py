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


def table_rows(output: str) -> list[list[str]]:
    """The layer rows of `darkpy info`: # layer [filters] size input output params FLOPs."""
    return [line.split() for line in output.splitlines() if line.split() and line.split()[0].isdigit()]


def test_info_rows_params_flops(cfg):
    result = runner.invoke(app, ["info", str(cfg)])
    assert result.exit_code == 0, result.output
    # conv 3x3 3->8: 8*27 + 8 = 224 params, 2*27*8 * 16*16 = 110,592 FLOPs; maxpool 2x2:
    # 4 compares per output, 4*8*8*8 = 2,048; conv 1x1 8->4: 4*8 + 4 = 36, 2*8*4 * 8*8 = 4,096
    assert table_rows(result.stdout) == [
        ["0", "convolutional", "8", "3x3/1", "16x16x3", "16x16x8", "224", "110.59k"],
        ["1", "maxpool", "2x2/2", "16x16x8", "8x8x8", "0", "2.05k"],
        ["2", "convolutional", "4", "1x1/1", "8x8x8", "8x8x4", "36", "4.10k"],
    ]
    assert "parameters: 260" in result.stdout  # 224 + 36
    # sizes print as width x height x channels, as darknet's summary does: 32 wide, 8 high
    result = runner.invoke(app, ["info", str(cfg), "--width", "32", "--height", "8"])
    assert result.exit_code == 0, result.output
    assert [row[-4:-1] for row in table_rows(result.stdout)] == [
        ["32x8x3", "32x8x8", "224"], ["32x8x8", "16x4x8", "0"], ["16x4x8", "16x4x4", "36"]]
    assert "FLOPs at 32x8" in result.stdout


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
