"""Annotated images: darknet's box colours, one box per detected box, its classes as a label."""
from __future__ import annotations

import math

import cv2
import numpy as np

# darknet's colour ramp (image.c): class colours are spread along it
_RAMP = ((1, 0, 1), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 1, 0), (1, 0, 0))


def _ramp(channel: int, x: int, top: int) -> float:
    ratio = x / top * 5
    i, j = math.floor(ratio), math.ceil(ratio)
    ratio -= i
    return (1 - ratio) * _RAMP[i][channel] + ratio * _RAMP[j][channel]


def class_color(class_id: int, classes: int) -> tuple[int, int, int]:
    """darknet's colour of a class, as a BGR tuple for OpenCV."""
    offset = class_id * 123457 % classes
    r, g, b = (_ramp(c, offset, classes) for c in (2, 1, 0))
    return (int(round(b * 255)), int(round(g * 255)), int(round(r * 255)))


def draw_detections(image_bgr: np.ndarray, detections, classes: int) -> np.ndarray:
    """A copy of an 8-bit BGR image with the detections drawn on it."""
    out = np.ascontiguousarray(image_bgr).copy()
    height = out.shape[0]
    thickness = max(1, int(height * 0.006))
    font_scale = max(0.4, height / 1000)
    boxes: dict[int, list] = {}
    for det in detections:
        boxes.setdefault(det.box, []).append(det)
    for dets in boxes.values():
        left, top, width, h = dets[0].bbox
        color = class_color(dets[0].class_id, classes)
        p1 = (int(left), int(top))
        p2 = (int(left + width), int(top + h))
        cv2.rectangle(out, p1, p2, color, thickness)
        label = ", ".join(f"{d.class_name} {d.confidence * 100:.0f}%" for d in dets)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        # above the box if there is room, else just inside it; kept within the image width
        ty = p1[1] - th - base - 2 if p1[1] - th - base - 2 >= 0 else p1[1]
        tx = max(0, min(p1[0], out.shape[1] - tw - 2))
        cv2.rectangle(out, (tx, ty), (tx + tw + 2, ty + th + base + 2), color, -1)
        cv2.putText(out, label, (tx + 1, ty + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out
