"""[Gaussian_yolo] outputs -> candidate boxes, as AlexeyAB's get_gaussian_yolo_detections does.

Entries per anchor are listed in darkpy/layers/gaussian_yolo.py. Only (cell, anchor) pairs whose
objectness > thresh become candidates, cells row-major and anchors inside a cell. For cell
(row, col) of an H x W grid and anchor (aw, ah) in network pixels:

    w = e^t4 * aw / net_w,   h = e^t6 * ah / net_h,   x = (col + t0) / W,   y = (row + t2) / H
    yolo_point=left_top:     x += w/2, y += h/2   (x, y located the box's top-left corner)
    yolo_point=right_bottom: x -= w/2, y -= h/2

    uncertainty = (t1, t3, t5, t7),  u = their mean
    prob[j] = objectness * class j * (1 - u), 0 unless > thresh

so a box the network is unsure of scores lower. Boxes are fractions of the network input;
darkpy.detect.decode.correct_boxes maps them to the image as for [yolo].
"""
from __future__ import annotations

import numpy as np

from darkpy.detect.candidates import GaussianCandidates


def decode_gaussian(output: np.ndarray, anchors: np.ndarray, classes: int, net_w: int,
                    net_h: int, thresh: float, yolo_point: str = "center") -> GaussianCandidates:
    """Candidates from one image's [Gaussian_yolo] output (H, W, n*(9+classes))."""
    grid_h, grid_w = output.shape[:2]
    n = len(anchors)
    t = np.asarray(output, dtype=np.float32).reshape(grid_h * grid_w, n, 9 + classes)
    cell, anchor = np.nonzero(t[:, :, 8] > np.float32(thresh))
    if cell.size == 0:
        return GaussianCandidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                  np.zeros((0, classes), np.float32), np.zeros((0, 4), np.float32))
    sel = t[cell, anchor]
    col = (cell % grid_w).astype(np.float64)
    row = (cell // grid_w).astype(np.float64)
    w = np.exp(sel[:, 4].astype(np.float64)) * anchors[anchor, 0] / net_w
    h = np.exp(sel[:, 6].astype(np.float64)) * anchors[anchor, 1] / net_h
    x = (col + sel[:, 0]) / grid_w
    y = (row + sel[:, 2]) / grid_h
    if yolo_point == "left_top":
        x, y = x + w / 2, y + h / 2
    elif yolo_point == "right_bottom":
        x, y = x - w / 2, y - h / 2
    boxes = np.stack([x, y, w, h], axis=1).astype(np.float32)
    objectness = sel[:, 8].copy()
    uncertainty = np.ascontiguousarray(sel[:, [1, 3, 5, 7]])
    # darknet: float sum of the four, divided by 4.0 in double; the product in double, stored float
    mean_uc = uncertainty.sum(axis=1, dtype=np.float32).astype(np.float64) / 4.0
    probs = ((objectness[:, None] * sel[:, 9:]).astype(np.float64) * (1.0 - mean_uc)[:, None]).astype(np.float32)
    probs[~(probs > np.float32(thresh))] = 0
    return GaussianCandidates(boxes, objectness, probs, uncertainty)
