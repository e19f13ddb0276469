"""benchmarks/peers.py: the peer runtimes agree with darkpy on a small network, a runtime that
is not installed is skipped, and the table names the fastest peer and darkpy's ratio."""
from __future__ import annotations

import builtins
import sys
from pathlib import Path

import numpy as np
import pytest

import darkpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peers  # noqa: E402

CFG = """[net]
width=24
height=16
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=6
size=1
stride=1
pad=1
activation=linear
"""


@pytest.fixture()
def network(tmp_path):
    from darkpy.export.verify import random_parameters

    cfg = tmp_path / "small.cfg"
    cfg.write_text(CFG)
    return random_parameters(darkpy.load(cfg, params=False))


@pytest.mark.parametrize("name", [peers.ONNXRUNTIME, peers.OPENVINO])
def test_onnx_peers_compute_darkpys_output(network, tmp_path, name):
    pytest.importorskip("onnx")
    pytest.importorskip(peers.PACKAGES[name])
    x = np.random.default_rng(1).random((1, 16, 24, 3), dtype=np.float32)
    order = peers.export(network, tmp_path / "small.onnx", x)
    assert order == [len(network.layers) - 1]
    runners = [peers.darkpy_runner(network, x),
               peers.onnx_runner(name, tmp_path / "small.onnx", x, 1, order)]
    diff, scale = peers.check(runners)[name]
    assert scale > 0.1 and diff < 1e-4 * scale
    times = peers.best_times(runners, 2)
    assert set(times) == {peers.DARKPY, name} and all(t > 0 for t in times.values())


def test_a_runtime_that_is_not_installed_is_skipped(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name.split(".")[0] == "openvino":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "openvino", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_openvino)
    chosen = peers.available(",".join(peers.RUNTIMES))
    assert peers.OPENVINO not in chosen and chosen[0] == peers.DARKPY
    assert "OpenVINO: openvino not installed, skipped" in capsys.readouterr().out


def test_table_names_the_fastest_peer_and_the_ratio():
    times = {peers.DARKPY: 1.0, peers.ONNXRUNTIME: 4.0, peers.OPENVINO: 2.5, peers.TORCH: 8.0}
    names = list(peers.RUNTIMES)
    cells, fastest, ratio = peers.row_cells(times, {peers.DARKPY: 2**30}, names)
    assert cells[0] == "1 s, 1.00 GiB" and cells[3] == "8 s"
    assert fastest == "OpenVINO 2.5 s" and ratio == "0.40"
    # without peers there is nothing to compare with
    assert peers.row_cells({peers.DARKPY: 1.0}, {}, [peers.DARKPY])[1:] == ("—", "—")
