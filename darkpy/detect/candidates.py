"""What every decoder returns: candidate boxes of one image, as darknet's get_network_boxes
builds them (see decode.py), before NMS."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Candidates:
    boxes: np.ndarray       # (M, 4) float32 x, y, w, h: centre and size, fractions of the image
    objectness: np.ndarray  # (M,) float32
    probs: np.ndarray       # (M, classes) float32, 0 where not above the threshold

    @staticmethod
    def empty(classes: int) -> "Candidates":
        return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros((0, classes), np.float32))

    def __len__(self) -> int:
        return len(self.objectness)

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        return Candidates(np.concatenate([p.boxes for p in parts]),
                          np.concatenate([p.objectness for p in parts]),
                          np.concatenate([p.probs for p in parts]))


@dataclass
class GaussianCandidates(Candidates):
    uncertainty: np.ndarray  # (M, 4) float32: the x, y, w, h uncertainties of each box


def class_probs(scale: np.ndarray, scores: np.ndarray, thresh: np.float32) -> np.ndarray:
    """scale * class score per candidate and class (float32 products, as darknet's), zeroed
    where not above the threshold."""
    probs = scale[:, None] * scores
    probs[~(probs > thresh)] = 0     # also zeroes NaN
    return probs
