"""x8 self-ensemble: run the eight flips/rotations of an image and average the answers.

Transform t = (k, flip): flip left-right (optional), then rotate by k*90 degrees. Each output
is mapped back by the inverse (rotate by -k*90, then flip) before averaging, so every output
pixel is the mean of eight predictions of the same place. Works on (H, W, C) arrays.
"""
from __future__ import annotations

import numpy as np

TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))


def forward_transform(image: np.ndarray, k: int, flip: bool) -> np.ndarray:
    out = image[:, ::-1] if flip else image
    return np.ascontiguousarray(np.rot90(out, k, axes=(0, 1)))


def inverse_transform(image: np.ndarray, k: int, flip: bool) -> np.ndarray:
    out = np.rot90(image, -k, axes=(0, 1))
    return out[:, ::-1] if flip else out


def self_ensemble(run, image: np.ndarray) -> np.ndarray:
    """Mean of inverse_transform(run(forward_transform(image))) over the eight transforms."""
    total = None
    for k, flip in TRANSFORMS:
        result = inverse_transform(run(forward_transform(image, k, flip)), k, flip)
        if total is None:
            total = np.array(result, dtype=np.float32)
        else:
            total += result
    total /= np.float32(len(TRANSFORMS))
    return total
