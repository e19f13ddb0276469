"""`darkpy train --map` (AlexeyAB's -map): mAP on the `valid` list at darknet's schedule and
<cfg>_best.weights when it improves; on test_darknet_train_loop's tiny [yolo] project."""
from __future__ import annotations

import pytest

from darkpy.evaluation.detection_map import detector_map
from darkpy.train.darknet.loop import DarknetTrainer, train_detector
from tests.test_darknet_train_loop import Collect, project  # noqa: F401 (a fixture)


class WithValidation(Collect):
    def __init__(self):
        super().__init__()
        self.validations = []

    def validation(self, iteration, report, best):
        self.validations.append((iteration, report.map, best))


@pytest.fixture
def mapped(project):  # noqa: F811
    (project / "obj.names").write_text("zero\none\n")
    (project / "valid.txt").write_text("images/a.png\nimages/b.png\n")
    (project / "obj.data").write_text("classes = 2\ntrain = train.txt\nvalid = valid.txt\n"
                                      "names = obj.names\nbackup = backup\n")
    return project


def test_map_at_the_end_writes_best_weights(mapped):
    out = WithValidation()
    result = train_detector("tiny.cfg", "obj.data", reporter=out, calc_map=True)
    # 3 images, batch 4: every max(4 * 3 // 4, 100) = 100 iterations, so only at max_batches
    assert [v[0] for v in out.validations] == [3] and out.validations[0][2]
    assert out.saved == ["tiny_best.weights", "tiny_final.weights"]
    assert result.iteration == 3
    # the checkpoint holds the network that was scored
    again = detector_map(mapped / "tiny.cfg", mapped / "backup" / "tiny_best.weights",
                         mapped / "obj.data", coco=False, label_rule="pjreddie")
    assert again.map == out.validations[0][1]
    assert again.images == 2 and again.objects == 3  # a.txt has 2 objects, b.txt 1


def test_without_map_no_best_weights(mapped):
    out = WithValidation()
    train_detector("tiny.cfg", "obj.data", reporter=out)
    assert out.validations == [] and "tiny_best.weights" not in out.saved


def test_map_schedule_is_alexeyabs():
    trainer = DarknetTrainer.__new__(DarknetTrainer)

    class Items:
        items = [None] * 1000

    class Opt:
        batch = 16

    class Net:
        net = {"burn_in": 1000}

    trainer.dataset, trainer.optimizer, trainer.network, trainer.map_epochs = Items, Opt, Net, 4
    assert trainer._next_map(0) == 1000          # not before burn_in
    assert trainer._next_map(1000) == 1250       # 4 epochs = 4 * 1000 // 16 = 250 iterations
    Items.items = [None] * 10
    assert trainer._next_map(1000) == 1100       # at least every 100
