"""Greedy non-maximum suppression loops (darknet's do_nms_sort / do_nms_obj) as numba kernels.

Boxes are (x, y, w, h) centre boxes in float32; IoU is darknet's box_iou in float32. The
sorts are stable (merge sort), descending. Probabilities are modified in place.
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


@njit(cache=True)
def nms_sort_kernel(boxes, probs, order, thresh):
    """Per class k: stable sort of `order` by probs[:, k] descending, then each box still
    holding prob k zeroes prob k of every later box with IoU > thresh. Returns the final order."""
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
                if probs[j, k] != _ZERO and box_iou_pair(boxes, i, j) > thresh:
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
