"""Greedy non-maximum suppression loops (darknet's do_nms_sort / do_nms_obj, and AlexeyAB's
diounms_sort) as numba kernels.

Boxes are (x, y, w, h) centre boxes in float32; IoU is darknet's box_iou in float32. The
sorts are stable (merge sort), descending. Probabilities are modified in place.

AlexeyAB's `nms_kind` (diounms_sort, box.c) compares another overlap with the threshold:
IOU_NMS (default) box_iou; GREEDY_NMS (greedynms) box_diou = IoU - (d / c)^0.6 and
DIOU_NMS (diounms) box_diounms = IoU - (d / c)^beta_nms, d the squared distance of the
centres and c the squared diagonal of the smallest box holding both (IoU when c is 0).
Both are at most IoU: distant centres suppress less.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_TWO = np.float32(2.0)
_ZERO = np.float32(0.0)


@njit(cache=True)
def _overlap(x1, w1, x2, w2):
    left = max(x1 - w1 / _TWO, x2 - w2 / _TWO)
    right = min(x1 + w1 / _TWO, x2 + w2 / _TWO)
    return right - left


@njit(cache=True)
def box_iou_pair(boxes, i, j):
    w = _overlap(boxes[i, 0], boxes[i, 2], boxes[j, 0], boxes[j, 2])
    h = _overlap(boxes[i, 1], boxes[i, 3], boxes[j, 1], boxes[j, 3])
    inter = _ZERO if (w < _ZERO or h < _ZERO) else w * h
    union = boxes[i, 2] * boxes[i, 3] + boxes[j, 2] * boxes[j, 3] - inter
    if not union > _ZERO:
        return _ZERO
    return inter / union


IOU_NMS, GREEDY_NMS, DIOU_NMS = 0, 1, 2
NMS_KINDS = {"default": IOU_NMS, "greedynms": GREEDY_NMS, "diounms": DIOU_NMS}
GREEDY_BETA = 0.6  # box_diou's fixed exponent


@njit(cache=True)
def box_diounms_pair(boxes, i, j, beta):
    """AlexeyAB's box_diounms: IoU - (d / c)^beta in his float arithmetic (module docstring)."""
    iou = box_iou_pair(boxes, i, j)
    top = min(boxes[i, 1] - boxes[i, 3] / _TWO, boxes[j, 1] - boxes[j, 3] / _TWO)
    bot = max(boxes[i, 1] + boxes[i, 3] / _TWO, boxes[j, 1] + boxes[j, 3] / _TWO)
    left = min(boxes[i, 0] - boxes[i, 2] / _TWO, boxes[j, 0] - boxes[j, 2] / _TWO)
    right = max(boxes[i, 0] + boxes[i, 2] / _TWO, boxes[j, 0] + boxes[j, 2] / _TWO)
    w, h = right - left, bot - top
    c = w * w + h * h
    if c == _ZERO:
        return iou
    dx, dy = boxes[i, 0] - boxes[j, 0], boxes[i, 1] - boxes[j, 1]
    d = dx * dx + dy * dy
    u = np.float32((np.float64(d / c)) ** beta)  # C's pow in double, stored as float
    return iou - u


@njit(cache=True)
def _overlap_of(boxes, i, j, kind, beta):
    if kind == IOU_NMS:
        return box_iou_pair(boxes, i, j)
    return box_diounms_pair(boxes, i, j, GREEDY_BETA if kind == GREEDY_NMS else beta)


@njit(cache=True)
def nms_sort_kernel(boxes, probs, order, thresh, kind=IOU_NMS, beta=0.6):
    """Per class k: stable sort of `order` by probs[:, k] descending, then each box still
    holding prob k zeroes prob k of every later box whose overlap (`kind`: IoU, or AlexeyAB's
    DIoU measures) > thresh. Returns the final order."""
    n = order.size
    for k in range(probs.shape[1]):
        keys = np.empty(n, dtype=np.float32)
        for p in range(n):
            keys[p] = -probs[order[p], k]
        order = order[np.argsort(keys, kind="mergesort")]
        for a in range(n):
            i = order[a]
            if probs[i, k] == _ZERO:
                continue
            for b in range(a + 1, n):
                j = order[b]
                # a zero stays zero: skip the IoU of boxes with nothing left to suppress
                if probs[j, k] != _ZERO and _overlap_of(boxes, i, j, kind, beta) > thresh:
                    probs[j, k] = _ZERO
    return order


@njit(cache=True)
def nms_objectness_kernel(boxes, objectness, probs, order, thresh):
    """Stable sort by objectness, then each surviving box removes every later box (objectness
    and all probs zeroed) with IoU > thresh. Returns the sorted order."""
    n = order.size
    keys = np.empty(n, dtype=np.float32)
    for p in range(n):
        keys[p] = -objectness[order[p]]
    order = order[np.argsort(keys, kind="mergesort")]
    for a in range(n):
        i = order[a]
        if objectness[i] == _ZERO:
            continue
        for b in range(a + 1, n):
            j = order[b]
            if objectness[j] != _ZERO and box_iou_pair(boxes, i, j) > thresh:
                objectness[j] = _ZERO
                for k in range(probs.shape[1]):
                    probs[j, k] = _ZERO
    return order
