"""The training deltas of a [yolo] head (pjreddie's forward_yolo_layer with net.train=1).

The formulas and their meaning are in darkpy/layers/yolo.py; this module only loops. Every
array is float32 and the arithmetic is darknet's float arithmetic, step for step: float32
where darknet computes in float, float64 where C promotes to double (exp, log), rounded back
to float32 where darknet stores a float. `out` is the head's NHWC output (logistic already
applied to x, y, objectness and classes; w, h raw), anchor a of a cell owning channels
a*entries ... a*entries + entries - 1 with entries x, y, w, h, objectness, classes.

`truth` is (N, max_boxes, 5): x, y, w, h, class per box, the list ending at the first box
whose x is 0 (darknet's convention). `delta` (zeroed by the caller, the shape of `out`)
receives darknet's l.delta: target minus output, i.e. the NEGATED gradient of the loss with
respect to the head's input. `stats` (float64, length STATS) receives darknet's report sums.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# stats[k]: the sums darknet prints (divided by count, class_count or the predictions)
AVG_IOU, RECALL50, RECALL75, AVG_CLASS, AVG_OBJ, AVG_NOOBJ, COUNT, CLASS_COUNT = range(8)
STATS = 8

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)


@njit(cache=True)
def _overlap(x1, w1, x2, w2):
    l1 = x1 - w1 / _F2
    l2 = x2 - w2 / _F2
    left = l1 if l1 > l2 else l2
    r1 = x1 + w1 / _F2
    r2 = x2 + w2 / _F2
    right = r1 if r1 < r2 else r2
    return right - left


@njit(cache=True)
def box_iou(ax, ay, aw, ah, bx, by, bw, bh):
    """darknet's box_iou of two centre-size boxes, in float32 (0 when they do not overlap)."""
    w = _overlap(ax, aw, bx, bw)
    h = _overlap(ay, ah, by, bh)
    inter = _F0 if (w < _F0 or h < _F0) else w * h
    union = aw * ah + bw * bh - inter
    return inter / union


@njit(cache=True)
def _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h):
    """get_yolo_box: the predicted box of the anchor whose entries start at channel c0."""
    x = (np.float32(i) + out[b, j, i, c0]) / np.float32(lw)
    y = (np.float32(j) + out[b, j, i, c0 + 1]) / np.float32(lh)
    w = np.float32(math.exp(np.float64(out[b, j, i, c0 + 2])) * np.float64(aw) / net_w)
    h = np.float32(math.exp(np.float64(out[b, j, i, c0 + 3])) * np.float64(ah) / net_h)
    return x, y, w, h


@njit(cache=True)
def _delta_box(out, delta, b, j, i, c0, tx_, ty_, tw_, th_, aw, ah, lw, lh, net_w, net_h,
               scale):
    """delta_yolo_box: box deltas at one anchor of cell (j, i); returns the prediction's IoU
    with the truth."""
    px, py, pw, ph = _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h)
    iou = box_iou(px, py, pw, ph, tx_, ty_, tw_, th_)
    tx = tx_ * np.float32(lw) - np.float32(i)
    ty = ty_ * np.float32(lh) - np.float32(j)
    tw = np.float32(math.log(np.float64(tw_ * np.float32(net_w) / aw)))
    th = np.float32(math.log(np.float64(th_ * np.float32(net_h) / ah)))
    delta[b, j, i, c0] = scale * (tx - out[b, j, i, c0])
    delta[b, j, i, c0 + 1] = scale * (ty - out[b, j, i, c0 + 1])
    delta[b, j, i, c0 + 2] = scale * (tw - out[b, j, i, c0 + 2])
    delta[b, j, i, c0 + 3] = scale * (th - out[b, j, i, c0 + 3])
    return iou


@njit(cache=True)
def _delta_class(out, delta, b, j, i, c0, cls, classes):
    """delta_yolo_class: one-hot targets for the class entries starting at channel c0; if
    that cell's anchor already has class deltas (two truths on one anchor), only the new
    class's entry is set. Returns the output's score for `cls` (darknet's avg_cat term)."""
    if delta[b, j, i, c0] != _F0:
        delta[b, j, i, c0 + cls] = _F1 - out[b, j, i, c0 + cls]
        return out[b, j, i, c0 + cls]
    for k in range(classes):
        target = _F1 if k == cls else _F0
        delta[b, j, i, c0 + k] = target - out[b, j, i, c0 + k]
    return out[b, j, i, c0 + cls]


@njit(cache=True)
def yolo_delta(out, truth, anchors, mask, classes, net_w, net_h, ignore_thresh,
               truth_thresh, delta, stats):
    """pjreddie's [yolo] training deltas into `delta`, report sums into `stats`."""
    batch, lh, lw, _ = out.shape
    n_mask = mask.shape[0]
    entries = 5 + classes
    max_boxes = truth.shape[1]
    ignore = np.float32(ignore_thresh)
    thresh = np.float32(truth_thresh)
    avg_iou = _F0
    recall = _F0
    recall75 = _F0
    avg_cat = _F0
    avg_obj = _F0
    avg_anyobj = _F0
    count = 0
    class_count = 0
    for b in range(batch):
        # every prediction: no-object delta unless it overlaps some truth enough
        for j in range(lh):
            for i in range(lw):
                for n in range(n_mask):
                    c0 = n * entries
                    aw = anchors[mask[n], 0]
                    ah = anchors[mask[n], 1]
                    px, py, pw, ph = _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h)
                    best_iou = _F0
                    best_t = 0
                    for t in range(max_boxes):
                        if truth[b, t, 0] == _F0:
                            break
                        iou = box_iou(px, py, pw, ph, truth[b, t, 0], truth[b, t, 1],
                                      truth[b, t, 2], truth[b, t, 3])
                        if iou > best_iou:
                            best_iou = iou
                            best_t = t
                    obj = out[b, j, i, c0 + 4]
                    avg_anyobj += obj
                    delta[b, j, i, c0 + 4] = _F0 - obj
                    if best_iou > ignore:
                        delta[b, j, i, c0 + 4] = _F0
                    if best_iou > thresh:
                        delta[b, j, i, c0 + 4] = _F1 - obj
                        cls = int(truth[b, best_t, 4])
                        _delta_class(out, delta, b, j, i, c0 + 5, cls, classes)
                        tw_ = truth[b, best_t, 2]
                        th_ = truth[b, best_t, 3]
                        _delta_box(out, delta, b, j, i, c0, truth[b, best_t, 0],
                                   truth[b, best_t, 1], tw_, th_, aw, ah, lw, lh, net_w,
                                   net_h, _F2 - tw_ * th_)
        # every truth: the anchor (of all `num`) whose shape fits it best, if this head has it
        for t in range(max_boxes):
            tx_ = truth[b, t, 0]
            if tx_ == _F0:
                break
            ty_ = truth[b, t, 1]
            tw_ = truth[b, t, 2]
            th_ = truth[b, t, 3]
            best_iou = _F0
            best_n = 0
            for n in range(anchors.shape[0]):
                pw = np.float32(anchors[n, 0] / np.float32(net_w))
                ph = np.float32(anchors[n, 1] / np.float32(net_h))
                iou = box_iou(_F0, _F0, pw, ph, _F0, _F0, tw_, th_)
                if iou > best_iou:
                    best_iou = iou
                    best_n = n
            mask_n = -1
            for n in range(n_mask):
                if mask[n] == best_n:
                    mask_n = n
                    break
            if mask_n < 0:
                continue
            # darknet truncates toward zero; x = 1 only for a zero-width box, kept inside
            i = min(int(tx_ * np.float32(lw)), lw - 1)
            j = min(int(ty_ * np.float32(lh)), lh - 1)
            c0 = mask_n * entries
            iou = _delta_box(out, delta, b, j, i, c0, tx_, ty_, tw_, th_,
                             anchors[best_n, 0], anchors[best_n, 1], lw, lh, net_w, net_h,
                             _F2 - tw_ * th_)
            avg_obj += out[b, j, i, c0 + 4]
            delta[b, j, i, c0 + 4] = _F1 - out[b, j, i, c0 + 4]
            cls = int(truth[b, t, 4])
            avg_cat += _delta_class(out, delta, b, j, i, c0 + 5, cls, classes)
            count += 1
            class_count += 1
            if iou > np.float32(0.5):
                recall += _F1
            if iou > np.float32(0.75):
                recall75 += _F1
            avg_iou += iou
    stats[AVG_IOU] += avg_iou
    stats[RECALL50] += recall
    stats[RECALL75] += recall75
    stats[AVG_CLASS] += avg_cat
    stats[AVG_OBJ] += avg_obj
    stats[AVG_NOOBJ] += avg_anyobj
    stats[COUNT] += count
    stats[CLASS_COUNT] += class_count
