"""Image quality as the super-resolution literature reports it: PSNR and SSIM on luminance.

Conventions (those of EDSR, WDSR, RCAN and the benchmark tables they fill):
- Values are on 0..255 (`data_range` = 255). Results of a network are usually clipped and
  rounded to 0..255 integers first (`quantize`), as the published scores are.
- RGB images are scored on their luminance Y of ITU-R BT.601 in MATLAB's `rgb2ycbcr` form,
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, which spans 16..235. A 2-D (grayscale)
  array is scored on its values as they are: it is its own luminance (an MRI slice's PSNR
  should not depend on a colour transform it never had).
- `shave` pixels are cut from every border before scoring (conventionally the scale factor):
  the border is where an upscaler has the least context and where bicubic references differ.
- SSIM is scikit-image's `structural_similarity` with the settings of Wang et al. (2004):
  an 11x11 Gaussian window of sigma 1.5 (`gaussian_weights=True, sigma=1.5`), population
  covariances (`use_sample_covariance=False`), K1=0.01, K2=0.03, data_range 255.
- A `mask` ((H, W) booleans, before shaving) restricts both to a region (an MRI study scores
  the brain, not the air around it): PSNR is taken over the masked pixels' squared errors,
  SSIM is the mean of the SSIM map over the masked pixels, after the same border crop of
  half a window that scikit-image makes before its mean (so an all-true mask changes nothing).
"""
from __future__ import annotations

import numpy as np

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
SSIM_SIGMA = 1.5
# scikit-image's Gaussian window: 2 * int(truncate * sigma + 0.5) + 1 taps with truncate 3.5,
# i.e. 11; its mean SSIM leaves out (window - 1) // 2 pixels at every border
SSIM_WINDOW = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1
SSIM_BORDER = (SSIM_WINDOW - 1) // 2


def luminance(image: np.ndarray) -> np.ndarray:
    """Y (16..235 for 0..255 RGB) of an (H, W, 3) image; (H, W) or (H, W, 1) pass through."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return 16.0 + image @ _Y_WEIGHTS
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def quantize(image: np.ndarray) -> np.ndarray:
    """Clip to 0..255 and round to integers (kept as float64), as published scores do."""
    return np.rint(np.clip(np.asarray(image, dtype=np.float64), 0.0, 255.0))


def _prepare(a, b, shave: int, y_channel: bool, mask=None):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != a.shape[:2]:
            raise ValueError(f"the mask is {mask.shape}, the images {a.shape[:2]}")
    if y_channel:
        a, b = luminance(a), luminance(b)
    if shave:
        if 2 * shave >= min(a.shape[0], a.shape[1]):
            raise ValueError(f"shave={shave} leaves nothing of a {a.shape[1]}x{a.shape[0]} image")
        a = a[shave:-shave, shave:-shave]
        b = b[shave:-shave, shave:-shave]
        if mask is not None:
            mask = mask[shave:-shave, shave:-shave]
    return a, b, mask


def psnr(result, reference, shave: int = 0, y_channel: bool = True, data_range: float = 255.0,
         mask=None) -> float:
    """10 log10(data_range^2 / MSE) in dB; inf for identical images (or masked regions)."""
    a, b, mask = _prepare(result, reference, shave, y_channel, mask)
    errors = (a - b) ** 2
    if mask is not None:
        if not mask.any():
            raise ValueError("the mask selects no pixel inside the shaved border")
        errors = errors[mask]
    mse = float(np.mean(errors))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(data_range * data_range / mse)


def ssim(result, reference, shave: int = 0, y_channel: bool = True, data_range: float = 255.0,
         mask=None) -> float:
    """Mean structural similarity (Wang et al. 2004 settings, see the module notes)."""
    from skimage.metrics import structural_similarity

    a, b, mask = _prepare(result, reference, shave, y_channel, mask)
    options = dict(data_range=data_range, gaussian_weights=True, sigma=SSIM_SIGMA,
                   use_sample_covariance=False)
    if a.ndim == 3:  # y_channel=False on colour: average over channels
        options["channel_axis"] = 2
    if mask is None:
        return float(structural_similarity(a, b, **options))
    _, ssim_map = structural_similarity(a, b, full=True, **options)
    inner = (slice(SSIM_BORDER, -SSIM_BORDER),) * 2
    ssim_map, mask = ssim_map[inner], mask[inner]
    if not mask.any():
        raise ValueError("the mask selects no pixel inside the shaved border and the SSIM window")
    return float(np.mean(ssim_map[mask]))
