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


# a network whose rows have every kind of cell: a route of two shapes, empty filters and size
MIXED = CFG + """
[upsample]
stride=2

[route]
layers=-1,-4

[upsample]
stride=2
"""


def styled_text(ansi: str) -> list[tuple[str, str]]:
    """Each printed character with the SGR codes in force: what a terminal shows."""
    import re

    shown, style = [], ""
    for part in re.split(r"(\x1b\[[0-9;]*m)", ansi):
        if part.startswith("\x1b["):
            style = "" if part == "\x1b[0m" else style + part
        else:
            shown += [(char, style if char != "\n" else "") for char in part]
    return shown


@pytest.mark.parametrize("terminal", [False, True])
def test_info_table_prints_as_richs_table(tmp_path, terminal):
    """darkpy info lays its table out itself (rich's Table is slow); the reference is that
    Table: the same characters, and on a terminal the same styles on each."""
    import io
    from pathlib import Path

    from rich.console import Console

    from darkpy.cli.info import layer_cells, layer_table, rich_table
    from darkpy.info import summarize

    mixed = tmp_path / "mixed.cfg"
    mixed.write_text(MIXED)
    edsr = Path(__file__).resolve().parents[1] / "cfg" / "edsr_x2.cfg"
    tables = [(str(mixed), layer_cells(summarize(darkpy.load(mixed, params=False))))]
    if edsr.exists():
        tables.append((str(edsr), layer_cells(summarize(darkpy.load(edsr, params=False)))))
    cells = tables[0][1]
    tables += [("odd.cfg", cells), ("even.cfg!", cells), ("x", cells),
               ("a title longer than the table " * 3, cells),  # rich wraps it
               ("caf\u00e9 [bold]x[/bold] :smile:.cfg", cells)]
    widths = (120, 200, 60)  # 60: narrower than the table, rich squeezes columns

    def printed(renderable, width):
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=terminal,
                          color_system="standard" if terminal else None,
                          markup=False, emoji=False, highlight=False)
        console.print(renderable)
        return out.getvalue()

    ours_used = 0
    for title, rows in tables:
        for width in widths:
            ours = layer_table(title, rows, width)
            ours_used += not hasattr(ours, "add_row")
            mine, reference = printed(ours, width), printed(rich_table(title, rows), width)
            if terminal:
                assert styled_text(mine) == styled_text(reference), (title, width)
                assert "\x1b[1m" in reference and "\x1b[3m" in reference
            else:
                assert mine == reference, (title, width)
    assert ours_used >= 8  # most cases ran the plain layout, not rich's


def test_info_output_is_richs_table(cfg):
    import io

    from rich.console import Console

    from darkpy.cli.info import layer_cells, rich_table
    from darkpy.info import summarize

    result = runner.invoke(app, ["info", str(cfg)])
    assert result.exit_code == 0, result.output
    out = io.StringIO()
    Console(file=out, width=120, markup=False, emoji=False, highlight=False).print(
        rich_table(str(cfg), layer_cells(summarize(darkpy.load(cfg, params=False)))))
    assert result.stdout.startswith(out.getvalue())
    assert result.stdout[len(out.getvalue()):].startswith("layers: 3 ")
