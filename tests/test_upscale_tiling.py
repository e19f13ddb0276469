"""Receptive-field halo, tiled inference (= untiled), memory planning and self-ensemble."""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

import darkpy
from darkpy.upscale.halo import NotTileable, analyse, infer_scale
from darkpy.upscale.pipeline import upscale_array, upscale_float
from darkpy.upscale.tiling import TilePlan, peak_bytes, plan_tiles, run_tiled
from upscale_nets import (
    STRIDED_SR, STRIDED_SR_HALO, TINY_SR, TINY_SR_HALO, nearest, nearest_network, random_network, write,
)


def assert_same_up_to_rounding(got, want):
    """Tiles and the whole image may run different convolution algorithms (Winograd on
    different tile grids, or im2col): their float32 rounding differs by a few units in the
    last place of the largest values."""
    assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()


@pytest.fixture
def tiny(tmp_path):
    return random_network(tmp_path)


@pytest.fixture
def image():
    return np.random.default_rng(1).uniform(0, 255, (37, 45, 3)).astype(np.float32)


def test_geometry_of_tiny_sr_is_hand_worked(tiny):
    g = analyse(tiny)
    assert (g.scale, g.halo, g.align, g.reach) == (2, TINY_SR_HALO, 1, Fraction(4))


def test_geometry_with_downsampling_inside(tmp_path):
    net = random_network(tmp_path, STRIDED_SR)
    g = analyse(net)
    assert (g.scale, g.align, g.reach, g.halo) == (2, 2, Fraction(5), STRIDED_SR_HALO)


@pytest.mark.parametrize("tile", [1, 5, 8, 16])
def test_tiled_equals_untiled(tiny, image, tile):
    whole = tiny.forward(image[None])[0]
    tiled = upscale_float(tiny, image, tile=tile)
    assert tiled.shape == (74, 90, 3) == whole.shape
    assert_same_up_to_rounding(tiled, whole)


@pytest.mark.parametrize("tile", [2, 6, 10])
def test_tiled_equals_untiled_with_strided_layers(tmp_path, tile):
    net = random_network(tmp_path, STRIDED_SR, seed=3)
    image = np.random.default_rng(2).uniform(0, 255, (30, 38, 3)).astype(np.float32)
    whole = net.forward(image[None])[0]
    tiled = upscale_float(net, image, tile=tile)
    assert_same_up_to_rounding(tiled, whole)


def test_a_smaller_halo_breaks_the_stitching(tiny, image):
    """The halo is needed in full: one pixel less and the seams show."""
    g = analyse(tiny)
    short = dataclasses.replace(g, halo=g.halo - 1)
    whole = tiny.forward(image[None])[0]
    bad = run_tiled(tiny, image, short, TilePlan(8, 8))
    good = run_tiled(tiny, image, g, TilePlan(8, 8))
    assert_same_up_to_rounding(good, whole)
    assert np.abs(bad - whole).max() > 1e-2


def test_memory_budget_picks_tiles_and_stays_exact(tiny, image):
    g = analyse(tiny)
    budget = peak_bytes(tiny, 14, 14)
    plan = plan_tiles(tiny, g, 37, 45, memory=budget)
    assert plan.count(37, 45) > 1
    # every padded tile fits the budget
    for y0, y1, x0, x1 in plan.spans(37, 45):
        h = min(37, y1 + g.halo) - max(0, y0 - g.halo)
        w = min(45, x1 + g.halo) - max(0, x0 - g.halo)
        assert peak_bytes(tiny, h, w) <= budget
    assert plan_tiles(tiny, g, 37, 45) == TilePlan(37, 45)  # the default budget: whole image
    whole = tiny.forward(image[None])[0]
    assert_same_up_to_rounding(upscale_float(tiny, image, memory=budget), whole)


def test_peak_bytes_follows_the_freeing_schedule(tmp_path):
    net = random_network(tmp_path)
    h, w = 5, 7
    px = h * w * 4
    # channels alive after each layer runs (the input stays alive; an output is freed once its
    # last consumer ran): conv0 is kept until the shortcut; after the x2 shuffle a 3-channel
    # map has 4x the pixels, so it counts as 12
    sizes = {
        "ms": 3, "c0": 8, "c1": 8, "sc": 8, "c2": 12, "sh": 3 * 4, "c3": 3 * 4, "ms2": 3 * 4,
    }
    steps = [
        3 + sizes["ms"],                       # input + mean_shift
        3 + sizes["ms"] + sizes["c0"],          # conv0 runs; mean_shift freed after
        3 + sizes["c0"] + sizes["c1"],
        3 + sizes["c0"] + sizes["c1"] + sizes["sc"],
        3 + sizes["sc"] + sizes["c2"],
        3 + sizes["c2"] + sizes["sh"],
        3 + sizes["sh"] + sizes["c3"],
        3 + sizes["c3"] + sizes["ms2"],
    ]
    assert peak_bytes(net, h, w) == max(steps) * px


def test_untileable_network_runs_whole_with_a_warning(tmp_path):
    text = TINY_SR.replace("[shuffler]\nscale=2\n", "[shuffler]\nscale=2\n\n[softmax]\ngroups=1\n")
    net = random_network(tmp_path, text)
    with pytest.raises(NotTileable, match="softmax"):
        analyse(net)
    assert infer_scale(net) == 2
    image = np.random.default_rng(0).uniform(0, 255, (9, 11, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="cannot be tiled"):
        out = upscale_float(net, image, tile=4)
    assert np.abs(out - net.forward(image[None])[0]).max() <= 1e-6


def test_not_an_upscaler(tmp_path):
    text = "[net]\nwidth=8\nheight=8\nchannels=3\n\n[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\n"
    net = darkpy.load(write(tmp_path, text))
    with pytest.raises(darkpy.DarkpyError, match="not an upscaling network"):
        analyse(net)


def test_self_ensemble_is_the_mean_of_the_eight_transforms(tiny, image):
    img = image[:13, :10]
    expected = np.zeros((26, 20, 3), np.float64)
    for flip in (False, True):
        for k in range(4):
            x = img[:, ::-1] if flip else img
            x = np.rot90(x, k)
            y = tiny.forward(np.ascontiguousarray(x)[None])[0]
            y = np.rot90(y, -k)
            expected += y[:, ::-1] if flip else y
    expected /= 8
    got = upscale_float(tiny, img, ensemble=True, tile=4)
    assert_same_up_to_rounding(got, expected)
    plain = upscale_float(tiny, img)
    assert np.abs(got - plain).max() > 1e-2  # a random net is not rotation-equivariant


def test_progress_counts_tiles(tiny, image):
    calls = []
    upscale_float(tiny, image, tile=16, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 9) for i in range(1, 10)]  # ceil(37/16) * ceil(45/16)
    calls.clear()
    upscale_float(tiny, image[:20], tile=16, ensemble=True, progress=lambda d, t: calls.append((d, t)))
    # 20x45: 2*3 tiles upright, 3*2 on its side: 8 passes of 6
    assert calls[-1] == (48, 48)


def test_uint16_grayscale_nearest_round_trip(tmp_path):
    net = nearest_network(tmp_path)
    gray = np.random.default_rng(0).integers(0, 65536, (9, 14), dtype=np.uint16)
    out = upscale_array(net, gray, tile=4)
    assert out.dtype == np.uint16 and out.shape == (18, 28)
    assert np.array_equal(out, nearest(gray))
    rgb = upscale_array(net, gray, channel="all")
    assert rgb.shape == (18, 28, 3) and np.array_equal(rgb[:, :, 1], nearest(gray))


def test_grayscale_channel_choice(tmp_path):
    """Gray goes in as three equal channels; `channel` picks what comes out."""
    net = nearest_network(tmp_path)
    conv = net.layers[0]
    weights = conv.get_param("weights").copy()
    weights[4:8] *= 0.5          # output channel 1 = half the input
    weights[8:12] = 0.0          # output channel 2 = 0
    conv.set_param("weights", weights)
    gray = np.full((3, 4), 200, np.uint8)
    assert np.all(upscale_array(net, gray, channel="0") == 200)
    assert np.all(upscale_array(net, gray, channel="1") == 100)
    assert np.all(upscale_array(net, gray, channel="2") == 0)
    assert np.all(upscale_array(net, gray) == 100)  # mean of 200, 100, 0
    with pytest.raises(darkpy.DarkpyError, match="channel"):
        upscale_array(net, gray, channel="3")


def test_rgba_alpha_is_resized_beside_the_network(tmp_path):
    net = nearest_network(tmp_path)
    rgba = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    rgba[:, :, 3] = 255
    out = upscale_array(net, rgba)
    assert out.shape == (12, 10, 4) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, :3], nearest(rgba[:, :, :3]))
    assert np.all(out[:, :, 3] == 255)


def test_sizes_off_the_grid_are_an_input_error(tmp_path):
    net = random_network(tmp_path, STRIDED_SR)
    with pytest.raises(darkpy.errors.InputError, match="multiples of 2"):
        upscale_float(net, np.zeros((9, 10, 3), np.float32))
