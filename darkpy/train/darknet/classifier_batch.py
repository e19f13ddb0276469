"""Classifier training batches as darknet's `classifier train` makes them (load_data_augment).

For each image (picked at random with replacement, as DetectionLoader picks them):

- darknet's random_augment_image with angle=0 and aspect=1: a side r drawn from
  [min, max] ([net] min_crop..max_crop, by default width..2*width; darkpy draws it from the
  run's generator), the image scaled by s = r / min(h, w) and a size x size window cut at a
  random offset (dx, dy uniform in +-(w s - size)/2, +-(h s - size)/2) around the centre by
  darknet's rotate_crop_image: each output pixel (x, y) samples the image bilinearly at
  ((x - size/2) / s + dx / s + w/2, (y - size/2) / s + dy / s + h/2), pixels outside read 0.
  An image already size x size with min = max = size is fed unchanged (darknet samples it at
  the pixel centres themselves, s = 1, dx = dy = 0);
- with `flip` (darknet always) mirrored left-right with probability 1/2;
- darknet's random_distort_image, which converts to HSV and back even when hue=0,
  saturation=1, exposure=1: that round trip moves about a fifth of the pixels by one float32
  ulp, enough to flip a leaky kink or max-pool winner and change an update by 2% (measured
  on the classifier oracle); `darknet_hsv_round_trip` repeats it float for float;
- its truth: the one-hot row of data.py's classifier rule (the label names found in its path);
  with AlexeyAB's [net] label_smooth_eps = e, 1 - e for a found label and e / (classes - 1)
  elsewhere (fill_truth_smooth); with a `tree` in the .data file, then darknet's fill_hierarchy:
  every ancestor of a found label set too, and each sibling group that holds no set node
  filled with -1234 (SECRET_NUM: [softmax] with a tree gives those no delta).

hue / saturation / exposure, angle and aspect are the augmentation of a later step; the
loader applies none of them (the trainer warns when a cfg asks for them).
"""
from __future__ import annotations

import numpy as np

from darkpy.train.darknet.detection_batch import DetectionLoader

F32 = np.float32
SECRET_NUM = F32(-1234)


def smoothed_truth(truth: np.ndarray, eps: float) -> np.ndarray:
    """AlexeyAB's fill_truth_smooth on a 0/1 row."""
    k = len(truth)
    return np.where(truth != 0, F32(1) - F32(eps), F32(eps) / F32(k - 1)).astype(F32)


def hierarchy_truth(truth: np.ndarray, tree) -> np.ndarray:
    """darknet's fill_hierarchy on a 0/1 row: ancestors of set nodes set, groups without a set
    node masked with SECRET_NUM."""
    out = np.array(truth, F32)
    for j in np.flatnonzero(truth[: tree.n]):
        parent = tree.parent[j]
        while parent >= 0:
            out[parent] = 1
            parent = tree.parent[parent]
    for offset, size in zip(tree.group_offset, tree.group_size):
        group = out[offset:offset + size]
        if not group.any():
            group[...] = SECRET_NUM
    return out


def crop_resample(image: np.ndarray, size: int, scale: float, dx: float, dy: float) -> np.ndarray:
    """darknet's rotate_crop_image with no rotation and aspect 1 (module docstring)."""
    h, w = image.shape[:2]
    s = float(F32(scale))
    xs = ((np.arange(size) - size / 2.0) / s + dx / s + w / 2.0).astype(F32)
    ys = ((np.arange(size) - size / 2.0) / s + dy / s + h / 2.0).astype(F32)
    ix, iy = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    fx = (xs - ix.astype(F32))[None, :, None]
    fy = (ys - iy.astype(F32))[:, None, None]
    padded = np.zeros((h + 2, w + 2, image.shape[2]), F32)
    padded[1:-1, 1:-1] = image

    def pick(yy, xx):  # darknet's get_pixel_extend: 0 outside the image
        yy, xx = np.clip(yy, -1, h), np.clip(xx, -1, w)
        return padded[yy + 1][:, xx + 1]

    one = F32(1)
    return ((one - fy) * (one - fx) * pick(iy, ix) + fy * (one - fx) * pick(iy + 1, ix)
            + (one - fy) * fx * pick(iy, ix + 1) + fy * fx * pick(iy + 1, ix + 1)).astype(F32)


def darknet_hsv_round_trip(image: np.ndarray) -> np.ndarray:
    """pjreddie's rgb_to_hsv then hsv_to_rgb and constrain_image on (..., 3) float32 RGB, each
    step in float32 as in C (h / 6 in double), with no hue, saturation or exposure change.
    (The augmentation work adds the full distort_image with random hue/saturation/exposure:
    when both exist this is that function with (0, 1, 1).)"""
    rgb = np.asarray(image, F32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    top = np.maximum(np.maximum(r, g), b)
    delta = top - np.minimum(np.minimum(r, g), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(top == 0, F32(0), delta / top).astype(F32)
        h = np.where(r == top, (g - b) / delta,
                     np.where(g == top, F32(2) + (b - r) / delta, F32(4) + (r - g) / delta))
    h = np.where(h < 0, h + F32(6), h).astype(F32)
    h = np.where(top == 0, F32(0), (h.astype(np.float64) / 6.0).astype(F32))
    h6 = F32(6) * h
    sector = np.floor(h6)
    f = (h6 - sector).astype(F32)
    one = F32(1)
    p, q, t = top * (one - s), top * (one - s * f), top * (one - s * (one - f))
    v = top
    sectors = [sector == k for k in range(5)]
    out = np.stack([np.select(sectors, [v, q, p, p, t], v), np.select(sectors, [t, v, v, q, p], p),
                    np.select(sectors, [p, p, t, v, v], q)], axis=-1)
    grey = (s == 0)[..., None]  # darknet: r = g = b = v (its NaN hue is never used)
    out = np.where(grey, v[..., None], out)
    return np.clip(out, F32(0), F32(1)).astype(F32)


class ClassifierLoader(DetectionLoader):
    """Batches of (images NHWC float32, truth (N, classes)) from a ClassifierSet; the image
    draw and the handling of unreadable images are DetectionLoader's."""

    def __init__(self, dataset, size: int, classes: int, flip: bool, seed: int,
                 min_side: int, max_side: int, load_image=None, smooth: float = 0.0,
                 tree=None):
        super().__init__(dataset, size, size, 0, flip, seed, load_image=load_image)
        self.size = int(size)
        self.classes = int(classes)
        self.min_side, self.max_side = int(min_side), int(max_side)
        self.smooth = float(smooth)
        self.tree = tree

    def batch(self, iteration: int, n: int, indices: list[int] | None = None):
        """(x, truth, indices) for update `iteration`; `indices` overrides the random pick."""
        indices = list(indices) if indices is not None else self.pick(iteration, n)
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(iteration), 1])
        x = np.empty((len(indices), self.size, self.size, 3), F32)
        truth = np.zeros((len(indices), self.classes), F32)
        for k, index in enumerate(indices):
            image, index = self._load(index, rng)
            indices[k] = index
            x[k] = self._augment(image, rng)
            truth[k] = self.truth(self.dataset.items[index].truth[: self.classes])
        return x, truth, indices

    def truth(self, row: np.ndarray) -> np.ndarray:
        """An image's truth row: one-hot, smoothed with label_smooth_eps, then the hierarchy
        over that (AlexeyAB's load_labels_paths, whose fill_hierarchy then counts every
        smoothed value as set)."""
        if self.smooth:
            row = smoothed_truth(row, self.smooth)
        if self.tree is not None:
            row = hierarchy_truth(row, self.tree)
        return row

    def _augment(self, image: np.ndarray, rng) -> np.ndarray:
        h, w = image.shape[:2]
        side = int(rng.integers(self.min_side, self.max_side + 1))
        if (h, w) == (self.size, self.size) and side == self.size:
            out = image.astype(F32, copy=True)
        else:
            scale = F32(side) / F32(min(h, w))
            reach_x = (w * float(scale) - self.size) / 2.0
            reach_y = (h * float(scale) - self.size) / 2.0
            dx = float(F32(rng.uniform(-reach_x, reach_x))) if reach_x else 0.0
            dy = float(F32(rng.uniform(-reach_y, reach_y))) if reach_y else 0.0
            out = crop_resample(image, self.size, scale, dx, dy)
        if self.flip and rng.integers(0, 2):
            out = np.ascontiguousarray(out[:, ::-1])
        return darknet_hsv_round_trip(out)
