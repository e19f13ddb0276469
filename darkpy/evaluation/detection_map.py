"""Mean average precision of a detector, as AlexeyAB darknet's `detector map` computes it
(validate_detector_map in src/detector.c; pjreddie's darknet has no map).

    from darkpy.evaluation.detection_map import detector_map
    report = detector_map("yolov3-tiny.cfg", "yolov3-tiny.weights", "obj.data")
    report.map, report.classes[0].ap, report.map_50_95

Procedure (each step is darknet's):
1. Every image of the `.data` file's `valid` list (label files found by AlexeyAB's rule,
   darkpy.train.darknet.data.label_path) is read as darknet reads it (stb decoding), resized
   to the network (stretched; letterboxed when [net] letter_box=1) and run once. Candidate
   boxes use a fixed threshold of 0.005 (not --thresh), then per-class NMS at 0.45
   (do_nms_sort, or diounms_sort with the last layer's nms_kind: darkpy.detect.nms).
2. Walking the boxes in darknet's order after NMS and each class whose probability is > 0,
   every (box, class) is a detection. Its truth is the labelled object of the same class with
   the largest IoU, if that IoU is > iou_thresh (strictly). A detection that matches no
   object but does match an object of the `difficult` list (VOC's difficult boxes) is dropped.
3. At the confidence threshold (--thresh, default 0.25), a detection above it is a true
   positive when it has a truth and no earlier detection of the same image (in the walk
   order, whatever its confidence) has the same truth; every other one above it is a false
   positive, the dropped "difficult" ones included. precision = TP / (TP + FP),
   recall = TP / objects, F1, FN = objects - TP, average IoU = sum of the TPs' IoU /
   (TP + FP).
4. All detections are sorted by probability (stable, as glibc's qsort is). Walking that
   ranking, a detection is a TP of its class when its truth was not taken before, else an
   FP; darknet records precision and recall of every class at every rank (a class's values
   stay put at the ranks of other classes, which changes none of the APs below, so darkpy
   keeps each class's own ranks; a class with no objects has recall 0 throughout).
5. AP per class from that curve: points=0 (AlexeyAB's default, VOC 2010-2012): walking the
   ranks from the last to the first, each step adds (recall[r+1] - recall[r]) times the
   largest precision seen at ranks >= r, and finally recall[0] times that largest
   precision; points=N (11: VOC 2007, 101: COCO): the mean over recall levels
   p / (N - 1), p = 0..N-1, of the largest precision at a rank whose recall is >= the level
   (0 when none). mAP is the mean over all the network's classes, those without objects
   included (their AP is 0), as darknet averages.
mAP@[.50:.95] (COCO's summary) is the mean of mAP at IoU thresholds 0.50, 0.55, ..., 0.95,
with the same `points`; darknet prints one threshold a run, darkpy scores all ten from the
one pass over the images.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from darkpy.detect.nms import box_iou
from darkpy.errors import ConfigError, InputError
from darkpy.reporting import Reporter

CANDIDATE_THRESH = 0.005  # validate_detector_map's fixed `thresh`
NMS_THRESH = 0.45
COCO_IOUS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


@dataclass
class ImageResult:
    """What one validation image contributes: its detections in darknet's walk order and its
    labelled objects."""

    path: str
    boxes: np.ndarray       # (D, 4) float32 x, y, w, h image-relative, one row per detection
    probs: np.ndarray       # (D,) float32
    classes: np.ndarray     # (D,) int
    truth: np.ndarray       # (T, 5) float32 class, x, y, w, h
    difficult: np.ndarray   # (U, 5) float32, objects whose detections are dropped, not counted


@dataclass
class ClassScore:
    class_id: int
    name: str
    ap: float
    objects: int
    tp: int           # at the confidence threshold
    fp: int
    precision: float  # at the confidence threshold (nan when nothing is above it)
    recall: float
    avg_iou: float


@dataclass
class MapReport:
    """darknet's `detector map` numbers (fractions, not percent)."""

    iou_thresh: float
    points: int
    thresh: float
    classes: list                  # ClassScore per network class
    map: float                     # mean AP over the classes at iou_thresh
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    avg_iou: float
    detections: int
    objects: int
    images: int
    map_50_95: float | None = None
    per_iou: dict = field(default_factory=dict)   # IoU threshold -> mAP

    def to_json(self) -> dict:
        out = asdict(self)
        out["per_iou"] = {f"{k:.2f}": v for k, v in self.per_iou.items()}
        return _finite(out)

    def darknet_text(self) -> str:
        """The report in darknet's own lines (its percentages and rounding)."""
        lines = []
        for c in self.classes:
            lines.append(f"class_id = {c.class_id}, name = {c.name}, ap = {c.ap * 100:.2f}%   "
                         f"\t (TP = {c.tp}, FP = {c.fp}) ")
        lines.append("")
        lines.append(f" for conf_thresh = {self.thresh:.2f}, precision = {_c(self.precision)}, "
                     f"recall = {_c(self.recall)}, F1-score = {_c(self.f1)} ")
        lines.append(f" for conf_thresh = {self.thresh:.2f}, TP = {self.tp}, FP = {self.fp}, "
                     f"FN = {self.fn}, average IoU = {self.avg_iou * 100:.2f} % ")
        lines.append("")
        how = (f"used {self.points} Recall-points" if self.points
               else "used Area-Under-Curve for each unique Recall")
        lines.append(f" IoU threshold = {self.iou_thresh * 100:.0f} %, {how} ")
        lines.append(f" mean average precision (mAP@{self.iou_thresh:.2f}) = {self.map:f}, or "
                     f"{self.map * 100:.2f} % ")
        if self.map_50_95 is not None:
            lines.append(f" mean average precision (mAP@[.50:.95]) = {self.map_50_95:f}, or "
                         f"{self.map_50_95 * 100:.2f} % ")
        return "\n".join(lines)


def _c(value: float) -> str:
    """darknet's %1.2f of a float that may be 0/0 (printed -nan by glibc)."""
    return "-nan" if math.isnan(value) else f"{value:.2f}"


def _finite(value):
    """JSON has no NaN: nan becomes None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- one pass over the images ------------------------------------------------------------------

def detections_of(detector, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes, probs, classes) of every (box, class) with a probability > 0 after NMS, in the
    order validate_detector_map walks them: boxes in darknet's order, classes ascending."""
    cands, order, probs = detector.candidates(image)
    box_index, class_index = np.nonzero(probs[order] > 0)  # row-major: box, then class
    rows = order[box_index]
    return cands.boxes[rows], probs[rows, class_index], class_index


def collect(detector, items, difficult=None, reporter: Reporter | None = None) -> list[ImageResult]:
    """Run the network once over the validation items (DetectionItem: image, boxes); `difficult`
    is a parallel list of (U, 5) arrays or None."""
    from darkpy.io.image import load_image

    reporter = reporter or Reporter()
    results = []
    for k, item in enumerate(items):
        reporter.start_file(item.image, k, len(items))
        boxes, probs, classes = detections_of(detector, load_image(item.image))
        hard = difficult[k] if difficult is not None else np.zeros((0, 5), np.float32)
        results.append(ImageResult(str(item.image), boxes, probs, classes, item.boxes, hard))
        reporter.end_file(item.image, None)
    return results


# --- the scores -------------------------------------------------------------------------------

def _best_truths(boxes, classes, truth, iou_thresh) -> tuple[np.ndarray, np.ndarray]:
    """Per detection: (index, IoU) of the same-class object with the largest IoU, if that is
    > iou_thresh (the first such object on ties, as darknet's strict `>` keeps it), else
    (-1, 0)."""
    if len(truth) == 0 or len(boxes) == 0:
        return np.full(len(boxes), -1), np.zeros(len(boxes), np.float32)
    ious = box_iou(boxes, truth[:, 1:5])
    usable = ((ious > np.float32(iou_thresh)) & (ious > 0)
              & (classes[:, None] == truth[None, :, 0].astype(int)))
    ious = np.where(usable, ious, np.float32(-1))
    best = np.argmax(ious, axis=1)
    found = usable[np.arange(len(boxes)), best]
    return np.where(found, best, -1), np.where(found, ious[np.arange(len(boxes)), best], 0)


def average_precision(precision: np.ndarray, recall: np.ndarray, points: int = 0) -> float:
    """AP of one class from its precision and recall at every rank (module docstring, step 5)."""
    n = len(precision)
    if n == 0:
        return 0.0
    precision = np.asarray(precision, np.float64)
    recall = np.asarray(recall, np.float64)
    if points == 0:
        # darknet's loop from the last rank down: the step from rank r to r+1 is weighted by
        # the largest precision at ranks >= r; summed in the same order (cumsum is sequential)
        best = np.maximum.accumulate(precision[::-1])[::-1]
        terms = (recall[1:] - recall[:-1]) * best[:-1]
        ap = np.cumsum(terms[::-1])[-1] if len(terms) else 0.0
        return float(ap + recall[0] * best[0])
    if points < 2:
        raise InputError(f"points must be 0 (area under the curve) or at least 2, got {points}")
    # recall never decreases along the ranking, so the ranks whose recall reaches a level are
    # a suffix: its largest precision is the suffix maximum at the first of them
    best = np.maximum.accumulate(precision[::-1])[::-1]
    ap = 0.0
    for p in range(points):
        first = np.searchsorted(recall, p * 1.0 / (points - 1), side="left")
        ap += float(best[first]) if first < n else 0.0
    return ap / points


def score(results: list[ImageResult], classes: int, names=None, iou_thresh: float = 0.5,
          points: int = 0, thresh: float = 0.25) -> MapReport:
    """darknet's numbers from one pass's detections (module docstring, steps 2-5)."""
    names = names or [str(k) for k in range(classes)]
    thresh32 = np.float32(thresh)
    p_all, c_all, truth_all = [], [], []
    objects = np.zeros(classes, np.int64)
    tp_c = np.zeros(classes, np.int64)
    fp_c = np.zeros(classes, np.int64)
    iou_c = np.zeros(classes, np.float64)
    unique = 0
    for image in results:
        for row in image.truth:
            objects[int(row[0])] += 1
        taken = set()   # truth indices of the image's detections walked so far
        classes_of = np.asarray(image.classes, int)
        matches, ious = _best_truths(image.boxes, classes_of, image.truth, iou_thresh)
        hard = _best_truths(image.boxes, classes_of, image.difficult, iou_thresh)[0]
        for prob, cls, j, iou, h in zip(image.probs, classes_of.tolist(), matches.tolist(),
                                        ious.tolist(), hard.tolist()):
            dropped = j < 0 and h >= 0
            if not dropped:
                p_all.append(prob)
                c_all.append(cls)
                truth_all.append(unique + j if j >= 0 else -1)
            if prob > thresh32:
                if j >= 0 and (unique + j) not in taken:
                    tp_c[cls] += 1
                    iou_c[cls] += iou
                else:
                    fp_c[cls] += 1
            if not dropped:
                taken.add(unique + j if j >= 0 else -1)
        unique += len(image.truth)

    probs = np.array(p_all, np.float32)
    rank = np.argsort(-probs, kind="stable")
    det_class = np.array(c_all, np.int64)[rank]
    det_truth = np.array(truth_all, np.int64)[rank]
    n = len(rank)
    # a ranked detection is a TP when it is the first in the ranking to claim its object
    is_tp = np.zeros(n, bool)
    claimed, first = np.unique(det_truth, return_index=True)
    is_tp[first[claimed >= 0]] = True
    scores = []
    for c in range(classes):
        # darknet records every class at every rank; at other classes' ranks a class's values
        # stay put, which adds nothing to its AP, so its own ranks give the same AP
        mine = is_tp[det_class == c]
        tp, fp = np.cumsum(mine), np.cumsum(~mine)
        precision = tp / np.maximum(tp + fp, 1)
        recall = tp / objects[c] if objects[c] else np.zeros(len(tp))
        ap = average_precision(precision, recall, points)
        above = tp_c[c] + fp_c[c]
        scores.append(ClassScore(
            c, names[c], ap, int(objects[c]), int(tp_c[c]), int(fp_c[c]),
            _ratio(tp_c[c], above), _ratio(tp_c[c], objects[c]),
            float(iou_c[c] / above) if above else 0.0))
    tp_t, fp_t, total = int(tp_c.sum()), int(fp_c.sum()), int(objects.sum())
    precision, recall = _ratio(tp_t, tp_t + fp_t), _ratio(tp_t, total)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else math.nan
    return MapReport(
        iou_thresh, points, thresh, scores, float(np.mean([s.ap for s in scores])),
        precision, recall, f1, tp_t, fp_t, total - tp_t,
        float(iou_c.sum() / (tp_t + fp_t)) if tp_t + fp_t else 0.0,
        n, total, len(results))


def _ratio(a, b) -> float:
    return float(a) / float(b) if b else math.nan


# --- the whole command -----------------------------------------------------------------------

def map_network(network, data, iou_thresh: float = 0.5, points: int = 0, thresh: float = 0.25,
                coco: bool = True, reporter: Reporter | None = None, label_rule: str = "alexeyab",
                list_key: str = "valid") -> MapReport:
    """`detector map` of a loaded network on a `.data` file's `valid` list (falling back to
    `train`, as darknet does). coco=True adds mAP@[.50:.95]."""
    from darkpy.detect.api import Detector
    from darkpy.train.darknet.data import (Problems, label_path, load_detection_list,
                                           read_data_file, read_image_list, read_labels, read_names)

    data_file = data if not isinstance(data, (str, Path)) else read_data_file(data)
    detector = Detector(network, None, thresh=CANDIDATE_THRESH, hier_thresh=0, nms=NMS_THRESH,
                        letterbox=bool(network.net.get("letter_box", 0)))
    classes = detector.classes
    names_path = data_file.file("names", "data/names.list")
    names = read_names(names_path)
    if len(names) != classes:
        raise ConfigError(f"{names_path}: {len(names)} names, but the network has classes = "
                          f"{classes} ({data_file.where('names')})")
    default = data_file.text("train", "data/train.txt")
    listed = data_file.file(list_key, default)
    problems = Problems()
    items = load_detection_list(listed, classes, label_rule, problems).items
    difficult = None
    if data_file.text("difficult"):
        entries = read_image_list(data_file.file("difficult"), problems)
        if len(entries) < len(items):
            raise InputError(f"{data_file.where('difficult')}: {len(entries)} images, fewer than "
                             f"the {len(items)} of the `{list_key}` list it parallels")
        difficult = [read_labels(label_path(e.path, label_rule), classes, problems)
                     for e in entries[:len(items)]]
    results = collect(detector, items, difficult, reporter)
    report = score(results, classes, names, iou_thresh, points, thresh)
    if coco:
        report.per_iou = {iou: score(results, classes, names, iou, points, thresh).map
                          for iou in COCO_IOUS}
        report.map_50_95 = float(np.mean(list(report.per_iou.values())))
    summary = problems.summary()
    if summary and reporter is not None:
        reporter.message(summary)
    return report


def detector_map(cfg, weights, data, **options) -> MapReport:
    """Load a detector and score it on a `.data` file (see map_network for the options)."""
    from darkpy.api import load

    return map_network(load(cfg, weights), data, **options)
