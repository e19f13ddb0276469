"""`--rotations N`: score every image at N angles, 360 k / N degrees (k = 0 .. N-1).

The MRI theses score each slice at 20 rotations, so that a model is not judged on one
orientation of the anatomy. A rotation by an angle that is not a multiple of 90 degrees
leaves corners that come from outside the image; no such pixel may be scored. darkpy's choice:

- every rotation of an image, 0 degrees included, is the same central square (on the pixel
  grid, so that 0 degrees is an exact crop and 90 an exact quarter turn), of the largest
  side c (a multiple of the scale) whose every pixel, rotated by any of the N angles, lands
  at least `MARGIN` pixels inside the source image, so that even the cubic interpolation's
  4x4 neighbourhood reads real pixels. A square of side c rotated by t spans
  c (|cos t| + |sin t|) in both directions, so c is set by the worst angle (45 degrees when
  it is one of them: c ~ min(H, W) / sqrt 2). Equal squares make the rotations of an image
  equally weighted views of the same central region.
- the rotation is OpenCV's `warpAffine` (cubic interpolation), counter-clockwise about the
  image centre; 8-bit images are rounded back to 8 bits (the rotated image is the new ground
  truth, and the LR image is made from it as from any HR image); a mask is rotated by nearest
  neighbour.
- N = 1 (the default) scores the image as it is, uncropped.
"""
from __future__ import annotations

import math

import numpy as np

from darkpy.errors import InputError

MARGIN = 2  # pixels between a rotated square's corners and the source border (cubic taps)


def angles(count: int) -> list[float]:
    if count < 1:
        raise InputError(f"--rotations must be at least 1, got {count}")
    return [360.0 * k / count for k in range(count)]


def _spread(angle: float) -> float:
    t = math.radians(angle)
    return abs(math.cos(t)) + abs(math.sin(t))


def square_side(height: int, width: int, angle_list: list[float], scale: int) -> int:
    """The side of the central square scored at every angle (0 when none fits)."""
    spread = max(_spread(a) for a in angle_list)
    # the square's centre is within half a pixel of the image's; its pixel centres are
    # (c - 1) / 2 from it and, rotated, reach (c - 1) / 2 * spread, which must stay MARGIN
    # inside the image
    room = (min(height, width) - 1) / 2 - 0.5 - MARGIN
    side = int(math.floor(room * 2 / spread + 1e-9)) + 1 if room > 0 else 0
    return max(0, side - side % scale)


def rotate_square(image: np.ndarray, angle: float, side: int, nearest: bool = False) -> np.ndarray:
    """The central side x side square of `image` (H, W[, C]) rotated by `angle` degrees.

    The square sits on the pixel grid (its top-left pixel is ((H - side) // 2, (W - side) // 2)),
    so at 0 degrees it is an exact crop and at multiples of 90 degrees an exact quarter turn
    of that crop (up to float rounding).
    """
    import cv2

    h, w = image.shape[:2]
    centre_y = (h - side) // 2 + (side - 1) / 2.0
    centre_x = (w - side) // 2 + (side - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre_x, centre_y), angle, 1.0)
    # move the square's centre to the centre of the side x side output
    matrix[0, 2] += (side - 1) / 2.0 - centre_x
    matrix[1, 2] += (side - 1) / 2.0 - centre_y
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC
    source = image.astype(np.uint8) if nearest else np.ascontiguousarray(image, dtype=np.float32)
    out = cv2.warpAffine(source, matrix, (side, side), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel
        out = out[:, :, None]
    return out
