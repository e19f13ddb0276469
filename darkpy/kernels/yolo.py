"""Output activations of the detection heads ([yolo] and [region]) as numba kernels.

Both read a (rows, channels) float32 array, rows being N*H*W pixels of an NHWC tensor and the
channels grouped per anchor: anchor a owns channels a*entries ... a*entries + entries - 1.
They write a new array of the same shape (the input stays untouched). Serial numba loops
over rows, run by workers.run_rows (on the calling thread when small, else on the workers).

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
from numba import njit, uint64

from darkpy.kernels.activations import _logistic
from darkpy.kernels.workers import run_rows

_ONE = np.float32(1.0)


@njit(cache=True)
def _sigmoid(x):
    return _ONE / (_ONE + math.exp(-x))


def yolo_activate(x, out, anchors, entries, scale, shift, logistic):
    """out = the [yolo] activations of x, both (rows, anchors*entries) float32 C-contiguous."""
    run_rows(x.shape[0], 8 * x.size,
             lambda r0, r1: _yolo_rows(x, out, anchors, entries, scale, shift, logistic, r0, r1))


@njit(nogil=True, cache=True, error_model="numpy")
def _yolo_rows(x, out, anchors, entries, scale, shift, logistic, r0, r1):
    """yolo_activate for rows [r0, r1). The logistic runs over each anchor's whole run of
    entries in one branch-free loop (activations' vectorisable exp, 1 ulp) and w, h are
    copied back over it afterwards: per-entry tests would keep the loop scalar."""
    cols = uint64(x.shape[1])
    xf = x.reshape(x.size)
    of = out.reshape(out.size)
    for r in range(r0, r1):
        row = uint64(r) * cols
        for a in range(anchors):
            base = row + uint64(a * entries)
            end = base + uint64(entries)
            if logistic:
                for i in range(base, end):
                    of[i] = _logistic(xf[i])
                of[base + 2] = xf[base + 2]
                of[base + 3] = xf[base + 3]
            else:
                for i in range(base, end):
                    of[i] = xf[i]
            of[base] = of[base] * scale + shift
            of[base + 1] = of[base + 1] * scale + shift


def region_activate(x, out, anchors, coords, classes, background, softmax):
    """out = the [region] activations of x, both (rows, anchors*entries) float32."""
    run_rows(x.shape[0], 8 * x.size,
             lambda r0, r1: _region_rows(x, out, anchors, coords, classes, background, softmax,
                                         r0, r1))


@njit(nogil=True, cache=True)
def _region_rows(x, out, anchors, coords, classes, background, softmax, r0, r1):
    entries = coords + classes + 1
    for r in range(r0, r1):
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
