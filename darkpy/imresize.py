"""MATLAB's `imresize(..., 'bicubic')`: the resize the super-resolution literature degrades with.

The benchmark tables (SRCNN, VDSR, EDSR ...) make every low-resolution image with MATLAB's
imresize, and score bicubic upscaling with it too; OpenCV's INTER_CUBIC differs (a = -0.75,
no antialiasing), so a model trained on OpenCV's degradation is scored on inputs it never saw.

Keys' cubic with a = -0.5,

    k(x) = 1.5|x|^3 - 2.5|x|^2 + 1             |x| <= 1
           -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2     1 < |x| <= 2,

resizes each axis separately, the axis of the stronger shrink first (rows first on a tie).
Output pixel i (1-based) of an axis scaled by s samples the input at u = i/s + (1 - 1/s)/2.
When shrinking (s < 1) the kernel is stretched to antialias: k_s(x) = s k(s x), 4/s wide.
Each output's weights are normalised to sum to one, and taps beyond the border read the
border pixel (MATLAB clamps the indices). An integer image stays integer after each axis:
the pass is computed in float64, rounded half away from zero and saturated, and the next
axis reads the rounded values (as MATLAB's uint8 passes do; rounding only once at the end
differs from MATLAB on about 15% of pixels by one level). With these rules the Set5 LR
images of the literature are reproduced bit for bit.

An axis is one dense (out, in) matrix applied by a GEMM: images here are at most a few
thousand pixels a side, and the matrices are cached per (in, out) size.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

KEYS_A = -0.5  # MATLAB's cubic (OpenCV's INTER_CUBIC uses -0.75)


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def axis_matrix(in_size: int, out_size: int, scale: float | None = None) -> np.ndarray:
    """The (out_size, in_size) float64 matrix that resizes one axis as MATLAB does.

    `scale` is MATLAB's scale factor; it defaults to out_size / in_size (imresize computes
    the output size from the scale, and the sample positions from the scale, not the sizes).
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"cannot resize an axis of {in_size} pixels to {out_size}")
    s = float(scale) if scale is not None else out_size / in_size
    width = 4.0 / s if s < 1 else 4.0
    i = np.arange(1, out_size + 1, dtype=np.float64)
    u = i / s + 0.5 * (1.0 - 1.0 / s)
    left = np.floor(u - width / 2.0)
    taps = int(np.ceil(width)) + 2
    index = left[:, None] + np.arange(taps)[None, :]           # 1-based input positions
    distance = u[:, None] - index
    weights = s * cubic(s * distance) if s < 1 else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # positions beyond the border read the border pixel
    clamped = np.clip(index - 1, 0, in_size - 1).astype(np.int64)
    matrix = np.zeros((out_size, in_size))
    rows = np.broadcast_to(np.arange(out_size)[:, None], clamped.shape)
    np.add.at(matrix, (rows, clamped), weights)
    matrix.setflags(write=False)
    return matrix


def imresize(image: np.ndarray, scale: float | None = None, size: tuple[int, int] | None = None,
             ) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) image by `scale` or to `size` = (height, width).

    uint8/uint16 images come back rounded and saturated in their own type (after each axis,
    as MATLAB); float images come back float32 (float64 stays float64), unrounded and
    unclipped.
    """
    image = np.asarray(image)
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    h, w = image.shape[:2]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        scales = (out_h / h, out_w / w)
    else:
        out_h, out_w = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        scales = (float(scale), float(scale))
    integer = np.issubdtype(image.dtype, np.integer)
    lo, hi = (np.iinfo(image.dtype).min, np.iinfo(image.dtype).max) if integer else (0, 0)
    x = image.astype(np.float64)
    # the axis that shrinks most goes first (MATLAB's order); rows first on a tie
    for axis in sorted((0, 1), key=lambda a: scales[a]):
        n_in, n_out = (h, out_h) if axis == 0 else (w, out_w)
        if n_in == n_out and scales[axis] == 1.0:
            continue
        m = axis_matrix(n_in, n_out, scales[axis])
        x = np.tensordot(m, x, axes=([1], [axis]))
        if axis == 1:
            x = np.moveaxis(x, 0, 1)
        if integer:  # half away from zero, as MATLAB rounds
            x = np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), lo, hi)
    if integer:
        return x.astype(image.dtype)
    return x.astype(np.float64 if image.dtype == np.float64 else np.float32)
