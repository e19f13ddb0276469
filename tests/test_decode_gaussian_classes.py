"""decode_gaussian with several candidates and several classes: each candidate's objectness
scales its own class scores (the product once broadcast the objectness vector against the
class axis, which failed, or mixed candidates up, unless there was one candidate or one class)."""
from __future__ import annotations

import numpy as np

from darkpy.detect.decode_gaussian import decode_gaussian


def test_each_candidate_scales_its_own_classes():
    classes = 3
    out = np.zeros((1, 2, 9 + classes), np.float32)  # a 1x2 grid, one anchor
    out[0, 0] = [0] * 8 + [0.8, 0.5, 1.0, 0.25]   # uncertainties 0: factor 1
    out[0, 1] = [0, 0.2, 0, 0.2, 0, 0.2, 0, 0.2, 0.6, 1.0, 0.5, 0.9]  # factor 0.8
    c = decode_gaussian(out, np.ones((1, 2), np.float32), classes, 8, 8, thresh=0.3)
    # 0.8 * (0.5, 1, 0.25) = (.4, .8, .2 -> 0);  0.6 * 0.8 * (1, .5, .9) = (.48, .24 -> 0, .432)
    np.testing.assert_allclose(c.probs, [[0.4, 0.8, 0], [0.48, 0, 0.432]], rtol=1e-6)
