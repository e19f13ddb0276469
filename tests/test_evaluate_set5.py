"""`darkpy evaluate` on Set5 against the literature's numbers and a few lines of numpy.

The published Set5 bicubic numbers (../shared/data/sr/README.md, and the SRCNN/VDSR tables:
PSNR 33.66 / 30.39 / 28.42, SSIM 0.9299 / 0.8682 / 0.8104) are the independent reference
for the whole protocol; the scores are recomputed here from the images with numpy (MATLAB's
Y formula, the shave, peak 255, an SSIM written out below).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import ndimage

from darkpy import evaluate
from darkpy.imresize import imresize
from darkpy.io.image import read_image

PUBLISHED_BICUBIC = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}
NAMES = ("baby", "bird", "butterfly", "head", "woman")


def y_of(rgb):
    rgb = np.asarray(rgb, dtype=np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr_y(result, hr, shave):
    d = y_of(result)[shave:-shave, shave:-shave] - y_of(hr)[shave:-shave, shave:-shave]
    return 10.0 * np.log10(255.0 ** 2 / np.mean(d * d))


def ssim_gray(a, b):
    """Wang et al. 2004: 11x11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03, L 255, mean
    over the pixels whose window is inside the image."""
    g = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    window = np.outer(g, g) / np.outer(g, g).sum()

    def blur(x):
        return ndimage.correlate(x, window, mode="nearest")[5:-5, 5:-5]

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean((2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2))))


@pytest.fixture(scope="module")
def set5(request):
    from conftest import shared_path

    return shared_path("data", "sr", "set5")


@pytest.fixture(scope="module")
def pair_results(set5):
    return {s: evaluate([], [set5 / f"x{s}"], bicubic_y=True) for s in (2, 3, 4)}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_row_agrees_with_numpy_on_set5(scale, set5, pair_results):
    result = pair_results[scale]
    assert result.scale == scale  # found from the pairs' sizes
    by_name = {s.name: s.scores for s in result.samples}
    assert sorted(by_name) == sorted(NAMES)
    for name in NAMES:
        hr = read_image(set5 / f"x{scale}" / f"{name}_HR.png")
        lr = read_image(set5 / f"x{scale}" / f"{name}_LR.png")
        up = imresize(lr, size=hr.shape[:2])  # MATLAB's imresize on the uint8 image
        assert by_name[name]["bicubic"].psnr == pytest.approx(psnr_y(up, hr, scale), abs=1e-9)
        s = scale
        expected_ssim = ssim_gray(y_of(up)[s:-s, s:-s], y_of(hr)[s:-s, s:-s])
        assert by_name[name]["bicubic"].ssim == pytest.approx(expected_ssim, abs=1e-6)
    # upscaling the 8-bit RGB LR image lands within 0.015 dB of the published bicubic row
    published_psnr, published_ssim = PUBLISHED_BICUBIC[scale]
    assert abs(result.mean()["bicubic"].psnr - published_psnr) < 0.02
    assert abs(result.mean()["bicubic"].ssim - published_ssim) < 0.001


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_literature_bicubic_row_reproduces_the_published_set5_numbers(scale, pair_results):
    mean = pair_results[scale].mean()["bicubic-y"]
    published_psnr, published_ssim = PUBLISHED_BICUBIC[scale]
    # the tables round to 0.01 dB and 0.0001
    assert abs(mean.psnr - published_psnr) <= 0.005
    assert abs(mean.ssim - published_ssim) <= 0.00005 + 1e-9


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_literature_bicubic_row_agrees_with_numpy(scale, set5, pair_results):
    """SRCNN's script: Y of the uint8 HR rounded, shrunk and enlarged in floating point on its
    own, rounded, scored against the rounded Y."""
    by_name = {s.name: s.scores for s in pair_results[scale].samples}
    for name in ("bird", "head"):
        hr = read_image(set5 / f"x{scale}" / f"{name}_HR.png")
        y = np.floor(y_of(hr) + 0.5)
        h, w = y.shape
        small = imresize(y, size=(h // scale, w // scale))
        up = np.rint(np.clip(imresize(small, size=(h, w)), 0, 255))
        d = (up - y)[scale:-scale, scale:-scale]
        # darkpy resizes in float32 (MATLAB's script in single): a rare pixel rounds the other way
        assert by_name[name]["bicubic-y"].psnr == pytest.approx(10 * np.log10(255.0 ** 2 / np.mean(d * d)), abs=1e-4)


def test_hr_only_gives_the_numbers_of_the_given_pairs(set5, pair_results, tmp_path):
    """darkpy's MATLAB resize makes the LR images bit for bit, so both modes agree exactly."""
    for name in NAMES:
        shutil.copy(set5 / "x4" / f"{name}_HR.png", tmp_path / f"{name}.png")
    alone = evaluate([], [tmp_path], scale=4, bicubic_y=True)
    pairs = pair_results[4]
    assert [s.name for s in alone.samples] == [s.name for s in pairs.samples]
    for a, b in zip(alone.samples, pairs.samples):
        assert a.scores == b.scores


def test_model_row_agrees_with_the_network_run_whole(set5, tmp_path):
    """The shipped x2 model on a crop of bird: evaluate's PSNR equals numpy's on the
    network's own untiled output."""
    from darkpy.metrics import quantize
    from darkpy.io.image import write_image
    from darkpy.upscale.models import load_model

    hr = read_image(set5 / "x2" / "bird_HR.png")[60:156, 80:176]
    write_image(tmp_path / "bird_crop.png", hr)
    result = evaluate(["darkpy-sr-x2"], [tmp_path])
    network = load_model("darkpy-sr-x2")
    lr = imresize(hr, size=(48, 48)).astype(np.float32)
    out = quantize(network.forward(lr[None])[0])
    sample = result.samples[0]
    assert sample.scores["darkpy-sr-x2"].psnr == pytest.approx(psnr_y(out, hr, 2), abs=0.01)
    assert sample.scores["darkpy-sr-x2"].psnr > sample.scores["bicubic"].psnr
