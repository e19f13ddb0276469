"""Super-resolution training data: high-resolution images in, (LR input, HR target) patches out.

The degradation (`DEGRADATIONS`) is chosen to match the evaluation:

    matlab   lr = imresize(hr, 1/scale)             MATLAB bicubic (darkpy.imresize): the
                                                    benchmark tables' LR images, the default
    blur     lr = imresize(gauss3x3_s1(hr), 1/scale) the MRI theses' protocol
    opencv   lr = cv2.resize(hr, INTER_CUBIC)        OpenCV's bicubic (darkpy before 0.2)

LR values are clipped to 0..255, and rounded to integers when the source image was 8-bit
(as an LR image file would hold them; MATLAB rounds 8-bit images after each axis, and so does
darkpy.imresize on uint8). The bicubic baseline, and the input of networks that take an
already upscaled image (SRCNN-style, `pre_upsample`), upscale the LR image by the same
family's bicubic.

Every image is RGB float32 on 0..255: grayscale becomes three equal channels (or stays one
channel for a one-channel network), 16-bit images are scaled by 255/65535, float images by
their range (0..1 when they fit in it, else their own min..max), volumes (NIfTI) by the
volume's min..max, one slice at a time across an axis.

Patches are drawn as EDSR does: an image uniformly at random, a position uniformly at random,
and (with `augment`) one of the 8 flips/quarter turns (a quarter turn of a non-square patch
crops the patch on its side, or becomes a half turn where only one orientation fits). The batch of iteration `i` is a pure
function of (seed, i): nothing about the sampler needs saving for a resumed run to see the
same data in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.metrics import SSIM_WINDOW  # smaller (shaved) images cannot be scored

DEGRADATIONS = ("matlab", "blur", "opencv")
CUBIC_A = {"matlab": -0.5, "blur": -0.5, "opencv": -0.75}  # Keys' a of each bicubic
BLUR_KERNEL = (3, 3)
BLUR_SIGMA = 1.0
# volume slices with less than this fraction of voxels above 5% of the volume's range are
# background (outside the head) and teach the network nothing
MIN_FOREGROUND = 0.1


@dataclass(eq=False)
class HRImage:
    """One training or validation image: (H, W, C) float32 on 0..255."""

    pixels: np.ndarray
    name: str
    eight_bit: bool = True  # the source held 0..255 integers: LR images get rounded too
    index: int | None = None  # a volume slice's position across its axis


# --- reading --------------------------------------------------------------------------------

def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W[, 1|3|4]) -> (H, W, channels): gray repeated, alpha dropped, RGB to gray if 1."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], channels, axis=2))
    if image.ndim == 3 and image.shape[2] == 3:
        if channels == 3:
            return np.ascontiguousarray(image)
        if channels == 1:
            return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    raise InputError(f"cannot make a {channels}-channel image from shape {image.shape}")


def image_from_array(array: np.ndarray, name: str = "<array>", channels: int = 3,
                     value_range: tuple[float, float] | None = None) -> HRImage:
    """An HRImage from an (H, W) / (H, W, 1|3|4) array of uint8, uint16, bool or float."""
    from darkpy.io.image import image_value_range, to_255

    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * np.uint8(255)
    if array.dtype not in (np.uint8, np.uint16) and array.dtype.kind != "f":
        raise InputError(f"{name}: unsupported pixel type {array.dtype} (expected 8 or 16 bit, or float)")
    lo, hi = value_range if value_range is not None else image_value_range(array)
    pixels = _channels(to_255(array, lo, hi), channels)
    eight_bit = array.dtype == np.uint8 and value_range is None
    return HRImage(np.ascontiguousarray(pixels, dtype=np.float32), name, eight_bit)


def volume_slices(path, axis: int = 2, channels: int = 3) -> list[HRImage]:
    """The slices of a NIfTI volume across `axis` that hold enough foreground."""
    from darkpy.io.volume import read_volume, volume_value_range

    volume = read_volume(path)
    data = volume.data
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim > 3:  # time series: the first volume
        data = data.reshape(*data.shape[:3], -1)[..., 0]
    lo, hi = volume_value_range(data)
    threshold = lo + 0.05 * (hi - lo)
    out = []
    for i in range(data.shape[axis]):
        plane = data[(slice(None),) * axis + (i,)]  # np.take copies the volume each time
        if data.dtype.kind == "f":
            plane = np.where(np.isfinite(plane), plane, lo)
        if np.mean(plane > threshold) < MIN_FOREGROUND:
            continue
        image = image_from_array(plane.astype(np.float32), f"{Path(path).name}[{'xyz'[axis]}={i}]",
                                 channels, value_range=(lo, hi))
        image.eight_bit = data.dtype == np.uint8
        image.index = i
        out.append(image)
    return out


def load_images(items, channels: int = 3, volume_axis: int = 2) -> list[HRImage]:
    """Images from files, folders, glob patterns (images and NIfTI volumes) or arrays."""
    from darkpy.io.image import IMAGE_SUFFIXES, read_image
    from darkpy.io.inputs import collect_inputs
    from darkpy.io.volume import VOLUME_SUFFIXES, is_volume

    arrays = [(i, x) for i, x in enumerate(items) if isinstance(x, np.ndarray)]
    paths_in = [x for x in items if not isinstance(x, np.ndarray)]
    images = [image_from_array(x, f"<array {i}>", channels) for i, x in arrays]
    paths, missing = collect_inputs(paths_in, IMAGE_SUFFIXES + VOLUME_SUFFIXES,
                                    "supported image or volume")
    if missing:
        item, why = missing[0]
        raise InputError(f"{item}: {why}")
    for path in paths:
        if is_volume(path):
            images.extend(volume_slices(path, volume_axis, channels))
        else:
            images.append(image_from_array(read_image(path), str(path), channels))
    if not images:
        raise InputError("no images to train or validate on")
    return images


# --- degradation ----------------------------------------------------------------------------

def check_degradation(name: str) -> str:
    if name not in DEGRADATIONS:
        raise InputError(f"unknown degradation '{name}': choose one of {', '.join(DEGRADATIONS)}")
    return name


def _matlab_resize(image: np.ndarray, size: tuple[int, int], eight_bit: bool) -> np.ndarray:
    from darkpy.imresize import imresize

    if eight_bit:  # MATLAB works on the uint8 image and rounds after each axis
        pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        return imresize(pixels, size=size).astype(np.float32)
    out = imresize(np.asarray(image, np.float32), size=size)
    return out.reshape(size[0], size[1], image.shape[2])


def degrade(hr: np.ndarray, scale: int, degradation: str = "matlab", eight_bit: bool = True) -> np.ndarray:
    """The LR image of an (H, W, C) HR image whose sides are multiples of `scale`."""
    import cv2

    check_degradation(degradation)
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"{w}x{h} is not a multiple of the scale {scale}")
    src = np.ascontiguousarray(hr, dtype=np.float32)
    if degradation == "blur":
        src = cv2.GaussianBlur(src, BLUR_KERNEL, BLUR_SIGMA).reshape(hr.shape)
    if degradation == "opencv":
        lr = cv2.resize(src, (w // scale, h // scale), interpolation=cv2.INTER_CUBIC)
        lr = lr.reshape(h // scale, w // scale, hr.shape[2])
    else:
        lr = _matlab_resize(src, (h // scale, w // scale), eight_bit)
    np.clip(lr, 0.0, 255.0, out=lr)
    if eight_bit:
        np.rint(lr, out=lr)
    return lr


def upscale_bicubic(lr: np.ndarray, scale: int, degradation: str = "matlab",
                    eight_bit: bool = False) -> np.ndarray:
    """The bicubic upscaling of an (h, w, C) image that matches `degradation`: the baseline.

    MATLAB's family (matlab, blur) upscales as imresize does: unrounded, or on the uint8
    image with MATLAB's rounding after each axis when `eight_bit` (how the benchmark tables'
    bicubic rows are made). opencv upscales with cv2's INTER_CUBIC, unrounded.
    """
    import cv2

    check_degradation(degradation)
    h, w, c = lr.shape
    if degradation == "opencv":
        up = cv2.resize(np.ascontiguousarray(lr, dtype=np.float32), (w * scale, h * scale),
                        interpolation=cv2.INTER_CUBIC)
    else:
        up = _matlab_resize(lr, (h * scale, w * scale), eight_bit)
    return up.reshape(h * scale, w * scale, c)


def dihedral(image: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 flips/quarter turns of an (H, W, C) image: transform = 4*flip + turns."""
    out = np.rot90(image, transform % 4, axes=(0, 1))
    if transform >= 4:
        out = out[:, ::-1]
    return out


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of `scale`."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


# --- training patches -------------------------------------------------------------------------

@dataclass
class PatchSampler:
    """Random (LR, HR) patch pairs; `batch(i, n)` depends only on (seed, i, n).

    `patch` is the network's input size (height, width): LR pixels, or HR pixels for a
    pre-upsampled network. HR patches are `scale` times the LR ones.
    """

    images: list[HRImage]
    scale: int
    patch: tuple[int, int]
    degradation: str = "matlab"
    augment: bool = True
    pre_upsample: bool = False
    seed: int = 0
    skipped: list[str] = field(default_factory=list)  # images smaller than one HR patch

    def __post_init__(self):
        if self.scale < 1:
            raise InputError(f"scale must be >= 1, got {self.scale}")
        ph, pw = self.patch
        if self.pre_upsample:
            if ph % self.scale or pw % self.scale:
                raise InputError(f"the input patch {pw}x{ph} of a pre-upsampling network must be "
                                 f"a multiple of the scale {self.scale}")
            self.hr_size = (ph, pw)
        else:
            self.hr_size = (ph * self.scale, pw * self.scale)
        hh, hw = self.hr_size
        fits = [im.pixels.shape[0] >= hh and im.pixels.shape[1] >= hw for im in self.images]
        usable = [im for im, ok in zip(self.images, fits) if ok]
        self.skipped = [im.name for im, ok in zip(self.images, fits) if not ok]
        if not usable:
            raise InputError(f"no training image is at least {hw}x{hh} (one HR patch); "
                             "use a smaller patch or larger images")
        self.images = usable
        self.channels = self.images[0].pixels.shape[2]

    def pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        hh, hw = self.hr_size
        image = self.images[int(rng.integers(len(self.images)))]
        h, w = image.pixels.shape[:2]
        transform = int(rng.integers(8)) if self.augment else 0
        ch, cw = hh, hw
        if transform % 2:  # a quarter turn: crop the patch lying on its side
            if hw <= h and hh <= w:
                ch, cw = hw, hh
            else:  # a non-square patch that fits this image one way only
                transform -= 1
        y0 = int(rng.integers(h - ch + 1))
        x0 = int(rng.integers(w - cw + 1))
        hr = dihedral(image.pixels[y0:y0 + ch, x0:x0 + cw], transform)
        hr = np.ascontiguousarray(hr)
        lr = degrade(hr, self.scale, self.degradation, image.eight_bit)
        if self.pre_upsample:
            lr = upscale_bicubic(lr, self.scale, self.degradation)
        return lr, hr

    def batch(self, iteration: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (size, h, w, C), targets (size, H, W, C)) for training iteration `iteration`."""
        rng = np.random.default_rng([int(self.seed), int(iteration)])
        pairs = [self.pair(rng) for _ in range(size)]
        x = np.stack([p[0] for p in pairs]).astype(np.float32, copy=False)
        y = np.stack([p[1] for p in pairs]).astype(np.float32, copy=False)
        return np.ascontiguousarray(x), np.ascontiguousarray(y)


# --- validation -------------------------------------------------------------------------------

@dataclass
class ValidationImage:
    name: str
    hr: np.ndarray       # (H, W, C), sides multiples of the scale
    lr: np.ndarray       # network input without pre-upsampling
    bicubic: np.ndarray  # the baseline, quantized


@dataclass
class Score:
    psnr: float
    ssim: float
    bicubic_psnr: float
    bicubic_ssim: float


class ValidationSet:
    """Whole images scored against bicubic: PSNR/SSIM on Y, border shaved by the scale."""

    def __init__(self, images: list[HRImage], scale: int, degradation: str = "matlab",
                 pre_upsample: bool = False, shave: int | None = None):
        from darkpy import metrics

        self.scale = scale
        self.degradation = check_degradation(degradation)
        self.pre_upsample = pre_upsample
        self.shave = scale if shave is None else shave
        self.items: list[ValidationImage] = []
        self.baseline: list[tuple[float, float]] = []
        self.skipped: list[str] = []
        for image in images:
            hr = np.ascontiguousarray(modcrop(image.pixels, scale))
            if min(hr.shape[:2]) - 2 * self.shave < SSIM_WINDOW:
                self.skipped.append(image.name)  # too small to score
                continue
            lr = degrade(hr, scale, degradation, image.eight_bit)
            bicubic = metrics.quantize(upscale_bicubic(lr, scale, degradation, image.eight_bit))
            self.items.append(ValidationImage(image.name, hr, lr, bicubic))
            self.baseline.append((metrics.psnr(bicubic, hr, self.shave),
                                  metrics.ssim(bicubic, hr, self.shave)))
        if not self.items:
            side = SSIM_WINDOW + 2 * self.shave
            raise InputError(f"no validation image is large enough to score (at least {side}x{side} "
                             f"pixels after cropping to multiples of the scale)")

    def upscale(self, network, item: ValidationImage) -> np.ndarray:
        x = upscale_bicubic(item.lr, self.scale, self.degradation) if self.pre_upsample else item.lr
        return network.forward(np.ascontiguousarray(x[None], dtype=np.float32))[0]

    def evaluate(self, network, with_ssim: bool = True) -> tuple[Score, list[tuple[str, Score]]]:
        """(mean score, per-image scores) of `network` at inference."""
        from darkpy import metrics

        rows = []
        for item, (b_psnr, b_ssim) in zip(self.items, self.baseline):
            out = metrics.quantize(self.upscale(network, item))
            if out.shape != item.hr.shape:
                raise InputError(f"{item.name}: the network made {out.shape[1]}x{out.shape[0]} from "
                                 f"{item.lr.shape[1]}x{item.lr.shape[0]}, expected x{self.scale}")
            p = metrics.psnr(out, item.hr, self.shave)
            s = metrics.ssim(out, item.hr, self.shave) if with_ssim else float("nan")
            rows.append((item.name, Score(p, s, b_psnr, b_ssim)))
        mean = Score(*(float(np.mean([getattr(r, k) for _, r in rows]))
                       for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim")))
        return mean, rows
