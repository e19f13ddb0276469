"""The training deltas of [Gaussian_yolo] (AlexeyAB's forward_gaussian_yolo_layer with
state.train=1: delta_gaussian_yolo_box, delta_gaussian_yolo_class,
averages_gaussian_yolo_deltas).

The formulas are in darkpy/layers/gaussian_yolo.py; this module only loops, in darknet's
float arithmetic (float32 where darknet stores a float, float64 where C promotes), reusing
the IoU family and dx_box_iou of AlexeyAB's [yolo] loss (kernels/yolo_loss_alexeyab.py).
`out` is the head's NHWC output, anchor a of a cell owning channels a*entries ... with
entries 0 x, 1 x uncertainty, 2 y, 3 y uncertainty, 4 w, 5 w unc., 6 h, 7 h unc., 8
objectness, 9.. classes; `truth` (N, max_boxes, 5) rows x, y, w, h, class ending at the
first x = 0; `delta` (zeroed by the caller) receives darknet's l.delta; `stats` (float64,
length STATS) the sums darknet prints.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from darkpy.kernels.yolo_loss_alexeyab import (
    GIOU,
    MSE,
    _clip,
    _finite_or_zero,
    _iou,
    _mask_index,
    _smoothed,
    box_iou_kind,
    dx_box_iou,
)

(AVG_IOU, RECALL50, RECALL75, AVG_CLASS, AVG_OBJ, AVG_NOOBJ, COUNT, CLASS_COUNT) = range(8)
STATS = 8

CENTER, LEFT_TOP, RIGHT_BOTTOM = range(3)
ENTRIES = 9

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_FLT_MAX = np.float32(np.finfo(np.float32).max)
SIGMA_CONST = np.float32(0.3)        # darknet's sigma_const: widens the density's normaliser
EPSILON = np.float32(1e-9)           # darknet's epsi = pow(10, -9) stored in a float
_SQRT_2PI = math.sqrt(math.pi * 2.0)


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h, point):
    """get_gaussian_yolo_box: the predicted box; `point` says what x, y locate."""
    w = np.float32(math.exp(np.float64(out[b, j, i, c0 + 4])) * np.float64(aw) / net_w)
    h = np.float32(math.exp(np.float64(out[b, j, i, c0 + 6])) * np.float64(ah) / net_h)
    x = (np.float32(i) + out[b, j, i, c0]) / np.float32(lw)
    y = (np.float32(j) + out[b, j, i, c0 + 2]) / np.float32(lh)
    if point == LEFT_TOP:
        x = x + w / _F2
        y = y + h / _F2
    elif point == RIGHT_BOTTOM:
        x = x - w / _F2
        y = y - h / _F2
    return x, y, w, h


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def gaussian_terms(d, sigma, scale):
    """One coordinate's (mean delta, uncertainty delta) before the normalisers, for the
    distance d = target - mean and the uncertainty sigma (darknet's float/double mix)."""
    z = d / sigma
    z2 = np.float32(np.float64(z) * np.float64(z))
    density = np.float32(math.exp(np.float64(z2) * -0.5)
                         / (_SQRT_2PI * np.float64(sigma + SIGMA_CONST)))
    weight = np.float32(0.5 / np.float64(density + EPSILON) * np.float64(density)
                        * np.float64(scale))
    mean = np.float32(np.float64(weight * z) * (1.0 / np.float64(sigma)))
    unc = np.float32(np.float64(weight) * (np.float64(z2 / sigma)
                                           - 1.0 / np.float64(sigma + SIGMA_CONST)))
    return mean, unc


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def delta_box(out, delta, b, j, i, c0, tx_, ty_, tw_, th_, aw, ah, lw, lh, net_w, net_h,
              scale, iou_norm, uc_norm, kind, max_delta, point):
    """delta_gaussian_yolo_box (accumulating); returns darknet's score of the prediction:
    its IoU with the truth for iou_loss=mse, else its GIoU (as darknet returns)."""
    px, py, pw, ph = pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h, point)
    iou = _iou(px, py, pw, ph, tx_, ty_, tw_, th_)
    giou = box_iou_kind(GIOU, px, py, pw, ph, tx_, ty_, tw_, th_)
    if pw == _F0:
        pw = _F1
    if ph == _F0:
        ph = _F1
    tx = tx_ * np.float32(lw) - np.float32(i)
    ty = ty_ * np.float32(lh) - np.float32(j)
    if point == LEFT_TOP:
        tx = (tx_ - tw_ / _F2) * np.float32(lw) - np.float32(i)
        ty = (ty_ - th_ / _F2) * np.float32(lh) - np.float32(j)
    elif point == RIGHT_BOTTOM:
        tx = (tx_ + tw_ / _F2) * np.float32(lw) - np.float32(i)
        ty = (ty_ + th_ / _F2) * np.float32(lh) - np.float32(j)
    tw = np.float32(math.log(np.float64(tw_ * np.float32(net_w) / aw)))
    th = np.float32(math.log(np.float64(th_ * np.float32(net_h) / ah)))
    targets = (tx, ty, tw, th)
    means = np.zeros(4, np.float32)
    uncs = np.zeros(4, np.float32)
    for k in range(4):
        m, u = gaussian_terms(targets[k] - out[b, j, i, c0 + 2 * k],
                              out[b, j, i, c0 + 2 * k + 1], scale)
        means[k] = m
        uncs[k] = u
    if kind != MSE:
        iou = giou
        dx, dy, dw, dh = dx_box_iou(px, py, pw, ph, tx_, ty_, tw_, th_, kind)
        if point == LEFT_TOP:
            dx = dx - dw / _F2
            dy = dy - dh / _F2
        elif point == RIGHT_BOTTOM:
            dx = dx + dw / _F2
            dy = dy + dh / _F2
        means[0] = dx
        means[1] = dy
        means[2] = np.float32(np.float64(dw) * math.exp(np.float64(out[b, j, i, c0 + 4])))
        means[3] = np.float32(np.float64(dh) * math.exp(np.float64(out[b, j, i, c0 + 6])))
    for k in range(4):
        m = _finite_or_zero(means[k] * iou_norm)
        u = _finite_or_zero(uncs[k] * uc_norm)
        if max_delta != _FLT_MAX:
            m = _clip(m, max_delta)
            u = _clip(u, max_delta)
        delta[b, j, i, c0 + 2 * k] += m
        delta[b, j, i, c0 + 2 * k + 1] += u
    return iou


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def delta_class(out, delta, b, j, i, c0, cls, classes, eps, multipliers, cls_norm):
    """delta_gaussian_yolo_class for class entries from channel c0; returns out[cls]. Unlike
    [yolo]'s, the 'already trained' test reads the FIRST class's delta (darknet's)."""
    weighted = multipliers.shape[0] > 0
    if delta[b, j, i, c0] != _F0:
        delta[b, j, i, c0 + cls] = _smoothed(_F1, eps) - out[b, j, i, c0 + cls]
        if weighted:
            delta[b, j, i, c0 + cls] *= multipliers[cls]
        return out[b, j, i, c0 + cls]
    for k in range(classes):
        delta[b, j, i, c0 + k] = _smoothed(_F1 if k == cls else _F0, eps) - out[b, j, i, c0 + k]
        if weighted and k == cls:
            delta[b, j, i, c0 + k] *= multipliers[cls] * cls_norm
    return out[b, j, i, c0 + cls]


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def _truth_cell(tx, ty, tw, th, lw, lh, point):
    if point == CENTER:
        i = int(tx * np.float32(lw))
        j = int(ty * np.float32(lh))
    else:
        sign = -_F1 if point == LEFT_TOP else _F1
        i = int(max(_F0, (tx + sign * tw / _F2) * np.float32(lw)))
        j = int(max(_F0, (ty + sign * th / _F2) * np.float32(lh)))
    # darknet indexes past the grid for x = 1 with center; keep it inside
    return min(j, lh - 1), min(i, lw - 1)


@njit(cache=True, error_model="numpy")  # C floats: x / 0 is inf or NaN
def gaussian_yolo_delta(out, truth, anchors, mask, classes, net_w, net_h, ignore_thresh,
                        truth_thresh, iou_thresh, cfg, kind, thresh_kind, flags, multipliers,
                        delta, stats):
    """[Gaussian_yolo]'s training deltas into `delta`, report sums into `stats`.

    cfg (float32): iou_normalizer, obj_normalizer, cls_normalizer, label_smooth_eps,
    max_delta, uc_normalizer; kind / thresh_kind: iou_loss / iou_thresh_kind codes of
    kernels/yolo_loss_alexeyab; flags (int64): objectness_smooth, yolo_point;
    multipliers: counters_per_class weights (empty: none)."""
    batch, lh, lw, _ = out.shape
    n_mask = mask.shape[0]
    entries = ENTRIES + classes
    max_boxes = truth.shape[1]
    iou_norm, obj_norm, cls_norm, eps, max_delta, uc_norm = (
        cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5])
    smooth, point = flags[0], flags[1]
    ignore = np.float32(ignore_thresh)
    t_thresh = np.float32(truth_thresh)
    a_thresh = np.float32(iou_thresh)
    for b in range(batch):
        for j in range(lh):
            for i in range(lw):
                for n in range(n_mask):
                    c0 = n * entries
                    aw = anchors[mask[n], 0]
                    ah = anchors[mask[n], 1]
                    px, py, pw, ph = pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h,
                                              point)
                    some_class = False
                    for k in range(classes):
                        if out[b, j, i, c0 + 9 + k] > np.float32(0.25):
                            some_class = True
                            break
                    best_match = _F0
                    best_match_t = 0
                    best_iou = _F0
                    best_t = 0
                    for t in range(max_boxes):
                        cls = int(truth[b, t, 4])
                        if cls >= classes:
                            continue
                        if truth[b, t, 0] == _F0:
                            break
                        iou = _iou(px, py, pw, ph, truth[b, t, 0], truth[b, t, 1],
                                   truth[b, t, 2], truth[b, t, 3])
                        if iou > best_match and some_class:
                            best_match = iou
                            best_match_t = t
                        if iou > best_iou:
                            best_iou = iou
                            best_t = t
                    obj = out[b, j, i, c0 + 8]
                    stats[AVG_NOOBJ] += obj
                    delta[b, j, i, c0 + 8] = obj_norm * (_F0 - obj)
                    if best_match > ignore:
                        if smooth:
                            delta[b, j, i, c0 + 8] = obj_norm * (best_match * best_match - obj)
                            delta_class(out, delta, b, j, i, c0 + 9,
                                        int(truth[b, best_match_t, 4]), classes, eps,
                                        multipliers, cls_norm)
                        else:
                            delta[b, j, i, c0 + 8] = _F0
                    if best_iou > t_thresh:
                        square = best_iou * best_iou
                        if smooth:
                            delta[b, j, i, c0 + 8] = obj_norm * (square - obj)
                        else:
                            delta[b, j, i, c0 + 8] = obj_norm * (_F1 - obj)
                        cls = int(truth[b, best_t, 4])
                        delta_class(out, delta, b, j, i, c0 + 9, cls, classes, eps,
                                    multipliers, cls_norm)
                        mult = multipliers[cls] if multipliers.shape[0] > 0 else _F1
                        if smooth:
                            delta[b, j, i, c0 + 9 + cls] = mult * (
                                square - out[b, j, i, c0 + 9 + cls])
                        tw_ = truth[b, best_t, 2]
                        th_ = truth[b, best_t, 3]
                        delta_box(out, delta, b, j, i, c0, truth[b, best_t, 0],
                                  truth[b, best_t, 1], tw_, th_, aw, ah, lw, lh, net_w, net_h,
                                  _F2 - tw_ * th_, iou_norm * mult, uc_norm, kind, max_delta,
                                  point)
        for t in range(max_boxes):
            tx_ = truth[b, t, 0]
            if tx_ == _F0:
                break
            cls = int(truth[b, t, 4])
            ty_ = truth[b, t, 1]
            tw_ = truth[b, t, 2]
            th_ = truth[b, t, 3]
            j, i = _truth_cell(tx_, ty_, tw_, th_, lw, lh, point)
            best_iou = _F0
            best_n = 0
            for n in range(anchors.shape[0]):
                iou = _iou(_F0, _F0, anchors[n, 0] / np.float32(net_w),
                           anchors[n, 1] / np.float32(net_h), _F0, _F0, tw_, th_)
                if iou > best_iou:
                    best_iou = iou
                    best_n = n
            mult = multipliers[cls] if multipliers.shape[0] > 0 else _F1
            for n in range(anchors.shape[0]):
                # the best anchor, then (iou_thresh < 1) every other one whose shape is close
                mask_n = _mask_index(mask, n)
                if mask_n < 0:
                    continue
                if n != best_n:
                    if not a_thresh < _F1:
                        continue
                    shape = box_iou_kind(thresh_kind, _F0, _F0,
                                         anchors[n, 0] / np.float32(net_w),
                                         anchors[n, 1] / np.float32(net_h), _F0, _F0, tw_, th_)
                    if not shape > a_thresh:
                        continue
                c0 = mask_n * entries
                iou = delta_box(out, delta, b, j, i, c0, tx_, ty_, tw_, th_, anchors[n, 0],
                                anchors[n, 1], lw, lh, net_w, net_h, _F2 - tw_ * th_,
                                iou_norm * mult, uc_norm, kind, max_delta, point)
                stats[AVG_OBJ] += out[b, j, i, c0 + 8]
                delta[b, j, i, c0 + 8] = mult * obj_norm * (_F1 - out[b, j, i, c0 + 8])
                stats[AVG_CLASS] += delta_class(out, delta, b, j, i, c0 + 9, cls, classes, eps,
                                                multipliers, cls_norm)
                stats[COUNT] += 1
                stats[CLASS_COUNT] += 1
                if iou > np.float32(0.5):
                    stats[RECALL50] += 1
                if iou > np.float32(0.75):
                    stats[RECALL75] += 1
                stats[AVG_IOU] += iou
        # averages_gaussian_yolo_deltas (always, unlike [yolo]'s): a box trained for several
        # classes takes the mean of its 8 box deltas
        for j in range(lh):
            for i in range(lw):
                for n in range(n_mask):
                    c0 = n * entries
                    several = 0
                    for k in range(classes):
                        if delta[b, j, i, c0 + 9 + k] > _F0:
                            several += 1
                    if several > 0:
                        for k in range(8):
                            delta[b, j, i, c0 + k] /= np.float32(several)
