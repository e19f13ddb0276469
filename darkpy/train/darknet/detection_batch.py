"""Detector training batches as darknet's load_data_detection makes them.

For each image (picked at random with replacement, as darknet's get_random_paths does, from a
generator seeded by (seed, iteration) so that a run and its resumption draw the same ones):

- the image is placed on the W x H canvas with the augmentation of the cfg's lineage
  (darkpy.train.darknet.placement: pjreddie's jittered placement on a 0.5 canvas, or
  AlexeyAB's jittered crop, letter_box and mosaic; colour distortion; mirroring with
  probability 1/2 with `flip`, which pjreddie always does). With the augmentation off
  (jitter=0 hue=0 saturation=1 exposure=1, flip=0 or an unmirrored draw) an image already
  W x H is fed unchanged (darknet resamples it at the same points, which moves values by at
  most a rounding); a smaller or larger image is scaled to fit keeping its aspect ratio
  (pjreddie) or stretched (AlexeyAB);
- its boxes go through darknet's fill_truth_detection: shuffled (randomize_boxes), mapped
  to the canvas by correct_boxes (edges l = x - w/2 ... scaled, shifted, mirrored, clipped to
  [0, 1], then x, y, w, h recomputed from the clipped edges, all in float32 as darknet's
  floats), at most `max_boxes` kept, and boxes narrower than darknet's limit dropped (pjreddie:
  w or h < 0.001; AlexeyAB: below one network pixel). Rows are x, y, w, h, class; unused rows
  are zero (darknet's list ends at the first x = 0).

Multi-scale training hands `batch` another W x H (darkpy.train.darknet.augment.input_size).
AlexeyAB's mixup=1 (half of the batches: each image blended with a second, the boxes of both
kept), blur and gaussian_noise are darkpy.train.darknet.mixing's; their random numbers come
only where a cfg sets them (mixup from a stream of its own).
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import InputError
from darkpy.train.darknet.augment import ALEXEYAB, Augmentation
from darkpy.train.darknet.data import DetectionSet
from darkpy.train.darknet.mixing import (
    MIXUP,
    blend_images,
    blend_truth,
    blur_and_noise,
    detector_mode,
    draw_blur_and_noise,
)
from darkpy.train.darknet.placement import (  # noqa: F401  (the names other modules import)
    CANVAS_FILL,
    blend_truth_mosaic,
    correct_boxes,
    crop_alexeyab,
    draw_cut,
    fill_truth,
    mosaic_shifts,
    paste_quadrant,
    place_image,
    place_pjreddie,
)

F32 = np.float32


class DetectionLoader:
    """Batches of (images NHWC float32, truth (N, max_boxes, 5)) from a DetectionSet, with
    the augmentation `aug` (darkpy.train.darknet.augment.Augmentation; None: `flip` only, in
    the placement of `flavor`)."""

    def __init__(self, dataset: DetectionSet, net_w: int, net_h: int, max_boxes: int,
                 flip: bool, seed: int, flavor: str = "pjreddie", load_image=None,
                 aug: Augmentation | None = None):
        from darkpy.io.image import load_image as default_loader

        self.dataset = dataset
        self.net_w, self.net_h = int(net_w), int(net_h)
        self.max_boxes = int(max_boxes)
        self.aug = aug if aug is not None else Augmentation(lineage=flavor, flip=bool(flip))
        self.flip = self.aug.flip
        self.seed = int(seed)
        self.flavor = flavor
        self.load_image = load_image or default_loader
        self.bad: set[int] = set()

    def min_box(self, W: int, H: int) -> tuple:
        """The narrowest box kept (pjreddie: 0.001; AlexeyAB: one network pixel)."""
        if self.flavor == "alexeyab" or self.aug.lineage == ALEXEYAB:
            return F32(1) / F32(W), F32(1) / F32(H)
        return F32(0.001), F32(0.001)

    # the random streams of one update: which images, their placement, AlexeyAB's mixing
    PICK, PLACE, MIX = 0, 1, 2

    def stream(self, iteration: int, which: int) -> np.random.Generator:
        """Update `iteration`'s random stream `which` (PICK, PLACE, MIX), seeded by (seed,
        iteration, which) alone: a resumed run draws what the uninterrupted one drew."""
        return np.random.default_rng([self.seed & 0xFFFFFFFF, int(iteration), which])

    def pick(self, iteration: int, n: int) -> list[int]:
        """The indices of the n images of update `iteration` (with replacement)."""
        rng = self.stream(iteration, self.PICK)
        return [int(i) for i in rng.integers(0, len(self.dataset.items), size=n)]

    def batch(self, iteration: int, n: int, indices: list[int] | None = None,
              size: tuple[int, int] | None = None):
        """(x, truth, indices) for update `iteration` at the network input `size` (width,
        height; default the cfg's); `indices` overrides the random pick."""
        W, H = size if size is not None else (self.net_w, self.net_h)
        indices = list(indices) if indices is not None else self.pick(iteration, n)
        rng = self.stream(iteration, self.PLACE)
        # AlexeyAB's mosaic covers half of the batches
        mosaic = self.aug.mosaic and self.aug.lineage == ALEXEYAB and bool(rng.integers(0, 2))
        x = np.empty((len(indices), H, W, 3), F32)
        truth = np.zeros((len(indices), self.max_boxes, 5), F32)
        for k, index in enumerate(indices):
            image, index = self._load(index, rng)
            indices[k] = index
            boxes = self.dataset.items[index].boxes
            if mosaic:
                x[k], truth[k] = self._mosaic(image, boxes, W, H, rng)
            else:
                x[k], truth[k] = self._sample(image, boxes, W, H, rng)
        if self.aug.lineage == ALEXEYAB and detector_mode(self.aug.mixup) == MIXUP:
            self._mixup(x, truth, iteration, W, H)
        return x, truth, indices

    def _mixup(self, x: np.ndarray, truth: np.ndarray, iteration: int, W: int, H: int):
        """AlexeyAB's mixup=1 in place: in half of the batches every image is blended 0.5 /
        0.5 with another random image placed with its own draws, and the boxes of both are
        kept (his OpenCV build lists the first image's first, his build without it the
        second's: Augmentation.opencv)."""
        rng = self.stream(iteration, self.MIX)
        if not rng.integers(0, 2):
            return
        for k in range(len(x)):
            image, index = self._load(int(rng.integers(0, len(self.dataset.items))), rng)
            pixels, rows = self._sample(image, self.dataset.items[index].boxes, W, H, rng)
            x[k] = blend_images(x[k], pixels)
            truth[k] = blend_truth(truth[k], rows) if self.aug.opencv else \
                blend_truth(rows, truth[k])

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

    def _sample(self, image: np.ndarray, boxes: np.ndarray, W: int, H: int, rng):
        if self.aug.lineage == ALEXEYAB:
            placed = crop_alexeyab(image, W, H, self.aug, rng)
        else:
            placed = place_pjreddie(image, W, H, self.aug, rng)
        truth = placed.truth(boxes, self.max_boxes, rng, *self.min_box(W, H))
        return self._blur_and_noise(placed.pixels, truth, rng), truth

    def _blur_and_noise(self, pixels: np.ndarray, truth: np.ndarray, rng) -> np.ndarray:
        """AlexeyAB's blur and gaussian_noise of one placed image (his OpenCV build's
        image_data_augmentation; his build without OpenCV has neither)."""
        aug = self.aug
        if aug.lineage != ALEXEYAB or not aug.opencv or not (aug.blur or aug.gaussian_noise):
            return pixels
        blur, noise = draw_blur_and_noise(rng, aug.blur, aug.gaussian_noise)
        return blur_and_noise(pixels, truth, blur, noise, rng)

    def _mosaic(self, image: np.ndarray, boxes: np.ndarray, W: int, H: int, rng):
        """One mosaic of `image` (top left) and three more random images."""
        cut_x, cut_y = draw_cut(rng, W, H)
        canvas = np.empty((H, W, 3), F32)
        truth = np.zeros((self.max_boxes, 5), F32)
        for quadrant in range(4):
            if quadrant:
                image, index = self._load(int(rng.integers(0, len(self.dataset.items))), rng)
                boxes = self.dataset.items[index].boxes
            placed = crop_alexeyab(image, W, H, self.aug, rng, quadrant=quadrant)
            tile_truth = placed.truth(boxes, self.max_boxes, rng, *self.min_box(W, H))
            tile = self._blur_and_noise(placed.pixels, tile_truth, rng)
            shifts = mosaic_shifts(placed, W, H, cut_x, cut_y)
            paste_quadrant(canvas, tile, quadrant, cut_x, cut_y, shifts)
            blend_truth_mosaic(truth, tile_truth, quadrant, W, H, cut_x, cut_y, shifts,
                               self.aug.mosaic_bound)
        return canvas, truth
