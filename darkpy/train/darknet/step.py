"""One minibatch of detector training, and the arithmetic it runs in.

Detector training computes darknet's formulas (its batch-norm backward, the heads' deltas),
in one of two arithmetics, set on every layer as `Layer.darknet_training`:

- FAST (`darkpy train`'s default): darkpy's own float arithmetic: convolutions by
  BLAS/Winograd, batch norm fused with its activation in float64 sums
  (kernels/batchnorm_fast.py). The same training up to float rounding;
- EXACT (`darkpy train --exact`): darknet's float arithmetic bit for bit: gemm_nn's
  summation order (kernels/conv/darknet.py), darknet's float batch-norm sums
  (kernels/batchnorm_darknet.py), leaky in double. Slow (about 15x on yolov3-tiny); it exists
  to compare weights with darknet's (tools/darknet_train_oracle.py), where rounding
  differences would otherwise flip leaky kinks and max-pool ties and move single updates by
  up to 10%.
"""
from __future__ import annotations

import numpy as np

FAST = "fast"
EXACT = "exact"


def set_arithmetic(network, exact: bool = False) -> None:
    """Make every layer of `network` train darknet's formulas in EXACT or FAST arithmetic."""
    mode = EXACT if exact else FAST
    for layer in network.layers:
        layer.darknet_training = mode


def loss_report(layer) -> dict:
    """A loss layer's report of its last training forward ({"cost": 0} when it computed none,
    as darknet counts an l.cost that was never set)."""
    from darkpy.layers.truth_loss import TruthLoss

    report = layer.loss_report if isinstance(layer, TruthLoss) else layer.loss
    return report or {"cost": 0.0}


def train_minibatch(network, heads, x: np.ndarray, truth: np.ndarray, net_w: int,
                    net_h: int, rule=None) -> tuple[float, dict]:
    """Forward, the heads' deltas against `truth` (N, boxes, 5), backward, for one minibatch;
    returns (darknet's network cost, {head index: its report}). Parameter gradients
    accumulate until the optimiser's step; no gradient is computed for the input images, and
    the activations are freed once backward is done. `rule`: Network.backward's (a darknet
    build's way of combining gradients, darkpy.train.darknet.cpu_build)."""
    for head in heads:
        head.set_truth(truth, net_w, net_h)
    try:
        network.forward(x, train=True)
        network.backward(None, input_gradient=False, rule=rule)
    finally:
        network.release_training_outputs()  # not held until the next forward
        for head in heads:
            head.set_truth(None, 0, 0)
    # darknet's calc_network_cost: every l.cost counts (0 when a layer computed none)
    reports = {head.index: loss_report(head) for head in heads}
    cost = float(np.float32(sum(r["cost"] for r in reports.values()) / len(reports)))
    return cost, reports
