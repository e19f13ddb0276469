"""Element-wise kernels on NHWC float32 tensors: the shortcut (generalised residual) sum.

Every kernel returns a new array and never writes to its inputs.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from darkpy.kernels.activations import LINEAR
# the scalar f(x) behind activations.activate, called per value to fuse the activation here
from darkpy.kernels.activations import act_scalar


@njit(parallel=True, cache=True, fastmath=False)
def shortcut(prev, add, alpha, beta, code):
    """out = f(alpha*prev + beta*add) in one pass, with darknet's shortcut_cpu rules when the
    shapes differ (prev: (n, h2, w2, c2) fixes the output shape; add: (n, h1, w1, c1)).

    stride = max(w1 // w2, 1) and sample = max(w2 // w1, 1): `add` is read every `stride`
    pixels and written every `sample` pixels of the output, for the first min(h1, h2) x
    min(w1, w2) x min(c1, c2) of them; the caller checks h ratios equal w ratios as darknet
    asserts. Output cells no `add` cell reaches keep prev unscaled (darknet never multiplies
    them by alpha); the activation f (code from darkpy.kernels.activations) covers all cells.
    """
    n, h2, w2, c2 = prev.shape
    h1 = add.shape[1]
    w1 = add.shape[2]
    c1 = add.shape[3]
    stride = max(w1 // w2, 1)
    sample = max(w2 // w1, 1)
    min_h = min(h1, h2)
    min_w = min(w1, w2)
    min_c = min(c1, c2)
    out = np.empty((n, h2, w2, c2), dtype=np.float32)
    for row in prange(n * h2):
        b = row // h2
        y = row - b * h2
        row_hit = y % sample == 0 and y // sample < min_h
        add_y = (y // sample) * stride
        for x in range(w2):
            src = prev[b, y, x]
            dst = out[b, y, x]
            k0 = 0
            if row_hit and x % sample == 0 and x // sample < min_w:
                other = add[b, add_y, (x // sample) * stride]
                for k in range(min_c):
                    dst[k] = alpha * src[k] + beta * other[k]
                k0 = min_c
            for k in range(k0, c2):
                dst[k] = src[k]
            if code != LINEAR:
                for k in range(c2):
                    dst[k] = act_scalar(dst[k], code)
    return out
