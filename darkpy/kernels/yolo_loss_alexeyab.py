"""The training deltas of AlexeyAB's [yolo] head (his forward_yolo_layer with state.train=1,
CPU build: process_batch, delta_yolo_box, delta_yolo_class, averages_yolo_deltas, and
box.c's IoU family and dx_box_iou).

The formulas and what they mean are in darkpy/layers/yolo.py; this module only loops, in
darknet's float arithmetic: float32 where darknet computes in float, float64 where C promotes
(exp, log, sqrt, atan, M_PI and double literals), rounded to float32 where darknet stores a
float. Layouts as in darkpy/kernels/yolo_loss.py: `out` is the head's NHWC output (logistic and
scale_x_y applied unless new_coords), anchor a of a cell owning channels a*entries ...; `truth`
(N, max_boxes, 5) rows x, y, w, h, class ending at the first x = 0; `delta` (zeroed by the
caller) receives darknet's l.delta, the NEGATED gradient where it is one; `stats` (float64,
length STATS) the sums darknet reports.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# box losses (darknet's IOU_LOSS enum order does not matter here: these are darkpy's codes)
MSE, IOU, GIOU, DIOU, CIOU = range(5)
IOU_LOSSES = {"mse": MSE, "iou": IOU, "giou": GIOU, "diou": DIOU, "ciou": CIOU}

# stats[k]: darknet's sums (tot_iou, tot_iou_loss, tot_giou_loss are float accumulators in C)
(AVG_IOU, RECALL50, RECALL75, AVG_CLASS, AVG_OBJ, AVG_NOOBJ, COUNT, CLASS_COUNT, IOU_LOSS,
 GIOU_LOSS, REWRITTEN, TOTAL_BBOX) = range(12)
STATS = 12

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F2 = np.float32(2.0)
_HALF = np.float32(0.5)
_FOCAL_ALPHA = np.float32(0.5)
_PI2 = math.pi * math.pi
_FLT_MAX = np.float32(np.finfo(np.float32).max)


@njit(cache=True)
def _iou(ax, ay, aw, ah, bx, by, bw, bh):
    """AlexeyAB's box_iou: 0 when the intersection or the union is 0."""
    w = min(ax + aw / _F2, bx + bw / _F2) - max(ax - aw / _F2, bx - bw / _F2)
    h = min(ay + ah / _F2, by + bh / _F2) - max(ay - ah / _F2, by - bh / _F2)
    inter = _F0 if (w < _F0 or h < _F0) else w * h
    union = aw * ah + bw * bh - inter
    if inter == _F0 or union == _F0:
        return _F0
    return inter / union


@njit(cache=True)
def _enclosing(ax, ay, aw, ah, bx, by, bw, bh):
    """box_c: width and height of the smallest box holding both."""
    top = min(ay - ah / _F2, by - bh / _F2)
    bot = max(ay + ah / _F2, by + bh / _F2)
    left = min(ax - aw / _F2, bx - bw / _F2)
    right = max(ax + aw / _F2, bx + bw / _F2)
    return right - left, bot - top


@njit(cache=True)
def _union(ax, ay, aw, ah, bx, by, bw, bh):
    w = min(ax + aw / _F2, bx + bw / _F2) - max(ax - aw / _F2, bx - bw / _F2)
    h = min(ay + ah / _F2, by + bh / _F2) - max(ay - ah / _F2, by - bh / _F2)
    inter = _F0 if (w < _F0 or h < _F0) else w * h
    return aw * ah + bw * bh - inter


@njit(cache=True)
def box_iou_kind(kind, ax, ay, aw, ah, bx, by, bw, bh):
    """box_iou / box_giou / box_diou / box_ciou of a against b (b the truth)."""
    iou = _iou(ax, ay, aw, ah, bx, by, bw, bh)
    if kind == IOU or kind == MSE:
        return iou
    w, h = _enclosing(ax, ay, aw, ah, bx, by, bw, bh)
    if kind == GIOU:
        c = w * h
        if c == _F0:
            return iou
        u = _union(ax, ay, aw, ah, bx, by, bw, bh)
        return iou - (c - u) / c
    c = w * w + h * h
    if c == _F0:
        return iou
    d = (ax - bx) * (ax - bx) + (ay - by) * (ay - by)
    if kind == DIOU:
        return np.float32(np.float64(iou) - math.pow(np.float64(d / c), 0.6))
    dn = d / c
    arc = math.atan(np.float64(bw / bh)) - math.atan(np.float64(aw / ah))
    ar_loss = np.float32(4.0 / _PI2 * arc * arc)
    alpha = np.float32(np.float64(ar_loss) / (np.float64(_F1 - iou + ar_loss) + 0.000001))
    return iou - (dn + alpha * ar_loss)


@njit(cache=True)
def dx_box_iou(px, py, pw, ph, tx, ty, tw, th, kind):
    """darknet's dx_box_iou: (d/dx, d/dy, d/dw, d/dh) of the IoU-family score of the
    predicted box (px, py, pw, ph) against the truth, positive towards a better score, with
    darknet's own simplifications (see darkpy/layers/yolo.py)."""
    pt0 = py - ph / _F2
    pb0 = py + ph / _F2
    pl0 = px - pw / _F2
    pr0 = px + pw / _F2
    pred_t = min(pt0, pb0)
    pred_b = max(pt0, pb0)
    pred_l = min(pl0, pr0)
    pred_r = max(pl0, pr0)
    t_top = ty - th / _F2
    t_bot = ty + th / _F2
    t_left = tx - tw / _F2
    t_right = tx + tw / _F2
    X = (pred_b - pred_t) * (pred_r - pred_l)
    Xhat = (t_bot - t_top) * (t_right - t_left)
    Ih = min(pred_b, t_bot) - max(pred_t, t_top)
    Iw = min(pred_r, t_right) - max(pred_l, t_left)
    I = Iw * Ih
    U = X + Xhat - I
    S = (px - tx) * (px - tx) + (py - ty) * (py - ty)
    giou_Cw = max(pred_r, t_right) - min(pred_l, t_left)
    giou_Ch = max(pred_b, t_bot) - min(pred_t, t_top)
    giou_C = giou_Cw * giou_Ch
    dX_t = -(pred_r - pred_l)
    dX_b = pred_r - pred_l
    dX_l = -(pred_b - pred_t)
    dX_r = pred_b - pred_t
    dI_t = -Iw if pred_t > t_top else _F0
    dI_b = Iw if pred_b < t_bot else _F0
    dI_l = -Ih if pred_l > t_left else _F0
    dI_r = Ih if pred_r < t_right else _F0
    dU_t = dX_t - dI_t
    dU_b = dX_b - dI_b
    dU_l = dX_l - dI_l
    dU_r = dX_r - dI_r
    dC_t = -giou_Cw if pred_t < t_top else _F0
    dC_b = giou_Cw if pred_b > t_bot else _F0
    dC_l = -giou_Ch if pred_l < t_left else _F0
    dC_r = giou_Ch if pred_r > t_right else _F0
    p_dt = _F0
    p_db = _F0
    p_dl = _F0
    p_dr = _F0
    if U > _F0:
        uu = U * U
        p_dt = (U * dI_t - I * dU_t) / uu
        p_db = (U * dI_b - I * dU_b) / uu
        p_dl = (U * dI_l - I * dU_l) / uu
        p_dr = (U * dI_r - I * dU_r) / uu
    if not pt0 < pb0:
        p_dt = p_db
    if not pl0 < pr0:
        p_dl = p_dr
    if kind == GIOU:
        cc = giou_C * giou_C
        if giou_C > _F0:
            p_dt += (giou_C * dU_t - U * dC_t) / cc
            p_db += (giou_C * dU_b - U * dC_b) / cc
            p_dl += (giou_C * dU_l - U * dC_l) / cc
            p_dr += (giou_C * dU_r - U * dC_r) / cc
        if Iw <= _F0 or Ih <= _F0:
            p_dt = (giou_C * dU_t - U * dC_t) / cc
            p_db = (giou_C * dU_b - U * dC_b) / cc
            p_dl = (giou_C * dU_l - U * dC_l) / cc
            p_dr = (giou_C * dU_r - U * dC_r) / cc
    Cw = max(px + pw / _F2, tx + tw / _F2) - min(px - pw / _F2, tx - tw / _F2)
    Ch = max(py + ph / _F2, ty + th / _F2) - min(py - ph / _F2, ty - th / _F2)
    C = Cw * Cw + Ch * Ch
    # d(enclosing edges)/d(x, y, w, h): which edges belong to the prediction
    dCt_dy = _F1 if pred_t < t_top else _F0
    dCt_dh = -_HALF if pred_t < t_top else _F0
    dCb_dy = _F1 if pred_b > t_bot else _F0
    dCb_dh = _HALF if pred_b > t_bot else _F0
    dCl_dx = _F1 if pred_l < t_left else _F0
    dCl_dw = -_HALF if pred_l < t_left else _F0
    dCr_dx = _F1 if pred_r > t_right else _F0
    dCr_dw = _HALF if pred_r > t_right else _F0
    dCw_dx = dCr_dx - dCl_dx
    dCw_dw = dCr_dw - dCl_dw
    dCh_dy = dCb_dy - dCt_dy
    dCh_dh = dCb_dh - dCt_dh
    p_dx = p_dl + p_dr
    p_dy = p_dt + p_db
    p_dw = p_dr - p_dl
    p_dh = p_db - p_dt
    if kind == DIOU or kind == CIOU:
        cc = C * C
        # the distance term; darknet's dCw_dy, dCh_dx, dCw_dh, dCh_dw are 0
        ddx = (_F2 * (tx - px) * C - (_F2 * Cw * dCw_dx + _F2 * Ch * _F0) * S) / cc
        ddy = (_F2 * (ty - py) * C - (_F2 * Cw * _F0 + _F2 * Ch * dCh_dy) * S) / cc
        ddw = (_F2 * Cw * dCw_dw + _F2 * Ch * _F0) * S / cc
        ddh = (_F2 * Cw * _F0 + _F2 * Ch * dCh_dh) * S / cc
        ar_w = _F0
        ar_h = _F0
        if kind == CIOU:
            arc = math.atan(np.float64(tw / th)) - math.atan(np.float64(pw / ph))
            ar_loss = np.float32(4.0 / _PI2 * arc * arc)
            alpha = np.float32(np.float64(ar_loss)
                               / (np.float64(_F1 - I / U + ar_loss) + 0.000001))
            ar_w = alpha * np.float32(8.0 / _PI2 * arc * np.float64(ph))
            ar_h = alpha * np.float32(-8.0 / _PI2 * arc * np.float64(pw))
        if C > _F0:
            p_dx += ddx
            p_dy += ddy
            p_dw += ddw + ar_w
            p_dh += ddh + ar_h
        if Iw <= _F0 or Ih <= _F0:
            p_dx = ddx
            p_dy = ddy
            p_dw = ddw + ar_w
            p_dh = ddh + ar_h
    return p_dx, p_dy, p_dw, p_dh


@njit(cache=True)
def _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h, new_coords):
    """get_yolo_box."""
    x = (np.float32(i) + out[b, j, i, c0]) / np.float32(lw)
    y = (np.float32(j) + out[b, j, i, c0 + 1]) / np.float32(lh)
    if new_coords:
        tw = out[b, j, i, c0 + 2]
        th = out[b, j, i, c0 + 3]
        w = tw * tw * np.float32(4) * aw / np.float32(net_w)
        h = th * th * np.float32(4) * ah / np.float32(net_h)
    else:
        w = np.float32(math.exp(np.float64(out[b, j, i, c0 + 2])) * np.float64(aw) / net_w)
        h = np.float32(math.exp(np.float64(out[b, j, i, c0 + 3])) * np.float64(ah) / net_h)
    return x, y, w, h


@njit(cache=True)
def _finite_or_zero(v):
    return v if math.isfinite(v) else _F0


@njit(cache=True)
def _clip(v, limit):
    if v > limit:
        return limit
    if v < -limit:
        return -limit
    return v


@njit(cache=True)
def _delta_box(out, delta, b, j, i, c0, tx_, ty_, tw_, th_, aw, ah, lw, lh, net_w, net_h,
               scale, normalizer, kind, max_delta, new_coords, stats):
    """delta_yolo_box (accumulating): returns (iou, giou) of the prediction with the truth."""
    if (delta[b, j, i, c0] != _F0 or delta[b, j, i, c0 + 1] != _F0
            or delta[b, j, i, c0 + 2] != _F0 or delta[b, j, i, c0 + 3] != _F0):
        stats[REWRITTEN] += 1
    px, py, pw, ph = _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h, new_coords)
    iou = _iou(px, py, pw, ph, tx_, ty_, tw_, th_)
    giou = box_iou_kind(GIOU, px, py, pw, ph, tx_, ty_, tw_, th_)
    if pw == _F0:
        pw = _F1
    if ph == _F0:
        ph = _F1
    if kind == MSE:
        tx = tx_ * np.float32(lw) - np.float32(i)
        ty = ty_ * np.float32(lh) - np.float32(j)
        if new_coords:
            tw = np.float32(math.sqrt(np.float64(tw_ * np.float32(net_w) / (np.float32(4) * aw))))
            th = np.float32(math.sqrt(np.float64(th_ * np.float32(net_h) / (np.float32(4) * ah))))
        else:
            tw = np.float32(math.log(np.float64(tw_ * np.float32(net_w) / aw)))
            th = np.float32(math.log(np.float64(th_ * np.float32(net_h) / ah)))
        delta[b, j, i, c0] += scale * (tx - out[b, j, i, c0]) * normalizer
        delta[b, j, i, c0 + 1] += scale * (ty - out[b, j, i, c0 + 1]) * normalizer
        delta[b, j, i, c0 + 2] += scale * (tw - out[b, j, i, c0 + 2]) * normalizer
        delta[b, j, i, c0 + 3] += scale * (th - out[b, j, i, c0 + 3]) * normalizer
        return iou, giou
    dx, dy, dw, dh = dx_box_iou(px, py, pw, ph, tx_, ty_, tw_, th_, kind)
    if not new_coords:  # the chain rule through exp, for w and h only
        dw = np.float32(np.float64(dw) * math.exp(np.float64(out[b, j, i, c0 + 2])))
        dh = np.float32(np.float64(dh) * math.exp(np.float64(out[b, j, i, c0 + 3])))
    dx = _finite_or_zero(dx * normalizer)
    dy = _finite_or_zero(dy * normalizer)
    dw = _finite_or_zero(dw * normalizer)
    dh = _finite_or_zero(dh * normalizer)
    if max_delta != _FLT_MAX:
        dx = _clip(dx, max_delta)
        dy = _clip(dy, max_delta)
        dw = _clip(dw, max_delta)
        dh = _clip(dh, max_delta)
    delta[b, j, i, c0] += dx
    delta[b, j, i, c0 + 1] += dy
    delta[b, j, i, c0 + 2] += dw
    delta[b, j, i, c0 + 3] += dh
    return iou, giou


@njit(cache=True)
def _smoothed(target, eps):
    if eps != _F0:
        return np.float32(np.float64(target * (_F1 - eps)) + 0.5 * np.float64(eps))
    return target


@njit(cache=True)
def _delta_class(out, delta, b, j, i, c0, cls, classes, focal, eps, multipliers, cls_norm):
    """delta_yolo_class for class entries starting at channel c0; returns the output's score
    for `cls` (darknet's avg_cat term)."""
    weighted = multipliers.shape[0] > 0
    if delta[b, j, i, c0 + cls] != _F0:
        # the anchor already trains this class (another truth): only its entry is redone
        result = _smoothed(_F1, eps) - out[b, j, i, c0 + cls]
        if math.isfinite(result):
            delta[b, j, i, c0 + cls] = result
        if weighted:
            delta[b, j, i, c0 + cls] *= multipliers[cls]
        return out[b, j, i, c0 + cls]
    if focal:
        pt = out[b, j, i, c0 + cls] + np.float32(1e-15)
        grad = -(_F1 - pt) * (_F2 * pt * np.float32(math.log(pt)) + pt - _F1)
        factor = _FOCAL_ALPHA * grad
        for k in range(classes):
            target = _F1 if k == cls else _F0
            delta[b, j, i, c0 + k] = (target - out[b, j, i, c0 + k]) * factor
        return out[b, j, i, c0 + cls]
    for k in range(classes):
        result = _smoothed(_F1 if k == cls else _F0, eps) - out[b, j, i, c0 + k]
        if math.isfinite(result):
            delta[b, j, i, c0 + k] = result
        if weighted and k == cls:
            delta[b, j, i, c0 + k] *= multipliers[cls] * cls_norm
    return out[b, j, i, c0 + cls]


@njit(cache=True)
def _mask_index(mask, n):
    for k in range(mask.shape[0]):
        if mask[k] == n:
            return k
    return -1


@njit(cache=True)
def _train_truth(out, delta, b, j, i, t, truth, anchor, mask_n, anchors, classes, lw, lh,
                 net_w, net_h, cfg, kind, flags, multipliers, stats, sums):
    """One truth trained at anchor `anchor` (mask position mask_n) of cell (j, i): box, object
    and class deltas and the report sums (the body darknet repeats for iou_thresh)."""
    iou_norm, obj_norm, cls_norm, eps, max_delta = cfg[0], cfg[1], cfg[2], cfg[3], cfg[4]
    focal, new_coords, smooth = flags[0], flags[1], flags[2]
    entries = 5 + classes
    c0 = mask_n * entries
    cls = int(truth[b, t, 4])
    mult = multipliers[cls] if multipliers.shape[0] > 0 else _F1
    tw_ = truth[b, t, 2]
    th_ = truth[b, t, 3]
    iou, giou = _delta_box(out, delta, b, j, i, c0, truth[b, t, 0], truth[b, t, 1], tw_, th_,
                           anchors[anchor, 0], anchors[anchor, 1], lw, lh, net_w, net_h,
                           _F2 - tw_ * th_, iou_norm * mult, kind, max_delta, new_coords,
                           stats)
    stats[TOTAL_BBOX] += 1
    sums[0] += iou
    sums[1] += _F1 - iou
    sums[2] += _F1 - giou
    obj = out[b, j, i, c0 + 4]
    sums[3] += obj
    target = mult * obj_norm * (_F1 - obj)
    if not smooth or delta[b, j, i, c0 + 4] == _F0:
        delta[b, j, i, c0 + 4] = target
    sums[4] += _delta_class(out, delta, b, j, i, c0 + 5, cls, classes, focal, eps,
                            multipliers, cls_norm)
    stats[COUNT] += 1
    stats[CLASS_COUNT] += 1
    if iou > np.float32(0.5):
        stats[RECALL50] += 1
    if iou > np.float32(0.75):
        stats[RECALL75] += 1


@njit(cache=True)
def yolo_delta_alexeyab(out, truth, anchors, mask, classes, net_w, net_h, ignore_thresh,
                        truth_thresh, iou_thresh, cfg, kind, thresh_kind, flags, multipliers,
                        delta, stats):
    """AlexeyAB's [yolo] training deltas into `delta`, report sums into `stats`.

    cfg (float32): iou_normalizer, obj_normalizer, cls_normalizer, label_smooth_eps,
    max_delta; kind / thresh_kind: iou_loss / iou_thresh_kind codes; flags (int64):
    focal_loss, new_coords, objectness_smooth; multipliers: counters_per_class weights
    (empty: none)."""
    batch, lh, lw, _ = out.shape
    n_mask = mask.shape[0]
    entries = 5 + classes
    max_boxes = truth.shape[1]
    obj_norm = cfg[1]
    eps = cfg[3]
    max_delta = cfg[4]
    focal, new_coords, smooth = flags[0], flags[1], flags[2]
    ignore = np.float32(ignore_thresh)
    t_thresh = np.float32(truth_thresh)
    a_thresh = np.float32(iou_thresh)
    for b in range(batch):
        # darknet's per-image thread sums (float): iou, iou loss, giou loss, obj, class
        sums = np.zeros(5, np.float32)
        anyobj = _F0
        for j in range(lh):
            for i in range(lw):
                for n in range(n_mask):
                    c0 = n * entries
                    aw = anchors[mask[n], 0]
                    ah = anchors[mask[n], 1]
                    px, py, pw, ph = _pred_box(out, b, j, i, c0, aw, ah, lw, lh, net_w, net_h,
                                               new_coords)
                    # the ignore rule counts only predictions that score some class > .25
                    some_class = False
                    for k in range(classes):
                        if out[b, j, i, c0 + 5 + k] > np.float32(0.25):
                            some_class = True
                            break
                    best_match = _F0
                    best_iou = _F0
                    best_t = 0
                    for t in range(max_boxes):
                        if truth[b, t, 0] == _F0:
                            break
                        cls = int(truth[b, t, 4])
                        if cls < 0 or cls >= classes:
                            continue
                        iou = _iou(px, py, pw, ph, truth[b, t, 0], truth[b, t, 1],
                                   truth[b, t, 2], truth[b, t, 3])
                        if iou > best_match and some_class:
                            best_match = iou
                        if iou > best_iou:
                            best_iou = iou
                            best_t = t
                    obj = out[b, j, i, c0 + 4]
                    anyobj += obj
                    delta[b, j, i, c0 + 4] = obj_norm * (_F0 - obj)
                    if best_match > ignore:
                        if smooth:
                            d = obj_norm * (best_match - obj)
                            if d > delta[b, j, i, c0 + 4]:
                                delta[b, j, i, c0 + 4] = d
                        else:
                            delta[b, j, i, c0 + 4] = _F0
                    if best_iou > t_thresh:
                        square = best_iou * best_iou
                        if smooth:
                            delta[b, j, i, c0 + 4] = obj_norm * (square - obj)
                        else:
                            delta[b, j, i, c0 + 4] = obj_norm * (_F1 - obj)
                        cls = int(truth[b, best_t, 4])
                        _delta_class(out, delta, b, j, i, c0 + 5, cls, classes, focal, eps,
                                     multipliers, cfg[2])
                        mult = multipliers[cls] if multipliers.shape[0] > 0 else _F1
                        if smooth:
                            delta[b, j, i, c0 + 5 + cls] = mult * (
                                square - out[b, j, i, c0 + 5 + cls])
                        tw_ = truth[b, best_t, 2]
                        th_ = truth[b, best_t, 3]
                        _delta_box(out, delta, b, j, i, c0, truth[b, best_t, 0],
                                   truth[b, best_t, 1], tw_, th_, aw, ah, lw, lh, net_w,
                                   net_h, _F2 - tw_ * th_, cfg[0] * mult, kind, max_delta,
                                   new_coords, stats)
                        stats[TOTAL_BBOX] += 1
        for t in range(max_boxes):
            tx_ = truth[b, t, 0]
            if tx_ == _F0:
                break
            cls = int(truth[b, t, 4])
            if cls < 0 or cls >= classes:
                continue
            tw_ = truth[b, t, 2]
            th_ = truth[b, t, 3]
            i = int(tx_ * np.float32(lw))
            j = int(truth[b, t, 1] * np.float32(lh))
            # darknet indexes past the grid for x = 1 (a zero-width box); keep it inside
            i = min(i, lw - 1)
            j = min(j, lh - 1)
            best_iou = _F0
            best_n = 0
            for n in range(anchors.shape[0]):
                iou = _iou(_F0, _F0, anchors[n, 0] / np.float32(net_w),
                           anchors[n, 1] / np.float32(net_h), _F0, _F0, tw_, th_)
                if iou > best_iou:
                    best_iou = iou
                    best_n = n
            mask_n = _mask_index(mask, best_n)
            if mask_n >= 0:
                _train_truth(out, delta, b, j, i, t, truth, best_n, mask_n, anchors, classes,
                             lw, lh, net_w, net_h, cfg, kind, flags, multipliers, stats, sums)
            # iou_thresh: every other anchor of this head close enough to the truth's shape
            for n in range(anchors.shape[0]):
                mask_n = _mask_index(mask, n)
                if mask_n < 0 or n == best_n or not a_thresh < _F1:
                    continue
                iou = box_iou_kind(thresh_kind, _F0, _F0, anchors[n, 0] / np.float32(net_w),
                                   anchors[n, 1] / np.float32(net_h), _F0, _F0, tw_, th_)
                if iou > a_thresh:
                    _train_truth(out, delta, b, j, i, t, truth, n, mask_n, anchors, classes,
                                 lw, lh, net_w, net_h, cfg, kind, flags, multipliers, stats,
                                 sums)
        if a_thresh < _F1:
            # averages_yolo_deltas: a box trained for several classes takes their mean
            for j in range(lh):
                for i in range(lw):
                    for n in range(n_mask):
                        c0 = n * entries
                        if delta[b, j, i, c0 + 4] == _F0:
                            continue
                        several = 0
                        for k in range(classes):
                            if delta[b, j, i, c0 + 5 + k] > _F0:
                                several += 1
                        if several > 0:
                            for k in range(4):
                                delta[b, j, i, c0 + k] /= np.float32(several)
        stats[AVG_IOU] += sums[0]
        stats[IOU_LOSS] += sums[1]
        stats[GIOU_LOSS] += sums[2]
        stats[AVG_OBJ] += sums[3]
        stats[AVG_CLASS] += sums[4]
        stats[AVG_NOOBJ] += anyobj
