"""Classifier training applies the cfg's augmentation: with hue and angle set the trainer
warns about nothing it leaves out, and its batches are not the batches of the same images
without augmentation (which are the images themselves, or their mirrors, after darknet's
HSV round trip)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from darkpy.io.image import load_image
from darkpy.train.darknet.augment import distort_darknet
from darkpy.train.darknet.loop import DarknetTrainer

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("darknet_train_oracle",
                                                  REPO / "tools" / "darknet_train_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Messages:  # darkpy.reporting.Reporter's training hooks, keeping the messages
    def __init__(self):
        self.texts = []

    def start(self, iteration, total, info):
        pass

    def iteration(self, report):
        pass

    def checkpoint(self, iteration, path):
        pass

    def message(self, text):
        self.texts.append(text)


def _trainer(work: Path, name: str, cfg_text: str) -> DarknetTrainer:
    cfg = work / f"{name}.cfg"
    cfg.write_text(cfg_text)
    return DarknetTrainer(cfg, work / "cls.data", clear=True, backup=work / name)


def test_classifier_hue_and_angle_are_applied(tmp_path):
    tool = _tool()
    tool.classifier_set(tmp_path)
    plain_text = tool.classifier_cfg(1)
    assert "angle=0\n" in plain_text and "hue=0\n" in plain_text
    augmented_text = plain_text.replace("angle=0\n", "angle=15\n").replace("hue=0\n", "hue=.1\n")
    plain = _trainer(tmp_path, "plain", plain_text)
    augmented = _trainer(tmp_path, "augmented", augmented_text)
    assert augmented.unapplied == []

    indices = [0, 1, 2, 3]
    x_plain, truth_plain, _ = plain.loader.batch(0, 4, indices)
    x_aug, truth_aug, _ = augmented.loader.batch(0, 4, indices)
    np.testing.assert_array_equal(truth_plain, truth_aug)
    for k, index in enumerate(indices):
        image = load_image(plain.dataset.items[index].image)
        same = distort_darknet(image, 0.0, 1.0, 1.0)
        assert np.array_equal(x_plain[k], same) or np.array_equal(x_plain[k], same[:, ::-1])
        # a rotation and a hue shift move pixels by far more than an ulp
        assert np.mean(np.abs(x_aug[k] - x_plain[k])) > 0.01

    messages = _Messages()
    result = augmented.run(messages, iterations=1)
    assert not any("does not apply" in text for text in messages.texts), messages.texts
    assert result.final.is_file()


def test_classifier_multi_scale_batches_take_the_drawn_side(tmp_path):
    # [net] random=1: the side of an iteration's batch is classifier_input_size's, and the
    # crops span min_ratio..max_ratio of it (here 1..1: the image scaled to fill the side)
    tool = _tool()
    tool.classifier_set(tmp_path)
    text = tool.classifier_cfg(1).replace("angle=0\n", "angle=0\nrandom=1\n")
    trainer = _trainer(tmp_path, "multi", text)
    x, _, _ = trainer.loader.batch(0, 2, [0, 1], size=64)
    assert x.shape == (2, 64, 64, 3)
    image = load_image(trainer.dataset.items[0].image)  # 32 x 32: every pixel read 2 x 2 times
    assert abs(float(x[0].mean()) - float(image.mean())) < 0.02
