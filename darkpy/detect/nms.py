"""Non-maximum suppression with darknet's semantics (box.c: do_nms_sort, do_nms_obj).

Per class (do_nms_sort, darknet's default): candidates whose objectness is 0 are dropped
(darknet swaps them to the end, which reorders the rest; that order is kept here). Then for each
class k in turn the whole list is sorted by prob[k], highest first, and walking down it every
box still holding a prob[k] > 0 zeroes prob[k] of each later box overlapping it with
IoU > thresh. A box zeroed for class k keeps its other classes, and does not suppress in k.

Class-agnostic (do_nms_obj): one pass sorted by objectness; a surviving box removes every later
box (objectness and all probs zeroed) that overlaps it with IoU > thresh.

AlexeyAB's `nms_kind=greedynms|diounms` (a [yolo] key; his diounms_sort) runs the per-class
loop with a DIoU measure in place of IoU (darkpy/kernels/nms.py).

Sorts are stable: darknet's qsort is glibc's merge sort, stable too, so ties keep their order.
IoU uses darknet's float32 arithmetic on centre boxes.
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ConfigError
from darkpy.kernels.nms import NMS_KINDS, nms_objectness_kernel, nms_sort_kernel


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of centre boxes (x, y, w, h), darknet's box_iou in float32."""
    a = np.asarray(a, np.float32)[:, None, :]
    b = np.asarray(b, np.float32)[None, :, :]
    two = np.float32(2)

    def overlap(k):
        left = np.maximum(a[..., k] - a[..., k + 2] / two, b[..., k] - b[..., k + 2] / two)
        right = np.minimum(a[..., k] + a[..., k + 2] / two, b[..., k] + b[..., k + 2] / two)
        return right - left

    w, h = overlap(0), overlap(1)
    inter = np.where((w < 0) | (h < 0), np.float32(0), w * h)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where(union > 0, iou, np.float32(0)).astype(np.float32)


def _drop_zero_objectness(objectness: np.ndarray) -> np.ndarray:
    """Indices left after darknet's in-place swap of objectness-0 entries to the end."""
    order = list(range(len(objectness)))
    last = len(order) - 1
    i = 0
    while i <= last:
        if objectness[order[i]] == 0:
            order[i], order[last] = order[last], order[i]
            last -= 1
        else:
            i += 1
    return np.asarray(order[: last + 1], dtype=np.int64)


def nms_sort(boxes: np.ndarray, objectness: np.ndarray, probs: np.ndarray, thresh: float,
             kind: str = "default", beta: float = 0.6):
    """darknet's do_nms_sort (`kind` default) or AlexeyAB's diounms_sort (`kind` greedynms or
    diounms, `beta` his beta_nms). Returns (order, probs): the surviving candidates' indices in
    darknet's final order, and a copy of probs with the suppressed entries zeroed."""
    if kind not in NMS_KINDS:
        raise ConfigError(f"nms_kind={kind}: expected one of {', '.join(NMS_KINDS)}")
    probs = np.array(probs, dtype=np.float32, copy=True)
    order = _drop_zero_objectness(objectness)
    if len(order) == 0:
        return order, probs
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    # beta_nms is a float in darknet, promoted to double by pow()
    order = nms_sort_kernel(boxes, probs, order, np.float32(thresh), NMS_KINDS[kind],
                            float(np.float32(beta)))
    return order, probs


def nms_objectness(boxes: np.ndarray, objectness: np.ndarray, probs: np.ndarray, thresh: float):
    """darknet's do_nms_obj (class-agnostic). Returns (order, objectness, probs), copies."""
    objectness = np.array(objectness, dtype=np.float32, copy=True)
    probs = np.array(probs, dtype=np.float32, copy=True)
    order = _drop_zero_objectness(objectness)
    if len(order) == 0:
        return order, objectness, probs
    boxes = np.ascontiguousarray(boxes, dtype=np.float32)
    order = nms_objectness_kernel(boxes, objectness, probs, order, np.float32(thresh))
    return order, objectness, probs
