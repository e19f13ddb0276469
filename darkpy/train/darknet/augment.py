"""darknet's training augmentation: the settings a cfg gives, colour distortion, multi-scale.

The keys (darknet reads them from [net] and from the last detection head):

- `hue`, `saturation`, `exposure`: a colour distortion per image with dhue uniform in
  [-hue, hue], dsat = rand_scale(saturation), dexp = rand_scale(exposure), where
  rand_scale(s) is uniform in [1, s] and inverted with probability 1/2. pjreddie's darknet
  converts to HSV by its own formulas (`distort_darknet`); AlexeyAB's does it in OpenCV on
  8-bit pixels (`distort_opencv`: H in 0..179 shifted by 179 * dhue, S and V scaled, every
  step rounded and saturated to 0..255);
- `jitter`, `resize`, `letter_box`, `mosaic`, `flip` (AlexeyAB's key: pjreddie's darknet
  mirrors every other image whatever the cfg says; darkpy honours flip=0 in both): the placement of an image on the
  network's canvas (darkpy.train.darknet.placement);
- `random` on the last head: multi-scale training (`input_size`);
- `angle`, `aspect`, `min_crop`/`max_crop` (or `min_ratio`/`max_ratio`), `center`:
  pjreddie's classifier crops (darkpy.train.darknet.placement.classifier_crop);
- AlexeyAB's `mixup`, `cutmix`, `mosaic` (classifiers), `blur`, `gaussian_noise`: images
  mixed, blurred or noised (darkpy.train.darknet.mixing, which says which of his builds runs
  what).

Every random number comes from a numpy Generator seeded by (seed, iteration, stream), never
from a global state, so a run resumed at iteration i draws what the uninterrupted run drew.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32
PJREDDIE, ALEXEYAB = "pjreddie", "alexeyab"
# keys that darknet itself ignores for a task (his loaders say so and go on): darkpy warns
IGNORED = {"detector": (("cutmix", 0),), "classifier": (("gaussian_noise", 0),)}


def rand_uniform(rng: np.random.Generator, low, high) -> F32:
    """darknet's rand_uniform: uniform in [low, high] (bounds in either order), as a float."""
    low, high = F32(low), F32(high)
    if high < low:
        low, high = high, low
    return F32(F32(rng.random()) * (high - low) + low)


def rand_int(rng: np.random.Generator, low, high) -> int:
    """darknet's rand_int: an integer in [low, high] (bounds in either order, truncated to
    int as C passes them)."""
    low, high = int(low), int(high)
    return int(rng.integers(min(low, high), max(low, high) + 1))


def rand_scale(rng: np.random.Generator, s) -> F32:
    """darknet's rand_scale: uniform in [1, s], or its inverse with probability 1/2."""
    scale = rand_uniform(rng, 1.0, s)
    if rng.integers(0, 2):
        return scale
    return F32(1.0 / float(scale))  # C: 1./scale in double, stored as float


@dataclass(frozen=True)
class Augmentation:
    """The augmentation a training run applies (the module docstring says what each does)."""

    lineage: str = PJREDDIE
    jitter: float = 0.0
    resize: float = 1.0
    hue: float = 0.0
    saturation: float = 1.0
    exposure: float = 1.0
    flip: bool = True
    letter_box: bool = False
    mosaic: bool = False
    mosaic_bound: bool = False
    random: float = 0.0
    resize_step: int = 32
    angle: float = 0.0
    aspect: float = 1.0
    min_crop: int = 0
    max_crop: int = 0
    center: bool = False
    min_ratio: float = 1.0  # min_crop / width, for the sides of multi-scale classifier crops
    max_ratio: float = 2.0
    mixup: int = 0  # AlexeyAB's net->mixup code of mixup/cutmix/mosaic (mixing.mix_mode)
    blur: int = 0
    gaussian_noise: int = 0
    # AlexeyAB's darknet built with OpenCV (his usual build) distorts colours in OpenCV's 8-bit
    # HSV and only when something changes; built without it (OPENCV=0, as the oracle is) it
    # runs the C distort_image on every image, as pjreddie's does (`hsv_round_trip`)
    opencv: bool = True

    @classmethod
    def from_cfg(cls, net, head=None, lineage: str = PJREDDIE) -> Augmentation:
        """The settings of a [net] section's options (and the last head's, for detectors),
        placed as `lineage` places images (`lineage_of` tells a network's)."""
        from darkpy.train.darknet.mixing import mix_mode

        def get(options, key, default):
            value = options.get(key, default) if options is not None else default
            return default if value is None else value

        head_opts = head.opts if head is not None else None
        width = int(get(net, "width", 0) or 0)
        min_ratio, max_ratio = crop_ratios(net, width)
        min_crop, max_crop = crop_sides(min_ratio, max_ratio, width)
        return cls(
            lineage=lineage,
            jitter=float(get(head_opts, "jitter", 0.0)) if head is not None else 0.0,
            resize=float(get(head_opts, "resize", 1.0)) if head is not None else 1.0,
            hue=float(get(net, "hue", 0.0)),
            saturation=float(get(net, "saturation", 1.0) or 1.0),  # darknet: 0 means 1
            exposure=float(get(net, "exposure", 1.0) or 1.0),
            # AlexeyAB's key; pjreddie's darknet always flips, darkpy honours flip=0 there
            # too so that augmentation can be switched off whole
            flip=bool(get(net, "flip", 1)),
            letter_box=bool(get(net, "letter_box", 0)),
            mosaic=bool(get(net, "mosaic", 0)),
            mosaic_bound=bool(get(net, "mosaic_bound", 0)),
            random=float(get(head_opts, "random", 0.0) if head is not None
                         else get(net, "random", 0.0)),
            resize_step=int(float(get(net, "resize_step", 32) or 32)),
            angle=float(get(net, "angle", 0.0)),
            aspect=float(get(net, "aspect", 1.0) or 1.0),
            min_crop=min_crop, max_crop=max_crop, min_ratio=min_ratio, max_ratio=max_ratio,
            center=bool(get(net, "center", 0)),
            mixup=mix_mode(net),
            blur=int(float(get(net, "blur", 0) or 0)),
            gaussian_noise=int(float(get(net, "gaussian_noise", 0) or 0)),
        )

    @property
    def colour(self) -> bool:
        """Whether the colour distortion can change anything."""
        return self.hue != 0 or self.saturation != 1 or self.exposure != 1

    @property
    def hsv_round_trip(self) -> bool:
        """Whether darknet's C distort_image runs on every detection image, also when it
        changes nothing (hue=0 saturation=1 exposure=1): its RGB -> HSV -> RGB round trip in
        float moves colour pixels by a rounding (grey ones stay), and that is what darknet
        trains on. pjreddie's load_data_detection and load_data_region always call it; so does
        AlexeyAB's load_data_detection built without OpenCV (after the flip)."""
        return self.lineage == PJREDDIE or not self.opencv


def crop_ratios(net, width: int) -> tuple[F32, F32]:
    """pjreddie's parse_net_options: min_ratio (default (float) min_crop / width, min_crop
    defaulting to width) and max_ratio (max_crop / width, max_crop 2 width), as float32."""
    def option(key):
        value = net.get(key, 0) if net is not None else 0
        return value or 0
    width = max(int(width), 1)
    min_crop = int(option("min_crop")) or width
    max_crop = int(option("max_crop")) or 2 * width
    min_ratio = F32(float(option("min_ratio"))) or F32(min_crop) / F32(width)
    max_ratio = F32(float(option("max_ratio"))) or F32(max_crop) / F32(width)
    return F32(min_ratio), F32(max_ratio)


def crop_sides(min_ratio, max_ratio, side: int) -> tuple[int, int]:
    """train_classifier's args.min / args.max for an input `side`: ratio * side in float32,
    truncated to int (so a ratio that is not exact in float can lose a pixel, as in darknet)."""
    return int(F32(min_ratio) * F32(side)), int(F32(max_ratio) * F32(side))


def lineage_of(network) -> str:
    """AlexeyAB's when the cfg sets a key only AlexeyAB's darknet reads, in [net] (mosaic,
    letter_box, flip ...) or in a layer (a [yolo]'s iou_loss, scale_x_y, resize ...): such a
    cfg is trained as AlexeyAB's darknet would; else pjreddie's."""
    from darkpy.config.net_keys import NET_KEYS
    from darkpy.config.schema import ALEXEYAB as ALEXEYAB_FORK

    def alexeyab(keys, options) -> bool:
        return any(key in keys and keys[key].fork == ALEXEYAB_FORK for key in options)

    sections = network.sections
    if alexeyab(NET_KEYS, sections[0].options):
        return ALEXEYAB
    return ALEXEYAB if any(alexeyab(type(layer).keys, sections[layer.index + 1].options)
                           for layer in network.layers) else PJREDDIE


def not_applied(net, task: str) -> list[str]:
    """`key=value` for the augmentation keys of `net` that darknet (and so darkpy) ignores
    when training a `task` ("detector" or "classifier"): cutmix for detectors (his detection
    loader drops it), gaussian_noise for classifiers (his classifier loader never reads it)."""
    out = []
    for key, off in IGNORED[task]:
        value = net.get(key, off)
        if value not in (None, off):
            out.append(f"{key}={value}")
    return out


# --- colour ---------------------------------------------------------------------------------
def draw_distortion(rng, aug: Augmentation) -> tuple[F32, F32, F32]:
    """(dhue, dsat, dexp) for one image, as darknet's random_distort_image draws them."""
    dhue = rand_uniform(rng, -aug.hue, aug.hue)
    dsat = rand_scale(rng, aug.saturation)
    dexp = rand_scale(rng, aug.exposure)
    return dhue, dsat, dexp


def _image(image: np.ndarray) -> np.ndarray:
    image = np.ascontiguousarray(image, dtype=F32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    return image


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """pjreddie's rgb_to_hsv on (H, W, 3) float32: h in [0, 1) (sixths of the circle / 6),
    s = delta / max, v = max; grey pixels get h = 0 (darknet's h there is 0/0, unused)."""
    from darkpy.kernels.augment import rgb_to_hsv as kernel

    rgb = _image(rgb)
    out = np.empty_like(rgb)
    kernel(rgb, out)
    return out


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """pjreddie's hsv_to_rgb, the inverse of rgb_to_hsv (sector floor(6h), float32)."""
    from darkpy.kernels.augment import hsv_to_rgb as kernel

    hsv = _image(hsv)
    out = np.empty_like(hsv)
    kernel(hsv, out)
    return out


def distort_darknet(image: np.ndarray, dhue, dsat, dexp) -> np.ndarray:
    """pjreddie's distort_image on (H, W, 3) float32: scale S and V, add dhue to H wrapping
    once into [0, 1], back to RGB, clip to [0, 1] (darkpy.kernels.augment). With (0, 1, 1) it
    is darknet's round trip through HSV, which moves about a fifth of the pixels by a float32
    ulp; darknet runs it even when nothing changes, and so do the classifier loader
    (placement.classifier_crop) and the detection loader where darknet does
    (`Augmentation.hsv_round_trip`)."""
    from darkpy.kernels.augment import distort

    image = _image(image)
    out = np.empty_like(image)
    distort(image, out, F32(dhue), F32(dsat), F32(dexp))
    return out


def distort_opencv(image8: np.ndarray, dhue, dsat, dexp) -> np.ndarray:
    """AlexeyAB's HSV step of image_data_augmentation on an (H, W, 3) uint8 RGB image, by the
    same OpenCV calls: 8-bit HSV (H = degrees / 2), S *= dsat and V *= dexp (convertTo:
    rounded, saturated), H += 179 * dhue (add: saturated, no wrap); returns uint8 RGB."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(image8), cv2.COLOR_RGB2HSV)
    # H += 179 dhue as C++'s Mat += Scalar (on the 3-channel image: a lone channel of one
    # pixel would be taken for a scalar by OpenCV's Python binding)
    hue = cv2.add(hsv, (179.0 * float(dhue), 0.0, 0.0, 0.0))[..., 0]
    sat = cv2.convertScaleAbs(hsv[..., 1], alpha=float(dsat))  # |x| changes nothing: x >= 0
    val = cv2.convertScaleAbs(hsv[..., 2], alpha=float(dexp))
    hsv = np.stack([hue, sat.reshape(hue.shape), val.reshape(hue.shape)], axis=-1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


# --- multi-scale ----------------------------------------------------------------------------
RESIZE_EVERY = 10  # detectors; pjreddie's classifier: every 40


def input_size(aug: Augmentation, iteration: int, max_batches: int, init_w: int, init_h: int,
               seed: int, every: int = RESIZE_EVERY) -> tuple[int, int]:
    """(width, height) of the network input at update `iteration` with multi-scale training.

    darknet draws a new size every `every` iterations of a process (count % 10 == 0, so at
    its first); darkpy draws at the iterations that are multiples of `every`, from a generator
    seeded by (seed, that iteration), so a resumed run keeps the sizes. pjreddie: a square
    side (rand % 10 + 10) * 32, i.e. 320..608, and 608 in the last 200 iterations. AlexeyAB:
    random_val = rand_scale(random, or 1.4 when random=1), each side
    round(random_val * init / step + 1) * step (init when shrinking would grow it), the
    largest size (rand_coef) in the first block and the last 100 iterations, at least step.
    """
    if not aug.random:
        return init_w, init_h
    block = (int(iteration) // every) * every
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, block, 3])
    if aug.lineage == PJREDDIE:
        dim = (int(rng.integers(0, 10)) + 10) * 32
        if block + 200 > max_batches:
            dim = 608
        return dim, dim
    step = aug.resize_step
    coef = 1.4 if aug.random == 1.0 else aug.random
    value = float(rand_scale(rng, coef))

    def side(scale, init):
        return int(np.floor(scale * init / step + 1 + 0.5)) * step  # C: roundl, positive
    w, h = side(value, init_w), side(value, init_h)
    if value < 1 and (w > init_w or h > init_h):
        w, h = init_w, init_h
    if block == 0 or block > max_batches - 100:
        w, h = side(coef, init_w), side(coef, init_h)
    return max(w, step), max(h, step)


CLASSIFIER_RESIZE_EVERY = 40


def classifier_input_size(aug: Augmentation, iteration: int, size: int, seed: int) -> int:
    """pjreddie's classifier multi-scale ([net] random=1): every 40 iterations a square side
    (rand % 11 + 4) * 32, i.e. 128..448, drawn as `input_size` draws (by iteration block, so a
    resumed run keeps it); the crops then span [min_ratio, max_ratio] of that side."""
    if not aug.random:
        return size
    block = (int(iteration) // CLASSIFIER_RESIZE_EVERY) * CLASSIFIER_RESIZE_EVERY
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, block, 3])
    return (int(rng.integers(0, 11)) + 4) * 32
