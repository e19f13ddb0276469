"""darknet's bilinear image resize (resize_image in image.c) as a numba kernel, HWC float32.

Two separable passes, with darknet's float32 arithmetic in darknet's order so results match it
bit for bit (OpenCV's bilinear uses pixel-centre alignment and fixed-point weights: it differs):

    horizontal: sx = c * (in_w - 1) / (out_w - 1),  ix = floor(sx),  dx = sx - ix
                part[r, c] = (1 - dx) * im[r, ix] + dx * im[r, ix + 1]   (last column: im[r, in_w - 1])
    vertical:   sy = r * (in_h - 1) / (out_h - 1),  iy = floor(sy),  dy = sy - iy
                out[r, c] = (1 - dy) * part[iy, c] + dy * part[iy + 1, c] (last row: only the first term)

The corners map onto corners (align-corners). The last row keeps the (1 - dy) factor as darknet
does; dy is 0 there unless float rounding of the scale says otherwise.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_ONE = np.float32(1.0)


@njit(parallel=True, cache=True)
def _horizontal(im, part, w_scale):
    in_h, in_w, channels = im.shape
    out_w = part.shape[1]
    for r in prange(in_h):
        for c in range(out_w):
            if c == out_w - 1 or in_w == 1:
                for k in range(channels):
                    part[r, c, k] = im[r, in_w - 1, k]
            else:
                sx = np.float32(c) * w_scale
                ix = int(sx)
                dx = sx - np.float32(ix)
                for k in range(channels):
                    part[r, c, k] = (_ONE - dx) * im[r, ix, k] + dx * im[r, ix + 1, k]


@njit(parallel=True, cache=True)
def _vertical(part, out, h_scale):
    in_h = part.shape[0]
    out_h, out_w, channels = out.shape
    for r in prange(out_h):
        sy = np.float32(r) * h_scale
        iy = int(sy)
        dy = sy - np.float32(iy)
        last = r == out_h - 1 or in_h == 1
        for c in range(out_w):
            for k in range(channels):
                v = (_ONE - dy) * part[iy, c, k]
                if not last:
                    v = v + dy * part[iy + 1, c, k]
                out[r, c, k] = v


def darknet_resize(im: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an (H, W, C) float32 image to (height, width, C) exactly as darknet does."""
    im = np.ascontiguousarray(im, dtype=np.float32)
    in_h, in_w, channels = im.shape
    if width < 1 or height < 1:
        raise ValueError(f"resize target {width}x{height} must be at least 1x1")
    # darknet divides by (w - 1); for a 1-pixel target that is a division by zero whose result
    # darknet then multiplies by 0 (nan). A scale of 0 picks pixel 0 instead, the sane reading.
    w_scale = np.float32(in_w - 1) / np.float32(width - 1) if width > 1 else np.float32(0.0)
    h_scale = np.float32(in_h - 1) / np.float32(height - 1) if height > 1 else np.float32(0.0)
    part = np.empty((in_h, width, channels), dtype=np.float32)
    out = np.empty((height, width, channels), dtype=np.float32)
    _horizontal(im, part, np.float32(w_scale))
    _vertical(part, out, np.float32(h_scale))
    return out
