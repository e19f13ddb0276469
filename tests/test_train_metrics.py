"""PSNR and SSIM as the SR literature scores: Y of BT.601, border shaved, data range 255."""
from __future__ import annotations

import math

import numpy as np
import pytest

from darkpy import metrics


def test_luminance_of_black_white_and_red():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    y = metrics.luminance(rgb)
    np.testing.assert_allclose(y, [[16.0, 235.0, 16.0 + 65.481]], atol=1e-9)


def test_grayscale_is_scored_as_it_is():
    gray = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert np.array_equal(metrics.luminance(gray), gray)
    assert np.array_equal(metrics.luminance(gray[:, :, None]), gray)


def test_psnr_by_hand_one_pixel_off():
    a = np.zeros((8, 8))
    b = a.copy()
    b[4, 3] = 16.0  # MSE = 256 / 64 = 4
    assert metrics.psnr(b, a) == pytest.approx(10 * math.log10(255.0 ** 2 / 4.0), abs=1e-12)
    # shaving 1 pixel leaves 36 pixels: MSE = 256 / 36
    assert metrics.psnr(b, a, shave=1) == pytest.approx(10 * math.log10(255.0 ** 2 * 36 / 256), abs=1e-12)
    b2 = a.copy()
    b2[0, 5] = 50.0  # only in the shaved border
    assert metrics.psnr(b2, a, shave=1) == float("inf")


def test_psnr_of_rgb_uses_luminance():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (10, 9, 3)).astype(np.float64)
    b = a + np.array([10.0, 0.0, 0.0])  # Y moves by 65.481 * 10 / 255 everywhere
    dy = 65.481 * 10 / 255
    assert metrics.psnr(b, a, shave=2) == pytest.approx(10 * math.log10(255.0 ** 2 / dy ** 2), abs=1e-9)
    # per-channel (no Y): MSE = 100 / 3
    assert metrics.psnr(b, a, y_channel=False) == pytest.approx(10 * math.log10(255.0 ** 2 * 3 / 100), abs=1e-9)


def test_quantize_clips_and_rounds():
    v = np.array([-3.2, 0.49, 0.5, 1.5, 254.6, 300.0])
    assert np.array_equal(metrics.quantize(v), [0, 0, 0, 2, 255, 255])


def _naive_ssim(a, b, mask=None):
    """Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), population statistics,
    averaged over the pixels whose window lies inside the image (as skimage crops), and
    within `mask` when given."""
    r = 5
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / 1.5) ** 2)
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(r, a.shape[0] - r):
        for j in range(r, a.shape[1] - r):
            if mask is not None and not mask[i, j]:
                continue
            pa = a[i - r:i + r + 1, j - r:j + r + 1]
            pb = b[i - r:i + r + 1, j - r:j + r + 1]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va = (w * pa * pa).sum() - ma * ma
            vb = (w * pb * pb).sum() - mb * mb
            cov = (w * pa * pb).sum() - ma * mb
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_a_naive_gaussian_window_implementation():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (23, 19))
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    assert metrics.ssim(b, a) == pytest.approx(_naive_ssim(b, a), abs=1e-6)
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_ssim_of_rgb_is_ssim_of_luminance_with_shave():
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 255, (26, 24, 3))
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255)
    ya, yb = metrics.luminance(a)[3:-3, 3:-3], metrics.luminance(b)[3:-3, 3:-3]
    assert metrics.ssim(b, a, shave=3) == pytest.approx(_naive_ssim(yb, ya), abs=1e-6)


def test_shapes_must_agree_and_shave_must_leave_pixels():
    with pytest.raises(ValueError, match="differ"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="leaves nothing"):
        metrics.psnr(np.zeros((4, 4)), np.zeros((4, 4)), shave=2)


def test_masked_psnr_counts_only_the_masked_pixels():
    a = np.zeros((10, 10))
    b = a.copy()
    b[2, 2] = 30.0  # outside the mask: ignored
    b[6, 5] = 12.0  # inside: MSE = 144 / 8 masked pixels left after shaving 1
    mask = np.zeros((10, 10), bool)
    mask[5:7, 3:7] = True
    mask[0, :] = True  # in the shaved border: ignored
    expected = 10 * math.log10(255.0 ** 2 * 8 / 144)
    assert metrics.psnr(b, a, shave=1, mask=mask) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="no pixel"):
        metrics.psnr(b, a, shave=1, mask=np.eye(10, dtype=bool) & False)


def test_masked_ssim_is_the_ssim_map_averaged_over_the_mask():
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 255, (27, 25))
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255)
    mask = np.zeros(a.shape, bool)
    mask[8:20, 4:15] = True
    shaved = mask[2:-2, 2:-2]
    assert metrics.ssim(b, a, shave=2, mask=mask) == pytest.approx(
        _naive_ssim(b[2:-2, 2:-2], a[2:-2, 2:-2], shaved), abs=1e-6)
    everywhere = np.ones(a.shape, bool)
    assert metrics.ssim(b, a, shave=2, mask=everywhere) == pytest.approx(metrics.ssim(b, a, shave=2), abs=1e-12)
