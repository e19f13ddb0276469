"""YOLOv1 [detection] outputs -> candidate boxes, as darknet's get_detection_detections builds them.

The layer's output is one flat vector per image (see darkpy/layers/detection.py for its three
blocks). Every cell i (row = i // side, col = i % side) and box n gives one candidate, all of
them, cell-major then box, in darknet's order:

    x = (col + tx) / side,  y = (row + ty) / side,  w = tw (tw^2 with sqrt=1),  h likewise
    objectness = the box's confidence (not thresholded)
    prob[j] = confidence * class score j of the cell, 0 unless > thresh

Boxes are fractions of the network input. darknet's YOLOv1 path (yolo.c) resizes the image to
the network without letterboxing and calls this with w = h = 1, so the boxes are fractions of
the image too: a pipeline must feed [detection] networks a plain resize (letterbox=False).
"""
from __future__ import annotations

import numpy as np

from darkpy.detect.candidates import Candidates, class_probs


def decode_detection(output: np.ndarray, side: int, num: int, classes: int, coords: int,
                     sqrt: bool, thresh: float) -> Candidates:
    """Candidates from one image's [detection] output (any shape holding the flat vector)."""
    flat = np.asarray(output, dtype=np.float32).reshape(-1)
    cells = side * side
    expected = cells * ((1 + coords) * num + classes)
    if flat.size != expected:
        raise ValueError(f"a side={side}, num={num}, coords={coords}, classes={classes} output "
                         f"has {expected} values, got {flat.size}")
    scores = flat[: cells * classes].reshape(cells, classes)
    conf = flat[cells * classes: cells * (classes + num)].reshape(cells * num)
    boxes = flat[cells * (classes + num):].reshape(cells * num, coords)[:, :4].astype(np.float64)
    cell = np.repeat(np.arange(cells), num)
    col = (cell % side).astype(np.float64)
    row = (cell // side).astype(np.float64)
    power = 2 if sqrt else 1
    out = np.stack([(boxes[:, 0] + col) / side, (boxes[:, 1] + row) / side,
                    boxes[:, 2] ** power, boxes[:, 3] ** power], axis=1).astype(np.float32)
    probs = class_probs(conf, scores[cell], np.float32(thresh))
    return Candidates(out, conf.copy(), probs)
