"""darkpy/cli/plain_values.py converts plain values without pydantic: every answer (value,
error message, exit code) must be the one typer's own conversion gives. The reference is
typer itself: each command line runs twice, with darkpy's converter and with typer's."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import pytest
import typer
from typer.testing import CliRunner

import darkpy.cli  # noqa: F401  (installs the converter)

core = pytest.importorskip("typer.core")
patched = getattr(core._TyperParameter, "get_runtime_param", None)
if patched is None or not getattr(patched, "darkpy_plain", False):
    pytest.skip("this typer converts through click (no pydantic to avoid)",
                allow_module_level=True)


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def cmd(
        path: Path = typer.Argument(...),
        count: Optional[int] = typer.Option(None, "--count"),
        ranged: int = typer.Option(2, "--ranged", min=0, max=3),
        ratio: float = typer.Option(0.25, "--ratio", min=0.0, max=1.0),
        scale: float = typer.Option(1.5, "--scale"),
        name: Optional[str] = typer.Option(None, "--name"),
        existing: Optional[Path] = typer.Option(None, "--existing", exists=True, dir_okay=False),
        many: Optional[List[int]] = typer.Option(None, "--many"),
        inputs: Optional[List[Path]] = typer.Option(None, "--input"),
        out: Path = typer.Option(Path("out"), "--out"),
        flag: bool = typer.Option(False, "--flag"),
    ):
        typer.echo(repr((path, count, ranged, ratio, scale, name, existing, many, inputs, out,
                         flag)))

    @app.command()
    def other():
        pass

    return app


def run(args: list[str]):
    done = CliRunner().invoke(make_app(), args)
    return done.exit_code, done.output


def cases(tmp_path: Path) -> list[list[str]]:
    a_file = tmp_path / "a file.cfg"
    a_file.write_text("x")
    return [
        ["cmd", "x.cfg"],
        ["cmd", str(a_file), "--existing", str(a_file)],
        ["cmd", "x", "--existing", str(tmp_path / "missing")],
        ["cmd", "x", "--existing", str(tmp_path)],
        ["cmd", "-", "--name", "", "--flag"],
        ["cmd", "x", "--count", "12", "--ranged", "3", "--ratio", "1"],
        ["cmd", "x", "--count", "-0", "--ranged", "0", "--ratio", "0.0"],
        ["cmd", "x", "--count", "007", "--scale", "1.", "--ratio", ".5"],
        ["cmd", "x", "--count", "4.0"],
        ["cmd", "x", "--count", "abc"],
        ["cmd", "x", "--count", " 5"],
        ["cmd", "x", "--count", "+5"],
        ["cmd", "x", "--count", "1_000"],
        ["cmd", "x", "--count", "99999999999999999999999"],
        ["cmd", "x", "--ranged", "4"],
        ["cmd", "x", "--ranged", "-1"],
        ["cmd", "x", "--ratio", "1.5"],
        ["cmd", "x", "--ratio", "nan"],
        ["cmd", "x", "--scale", "1e3"],
        ["cmd", "x", "--scale", "-2.50"],
        ["cmd", "x", "--scale", "inf"],
        ["cmd", "x", "--many", "1", "--many", "2", "--input", "a", "--input", "b"],
        ["cmd", "x", "--many", "z"],
        ["cmd", "x", "--name", " caf\u00e9 [x] "],
        ["cmd", "x", "--out", str(a_file), "--existing", str(a_file)],
        ["other"],
    ]


def test_plain_conversion_answers_as_typer_does(tmp_path, monkeypatch):
    ours = [run(args) for args in cases(tmp_path)]
    monkeypatch.setattr(core._TyperParameter, "get_runtime_param", patched.typer_own)
    theirs = [run(args) for args in cases(tmp_path)]
    for args, mine, reference in zip(cases(tmp_path), ours, theirs):
        assert mine == reference, args
    # the comparison covers both outcomes: values that convert and values refused
    assert {code for code, _ in theirs} == {0, 2}
