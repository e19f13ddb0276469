"""EDSR / WDSR checkpoint conversion: committed official-layout fixtures (torch's outputs stored
beside them, so these run without torch), weight-norm folding by hand, layout inference and
errors, and, where torch is installed, fresh random models compared directly."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import darkpy
from darkpy.convert.cli import edsr_main, wdsr_main
from darkpy.convert.common import clean_state_dict, fold_weight_norm, strip_prefix
from darkpy.convert.edsr import convert_edsr, edsr_from_state_dict
from darkpy.convert.wdsr import convert_wdsr, wdsr_from_state_dict
from darkpy.errors import CheckpointError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sr"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
TOLERANCE = 1e-3  # on the 0..255 scale


def nhwc(a):
    return np.ascontiguousarray(np.transpose(a, (0, 2, 3, 1)))


def cli_args(spec) -> list[str]:
    args = []
    options = spec["options"]
    if "res_scale" in options:
        args += ["--res-scale", str(options["res_scale"])]
    if "mean" in options:
        args += ["--mean", ",".join(map(str, options["mean"]))]
    return args


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fixture_matches_torch_output(name, tmp_path, capsys):
    spec = MANIFEST[name]
    out = tmp_path / f"{name}.h5"
    main = edsr_main if spec["arch"] == "edsr" else wdsr_main
    assert main([str(FIXTURES / f"{name}.pt"), str(out), *cli_args(spec)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / f"{name}.cfg").exists()
    data = np.load(FIXTURES / f"{name}.npz")
    net = darkpy.load(out)
    result = net.forward(nhwc(data["input"]))
    expected = nhwc(data["output"])
    assert result.shape == expected.shape
    assert np.abs(result - expected).max() < TOLERANCE
    # the cfg written beside the h5 is the one embedded in it
    assert darkpy.load(tmp_path / f"{name}.cfg").cfg_text() == net.cfg_text()


def test_inferred_architecture():
    edsr = convert_edsr(FIXTURES / "edsr_x4.pt")
    assert (edsr.info["blocks"], edsr.info["features"], edsr.info["scale"]) == (2, 4, 4)
    assert edsr.info["res_scale"] == 1.0  # not the full model: the baselines' 1
    legacy = convert_edsr(FIXTURES / "edsr_x3_legacy.pt")  # legacy format, under 'state_dict'
    assert legacy.info["scale"] == 3
    np.testing.assert_allclose(legacy.info["mean"], [127.5, 102.0, 76.5], rtol=1e-6)  # read from sub_mean
    wdsr_a = convert_wdsr(FIXTURES / "wdsr_a_x2_legacy.pt")  # weight_g/_v under module.
    assert wdsr_a.info["architecture"] == "WDSR-A"
    assert (wdsr_a.info["blocks"], wdsr_a.info["features"], wdsr_a.info["expand_features"]) == (2, 4, 8)
    assert wdsr_a.info["mean_source"] == "DIV2K default"
    wdsr_b = convert_wdsr(FIXTURES / "wdsr_b_x3.pt")  # parametrizations.weight.original0/1
    assert wdsr_b.info["architecture"] == "WDSR-B"
    assert (wdsr_b.info["scale"], wdsr_b.info["expand_features"], wdsr_b.info["linear_features"]) == (3, 30, 4)


def test_fold_weight_norm_by_hand():
    v = np.array([[3.0, 4.0], [0.0, 2.0]], np.float32).reshape(2, 2, 1, 1)
    g = np.array([10.0, 3.0], np.float32).reshape(2, 1, 1, 1)
    expected = np.array([[6.0, 8.0], [0.0, 3.0]], np.float32).reshape(2, 2, 1, 1)  # g * v / |v| per row
    old = fold_weight_norm({"c.weight_g": g, "c.weight_v": v, "c.bias": np.zeros(2, np.float32)})
    new = fold_weight_norm({"c.parametrizations.weight.original0": g,
                            "c.parametrizations.weight.original1": v})
    np.testing.assert_allclose(old["c.weight"], expected, rtol=1e-6)
    np.testing.assert_allclose(new["c.weight"], expected, rtol=1e-6)
    assert set(old) == {"c.weight", "c.bias"} and set(new) == {"c.weight"}
    with pytest.raises(CheckpointError, match="lacks its direction"):
        fold_weight_norm({"c.weight_g": g})


def test_prefix_stripped_only_when_everywhere():
    assert strip_prefix({"module.a": 1, "module.b": 2}) == {"a": 1, "b": 2}
    assert strip_prefix({"module.a": 1, "b": 2}) == {"module.a": 1, "b": 2}
    state = clean_state_dict({"module.x.weight": np.ones((1, 1, 1, 1), np.float64)})
    assert state["x.weight"].dtype == np.float32


def _fixture_state(name):
    from darkpy.io.torch_checkpoint import load_state_dict

    return load_state_dict(FIXTURES / f"{name}.pt")


@pytest.mark.parametrize("name, drop", [("edsr_x2", ("sub_mean", "add_mean")), ("edsr_x3_legacy", ("add_mean",))])
def test_edsr_without_stored_mean_shifts(name, drop):
    """No mean shifts in the file: DIV2K's mean; only one: the other undoes it."""
    state = {k: v for k, v in _fixture_state(name).items() if not k.startswith(drop)}
    spec = MANIFEST[name]
    net = edsr_from_state_dict(state, res_scale=spec["options"].get("res_scale")).network()
    data = np.load(FIXTURES / f"{name}.npz")
    assert np.abs(net.forward(nhwc(data["input"])) - nhwc(data["output"])).max() < TOLERANCE


def test_unexpected_and_missing_tensors_are_refused():
    state = dict(_fixture_state("edsr_x2"))
    state["extra.weight"] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(CheckpointError, match="unexpected tensors extra.weight"):
        edsr_from_state_dict(state)
    state = dict(_fixture_state("edsr_x2"))
    del state["tail.1.weight"]
    with pytest.raises(CheckpointError, match="tail.1.weight"):
        edsr_from_state_dict(state)
    with pytest.raises(CheckpointError, match="looks like an EDSR checkpoint"):
        wdsr_from_state_dict(_fixture_state("edsr_x2"))
    with pytest.raises(CheckpointError, match="looks like a WDSR checkpoint"):
        edsr_from_state_dict(_fixture_state("wdsr_b_x3"))
    with pytest.raises(CheckpointError, match="head.0.weight"):
        wdsr_from_state_dict({"x.weight": np.zeros((1, 1, 1, 1), np.float32)})


def test_cli_errors_exit_2(tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    assert edsr_main([str(bogus), str(tmp_path / "out.h5")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()
    assert wdsr_main([str(FIXTURES / "wdsr_b_x3.pt"), str(tmp_path / "out.cfg")]) == 2


def test_res_scale_defaults_follow_published_models():
    from darkpy.convert.edsr import default_res_scale

    assert default_res_scale(32, 256) == 0.1
    assert default_res_scale(16, 64) == 1.0


# ------------------------------------------------------------------ with torch ------------

def _torch_models():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location(
        "make_sr_checkpoints", Path(__file__).resolve().parent / "fixtures" / "make_sr_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [
    dict(arch="edsr", blocks=3, feats=8, scale=2, res_scale=0.1, legacy=False, size=(9, 6)),
    dict(arch="edsr", blocks=2, feats=6, scale=3, mean=(0.3, 0.5, 0.7), legacy=True, size=(5, 7)),
    dict(arch="edsr", blocks=1, feats=4, scale=8, legacy=False, size=(3, 2)),
    dict(arch="wdsr_a", blocks=3, feats=6, block_feats=20, scale=3, res_scale=0.7, legacy=True, size=(6, 5)),
    dict(arch="wdsr_b", blocks=2, feats=10, scale=4, new_api=True, legacy=False, size=(4, 5)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['arch']}_x{c['scale']}")
def test_random_torch_models(case, tmp_path):
    sr = _torch_models()
    model = sr.randomize(sr.build(case).eval(), seed=7)
    h, w = case["size"]
    image = np.random.default_rng(5).uniform(0, 255, size=(3, 3, h, w)).astype(np.float32)
    expected = nhwc(sr.run(model, image))
    path = tmp_path / "model.pt"
    sr.save_checkpoint(model.state_dict(), path, case["legacy"])
    if case["arch"] == "edsr":
        converted = convert_edsr(path, res_scale=case.get("res_scale"))
    else:
        converted = convert_wdsr(path, mean=case.get("mean"), res_scale=case.get("res_scale", 1.0))
    net = converted.network()
    result = net.forward(nhwc(image))
    assert result.shape == expected.shape
    assert np.abs(result - expected).max() < TOLERANCE
    # darkpy counts the folded weights: torch's count less the frozen mean shifts and the g's
    frozen = sum(p.numel() for n, p in model.named_parameters()
                 if n.startswith(("sub_mean", "add_mean")) or n.endswith(("weight_g", "original0")))
    assert net.num_params() == sum(p.numel() for p in model.parameters()) - frozen
