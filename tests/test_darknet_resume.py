"""Detector training with augmentation on, multi-scale, and `--resume` continuing bit for bit
(darkpy.train.darknet.resume): N + M iterations in one go equal N, stop, resume, M."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.errors import InputError
from darkpy.train.darknet.loop import DarknetTrainer
from darkpy.train.darknet.resume import read_state, resume_training, state_path
from tests.detection_sets import write_detection_set

CFG = """[net]
batch=4
subdivisions=2
width=32
height=32
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.01
burn_in=0
max_batches=4
policy=constant
seed=5
hue=.1
saturation=1.5
exposure=1.5
{net_extra}

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[dropout]
probability=.2

[maxpool]
size=2
stride=2

[convolutional]
filters=14
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1
anchors=8,8, 16,16
classes=2
num=2
jitter=.2
random={random}
"""

LABELS = {"a": "0 0.25 0.25 0.25 0.25\n1 0.7 0.6 0.5 0.5\n",
          "b": "1 0.5 0.5 0.3 0.4\n",
          "c": "0 0.6 0.3 0.2 0.2\n"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_detection_set(tmp_path, LABELS, classes=2, shape=(40, 48))
    (tmp_path / "pj.cfg").write_text(CFG.format(net_extra="", random=0))
    (tmp_path / "ab.cfg").write_text(CFG.format(net_extra="mosaic=1\nflip=1", random=1))
    return tmp_path


def _params(trainer):
    return {(layer.index, name): value.copy() for layer in trainer.network.layers
            for name, value in layer.params.items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("cfg", ["pj.cfg", "ab.cfg"])
def test_resume_continues_bit_for_bit(project, cfg):
    whole = DarknetTrainer(cfg, "obj.data", backup="whole")
    whole.run()
    assert whole.iteration == 4
    first = DarknetTrainer(cfg, "obj.data", backup="split")
    first.run(iterations=2)
    last = project / "split" / f"{cfg[:-4]}_last.weights"
    assert last.is_file() and state_path(last).is_file()
    resumed = resume_training(project / "split")
    assert resumed.iteration == 2 and resumed.avg_loss == first.avg_loss
    resumed.run()
    assert resumed.iteration == 4
    _assert_same(_params(whole), _params(resumed))
    # without the optimiser's momentum (what darknet's file lacks) the run differs
    fresh = DarknetTrainer(cfg, "obj.data", last, backup="fresh")
    assert fresh.iteration == 2
    fresh.run()
    differs = any(not np.array_equal(v, _params(fresh)[k]) for k, v in _params(whole).items())
    assert differs


def test_resume_refuses_a_state_of_other_weights(project):
    DarknetTrainer("pj.cfg", "obj.data").run(iterations=1)
    path = project / "backup" / "pj_last.state.npz"
    meta, arrays = read_state(path)
    meta["seen"] += 4
    np.savez(path, meta=np.array(json.dumps(meta)),
             **{f"optimizer/{k}": v for k, v in arrays.items()})
    with pytest.raises(InputError, match="seen=8 but pj_last.weights says seen=4"):
        resume_training(project / "backup")
    with pytest.raises(InputError, match="no \\*_last.state.npz to resume"):
        resume_training(project)


def test_resume_keeps_map_scoring_and_the_best_map(project):
    trainer = DarknetTrainer("pj.cfg", "obj.data", calc_map=True, map_thresh=0.3)
    trainer.run(iterations=1)
    trainer.best_map = 0.42  # as if a validation had scored it; saved with the next checkpoint
    trainer.save("last")
    resumed = resume_training(project / "backup")
    assert resumed.calc_map and resumed.map_thresh == 0.3 and resumed.best_map == 0.42


def test_cli_resume(project):
    runner = CliRunner()
    first = runner.invoke(app, ["train", "pj.cfg", "--data", "obj.data", "--iterations", "3"])
    assert first.exit_code == 0, first.output
    # extend the finished run by two iterations
    more = runner.invoke(app, ["train", "--resume", "backup", "--iterations", "5"])
    assert more.exit_code == 0, more.output
    assert "5/5 iterations, 20 images seen" in more.output
    bad = runner.invoke(app, ["train", "pj.cfg", "--resume", "backup"])
    assert bad.exit_code == 2 and "drop MODEL" in bad.output


def test_multi_scale_trains_at_the_drawn_size(project):
    trainer = DarknetTrainer("ab.cfg", "obj.data", max_batches=1000)
    assert trainer.aug.lineage == "alexeyab" and trainer.aug.random == 1
    seen_shapes = []  # (input, head output) shapes of each training forward
    forward = trainer.network.forward

    def spy(x, train=False):
        out = forward(x, train=train)
        seen_shapes.append((x.shape, out.shape))
        return out

    trainer.network.forward = spy
    sizes = []
    for iteration in (0, 10, 20, 30, 40, 50):
        trainer.seen = iteration * trainer.optimizer.batch
        report = trainer.step()
        x_shape, out_shape = seen_shapes[-1]
        sizes.append(x_shape[1])
        assert x_shape[1] == x_shape[2]
        assert np.isfinite(report.loss)
        head = trainer.network.layers[-1]
        assert out_shape[1] == x_shape[1] // 2
        assert head.loss["count"] >= 0
    # init 32, random 1 (rand_coef 1.4): round(v + 1) * 32 -> 64, or 32 when v shrinks;
    # the first block takes the largest
    assert sizes[0] == 64 and set(sizes) == {32, 64}
