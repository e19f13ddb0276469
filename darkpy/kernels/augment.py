"""Kernels of darknet's training augmentation (darkpy.train.darknet.augment / placement), HWC
float32, in darknet's float32 arithmetic (every constant a float32, so numba keeps the
operations in single precision as C does with float variables):

- pjreddie's rgb_to_hsv / hsv_to_rgb (image.c): v = max, s = (max - min) / max,
  h = sector offset + (difference) / delta, wrapped to [0, 6) and divided by 6; back by the
  sector floor(6h) with p = v (1 - s), q = v (1 - s f), t = v (1 - s (1 - f));
- distort_image: S *= dsat, V *= dexp, H += dhue wrapped once into [0, 1], back to RGB and
  clipped to [0, 1], in one pass per pixel;
- bilinear_interpolate at arbitrary points, reading 0 outside the image (get_pixel_extend),
  with darknet's weights (1 - dy)(1 - dx) a + dy (1 - dx) b + (1 - dy) dx c + dy dx d.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_0 = np.float32(0.0)
_1 = np.float32(1.0)
_2 = np.float32(2.0)
_4 = np.float32(4.0)
_6 = np.float32(6.0)


@njit(cache=True, inline="always")
def _max3(a, b, c):
    return (a if a > c else c) if a > b else (b if b > c else c)


@njit(cache=True, inline="always")
def _min3(a, b, c):
    return (a if a < c else c) if a < b else (b if b < c else c)


@njit(cache=True, inline="always")
def _to_hsv(r, g, b):
    high = _max3(r, g, b)
    low = _min3(r, g, b)
    delta = high - low
    if high == _0:
        return _0, _0, high
    s = delta / high
    if delta == _0:  # grey: darknet's h is 0/0 there, and unused (s = 0)
        return _0, s, high
    if r == high:
        h = (g - b) / delta
    elif g == high:
        h = _2 + (b - r) / delta
    else:
        h = _4 + (r - g) / delta
    if h < _0:
        h = h + _6
    return h / _6, s, high


@njit(cache=True, inline="always")
def _to_rgb(h, s, v):
    if s == _0:
        return v, v, v
    h6 = _6 * h
    index = int(np.floor(h6))
    f = h6 - np.float32(index)
    p = v * (_1 - s)
    q = v * (_1 - s * f)
    t = v * (_1 - s * (_1 - f))
    if index == 0:
        return v, t, p
    if index == 1:
        return q, v, p
    if index == 2:
        return p, v, t
    if index == 3:
        return p, q, v
    if index == 4:
        return t, p, v
    return v, p, q


@njit(cache=True)
def rgb_to_hsv(image, out):
    """(H, W, 3) RGB -> out (H, W, 3) h, s, v."""
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            out[y, x, 0], out[y, x, 1], out[y, x, 2] = _to_hsv(image[y, x, 0], image[y, x, 1],
                                                               image[y, x, 2])


@njit(cache=True)
def hsv_to_rgb(image, out):
    """(H, W, 3) h, s, v -> out (H, W, 3) RGB."""
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            out[y, x, 0], out[y, x, 1], out[y, x, 2] = _to_rgb(image[y, x, 0], image[y, x, 1],
                                                               image[y, x, 2])


@njit(cache=True, inline="always")
def _clip01(v):
    return _0 if v < _0 else (_1 if v > _1 else v)


@njit(cache=True)
def distort(image, out, dhue, dsat, dexp):
    """darknet's distort_image from `image` into `out` (both (H, W, 3) float32)."""
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            h, s, v = _to_hsv(image[y, x, 0], image[y, x, 1], image[y, x, 2])
            s = s * dsat
            v = v * dexp
            h = h + dhue
            if h > _1:
                h = h - _1
            if h < _0:
                h = h + _1
            r, g, b = _to_rgb(h, s, v)
            out[y, x, 0] = _clip01(r)
            out[y, x, 1] = _clip01(g)
            out[y, x, 2] = _clip01(b)


@njit(cache=True)
def bilinear(image, xs, ys, out):
    """out[i, j, :] = darknet's bilinear_interpolate of `image` at (xs[i, j], ys[i, j])."""
    h, w, channels = image.shape
    for i in range(xs.shape[0]):
        for j in range(xs.shape[1]):
            x, y = xs[i, j], ys[i, j]
            ix = int(np.floor(x))
            iy = int(np.floor(y))
            dx = x - np.float32(ix)
            dy = y - np.float32(iy)
            w00 = (_1 - dy) * (_1 - dx)
            w10 = dy * (_1 - dx)
            w01 = (_1 - dy) * dx
            w11 = dy * dx
            for k in range(channels):
                a = image[iy, ix, k] if 0 <= iy < h and 0 <= ix < w else _0
                b = image[iy + 1, ix, k] if 0 <= iy + 1 < h and 0 <= ix < w else _0
                c = image[iy, ix + 1, k] if 0 <= iy < h and 0 <= ix + 1 < w else _0
                d = image[iy + 1, ix + 1, k] if 0 <= iy + 1 < h and 0 <= ix + 1 < w else _0
                out[i, j, k] = w00 * a + w10 * b + w01 * c + w11 * d
