"""The training loop: a tiny network overfits, checkpoints resume bit for bit, models save."""
from __future__ import annotations

import csv
import os
import signal

import numpy as np
import pytest

import darkpy
from darkpy.errors import ConfigError, DarkpyError, InputError
from darkpy.reporting import Reporter
from darkpy.train import loop
from darkpy.train.model import initialise, network_scale, training_sections
from darkpy.train.options import TrainOptions
from darkpy.io import image as io

TINY = """
[net]
batch=4
subdivisions=2
width=6
height=6
channels=3
max_batches=12
learning_rate=0.002
adam=1
decay=0
seed=3

[mean_shift]
scale=127.5

[convolutional]
filters=6
size=3
pad=1
activation=relu

[dropout]
probability=0.25

[convolutional]
filters=12
size=3
pad=1
activation=linear

[shuffler]
scale=2

[mean_shift]
scale=127.5
reverse=1
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def images(tmp_path):
    """Two small smooth training images and one validation image."""
    folder = tmp_path / "train"
    yy, xx = np.mgrid[0:24, 0:28]
    for k in range(2):
        rgb = np.stack([120 + 80 * np.sin(xx / (4.0 + k) + c) * np.cos(yy / 5.0) for c in range(3)], axis=2)
        io.write_image(folder / f"im{k}.png", np.clip(rgb, 0, 255).astype(np.uint8))
    valid = tmp_path / "valid.png"
    rgb = np.stack([128 + 60 * np.cos(xx / 3.0 + c) * np.sin(yy / 4.0) for c in range(3)], axis=2)
    io.write_image(valid, np.clip(rgb, 0, 255).astype(np.uint8))
    return folder, valid


def _params(network):
    return {(layer.index, name): value.copy() for layer in network.layers for name, value in layer.params.items()}


def _h5_params(path):
    net = darkpy.load(path)
    return _params(net)


def _log(run):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


# --- initialisation, cost, scale -------------------------------------------------------------

def test_initialisation_is_seeded_darknet_scaled_uniform(tmp_path):
    cfg = _write(tmp_path, "t.cfg", TINY)
    a, b, c = (darkpy.load(cfg) for _ in range(3))
    initialise(a, 1)
    initialise(b, 1)
    initialise(c, 2)
    w_a, w_b, w_c = (n.layers[1].get_param("weights") for n in (a, b, c))
    assert np.array_equal(w_a, w_b) and not np.array_equal(w_a, w_c)
    bound = np.sqrt(2.0 / (3 * 3 * 3))  # fan_in = Cin*K*K of the first convolution
    assert np.abs(w_a).max() <= bound and np.abs(w_a).max() > 0.9 * bound
    assert abs(float(w_a.mean())) < 0.1 * bound
    assert np.array_equal(a.layers[1].get_param("biases"), np.zeros(6))
    # the very draw darkpy train has always made (runs and shipped models stay reproducible):
    # one generator per layer seeded by (seed, index), darknet's (Cout, Cin, K, K) order
    want = bound * np.random.default_rng([1, 1]).uniform(-1.0, 1.0, size=w_a.shape)
    assert np.array_equal(w_a, want.astype(np.float32))


def test_implicit_cost_is_appended_and_not_saved(tmp_path):
    cfg = _write(tmp_path, "t.cfg", TINY)
    sections = darkpy.api.read_sections(cfg)
    out, added = training_sections(sections, TrainOptions(loss="l1", batch=8))
    assert added and out[-1].kind == "cost" and out[-1].options == {"type": "L1"}
    assert out[0].options["batch"] == "8" and sections[0].options["batch"] == "4"  # not mutated
    out2, added2 = training_sections(sections, TrainOptions(loss="mse"))
    assert out2[-1].options == {"type": "sse"}
    again, added3 = training_sections(out2, TrainOptions())
    assert not added3 and len(again) == len(out2)
    with pytest.raises(ConfigError, match="unknown loss"):
        training_sections(sections, TrainOptions(loss="huber"))


def test_scale_is_read_from_the_network_or_given_for_pre_upsampling(tmp_path):
    net = darkpy.load(_write(tmp_path, "t.cfg", TINY))
    assert network_scale(net, (6, 6), None) == (2, False)
    with pytest.raises(ConfigError, match="does not match"):
        network_scale(net, (6, 6), 3)
    same = darkpy.load(_write(tmp_path, "s.cfg", TINY.replace("filters=12", "filters=3")
                              .replace("[shuffler]\nscale=2", "")))
    assert network_scale(same, (8, 8), None) == (2, True)
    assert network_scale(same, (9, 9), 3) == (3, True)


# --- training ----------------------------------------------------------------------------------

def test_tiny_network_overfits_tiny_data(tmp_path):
    """One 16x16 image, always the same patch (no augmentation): MSE falls 100x."""
    folder = tmp_path / "one"
    yy, xx = np.mgrid[0:16, 0:16]
    rgb = np.stack([40 + 12 * xx + 3 * c * yy for c in range(3)], axis=2)
    io.write_image(folder / "ramp.png", np.clip(rgb, 0, 255).astype(np.uint8))
    cfg = _write(tmp_path, "t.cfg", TINY.replace("[dropout]\nprobability=0.25\n", ""))
    trainer = loop.start(cfg, [folder], tmp_path / "run", loss="sse", augment=False, patch=8,
                         max_batches=150, learning_rate=0.01, batch=1, subdivisions=1,
                         checkpoint_every=150)
    result = trainer.run()
    assert result.iteration == 150 and not result.interrupted
    losses = [float(r["loss"]) for r in _log(tmp_path / "run")]
    assert len(losses) == 150
    assert losses[-1] < losses[0] / 100, (losses[0], losses[-1])


def _train(tmp_path, name, images, **kwargs):
    folder, valid = images
    cfg = tmp_path / "tiny.cfg"
    if not cfg.exists():
        cfg.write_text(TINY)
    return loop.start(cfg, [folder], tmp_path / name, valid=[valid], checkpoint_every=4, **kwargs)


def test_resume_after_ctrl_c_and_after_a_crash_is_bit_exact(tmp_path, images):
    straight = _train(tmp_path, "straight", images).run()
    assert straight.iteration == 12
    reference = _h5_params(tmp_path / "straight" / "model.h5")
    ref_log = _log(tmp_path / "straight")

    class CtrlC(Reporter):  # SIGINT in the middle of iteration 6's bookkeeping
        def iteration(self, progress):
            if progress.iteration == 6:
                os.kill(os.getpid(), signal.SIGINT)

    first = _train(tmp_path, "stopped", images).run(CtrlC())
    assert first.interrupted and first.iteration == 6
    assert (tmp_path / "stopped" / "checkpoints" / "00000006").is_dir()
    assert not (tmp_path / "stopped" / "model.h5").exists()
    done = loop.resume(tmp_path / "stopped")
    assert done.iteration == 12 and not done.interrupted

    class Crash(Reporter):  # dies after iteration 10: the checkpoint of 8 survives
        def iteration(self, progress):
            if progress.iteration == 10:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        _train(tmp_path, "crashed", images).run(Crash())
    assert len(_log(tmp_path / "crashed")) == 10
    loop.resume(tmp_path / "crashed")

    for run in ("stopped", "crashed"):
        params = _h5_params(tmp_path / run / "model.h5")
        assert params.keys() == reference.keys()
        for key in reference:
            assert np.array_equal(params[key], reference[key]), (run, key)
        rows = _log(tmp_path / run)
        assert [r["iteration"] for r in rows] == [str(i) for i in range(1, 13)]
        assert [r["loss"] for r in rows] == [r["loss"] for r in ref_log]
        assert [r["valid_psnr"] for r in rows] == [r["valid_psnr"] for r in ref_log]


def test_checkpoints_are_pruned_and_the_pointer_names_the_newest(tmp_path, images):
    _train(tmp_path, "run", images, keep_checkpoints=2).run()
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["00000008", "00000012"]
    import json

    assert json.loads((run / "checkpoint.json").read_text()) == {"iteration": 12, "path": "checkpoints/00000012"}


def test_best_model_and_final_model_are_usable_without_the_implicit_cost(tmp_path, images):
    result = _train(tmp_path, "run", images).run()
    run = tmp_path / "run"
    best = darkpy.load(run / "best.h5")
    final = darkpy.load(run / "model.h5")
    assert best.layers[-1].kind == "mean_shift" and final.layers[-1].kind == "mean_shift"
    rows = [r for r in _log(run) if r["valid_psnr"]]
    assert [r["iteration"] for r in rows] == ["4", "8", "12"]
    psnrs = [float(r["valid_psnr"]) for r in rows]
    assert result.best_psnr == pytest.approx(max(psnrs), abs=1e-4)
    assert best.metadata["training"]["iteration"] == result.best_iteration
    assert all(float(r["bicubic_psnr"]) == float(rows[0]["bicubic_psnr"]) for r in rows)
    out = best.forward(np.zeros((1, 5, 7, 3), np.float32))
    assert out.shape == (1, 10, 14, 3)


def test_fine_tuning_starts_from_the_given_weights(tmp_path, images):
    _train(tmp_path, "first", images).run()
    start = _h5_params(tmp_path / "first" / "model.h5")
    trainer = _train(tmp_path, "tuned", images, weights=tmp_path / "first" / "model.h5")
    now = _params(trainer.network)
    for key, value in start.items():
        assert np.array_equal(now[key], value)
    # an .h5 as the model itself does the same
    trainer2 = loop.start(tmp_path / "first" / "model.h5", [images[0]], tmp_path / "tuned2")
    for key, value in start.items():
        assert np.array_equal(_params(trainer2.network)[key], value)


def test_resume_can_extend_a_finished_run(tmp_path, images):
    _train(tmp_path, "run", images, max_batches=4).run()
    result = loop.resume(tmp_path / "run", max_batches=6)
    assert result.iteration == 6 and len(_log(tmp_path / "run")) == 6


def test_errors_users_can_hit(tmp_path, images):
    folder, _ = images
    cfg = _write(tmp_path, "t.cfg", TINY)
    _train(tmp_path, "run", images, max_batches=1).run()
    with pytest.raises(InputError, match="already holds a run"):
        loop.start(cfg, [folder], tmp_path / "run")
    with pytest.raises(InputError, match="not a darkpy training run"):
        loop.resume(tmp_path)
    with pytest.raises(InputError, match="no such"):
        loop.start(cfg, [tmp_path / "nothing"], tmp_path / "other")
    with pytest.raises(InputError, match="at least"):
        loop.start(cfg, [folder], tmp_path / "other", patch=40)
    assert not (tmp_path / "other").exists()
    with pytest.raises(DarkpyError):
        loop.start(tmp_path / "missing.cfg", [folder], tmp_path / "other")


def test_pre_upsampling_network_trains_on_bicubic_inputs(tmp_path, images):
    """An SRCNN-style network keeps the size: it gets the bicubic upscaling of the LR patch."""
    folder, valid = images
    cfg = _write(tmp_path, "pre.cfg", """
[net]
batch=2
width=8
height=8
channels=3
adam=1

[mean_shift]
scale=127.5

[convolutional]
filters=4
size=3
pad=1
activation=relu

[convolutional]
filters=3
size=3
pad=1
activation=linear

[mean_shift]
scale=127.5
reverse=1

[cost]
type=sse
""")
    trainer = loop.start(cfg, [folder], tmp_path / "run", valid=[valid], max_batches=3, checkpoint_every=3)
    assert trainer.info["pre_upsample"] and trainer.info["scale"] == 2 and not trainer.info["implicit_cost"]
    x, y = trainer.sampler.batch(0, 2)
    assert x.shape == y.shape == (2, 8, 8, 3)
    result = trainer.run()
    assert result.iteration == 3 and result.best_psnr is not None
    assert darkpy.load(tmp_path / "run" / "model.h5").layers[-1].kind == "cost"  # the user's own cost stays


@pytest.mark.parametrize("name", ["srcnn", "darkpy_sr_x2"])
def test_training_cfgs_and_their_yaml_twins_agree(name):
    from pathlib import Path

    from darkpy.config.cfg import read_cfg
    from darkpy.config.yaml import read_yaml

    folder = Path(__file__).resolve().parents[1] / "cfg"
    as_cfg = [(s.kind, dict(s.options)) for s in read_cfg(folder / f"{name}.cfg")]
    as_yaml = [(s.kind, dict(s.options)) for s in read_yaml(folder / f"{name}.yaml")]
    assert as_cfg == as_yaml
    net = darkpy.load(folder / f"{name}.cfg")
    scale, pre = network_scale(net, (net.input_shape[0], net.input_shape[1]), None)
    assert (scale, pre) == ((2, True) if name == "srcnn" else (2, False))
    if name == "srcnn":  # 8 convolutions of 64 3x3 filters with ReLU, then one to RGB
        convs = [layer for layer in net.layers if layer.kind == "convolutional"]
        assert [(c.filters, c.size, c.opts.activation) for c in convs] == [(64, 3, "relu")] * 8 + [(3, 3, "linear")]
        assert net.layers[-1].kind == "cost" and net.layers[-1].opts.type == "sse"
