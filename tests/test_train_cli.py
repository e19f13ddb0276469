"""`darkpy train`: a run from the command line, --resume, and one-line errors (exit 2)."""
from __future__ import annotations

import csv

import numpy as np
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from darkpy.io import image as io

runner = CliRunner()

CFG = """
[net]
batch=2
width=5
height=5
channels=3
max_batches=3
learning_rate=0.001
adam=1
decay=0

[convolutional]
filters=12
size=3
pad=1
activation=linear

[shuffler]
scale=2
"""


def _setup(tmp_path):
    cfg = tmp_path / "t.cfg"
    cfg.write_text(CFG)
    rng = np.random.default_rng(0)
    io.write_image(tmp_path / "data" / "a.png", rng.integers(0, 256, (16, 18, 3), dtype=np.uint8))
    io.write_image(tmp_path / "data" / "b.png", rng.integers(0, 65536, (14, 12), dtype=np.uint16))
    io.write_image(tmp_path / "v.png", rng.integers(0, 256, (16, 18, 3), dtype=np.uint8))
    return cfg


def _rows(run):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_then_resume_for_more(tmp_path):
    cfg = _setup(tmp_path)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(cfg), "--data", str(tmp_path / "data"), "--valid",
                                 str(tmp_path / "v.png"), "--out", str(run), "--checkpoint-every", "2"])
    assert result.exit_code == 0, result.output
    assert "3/3 iterations" in result.output and "best validation PSNR" in result.output
    assert "PSNR" in result.output and "bicubic" in result.output
    assert "implicit [cost] appended" in result.output
    for name in ("run.json", "log.csv", "checkpoint.json", "best.h5", "model.h5"):
        assert (run / name).is_file(), name
    assert len(_rows(run)) == 3
    assert darkpy.load(run / "model.h5").layers[-1].kind == "shuffler"
    again = runner.invoke(app, ["train", "--resume", str(run), "--iterations", "5"])
    assert again.exit_code == 0, again.output
    assert "resuming after iteration 3" in again.output and "5/5 iterations" in again.output
    assert [r["iteration"] for r in _rows(run)] == ["1", "2", "3", "4", "5"]


def test_errors_are_one_line_and_exit_2(tmp_path):
    cfg = _setup(tmp_path)
    cases = [
        (["train", str(cfg), "--out", str(tmp_path / "r")], "--data"),
        (["train", str(cfg), "--data", str(tmp_path / "data")], "--out"),
        (["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r")], "MODEL"),
        (["train", "--resume", str(tmp_path / "r"), "--data", str(tmp_path / "data")], "drop --data"),
        (["train", "--resume", str(tmp_path)], "not a darkpy training run"),
        (["train", str(cfg), "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")], "no such file"),
        (["train", str(cfg), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"), "--scale", "3"],
         "does not match"),
        (["train", str(cfg), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"), "--loss", "huber"],
         "unknown loss"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
