"""AlexeyAB's image mixing and blur: [net] mixup, cutmix, mosaic (classifiers), blur,
gaussian_noise.

His parse_net_options folds the three mixing keys into one code (`mix_mode`): mixup=1 -> 1,
cutmix=1 -> 2, mosaic=1 -> 3, cutmix=1 and mosaic=1 -> 4 (cutmix and mosaic override mixup).

Classifiers (data.c load_data_augment; all four codes; run by his builds with and without
OpenCV). In half of the loads (one coin per iteration's batch) a second random set of images
(and for codes 3, 4 a third and a fourth) is loaded and cropped like the first, and each image
of the batch is mixed with its partners:

- mixup (1): pixels and truth rows are the means of the two, (a + b) / 2;
- cutmix (2, `cutmix`): a rectangle of the second image replaces the first's pixels; its
  sides are rand_int(0.3 w, 0.8 w) and rand_int(0.3 h, 0.8 h), its corner
  rand_int(0, w - cut_w - 1), rand_int(0, h - cut_h - 1) (so it never touches the right or
  bottom edge); the truth is a (1 - alpha) + b alpha with alpha = cut area / image area;
- mosaic (3, `mosaic_classifier`): the four images meet at a point drawn as the detector's
  mosaic draws it (placement.draw_cut); each quadrant shows its own image at its own place
  (no shifting), and the truth is the rows weighted by the quadrants' areas;
- 4: each image takes cutmix or mosaic with a coin of its own.
The truth rows are mixed after label_smooth_eps and the tree's hierarchy made them.
Evidence: tools/darknet_mixing_oracle.py records his load_data_augment (CPU build) on solid
grey images; darkpy's functions rebuild every image whose geometry shows from that geometry,
pixels and label weights bit for bit (tests/test_darknet_mixing.py); the same script records
his CPU build's detector mixup, whose blended pixels and box lists darkpy's equal (with
Augmentation(opencv=False), his CPU build's box order).

`blur` for classifiers (his OpenCV build only; built without OpenCV he skips it, and so does
darkpy with Augmentation(opencv=False)): after mixing, one image in four is blurred by
cv::GaussianBlur with a kernel of 15 (blur=1) or `blur` (which must be odd, as OpenCV wants),
on 8-bit pixels truncated from value * 255 and divided by 255 again.

Detectors (data.c load_data_detection): mixup=1 blends, in half of the batches, every image
0.5 / 0.5 with another random image placed with augmentation drawn anew, and keeps the boxes
of both (`blend_truth`: his OpenCV build appends the second image's boxes to the first's, the
build without OpenCV puts the second's first); cutmix is not supported for detectors (his
loader says so and drops it: cutmix alone -> nothing, with mosaic -> mosaic;
`detector_mode`; built without OpenCV his detection loader stops with an error for cutmix or
mosaic instead, and darkpy does what the OpenCV build does). `blur` and `gaussian_noise` act in image_data_augmentation, i.e. his
OpenCV build only (the build without OpenCV ignores them; darkpy does what the OpenCV build
does unless Augmentation(opencv=False)), on each placed 8-bit image (`blur_and_noise`):

- blur: per image rand_int(0, 2): 0 none, 1 background blur, 2 the key's value. With a value
  above 1 it is capped by the smallest box side in network pixels / 8 (integer), so an image
  without boxes or with small objects is blurred less or not at all; a value of 1 means a
  17 x 17 Gaussian of the whole image with the boxes' pixels put back sharp (the background
  blur), above 1 a Gaussian of odd size (v / 2) * 2 + 1 of the whole image;
- gaussian_noise: with probability 1/2, noise of standard deviation min(value, 127) (in
  8-bit levels) drawn into an 8-bit image as cv::randn does, i.e. rounded and saturated
  (negative draws become 0: the noise only brightens), then added with saturation.

Every random number comes from the generator the loader passes, seeded by (seed, iteration,
stream) as the rest of the augmentation, so a batch is a function of seed and iteration.
"""
from __future__ import annotations

import numpy as np

from darkpy.train.darknet.augment import rand_int
from darkpy.train.darknet.placement import box_count, draw_cut, to_uint8

F32 = np.float32
MIXUP, CUTMIX, MOSAIC, CUTMIX_OR_MOSAIC = 1, 2, 3, 4
CUTMIX_MIN, CUTMIX_MAX = F32(0.3), F32(0.8)
CLASSIFIER_BLUR_KERNEL = 15
DETECTOR_BLUR_KERNEL = 17
MAX_NOISE = 127


def mix_mode(net) -> int:
    """AlexeyAB's net->mixup code of [net] options (module docstring)."""
    def flag(key):
        value = net.get(key, 0) if net is not None else 0
        return int(float(value or 0))
    cutmix, mosaic = flag("cutmix"), flag("mosaic")
    if cutmix and mosaic:
        return CUTMIX_OR_MOSAIC
    if cutmix:
        return CUTMIX
    if mosaic:
        return MOSAIC
    return flag("mixup")


def detector_mode(mode: int) -> int:
    """The code his detection loader keeps: cutmix dropped (2 -> 0, 4 -> 3)."""
    return {CUTMIX: 0, CUTMIX_OR_MOSAIC: MOSAIC}.get(mode, mode)


def partners(mode: int) -> int:
    """How many more image sets a classifier load with mixing takes (1, or 3 for codes 3, 4)."""
    return 3 if mode >= MOSAIC else 1


# --- classifier batches ---------------------------------------------------------------------
def draw_cutmix(rng, w: int, h: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a CutMix rectangle, right and bottom exclusive: sides
    rand_int(0.3 w, 0.8 w) (float products truncated, as C passes them to an int), corner
    rand_int(0, w - cut_w - 1)."""
    cut_w = rand_int(rng, int(F32(w) * CUTMIX_MIN), int(F32(w) * CUTMIX_MAX))
    cut_h = rand_int(rng, int(F32(h) * CUTMIX_MIN), int(F32(h) * CUTMIX_MAX))
    cut_x = rand_int(rng, 0, w - cut_w - 1)
    cut_y = rand_int(rng, 0, h - cut_h - 1)
    return cut_x, cut_y, cut_x + cut_w, cut_y + cut_h


def mixup_pair(x1, y1, x2, y2):
    """mixup of one image (H, W, C) and truth row with a second: the means of the two."""
    return ((np.asarray(x1, F32) + np.asarray(x2, F32)) / F32(2),
            (np.asarray(y1, F32) + np.asarray(y2, F32)) / F32(2))


def cutmix_pair(x1, y1, x2, y2, rect):
    """CutMix: x1 with the rectangle `rect` (left, top, right, bottom; draw_cutmix) taken
    from x2, and the truth y1 (1 - alpha) + y2 alpha with alpha the rectangle's share of the
    image, all in float32 as darknet computes it."""
    h, w = np.shape(x1)[:2]
    left, top, right, bottom = rect
    x = np.array(x1, F32)
    x[top:bottom, left:right] = np.asarray(x2, F32)[top:bottom, left:right]
    alpha = F32((right - left) * (bottom - top)) / F32(w * h)
    beta = F32(1) - alpha
    return x, np.asarray(y1, F32) * beta + np.asarray(y2, F32) * alpha


def mosaic_quad(xs, ys, cut_x: int, cut_y: int):
    """The classifier mosaic of four images (H, W, C) and truth rows: top left from the
    first, top right the second, bottom left the third, bottom right the fourth, each at its
    own place; the truth weighted by the quadrants' areas (float32)."""
    h, w = np.shape(xs[0])[:2]
    x = np.array(xs[0], F32)
    x[:cut_y, cut_x:] = np.asarray(xs[1], F32)[:cut_y, cut_x:]
    x[cut_y:, :cut_x] = np.asarray(xs[2], F32)[cut_y:, :cut_x]
    x[cut_y:, cut_x:] = np.asarray(xs[3], F32)[cut_y:, cut_x:]
    area = F32(w * h)
    shares = [F32(cut_x * cut_y) / area, F32((w - cut_x) * cut_y) / area,
              F32(cut_x * (h - cut_y)) / area, F32((w - cut_x) * (h - cut_y)) / area]
    terms = [np.asarray(row, F32) * share for row, share in zip(ys, shares)]
    # his C sums the four left to right, but his -Ofast build (gcc reassociates) adds them
    # as (first + second) + (third + fourth): read off his recorded batches
    # (tools/darknet_mixing_oracle.py), which darkpy equals bit for bit this way
    return x, (terms[0] + terms[1]) + (terms[2] + terms[3])


def mix_classifier_batch(x, truth, extra, mode: int, rng):
    """Mix a classifier batch (x (N, H, W, C), truth (N, K)) with `extra`, a list of
    partners(mode) (x, truth) sets of the same shapes, in place (module docstring)."""
    h, w = x.shape[1:3]
    for i in range(len(x)):
        kind = rand_int(rng, CUTMIX, MOSAIC) if mode == CUTMIX_OR_MOSAIC else mode
        if kind == MIXUP:
            x[i], truth[i] = mixup_pair(x[i], truth[i], extra[0][0][i], extra[0][1][i])
        elif kind == CUTMIX:
            x[i], truth[i] = cutmix_pair(x[i], truth[i], extra[0][0][i], extra[0][1][i],
                                         draw_cutmix(rng, w, h))
        else:
            cut_x, cut_y = draw_cut(rng, w, h)
            x[i], truth[i] = mosaic_quad([x[i]] + [e[0][i] for e in extra],
                                         [truth[i]] + [e[1][i] for e in extra], cut_x, cut_y)


def blur_classifier_image(image: np.ndarray, blur: int) -> np.ndarray:
    """His blur_image: (H, W, C) float in [0, 1] -> 8 bits by truncation of value * 255,
    cv::GaussianBlur of kernel 15 (blur=1) or `blur`, sigma from the kernel, / 255."""
    import cv2

    ksize = CLASSIFIER_BLUR_KERNEL if blur == 1 else int(blur)
    image8 = (np.asarray(image, F32) * F32(255)).astype(np.uint8)  # C's (unsigned char) cast
    blurred = cv2.GaussianBlur(image8, (ksize, ksize), 0).reshape(image8.shape)
    return blurred.astype(F32) / F32(255)


def blur_classifier_batch(x: np.ndarray, blur: int, rng) -> None:
    """Blur one image in four of a classifier batch in place (his OpenCV build)."""
    for i in range(len(x)):
        if rng.integers(0, 4) == 0:
            x[i] = blur_classifier_image(x[i], blur)


# --- detection batches ----------------------------------------------------------------------
def blend_images(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """His detector mixup of two placed images: 0.5 first + 0.5 second, in float32."""
    return np.asarray(first, F32) * F32(0.5) + np.asarray(second, F32) * F32(0.5)


def blend_truth(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """darknet's blend_truth: the rows (max_boxes, 5) of `first` up to its first x = 0, then
    those of `second`, as many as there is room for."""
    out = np.array(first, F32)
    count = box_count(first)
    more = box_count(second)
    room = min(more, len(out) - count)
    out[count:count + room] = second[:room]
    return out


def draw_blur_and_noise(rng, blur: int, noise: int) -> tuple[int, int]:
    """A detector image's (blur, noise): blur rand_int(0, 2) -> 0, 1 or the key's value (when
    the key is set); noise the key's value with probability 1/2."""
    drawn_blur = 0
    if blur:
        drawn_blur = (0, 1, int(blur))[rand_int(rng, 0, 2)]
    drawn_noise = int(noise) if noise and rand_int(rng, 0, 1) == 1 else 0
    return drawn_blur, drawn_noise


def smallest_side(truth: np.ndarray, W: int, H: int) -> int:
    """fill_truth_detection's min_w_h: the smallest box width or height in network pixels
    (float32 products, truncated), 0 without boxes."""
    rows = truth[: box_count(truth)]
    if not len(rows):
        return 0
    return int(min((rows[:, 2] * F32(W)).min(), (rows[:, 3] * F32(H)).min()))


def blur_and_noise(pixels: np.ndarray, truth: np.ndarray, blur: int, noise: int, rng):
    """image_data_augmentation's blur and noise (module docstring) on a placed detector image
    (H, W, C) float in [0, 1] (whose 8-bit values are value * 255 rounded) with its truth rows;
    `blur` and `noise` as draw_blur_and_noise drew them. Returns float32 / 255."""
    import cv2

    if not blur and not noise:
        return pixels
    H, W = pixels.shape[:2]
    if blur > 1:  # no wider than an eighth of the smallest object (no objects: no blur)
        blur = min(blur, smallest_side(truth, W, H) // 8)
    image8 = to_uint8(pixels)
    if blur:
        ksize = DETECTOR_BLUR_KERNEL if blur == 1 else (blur // 2) * 2 + 1
        blurred = cv2.GaussianBlur(image8, (ksize, ksize), 0).reshape(image8.shape)
        if blur == 1:  # the objects stay sharp
            for x, y, w, h, _ in truth[: box_count(truth)]:
                left = int((float(x) - float(w) / 2.0) * W)
                top = int((float(y) - float(h) / 2.0) * H)
                x0, y0 = max(left, 0), max(top, 0)
                # C: the sides are float products, truncated
                x1, y1 = min(left + int(F32(w) * F32(W)), W), min(top + int(F32(h) * F32(H)), H)
                if x1 > x0 and y1 > y0:
                    blurred[y0:y1, x0:x1] = image8[y0:y1, x0:x1]
        image8 = blurred
    if noise:
        sigma = min(max(int(noise), 0), MAX_NOISE)
        drawn = np.rint(rng.standard_normal(image8.shape) * sigma)
        image8 = np.clip(image8.astype(np.int32) + np.clip(drawn, 0, 255).astype(np.int32),
                         0, 255).astype(np.uint8)
    return image8.astype(F32) / F32(255)
