"""What darknet's loss layers share in training: `darknet_sum` and `nchw` (all of them),
`box_truth` (the box heads: [yolo], [Gaussian_yolo], [region], [detection]), `TruthLoss`
(those without boxes: [softmax], [logistic], [cost]).

darknet hands every layer the minibatch's truth (net.truth: one row of `outputs` floats per
image, in its CHW order); a loss layer computes its l.delta against it in the forward and
its l.cost (the sum of its per-value errors), and its backward adds l.delta to the previous
layer's delta unchanged. darknet's deltas point downhill (target minus output), so in
darkpy's convention (backward returns dL/d(input)) a layer returns minus them.

`set_truth(truth, net_w, net_h)` gives the truth of the next training forward ((N, outputs)
float32 in darknet's order, or the output's NHWC shape; None stops the loss), the trainer
then reads `loss_report` ({"cost": darknet's l.cost}) after the forward (not `loss`: that is
[cost]'s loss function for super-resolution training).
"""
from __future__ import annotations

import numpy as np


def darknet_sum(values: np.ndarray) -> float:
    """darknet's sum_array: a float32 running sum in darknet's (NCHW) order."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    return float(np.cumsum(flat, dtype=np.float32)[-1]) if flat.size else 0.0


def box_truth(layer, truth) -> np.ndarray:
    """A box head's training truth as float32 (N, max_boxes, 5: x, y, w, h, class), or the
    layer's error naming the shape it got."""
    truth = np.ascontiguousarray(truth, dtype=np.float32)
    if truth.ndim != 3 or truth.shape[2] != 5:
        raise layer.error(f"truth must be (batch, boxes, 5), got shape {truth.shape}")
    return truth


def nchw(a: np.ndarray) -> np.ndarray:
    """An NHWC batch in darknet's memory order (N, C, H, W)."""
    return a.transpose(0, 3, 1, 2)


class TruthLoss:
    """Mixin for a Layer whose training loss is computed against darknet's net.truth."""

    _truth = None
    _loss_delta = None  # darknet's l.delta of the last training forward (NHWC)
    loss_report = None

    def set_truth(self, truth, net_w: int = 0, net_h: int = 0) -> None:
        self._truth = None if truth is None else np.asarray(truth, np.float32)

    def has_loss(self) -> bool:
        return self._loss_delta is not None

    def _truth_like(self, out: np.ndarray) -> np.ndarray | None:
        """The truth of the current training forward in the output's NHWC shape (darknet's
        per-image CHW rows unflattened), or None when there is none."""
        if self._truth is None:
            return None
        n, h, w, c = out.shape
        truth = self._truth
        if truth.shape == out.shape:
            return truth
        if truth.shape[0] != n or truth[0].size != h * w * c:
            raise self.error(f"truth holds {truth.shape} values, the output is {n} images of "
                             f"{h}x{w}x{c} = {h * w * c}")
        return np.ascontiguousarray(truth.reshape(n, c, h, w).transpose(0, 2, 3, 1))

    def _start_loss(self) -> None:
        self._loss_delta = None
        self.loss_report = None

    def _finish_loss(self, delta: np.ndarray, errors: np.ndarray) -> None:
        """Keep darknet's l.delta and report l.cost = sum_array(l.loss)."""
        self._loss_delta = np.ascontiguousarray(delta, dtype=np.float32)
        self.loss_report = {"cost": darknet_sum(nchw(errors))}
