"""Detector training batches as darknet's load_data_detection makes them, augmentation off.

For each image (picked at random with replacement, as darknet's get_random_paths does, from a
generator seeded by (seed, iteration) so that a run and its resumption draw the same ones):

- the image is placed on a W x H canvas filled with 0.5 (pjreddie's load_data_detection with
  jitter=0): scaled to fit while keeping its aspect ratio (nw = W, nh = W * h / w when w >= h,
  else nh = H, nw = ...) at a random offset dx in [0, W - nw], dy in [0, H - nh], by darknet's
  place_image (bilinear, samples at x * w / nw). An image already W x H is fed unchanged
  (darknet resamples it at the same points, which moves values by at most a rounding);
- with `flip` it is mirrored left-right with probability 1/2 (pjreddie always does this;
  AlexeyAB's `flip=0` turns it off);
- its boxes go through darknet's fill_truth_detection: shuffled (randomize_boxes), mapped
  to the canvas by correct_boxes (edges l = x - w/2 ... scaled, shifted, mirrored, clipped to
  [0, 1], then x, y, w, h recomputed from the clipped edges, all in float32 as darknet's
  floats), at most `max_boxes` kept, and boxes narrower than darknet's limit dropped (pjreddie:
  w or h < 0.001; AlexeyAB: below one network pixel). Rows are x, y, w, h, class; unused rows
  are zero (darknet's list ends at the first x = 0).

hue / saturation / exposure, jitter > 0, multi-scale (`random`), mosaic and letter_box are the
augmentation of a later step; `DetectionLoader` refuses none of them but applies none (the
trainer warns).
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import InputError
from darkpy.train.darknet.data import DetectionSet

F32 = np.float32
CANVAS_FILL = F32(0.5)


def correct_boxes(boxes: np.ndarray, dx, dy, sx, sy, flip: bool) -> np.ndarray:
    """darknet's read_boxes + correct_boxes on (n, 5) rows class, x, y, w, h; returns (n, 5)
    rows x, y, w, h, class in float32 arithmetic. dx, dy are the (negated, relative) offsets
    and sx, sy the scales darknet passes: -dx/W, -dy/H, nw/W, nh/H."""
    x, y, w, h = (boxes[:, k].astype(F32) for k in (1, 2, 3, 4))
    left, right = x - w / F32(2), x + w / F32(2)
    top, bottom = y - h / F32(2), y + h / F32(2)
    dx, dy, sx, sy = F32(dx), F32(dy), F32(sx), F32(sy)
    left, right = left * sx - dx, right * sx - dx
    top, bottom = top * sy - dy, bottom * sy - dy
    if flip:
        # C: `1. - right` in double, stored as float
        left, right = (1.0 - right.astype(np.float64)).astype(F32), \
                      (1.0 - left.astype(np.float64)).astype(F32)
    left, right = np.clip(left, F32(0), F32(1)), np.clip(right, F32(0), F32(1))
    top, bottom = np.clip(top, F32(0), F32(1)), np.clip(bottom, F32(0), F32(1))
    out = np.empty((len(boxes), 5), F32)
    out[:, 0] = (left + right) / F32(2)
    out[:, 1] = (top + bottom) / F32(2)
    out[:, 2] = np.clip(right - left, F32(0), F32(1))
    out[:, 3] = np.clip(bottom - top, F32(0), F32(1))
    out[:, 4] = boxes[:, 0]
    return out


def fill_truth(boxes: np.ndarray, max_boxes: int, rng, dx=0.0, dy=0.0, sx=1.0, sy=1.0,
               flip: bool = False, min_w: float = 0.001, min_h: float = 0.001) -> np.ndarray:
    """(max_boxes, 5) float32 truth rows x, y, w, h, class (module docstring)."""
    truth = np.zeros((max_boxes, 5), F32)
    if len(boxes) == 0:
        return truth
    rows = correct_boxes(boxes[rng.permutation(len(boxes))], dx, dy, sx, sy, flip)
    rows = rows[:max_boxes]  # darknet cuts the list before dropping the small boxes
    keep = rows[(rows[:, 2] >= F32(min_w)) & (rows[:, 3] >= F32(min_h))]
    truth[: len(keep)] = keep
    return truth


def place_image(image: np.ndarray, nw: int, nh: int, dx: int, dy: int, canvas: np.ndarray) -> None:
    """darknet's place_image: `image` (h, w, c) resampled bilinearly to nw x nh and written
    into `canvas` at (dx, dy); samples outside the image read 0, writes outside are dropped."""
    h, w = image.shape[:2]
    xs = (np.arange(nw, dtype=F32) / F32(nw)) * F32(w)
    ys = (np.arange(nh, dtype=F32) / F32(nh)) * F32(h)
    ix = np.floor(xs).astype(np.int64)
    iy = np.floor(ys).astype(np.int64)
    fx = (xs - ix.astype(F32))[None, :, None]
    fy = (ys - iy.astype(F32))[:, None, None]
    padded = np.zeros((h + 2, w + 2, image.shape[2]), F32)
    padded[1:-1, 1:-1] = image

    def pick(yy, xx):
        return padded[np.clip(yy, -1, h) + 1][:, np.clip(xx, -1, w) + 1]

    one = F32(1)
    val = ((one - fy) * (one - fx) * pick(iy, ix) + fy * (one - fx) * pick(iy + 1, ix)
           + (one - fy) * fx * pick(iy, ix + 1) + fy * fx * pick(iy + 1, ix + 1))
    ch, cw = canvas.shape[:2]
    y0, x0 = max(dy, 0), max(dx, 0)
    y1, x1 = min(dy + nh, ch), min(dx + nw, cw)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = val[y0 - dy:y1 - dy, x0 - dx:x1 - dx]


class DetectionLoader:
    """Batches of (images NHWC float32, truth (N, max_boxes, 5)) from a DetectionSet."""

    def __init__(self, dataset: DetectionSet, net_w: int, net_h: int, max_boxes: int,
                 flip: bool, seed: int, flavor: str = "pjreddie", load_image=None):
        from darkpy.io.image import load_image as default_loader

        self.dataset = dataset
        self.net_w, self.net_h = int(net_w), int(net_h)
        self.max_boxes = int(max_boxes)
        self.flip = bool(flip)
        self.seed = int(seed)
        if flavor == "alexeyab":
            self.min_w, self.min_h = F32(1) / F32(net_w), F32(1) / F32(net_h)
        else:
            self.min_w = self.min_h = F32(0.001)
        self.load_image = load_image or default_loader
        self.bad: set[int] = set()

    def pick(self, iteration: int, n: int) -> list[int]:
        """The indices of the n images of update `iteration` (with replacement)."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(iteration), 0])
        return [int(i) for i in rng.integers(0, len(self.dataset.items), size=n)]

    def batch(self, iteration: int, n: int, indices: list[int] | None = None):
        """(x, truth, indices) for update `iteration`; `indices` overrides the random pick."""
        indices = list(indices) if indices is not None else self.pick(iteration, n)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(iteration), 1])
        x = np.empty((len(indices), self.net_h, self.net_w, 3), F32)
        truth = np.zeros((len(indices), self.max_boxes, 5), F32)
        for k, index in enumerate(indices):
            image, index = self._load(index, rng)
            indices[k] = index
            x[k], truth[k] = self._sample(image, self.dataset.items[index].boxes, rng)
        return x, truth, indices

    def _load(self, index: int, rng):
        """The image of `index`, or of another random item when it cannot be decoded (which
        is reported once and not tried again)."""
        items = self.dataset.items
        while True:
            if index not in self.bad:
                try:
                    return self.load_image(items[index].image), index
                except InputError as exc:
                    self.bad.add(index)
                    self.dataset.problems.add("image", items[index].where,
                                              f"{exc}; skipped from now on")
            if len(self.bad) == len(items):
                raise InputError("none of the training images can be read")
            index = int(rng.integers(0, len(items)))

    def _sample(self, image: np.ndarray, boxes: np.ndarray, rng):
        h, w = image.shape[:2]
        W, H = self.net_w, self.net_h
        if (w, h) == (W, H):
            placed = image.astype(F32, copy=True)
            nw, nh, dx, dy = W, H, 0, 0
        else:
            ratio = F32(w) / F32(h)
            if ratio < 1:
                nh = F32(H)
                nw = nh * ratio
            else:
                nw = F32(W)
                nh = nw / ratio
            dx = F32(rng.uniform(0.0, 1.0)) * (F32(W) - nw)
            dy = F32(rng.uniform(0.0, 1.0)) * (F32(H) - nh)
            placed = np.full((H, W, image.shape[2]), CANVAS_FILL, F32)
            place_image(image, int(nw), int(nh), int(dx), int(dy), placed)
        flip = self.flip and bool(rng.integers(0, 2))
        if flip:
            placed = np.ascontiguousarray(placed[:, ::-1])
        truth = fill_truth(boxes, self.max_boxes, rng, -F32(dx) / F32(W), -F32(dy) / F32(H),
                           F32(nw) / F32(W), F32(nh) / F32(H), flip, self.min_w, self.min_h)
        return placed, truth
