"""Detections as records: what `detect` returns, prints and writes to JSON."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from darkpy.detect.candidates import Candidates


@dataclass(frozen=True)
class Detection:
    """One class of one box. A box above the threshold for several classes gives several.

    bbox: [left, top, width, height] in pixels of the original image, clipped to the image
    (the COCO convention, as darknet's own COCO writer clips). center: darknet's unclipped box,
    centre x, y and width, height in pixels. box: index of the box within its image, shared by
    the detections of one box.
    """

    image: str
    class_id: int
    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]
    center: tuple[float, float, float, float]
    box: int

    def to_json(self) -> dict:
        return {
            "image": self.image,
            "class_id": self.class_id,
            "class_name": self.class_name,
            "confidence": round(self.confidence, 6),
            "bbox": [round(v, 3) for v in self.bbox],
        }

    def darknet_line(self) -> str:
        """The line darknet's detector prints for it: `name: 57%`."""
        return f"{self.class_name}: {self.confidence * 100:.0f}%"


def clip_box(x: float, y: float, w: float, h: float, image_w: int, image_h: int):
    """Centre box in pixels -> [left, top, width, height] clipped to the image."""
    left, right = max(0.0, x - w / 2), min(float(image_w), x + w / 2)
    top, bottom = max(0.0, y - h / 2), min(float(image_h), y + h / 2)
    return (left, top, max(0.0, right - left), max(0.0, bottom - top))


def to_detections(candidates: Candidates, order: np.ndarray, probs: np.ndarray, thresh: float,
                  image_w: int, image_h: int, names: list[str], image: str) -> list[Detection]:
    """The detections of one image in darknet's print order: boxes in NMS order, classes in
    index order, each class whose probability is above thresh."""
    thresh = np.float32(thresh)
    out = []
    for box_number, i in enumerate(order):
        above = np.nonzero(probs[i] > thresh)[0]
        if above.size == 0:
            continue
        x, y, w, h = (float(v) for v in candidates.boxes[i].astype(np.float64)
                      * (image_w, image_h, image_w, image_h))
        bbox = clip_box(x, y, w, h, image_w, image_h)
        for k in above:
            out.append(Detection(image, int(k), names[k], float(probs[i, k]), bbox, (x, y, w, h),
                                 box_number))
    return out
