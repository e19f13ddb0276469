"""The training deltas of a [region] head (darknet's forward_region_layer with net.train=1).

The formulas are in darkpy/layers/region.py; this module only loops, in darknet's float
arithmetic as kernels/yolo_loss.py does (float32 where darknet keeps floats, exp and log in
double). `out` is the head's output as (N, H, W, anchors, entries) float32 (logistic applied
to x, y, objectness, softmax or logistic to the classes; w, h raw); `truth` (N, max_boxes, 5)
rows x, y, w, h, class ending at the first x = 0, of which darknet reads at most 30. `delta`
(zeroed by the caller, the shape of `out`) receives darknet's l.delta (target minus output,
before the backward's logistic derivative); `stats` (float64, STATS) the report's sums.

With a class hierarchy (tree=; `parent`, `group`, `group_offset`, `group_size` of
layers/tree.py's Tree, empty arrays without one) the class delta walks from the truth's class
up to its root, and a truth with x and y above CLASS_ONLY is darknet's classification-only
label (layers/region.py's docstring).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from darkpy.kernels.yolo_loss import box_iou

AVG_IOU, RECALL, AVG_CLASS, AVG_OBJ, AVG_NOOBJ, COUNT, CLASS_COUNT = range(7)
STATS = 7
MAX_TRUTHS = 30  # darknet's [region] reads at most 30 boxes, whatever `max` says
PRIOR_SEEN = 12800  # below this many images seen every prediction is pulled to its anchor
PRIOR_SCALE = np.float32(0.01)
CLASS_ONLY = 100000  # a truth with x and y above this trains only the class (tree= only)

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)


@njit(cache=True)
def _pred_box(out, b, j, i, a, aw, ah, lw, lh):
    """get_region_box: anchors (aw, ah) in grid cells."""
    x = (np.float32(i) + out[b, j, i, a, 0]) / np.float32(lw)
    y = (np.float32(j) + out[b, j, i, a, 1]) / np.float32(lh)
    w = np.float32(math.exp(np.float64(out[b, j, i, a, 2])) * np.float64(aw) / lw)
    h = np.float32(math.exp(np.float64(out[b, j, i, a, 3])) * np.float64(ah) / lh)
    return x, y, w, h


@njit(cache=True)
def _delta_box(out, delta, b, j, i, a, tx, ty, tw, th, aw, ah, lw, lh, scale):
    """delta_region_box: scale * (target - output) for x, y, w, h; returns the IoU of the
    predicted box with (tx, ty, tw, th)."""
    px, py, pw, ph = _pred_box(out, b, j, i, a, aw, ah, lw, lh)
    iou = box_iou(px, py, pw, ph, tx, ty, tw, th)
    gx = tx * np.float32(lw) - np.float32(i)
    gy = ty * np.float32(lh) - np.float32(j)
    gw = np.float32(math.log(np.float64(tw * np.float32(lw) / aw)))
    gh = np.float32(math.log(np.float64(th * np.float32(lh) / ah)))
    delta[b, j, i, a, 0] = scale * (gx - out[b, j, i, a, 0])
    delta[b, j, i, a, 1] = scale * (gy - out[b, j, i, a, 1])
    delta[b, j, i, a, 2] = scale * (gw - out[b, j, i, a, 2])
    delta[b, j, i, a, 3] = scale * (gh - out[b, j, i, a, 3])
    return iou


@njit(cache=True)
def _delta_class(out, delta, b, j, i, a, first, cls, classes, scale, logistic, stats):
    """delta_region_class without a tree: one-hot target minus output; with logistic classes
    an anchor that already has class deltas (another truth) only gets its class's entry."""
    if logistic and delta[b, j, i, a, first] != _F0:
        delta[b, j, i, a, first + cls] = scale * (_F1 - out[b, j, i, a, first + cls])
        return
    for k in range(classes):
        target = _F1 if k == cls else _F0
        delta[b, j, i, a, first + k] = scale * (target - out[b, j, i, a, first + k])
    stats[AVG_CLASS] += out[b, j, i, a, first + cls]


@njit(cache=True)
def _hierarchy_probability(out, b, j, i, a, first, cls, parent):
    """get_hierarchy_probability: the product of the outputs from `cls` up to its root."""
    p = _F1
    steps = 0
    while cls >= 0 and steps < parent.shape[0]:  # steps: a cyclic tree cannot hang
        p = p * out[b, j, i, a, first + cls]
        cls = parent[cls]
        steps += 1
    return p


@njit(cache=True)
def _delta_class_tree(out, delta, b, j, i, a, first, cls, scale, parent, group, group_offset,
                      group_size, stats):
    """delta_region_class with a hierarchy: for every node from `cls` up to its root, its
    group of siblings gets scale (0 - p) and the node scale (1 - p); the report's class value
    is the product of the path's outputs."""
    pred = _F1
    steps = 0
    while cls >= 0 and steps < parent.shape[0]:
        pred = pred * out[b, j, i, a, first + cls]
        g = group[cls]
        for k in range(group_offset[g], group_offset[g] + group_size[g]):
            delta[b, j, i, a, first + k] = scale * (_F0 - out[b, j, i, a, first + k])
        delta[b, j, i, a, first + cls] = scale * (_F1 - out[b, j, i, a, first + cls])
        cls = parent[cls]
        steps += 1
    stats[AVG_CLASS] += pred


@njit(cache=True)
def _class_only(out, truth, b, t, coords, noobject_scale, class_scale, parent, group,
                group_offset, group_size, delta, stats):
    """darknet's classification-only truth (x, y > CLASS_ONLY, tree= only): every
    objectness gets the no-object delta (not counted in the report's No Obj), the prediction
    whose objectness times hierarchy probability of the class is highest (the first in
    darknet's anchor, row, column order) gets the tree class delta and no objectness delta."""
    _, lh, lw, n, _ = out.shape
    cls = int(truth[b, t, 4])
    best_p = _F0
    best_j, best_i, best_a = 0, 0, 0
    for a in range(n):
        for j in range(lh):
            for i in range(lw):
                obj = out[b, j, i, a, coords]
                delta[b, j, i, a, coords] = noobject_scale * (_F0 - obj)
                p = obj * _hierarchy_probability(out, b, j, i, a, coords + 1, cls, parent)
                if p > best_p:
                    best_p = p
                    best_j, best_i, best_a = j, i, a
    _delta_class_tree(out, delta, b, best_j, best_i, best_a, coords + 1, cls, class_scale,
                      parent, group, group_offset, group_size, stats)
    # darknet computes an objectness target of .3 here and then overwrites it with 0
    delta[b, best_j, best_i, best_a, coords] = _F0
    stats[CLASS_COUNT] += 1


@njit(cache=True)
def region_delta(out, truth, anchors, classes, coords, softmax, background, rescore,
                 bias_match, thresh, coord_scale, object_scale, noobject_scale, class_scale,
                 seen, parent, group, group_offset, group_size, delta, stats):
    n_img, lh, lw, n, _ = out.shape
    tree = parent.shape[0] > 0
    thresh = np.float32(thresh)
    coord_scale, object_scale = np.float32(coord_scale), np.float32(object_scale)
    noobject_scale, class_scale = np.float32(noobject_scale), np.float32(class_scale)
    for b in range(n_img):
        boxes = 0
        while boxes < min(MAX_TRUTHS, truth.shape[1]) and truth[b, boxes, 0] != _F0:
            boxes += 1
        if tree:
            only_class = False
            for t in range(boxes):  # the first classification-only truth decides the image
                if truth[b, t, 0] > CLASS_ONLY and truth[b, t, 1] > CLASS_ONLY:
                    _class_only(out, truth, b, t, coords, noobject_scale, class_scale, parent,
                                group, group_offset, group_size, delta, stats)
                    only_class = True
                    break
            if only_class:
                continue
        for j in range(lh):
            for i in range(lw):
                for a in range(n):
                    aw, ah = anchors[a, 0], anchors[a, 1]
                    px, py, pw, ph = _pred_box(out, b, j, i, a, aw, ah, lw, lh)
                    best = _F0
                    for t in range(boxes):
                        iou = box_iou(px, py, pw, ph, truth[b, t, 0], truth[b, t, 1],
                                      truth[b, t, 2], truth[b, t, 3])
                        if iou > best:
                            best = iou
                    obj = out[b, j, i, a, coords]
                    stats[AVG_NOOBJ] += obj
                    target = _F1 if background else _F0
                    delta[b, j, i, a, coords] = noobject_scale * (target - obj)
                    if best > thresh:
                        delta[b, j, i, a, coords] = _F0
                    if seen < PRIOR_SEEN:
                        cx = np.float32((i + 0.5) / lw)
                        cy = np.float32((j + 0.5) / lh)
                        _delta_box(out, delta, b, j, i, a, cx, cy, np.float32(aw / lw),
                                   np.float32(ah / lh), aw, ah, lw, lh, PRIOR_SCALE)
        for t in range(boxes):
            tx, ty, tw, th = truth[b, t, 0], truth[b, t, 1], truth[b, t, 2], truth[b, t, 3]
            i = min(int(tx * np.float32(lw)), lw - 1)
            j = min(int(ty * np.float32(lh)), lh - 1)
            best_iou = _F0
            best_n = 0
            for a in range(n):
                _, _, pw, ph = _pred_box(out, b, j, i, a, anchors[a, 0], anchors[a, 1], lw, lh)
                if bias_match:
                    pw = np.float32(anchors[a, 0] / lw)
                    ph = np.float32(anchors[a, 1] / lh)
                iou = box_iou(_F0, _F0, pw, ph, _F0, _F0, tw, th)
                if iou > best_iou:
                    best_iou = iou
                    best_n = a
            a = best_n
            scale = coord_scale * (_F2 - tw * th)
            iou = _delta_box(out, delta, b, j, i, a, tx, ty, tw, th, anchors[a, 0],
                             anchors[a, 1], lw, lh, scale)
            if iou > np.float32(0.5):
                stats[RECALL] += 1
            stats[AVG_IOU] += iou
            obj = out[b, j, i, a, coords]
            stats[AVG_OBJ] += obj
            if background:
                delta[b, j, i, a, coords] = object_scale * (_F0 - obj)
            elif rescore:
                delta[b, j, i, a, coords] = object_scale * (iou - obj)
            else:
                delta[b, j, i, a, coords] = object_scale * (_F1 - obj)
            if tree:
                _delta_class_tree(out, delta, b, j, i, a, coords + 1, int(truth[b, t, 4]),
                                  class_scale, parent, group, group_offset, group_size, stats)
            else:
                _delta_class(out, delta, b, j, i, a, coords + 1, int(truth[b, t, 4]), classes,
                             class_scale, not softmax, stats)
            stats[COUNT] += 1
            stats[CLASS_COUNT] += 1
