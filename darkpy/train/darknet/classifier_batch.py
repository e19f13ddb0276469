"""Classifier training batches as darknet's `classifier train` makes them (load_data_augment).

For each image (picked at random with replacement, as DetectionLoader picks them):

- pjreddie's load_image_augment_paths (darkpy.train.darknet.placement.classifier_crop): a
  size x size crop rotated by up to `angle` degrees, its aspect jittered by `aspect`, its
  shorter side drawn from [min_crop, max_crop] (or min_ratio..max_ratio x the input side),
  shifted at random (or with `center`, the centred square), mirrored with probability 1/2
  (unless flip=0), then random_distort_image with `hue`, `saturation`, `exposure`, run on
  every image as darknet runs it (its HSV round trip alone moves pixels by an ulp, and the
  classifier oracle sees that). An image already size x size with min = max = size and no
  augmentation comes back through the crop unchanged (darknet samples it at the pixel
  centres themselves);
- its truth: the one-hot row of data.py's classifier rule (the label names found in its path);
  with AlexeyAB's [net] label_smooth_eps = e, 1 - e for a found label and e / (classes - 1)
  elsewhere (fill_truth_smooth); with a `tree` in the .data file, then darknet's fill_hierarchy:
  every ancestor of a found label set too, and each sibling group that holds no set node
  filled with -1234 (SECRET_NUM: [softmax] with a tree gives those no delta).

AlexeyAB's mixup / cutmix / mosaic and blur then act on the batch (darkpy.train.darknet.mixing:
in half of the iterations each image is mixed with partners drawn and cropped the same way,
the truth rows weighted as he weights them). Their random numbers come from a stream of their
own, so a cfg without them gets the batches it got before they existed.
"""
from __future__ import annotations

import numpy as np

from darkpy.train.darknet.augment import Augmentation, crop_sides
from darkpy.train.darknet.detection_batch import DetectionLoader
from darkpy.train.darknet.mixing import (
    blur_classifier_batch,
    mix_classifier_batch,
    partners,
)
from darkpy.train.darknet.placement import classifier_crop

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


class ClassifierLoader(DetectionLoader):
    """Batches of (images NHWC float32, truth (N, classes)) from a ClassifierSet; the image
    draw and the handling of unreadable images are DetectionLoader's."""

    def __init__(self, dataset, size: int, classes: int, seed: int, aug: Augmentation,
                 load_image=None, smooth: float = 0.0, tree=None):
        super().__init__(dataset, size, size, 0, aug.flip, seed, load_image=load_image, aug=aug)
        self.size = int(size)
        self.classes = int(classes)
        self.smooth = float(smooth)
        self.tree = tree

    def batch(self, iteration: int, n: int, indices: list[int] | None = None,
              size: int | None = None):
        """(x, truth, indices) for update `iteration` at the input side `size` (default the
        cfg's; multi-scale crops span min_ratio..max_ratio of it); `indices` overrides the
        random pick."""
        size = self.size if size is None else int(size)
        sides = (self.aug.min_crop, self.aug.max_crop) if size == self.size else \
            crop_sides(self.aug.min_ratio, self.aug.max_ratio, size)
        indices = list(indices) if indices is not None else self.pick(iteration, n)
        x, truth = self._crops(indices, self.stream(iteration, self.PLACE), size, sides)
        mix_rng = self.stream(iteration, self.MIX)
        if self.aug.mixup and mix_rng.integers(0, 2):  # darknet: rand_int(0, 1), per load
            extra = []
            for _ in range(partners(self.aug.mixup)):
                more = [int(i) for i in mix_rng.integers(0, len(self.dataset.items), len(x))]
                extra.append(self._crops(more, mix_rng, size, sides))
            mix_classifier_batch(x, truth, extra, self.aug.mixup, mix_rng)
        if self.aug.blur and self.aug.opencv:  # his blur_image is OpenCV's (mixing docstring)
            blur_classifier_batch(x, self.aug.blur, mix_rng)
        return x, truth, indices

    def _crops(self, indices: list[int], rng, size: int, sides):
        """(x, truth) of the images of `indices` (replaced in place where one is unreadable),
        cropped and distorted with random numbers from `rng`."""
        x = np.empty((len(indices), size, size, 3), F32)
        truth = np.zeros((len(indices), self.classes), F32)
        for k, index in enumerate(indices):
            image, index = self._load(index, rng)
            indices[k] = index
            x[k] = classifier_crop(image, size, self.aug, rng, sides)
            truth[k] = self.truth(self.dataset.items[index].truth[: self.classes])
        return x, truth

    def truth(self, row: np.ndarray) -> np.ndarray:
        """An image's truth row: one-hot, smoothed with label_smooth_eps, then the hierarchy
        over that (AlexeyAB's load_labels_paths, whose fill_hierarchy then counts every
        smoothed value as set)."""
        if self.smooth:
            row = smoothed_truth(row, self.smooth)
        if self.tree is not None:
            row = hierarchy_truth(row, self.tree)
        return row
