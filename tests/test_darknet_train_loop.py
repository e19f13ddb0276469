"""darknet's detector training loop (darkpy.train.darknet.loop) on a tiny [yolo] network:
batch/subdivisions accumulation, burn_in and steps rates, SGD with decay on weights only
scaled by batch, `seen`, checkpoint names, -clear, bad labels, and the `darkpy train` CLI."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.api import read_sections
from darkpy.cli import app
from darkpy.io.darknet_weights import (
    WeightsHeader,
    load_darknet_weights,
    save_darknet_weights,
)
from darkpy.network import Network
from darkpy.reporting import Reporter
from darkpy.train.darknet.loop import DarknetTrainer, train_detector
from darkpy.train.darknet.step import set_arithmetic
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
burn_in=2
power=4
max_batches=3
policy=steps
steps=2
scales=.1
flip=0
hue=0
saturation=1
exposure=1

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
jitter=0
random=0
"""

LABELS = {"a": "0 0.25 0.25 0.25 0.25\n1 0.7 0.6 0.5 0.5\n",
          "b": "1 0.5 0.5 0.3 0.4\n",
          "c": "0 0.6 0.3 0.2 0.2\n7 0.5 0.5 0.2 0.2\n"}  # class 7 is out of range


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_detection_set(tmp_path, LABELS, classes=2)
    (tmp_path / "tiny.cfg").write_text(CFG)
    return tmp_path


class Collect(Reporter):
    def __init__(self):
        self.reports, self.messages, self.saved = [], [], []

    def start(self, iteration, total, info):
        self.info = info

    def iteration(self, report):
        self.reports.append(report)

    def checkpoint(self, iteration, path):
        self.saved.append(path.name)

    def message(self, text):
        self.messages.append(text)


def test_rates_seen_checkpoints_and_problems(project):
    out = Collect()
    result = train_detector("tiny.cfg", "obj.data", reporter=out)
    # darknet's get_current_rate: burn_in (1/2)^4, then steps: x.1 from batch 2 on
    assert [r.learning_rate for r in out.reports] == pytest.approx([0.01 / 16, 0.001, 0.001])
    assert [r.images for r in out.reports] == [4, 8, 12]
    assert result.seen == 12 and result.iteration == 3
    assert out.saved == ["tiny_final.weights"]
    net = Network(read_sections(project / "tiny.cfg"))
    assert load_darknet_weights(net, project / "backup" / "tiny_final.weights").seen == 12
    losses = [r.loss for r in out.reports]
    assert all(np.isfinite(losses))
    assert out.reports[1].avg_loss == pytest.approx(0.9 * losses[0] + 0.1 * losses[1])
    assert any("c.txt:2" in m and "class 7" in m for m in out.messages)
    assert result.problems == "skipped 1 label line"


def test_one_update_is_darknets_sgd(project):
    """The first update from a known start equals w - lr/B (g + decay B w) for weights and
    b - lr/B g for biases and scales, g summed over both minibatches (computed separately)."""
    trainer = DarknetTrainer("tiny.cfg", "obj.data")
    start = {(l.index, n): l.params[n].copy() for l in trainer.network.layers for n in l.params}
    indices = trainer.loader.pick(0, 4)
    x, truth, _ = trainer.loader.batch(0, 4, indices)
    # the same gradients by hand: a twin network, the two minibatches, summed
    twin = Network(read_sections(project / "tiny.cfg"))
    set_arithmetic(twin, exact=False)  # the trainer's (default) arithmetic
    for layer in twin.layers:
        for name in layer.params:
            layer.params[name][...] = start[(layer.index, name)]
        layer.invalidate()
    twin.zero_grads()
    for part in (slice(0, 2), slice(2, 4)):
        twin.layers[-1].set_truth(truth[part], 32, 32)
        twin.forward(x[part], train=True)
        twin.backward(None)
    trainer.step(indices)
    lr, batch, decay = np.float32(0.01 / 16), 4, np.float32(0.0005)
    for layer in trainer.network.layers:
        for name in layer.trainable():
            w0 = start[(layer.index, name)]
            g = twin.layers[layer.index].grads[name]
            want = w0 + lr / batch * (-g - (decay * batch * w0 if name == "weights" else 0))
            np.testing.assert_allclose(layer.params[name], want, rtol=1e-5, atol=1e-8,
                                       err_msg=f"layer {layer.index} {name}")


def test_released_weights_need_clear(project):
    net = Network(read_sections(project / "tiny.cfg"))
    save_darknet_weights(net, project / "start.weights", WeightsHeader(0, 2, 0, seen=400))
    out = Collect()
    result = train_detector("tiny.cfg", "obj.data", "start.weights", reporter=out)
    assert result.iteration == 100 and not out.reports
    assert any("nothing to train" in m and "--clear" in m for m in out.messages)
    result = train_detector("tiny.cfg", "obj.data", "start.weights", clear=True, max_batches=1)
    assert result.seen == 4


def test_backbone_weights_load_the_layers_they_hold(project):
    net = Network(read_sections(project / "tiny.cfg"))
    path = project / "backbone.weights"
    save_darknet_weights(net, path)
    data = path.read_bytes()
    floats_of_last_conv = 14 + 14 * 8
    path.write_bytes(data[: len(data) - 4 * floats_of_last_conv])
    trainer = DarknetTrainer("tiny.cfg", "obj.data", path, max_batches=1)
    assert trainer.loaded_layers == 2


def test_checkpoint_schedule():
    trainer = DarknetTrainer.__new__(DarknetTrainer)
    trainer.max_batches = 5000
    assert trainer._periodic(100) == ["last"]
    assert trainer._periodic(1000) == ["1000", "last"]
    assert trainer._periodic(1050) == []
    trainer.max_batches = 500200
    assert trainer._periodic(1000) == ["last"]
    assert trainer._periodic(20000) == ["20000", "last"]


def test_cli_trains_a_detector_and_keeps_sr_options_apart(project):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "tiny.cfg", "--data", "obj.data", "--iterations", "1"])
    assert result.exit_code == 0, result.output
    assert "1: " in result.output and " avg, " in result.output
    assert (project / "backup" / "tiny_final.weights").is_file()
    bad = runner.invoke(app, ["train", "tiny.cfg", "--data", "obj.data", "--out", "run"])
    assert bad.exit_code == 2 and "super-resolution options" in bad.output
    missing = runner.invoke(app, ["train", "tiny.cfg", "--data", "nothing.data"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_cli_trains_alexeyab_ciou_head_and_prints_his_line(project):
    """A [yolo] with AlexeyAB's keys trains with his loss and the log gives his numbers."""
    (project / "v4.cfg").write_text(CFG.replace("random=0\n", "random=0\niou_loss=ciou\n"
                                                "iou_normalizer=0.07\nscale_x_y=1.05\n"))
    result = CliRunner().invoke(app, ["train", "v4.cfg", "--data", "obj.data", "--iterations",
                                      "1"])
    assert result.exit_code == 0, result.output
    assert "Region 3 Avg (IOU: " in result.output and "total_loss = " in result.output
    trainer = DarknetTrainer("v4.cfg", "obj.data")
    assert trainer.flavor == "alexeyab" and trainer.max_boxes == 200
    assert all(layer.darknet_flavor == "alexeyab" for layer in trainer.network.layers)


def test_detector_trains_with_mixup_blur_noise_and_says_cutmix_is_ignored(project):
    (project / "mix.cfg").write_text(CFG.replace("flip=0\n", "flip=0\nmixup=1\nblur=1\n"
                                                 "gaussian_noise=8\n"))
    out = Collect()
    trainer = DarknetTrainer("mix.cfg", "obj.data")
    assert (trainer.aug.mixup, trainer.aug.blur, trainer.aug.gaussian_noise) == (1, 1, 8)
    trainer.run(out, iterations=3)
    assert all(np.isfinite([r.loss for r in out.reports]))
    assert not any("ignored" in m for m in out.messages)
    # AlexeyAB's detection loader drops cutmix (which overrides mixup): darkpy says so
    (project / "cut.cfg").write_text(CFG.replace("flip=0\n", "flip=0\nmixup=1\ncutmix=1\n"))
    out = Collect()
    DarknetTrainer("cut.cfg", "obj.data").run(out, iterations=1)
    assert any("ignored for a detector" in m and "cutmix=1" in m for m in out.messages)
