"""Output activations of the detection heads ([yolo] and [region]) as numba kernels.

Both read a (rows, channels) float32 array, rows being N*H*W pixels of an NHWC tensor and the
channels grouped per anchor: anchor a owns channels a*entries ... a*entries + entries - 1.
They write a new array of the same shape (the input stays untouched).

- yolo: logistic on every entry but w, h (entries 2 and 3), then x, y (entries 0, 1) become
  x*scale + shift, darknet's scale_x_y step with shift = -(scale - 1)/2. `logistic=False`
  skips the logistic (AlexeyAB's new_coords=1, whose network already applied it).
- region: logistic on x, y; logistic on the objectness (entry `coords`) unless a background
  class replaces it; the classes get a softmax per anchor (over classes + background entries,
  starting at coords + 1 - background) or, without softmax, a logistic each.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_ONE = np.float32(1.0)


@njit(cache=True)
def _sigmoid(x):
    return _ONE / (_ONE + math.exp(-x))


@njit(parallel=True, cache=True)
def yolo_activate(x, out, anchors, entries, scale, shift, logistic):
    rows = x.shape[0]
    for r in prange(rows):
        for a in range(anchors):
            base = a * entries
            for k in range(entries):
                v = x[r, base + k]
                if logistic and k != 2 and k != 3:
                    v = _sigmoid(v)
                if k < 2:
                    v = v * scale + shift
                out[r, base + k] = v


@njit(parallel=True, cache=True)
def region_activate(x, out, anchors, coords, classes, background, softmax):
    rows = x.shape[0]
    entries = coords + classes + 1
    for r in prange(rows):
        for a in range(anchors):
            base = a * entries
            for k in range(entries):
                out[r, base + k] = x[r, base + k]
            out[r, base] = _sigmoid(x[r, base])
            out[r, base + 1] = _sigmoid(x[r, base + 1])
            if not background:
                out[r, base + coords] = _sigmoid(x[r, base + coords])
            if softmax:
                start = base + coords + 1 - background
                count = classes + background
                largest = x[r, start]
                for k in range(1, count):
                    largest = max(largest, x[r, start + k])
                total = np.float32(0.0)
                for k in range(count):
                    e = math.exp(x[r, start + k] - largest)
                    out[r, start + k] = e
                    total += e
                for k in range(count):
                    out[r, start + k] = out[r, start + k] / total
            else:
                for k in range(coords + 1, entries):
                    out[r, base + k] = _sigmoid(x[r, base + k])
