"""pjreddie's [yolo] deltas (layers/yolo.py) are the negative gradient of the loss the
yolov3-tiny training benchmark writes in PyTorch (benchmarks/bench_yolo_train.py: BCE on the
logistic entries, s/2 squared error on w, h, the ignore mask from the predicted boxes):
autograd of that independently written loss against darkpy's deltas. Skips without torch."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.network import Network

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]

CFG = """[net]
width=64
height=64
channels={c}

[yolo]
mask=1,2
anchors=6,8, 14,12, 30,26
classes=3
num=3
ignore_thresh=.5
"""


def _bench():
    spec = importlib.util.spec_from_file_location("bench_yolo_train",
                                                  REPO / "benchmarks" / "bench_yolo_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_yolo_delta_is_minus_the_torch_loss_gradient():
    net = Network(parse_cfg_text(CFG.format(c=16), "<t>"))
    head = net.layers[0]
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1.5, (2, 8, 8, 16)).astype(np.float32)  # 8x8 map, 2 anchors x 8 entries
    truth = np.zeros((2, 6, 5), np.float32)
    truth[0, :4] = [[0.30, 0.40, 0.20, 0.18, 0],   # anchor 1 (14x12)
                    [0.32, 0.42, 0.22, 0.20, 2],   # the same anchor and cell: overwrites, adds class
                    [0.70, 0.60, 0.45, 0.40, 1],   # anchor 2 (30x26)
                    [0.50, 0.50, 0.08, 0.12, 1]]   # anchor 0: not in this head's mask
    truth[1, :1] = [0.55, 0.25, 0.5, 0.35, 2]
    head.set_truth(truth, 64, 64)
    out = head.forward([x], train=True)
    want = head.backward(None, [x], out)[0]  # -delta
    assert head.loss["count"] == 4
    logits = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
    _bench().torch_yolo_loss(logits, torch.from_numpy(truth), head, 64, 64).backward()
    got = logits.grad.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(want) > 0.5 * want.size / 8  # no-object deltas almost everywhere
