"""AlexeyAB's mixup / cutmix / mosaic (classifiers), detector mixup, blur and gaussian_noise
(darkpy.train.darknet.mixing): hand-worked small cases, the labels weighted by the pixels they
describe, determinism by seed, the boxes of both images kept."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.train.darknet.augment import ALEXEYAB, Augmentation
from darkpy.train.darknet.classifier_batch import ClassifierLoader
from darkpy.train.darknet.data import (
    ClassifierItem,
    ClassifierSet,
    DetectionItem,
    DetectionSet,
    Problems,
)
from darkpy.train.darknet.detection_batch import DetectionLoader
from darkpy.train.darknet.mixing import (
    CUTMIX,
    CUTMIX_OR_MOSAIC,
    MIXUP,
    MOSAIC,
    blend_images,
    blend_truth,
    blur_and_noise,
    blur_classifier_image,
    cutmix_pair,
    detector_mode,
    draw_cutmix,
    mix_mode,
    mixup_pair,
    mosaic_quad,
    smallest_side,
)

F32 = np.float32


# --- hand-worked primitives -----------------------------------------------------------------
def test_cutmix_of_a_4x4_pair_with_a_known_rectangle():
    first = np.zeros((4, 4, 1), F32)
    second = np.arange(1, 17, dtype=F32).reshape(4, 4, 1)
    # columns 1..2, rows 0..1 (right and bottom exclusive): 4 of 16 pixels
    x, y = cutmix_pair(first, [1, 0, 0], second, [0, 1, 0], (1, 0, 3, 2))
    expected = np.array([[0, 2, 3, 0],
                         [0, 6, 7, 0],
                         [0, 0, 0, 0],
                         [0, 0, 0, 0]], F32)
    np.testing.assert_array_equal(x[..., 0], expected)
    np.testing.assert_array_equal(y, F32([0.75, 0.25, 0]))
    assert y.dtype == F32


def test_cutmix_label_weights_are_float32_as_darknet_computes_them():
    # alpha = 6/25 in float32, beta = 1 - alpha in float32; smoothed rows mix the same way
    x, y = cutmix_pair(np.zeros((5, 5, 1)), [0.9, 0.05, 0.05], np.ones((5, 5, 1)),
                       [0.05, 0.05, 0.9], (0, 0, 2, 3))
    alpha = F32(6) / F32(25)
    beta = F32(1) - alpha
    assert y[0] == F32(0.9) * beta + F32(0.05) * alpha
    assert y[2] == F32(0.05) * beta + F32(0.9) * alpha
    assert x.sum() == 6


def test_mixup_of_a_pair_is_the_mean():
    x, y = mixup_pair(np.full((2, 2, 3), 0.2, F32), [1, 0], np.full((2, 2, 3), 0.6, F32), [0, 1])
    np.testing.assert_allclose(x, 0.4, rtol=1e-7)
    np.testing.assert_array_equal(y, [0.5, 0.5])


def test_classifier_mosaic_of_four_4x4_images():
    images = [np.full((4, 4, 1), k + 1, F32) for k in range(4)]
    rows = list(np.eye(4, dtype=F32))
    x, y = mosaic_quad(images, rows, cut_x=1, cut_y=3)
    expected = np.array([[1, 2, 2, 2],
                         [1, 2, 2, 2],
                         [1, 2, 2, 2],
                         [3, 4, 4, 4]], F32)
    np.testing.assert_array_equal(x[..., 0], expected)
    np.testing.assert_array_equal(y, F32([3, 9, 1, 3]) / F32(16))


def test_cutmix_rectangles_span_darknets_ranges():
    w, h = 10, 20
    seen_w, seen_x = set(), set()
    for seed in range(400):
        left, top, right, bottom = draw_cutmix(np.random.default_rng(seed), w, h)
        assert 3 <= right - left <= 8 and 6 <= bottom - top <= 16
        # the corner is rand_int(0, w - cut_w - 1): the rectangle never reaches the far edges
        assert left >= 0 and top >= 0 and right <= w - 1 and bottom <= h - 1
        seen_w.add(right - left)
        seen_x.add(left)
    assert seen_w == set(range(3, 9)) and seen_x == set(range(7))


@pytest.mark.parametrize("keys, code", [
    ({}, 0), ({"mixup": 1}, MIXUP), ({"cutmix": 1}, CUTMIX), ({"mosaic": 1}, MOSAIC),
    ({"cutmix": 1, "mosaic": 1}, CUTMIX_OR_MOSAIC), ({"mixup": 1, "cutmix": 1}, CUTMIX),
    ({"mixup": 1, "mosaic": 1}, MOSAIC)])
def test_mix_codes_as_alexeyabs_parser(keys, code):
    assert mix_mode(keys) == code


def test_detectors_drop_cutmix():
    assert [detector_mode(c) for c in (0, MIXUP, CUTMIX, MOSAIC, CUTMIX_OR_MOSAIC)] == \
        [0, MIXUP, 0, MOSAIC, MOSAIC]


def test_blend_truth_appends_what_fits():
    first = np.zeros((4, 5), F32)
    first[:2] = [[.1, .1, .1, .1, 0], [.2, .2, .2, .2, 1]]
    second = np.zeros((4, 5), F32)
    second[:3] = [[.3, .3, .3, .3, 2], [.4, .4, .4, .4, 3], [.5, .5, .5, .5, 4]]
    out = blend_truth(first, second)
    np.testing.assert_array_equal(out[:, 4], [0, 1, 2, 3])
    np.testing.assert_array_equal(out[2:, 0], F32([.3, .4]))


# --- blur and noise -------------------------------------------------------------------------
def test_classifier_blur_truncates_to_8_bits():
    # (unsigned char)(0.5 * 255) = 127, not the rounded 128; a flat image stays flat
    out = blur_classifier_image(np.full((20, 20, 3), 0.5, F32), 1)
    np.testing.assert_array_equal(out, F32(127) / F32(255))


def _naive_gauss3(image8):
    """3x3 Gaussian (OpenCV's sigma for ksize 3: weights 1/4, 1/2, 1/4) with reflect-101
    borders, in float."""
    k = np.array([0.25, 0.5, 0.25])
    padded = np.pad(image8.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    rows = sum(k[i] * padded[i:i + image8.shape[0]] for i in range(3))
    return sum(k[j] * rows[:, j:j + image8.shape[1]] for j in range(3))


def _stripes(w=32, h=32):
    image = np.zeros((h, w, 3), F32)
    image[:, ::2] = 1.0
    return image


def test_detector_blur_above_one_is_capped_by_the_smallest_object():
    image = _stripes()
    truth = np.zeros((4, 5), F32)
    truth[0] = [0.5, 0.5, 0.5, 0.75, 0]  # 16 x 24 network pixels: 16 // 8 = 2 -> kernel 3
    assert smallest_side(truth, 32, 32) == 16
    out = blur_and_noise(image, truth, 9, 0, np.random.default_rng(0))
    expected = _naive_gauss3(np.rint(image * 255))
    assert np.abs(out * 255 - expected).max() <= 1.0
    # without objects the cap is 0: nothing is blurred
    np.testing.assert_array_equal(blur_and_noise(image, np.zeros((4, 5), F32), 9, 0,
                                                 np.random.default_rng(0)), image)


def test_detector_background_blur_keeps_the_objects_sharp():
    image = _stripes()
    truth = np.zeros((4, 5), F32)
    truth[0] = [0.25, 0.25, 0.25, 0.25, 0]  # pixels 4..11 in x and y
    out = blur_and_noise(image, truth, 1, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(out[4:12, 4:12], image[4:12, 4:12])
    outside = np.ones((32, 32), bool)
    outside[4:12, 4:12] = False
    # a 17x17 Gaussian of 1-pixel stripes is nearly flat grey
    assert np.abs(out[outside] - 0.5).max() < 0.1


def test_gaussian_noise_only_brightens():
    image = np.full((64, 64, 3), 0.5, F32)
    out = blur_and_noise(image, np.zeros((4, 5), F32), 0, 20, np.random.default_rng(1))
    levels = np.rint(out * 255) - 128
    assert levels.min() == 0  # negative draws saturate to 0 in the 8-bit noise image
    # E[max(0, round(N(0, 20)))] = 20 / sqrt(2 pi) = 7.98; about half the draws round to > 0
    assert 7.0 < levels.mean() < 9.0
    assert 0.4 < (levels > 0).mean() < 0.55


# --- classifier batches ---------------------------------------------------------------------
N_CLASSES, SIDE = 4, 10


def _grey_set():
    """One solid grey image per class: grey (k + 1) / 8 for class k (grey survives darknet's
    HSV round trip exactly)."""
    images = {Path(f"c{k}.png"): np.full((SIDE, SIDE, 3), (k + 1) / 8, F32)
              for k in range(N_CLASSES)}
    items = [ClassifierItem(p, np.eye(N_CLASSES, dtype=F32)[k], f"list:{k + 1}")
             for k, p in enumerate(images)]
    return ClassifierSet(items, Problems(), N_CLASSES), images


def _classifier_loader(mode, seed=5, **extra):
    dataset, images = _grey_set()
    aug = Augmentation(min_crop=SIDE, max_crop=SIDE, mixup=mode, **extra)
    return ClassifierLoader(dataset, SIDE, N_CLASSES, seed, aug,
                            load_image=lambda p: images[Path(p)])


def _pixel_shares(pixels):
    """The share of the image each class's grey covers."""
    classes = np.rint(pixels[..., 0] * 8).astype(int) - 1
    return np.bincount(classes.ravel(), minlength=N_CLASSES) / classes.size


@pytest.mark.parametrize("mode", [MIXUP, CUTMIX, MOSAIC, CUTMIX_OR_MOSAIC])
def test_classifier_labels_weigh_what_the_pixels_show(mode):
    loader = _classifier_loader(mode)
    mixed = 0
    for iteration in range(8):
        x, truth, _ = loader.batch(iteration, 6)
        np.testing.assert_allclose(truth.sum(axis=1), 1.0, atol=1e-6)
        for pixels, row in zip(x, truth):
            if np.count_nonzero(row) > 1:
                mixed += 1
            if mode == MIXUP:
                # each pixel is the mean of two greys: twice it is the sum of two classes' greys
                pair = np.flatnonzero(row)
                weights = row[pair]
                grey = ((pair + 1) / 8 * (weights * 2)).sum() / 2 if len(pair) == 2 else \
                    (pair[0] + 1) / 8
                np.testing.assert_allclose(pixels, grey, atol=1e-6)
                assert set(np.round(weights, 6)) <= {0.5, 1.0}
            else:
                np.testing.assert_allclose(row, _pixel_shares(pixels), atol=1e-6)
    assert mixed > 4  # half of the batches mix (and a partner can be the same class)


def test_cutmix_region_is_one_rectangle_inside_the_ranges():
    loader = _classifier_loader(CUTMIX, seed=9)
    rectangles = 0
    for iteration in range(10):
        x, _, indices = loader.batch(iteration, 4)
        for pixels, index in zip(x, indices):
            base = np.isclose(pixels[..., 0], (index + 1) / 8)
            ys, xs = np.nonzero(~base)
            if not len(ys):
                continue
            rectangles += 1
            top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            assert (~base)[top:bottom, left:right].all()
            assert 3 <= right - left <= 8 and 3 <= bottom - top <= 8
            assert right <= SIDE - 1 and bottom <= SIDE - 1
    assert rectangles > 5


def test_classifier_mixing_is_deterministic_and_leaves_other_batches_alone():
    a, b = _classifier_loader(CUTMIX_OR_MOSAIC), _classifier_loader(CUTMIX_OR_MOSAIC)
    plain = _classifier_loader(0)
    other_seed = _classifier_loader(CUTMIX_OR_MOSAIC, seed=6)
    differs = unchanged = 0
    for iteration in range(6):
        xa, ta, ia = a.batch(iteration, 4)
        xb, tb, _ = b.batch(iteration, 4)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
        xp, tp, ip = plain.batch(iteration, 4)
        assert ia == ip  # the main images are picked and cropped as without mixing
        if np.array_equal(xa, xp):
            unchanged += 1
            np.testing.assert_array_equal(ta, tp)
        xo = other_seed.batch(iteration, 4)[0]
        differs += not np.array_equal(xo, xa)
    assert unchanged and differs


def test_classifier_blur_needs_opencv_and_blurs_one_image_in_four():
    dataset, images = _grey_set()
    images = {p: _stripes(SIDE, SIDE) for p in images}
    aug = Augmentation(min_crop=SIDE, max_crop=SIDE, flip=False, blur=3)
    loader = ClassifierLoader(dataset, SIDE, N_CLASSES, 1, aug,
                              load_image=lambda p: images[Path(p)])
    plain = ClassifierLoader(dataset, SIDE, N_CLASSES, 1, replace(aug, opencv=False),
                             load_image=lambda p: images[Path(p)])
    blurred = total = 0
    for iteration in range(10):
        x, _, _ = loader.batch(iteration, 8)
        xp, _, _ = plain.batch(iteration, 8)
        for image, reference in zip(x, xp):
            total += 1
            if not np.array_equal(image, reference):
                blurred += 1
                assert image.max() < 0.9 and image.min() > 0.1  # stripes smoothed
    assert 0.1 < blurred / total < 0.45


# --- detector mixup -------------------------------------------------------------------------
def _box_set(n=4, w=32, h=32):
    """Solid greys (k + 1) / 8, each with k + 1 small boxes of class k."""
    images = {Path(f"img{k}.png"): np.full((h, w, 3), (k + 1) / 8, F32) for k in range(n)}
    items = []
    for k, p in enumerate(images):
        boxes = np.array([[k, 0.2 + 0.15 * j, 0.5, 0.1, 0.2] for j in range(k + 1)], F32)
        items.append(DetectionItem(p, Path(f"img{k}.txt"), boxes, f"list:{k + 1}"))
    return DetectionSet(items, Problems(), n), images


def _detection_loader(aug, seed=2):
    dataset, images = _box_set()
    return DetectionLoader(dataset, 32, 32, 12, flip=aug.flip, seed=seed, flavor=ALEXEYAB,
                           load_image=lambda p: images[Path(p)], aug=aug)


@pytest.mark.parametrize("opencv", [True, False])
def test_detector_mixup_blends_two_images_and_keeps_both_boxes(opencv):
    aug = Augmentation(lineage=ALEXEYAB, flip=False, mixup=MIXUP, opencv=opencv)
    loader = _detection_loader(aug)
    plain = _detection_loader(replace(aug, mixup=0))
    blended = 0
    for iteration in range(8):
        x, truth, indices = loader.batch(iteration, 3)
        xp, tp, _ = plain.batch(iteration, 3)
        for k, index in enumerate(indices):
            own = index + 1
            rows = truth[k][truth[k][:, 0] > 0]
            if len(rows) == own:  # not blended this batch
                np.testing.assert_array_equal(x[k], xp[k])
                np.testing.assert_array_equal(truth[k], tp[k])
                continue
            blended += 1
            # twice the pixel minus the first image's grey is the second image's grey
            other = 2 * x[k] - xp[k]
            level = np.rint(other[0, 0, 0] * 8)
            np.testing.assert_allclose(other, level / 8, atol=1e-6)
            partner = int(level) - 1
            assert len(rows) == own + partner + 1
            classes = rows[:, 4].astype(int)
            first, second = (classes[:own], classes[own:]) if opencv else \
                (classes[partner + 1:], classes[:partner + 1])
            assert (first == index).all() and (second == partner).all()
            if opencv:  # the first image's rows are the plain batch's
                np.testing.assert_array_equal(rows[:own], tp[k][:own])
    assert blended >= 6


def test_detector_mixup_and_blur_are_deterministic():
    aug = Augmentation(lineage=ALEXEYAB, jitter=0.2, hue=0.1, saturation=1.5, exposure=1.5,
                       mixup=MIXUP, blur=5, gaussian_noise=10)
    a, b = _detection_loader(aug), _detection_loader(aug)
    c = _detection_loader(aug, seed=3)
    for iteration in range(3):
        xa, ta, _ = a.batch(iteration, 2)
        xb, tb, _ = b.batch(iteration, 2)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(c.batch(0, 2)[0], a.batch(0, 2)[0])


# --- the trainer ----------------------------------------------------------------------------
def _tool():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "darknet_train_oracle.py"
    spec = importlib.util.spec_from_file_location("darknet_train_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_a_classifier_with_cutmix_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from darkpy.cli import app

    tool = _tool()
    tool.classifier_set(tmp_path)
    cfg = tmp_path / "cutmix.cfg"
    cfg.write_text(tool.classifier_cfg(3).replace("[net]\n", "[net]\ncutmix=1\nmosaic=1\n"
                                                  "label_smooth_eps=0.1\n"))
    result = CliRunner().invoke(app, ["train", str(cfg), "--data", str(tmp_path / "cls.data")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "backup" / "cutmix_final.weights").is_file()
    assert "ignored" not in result.output


def test_classifier_losses_stay_finite_with_cutmix(tmp_path):
    from darkpy.train.darknet.loop import DarknetTrainer

    tool = _tool()
    tool.classifier_set(tmp_path)
    cfg = tmp_path / "cutmix.cfg"
    cfg.write_text(tool.classifier_cfg(4).replace("[net]\n", "[net]\ncutmix=1\n"))
    trainer = DarknetTrainer(cfg, tmp_path / "cls.data", clear=True, backup=tmp_path / "b")
    assert trainer.aug.mixup == CUTMIX
    losses = [trainer.step().loss for _ in range(4)]
    assert all(np.isfinite(losses)), losses


def test_even_classifier_blur_is_refused(tmp_path):
    from darkpy.train.darknet.loop import DarknetTrainer

    tool = _tool()
    tool.classifier_set(tmp_path)
    cfg = tmp_path / "blur.cfg"
    cfg.write_text(tool.classifier_cfg(1).replace("[net]\n", "[net]\nblur=4\n"))
    with pytest.raises(ConfigError, match=r"blur\.cfg:1.*blur=4.*odd"):
        DarknetTrainer(cfg, tmp_path / "cls.data", clear=True, backup=tmp_path / "b")


# --- AlexeyAB's darknet (tools/darknet_mixing_oracle.py) ------------------------------------
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "darknet_mixing.npz"


def _recorded():
    if not FIXTURE.is_file():
        pytest.skip(f"{FIXTURE.name} not recorded (tools/darknet_mixing_oracle.py --write)")
    return np.load(FIXTURE)


def _smoothed_rows(k, eps):
    """fill_truth_smooth by hand: 1 - eps on the label, eps / (k - 1) elsewhere."""
    rows = np.full((k, k), F32(eps) / F32(k - 1), F32)
    np.fill_diagonal(rows, F32(1) - F32(eps))
    return rows


def _classes(pixels, greys):
    """The class whose grey each pixel is, or None where a pixel is no class's grey."""
    match = pixels[..., None] == greys
    if not match.any(axis=-1).all():
        return None
    return match.argmax(axis=-1)


def _flat(grey, shape):
    return np.full(shape + (1,), grey, F32)


def _explain_cutmix(pixels, greys, rows):
    """darkpy's rebuild of a CutMix image from the rectangle its pixels show, or None when
    nothing shows (not mixed, or a partner of the same class)."""
    cls = _classes(pixels, greys)
    base = cls[-1, -1]  # his rectangle never reaches the last row or column
    ys, xs = np.nonzero(cls != base)
    if not len(ys):
        return None
    rect = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    partner = cls[ys[0], xs[0]]
    if not (cls[rect[1]:rect[3], rect[0]:rect[2]] == partner).all():
        return None  # not one rectangle
    x, y = cutmix_pair(_flat(greys[base], cls.shape), rows[base],
                       _flat(greys[partner], cls.shape), rows[partner], rect)
    return x[..., 0], y, rect


def _explain_mosaic(pixels, greys, rows):
    """darkpy's rebuild of a classifier mosaic from the cut its corners show, or None when
    neighbouring quadrants share a class and hide it."""
    cls = _classes(pixels, greys)
    q = [cls[0, 0], cls[0, -1], cls[-1, 0], cls[-1, -1]]

    def first_change(line, start):
        return int(np.argmax(line != start))
    cut_x = first_change(cls[0], q[0]) if q[0] != q[1] else \
        first_change(cls[-1], q[2]) if q[2] != q[3] else None
    cut_y = first_change(cls[:, 0], q[0]) if q[0] != q[2] else \
        first_change(cls[:, -1], q[1]) if q[1] != q[3] else None
    if cut_x is None or cut_y is None:
        return None
    x, y = mosaic_quad([_flat(greys[c], cls.shape) for c in q], [rows[c] for c in q],
                       cut_x, cut_y)
    return x[..., 0], y, (cut_x, cut_y)


@pytest.mark.parametrize("name", ["cutmix", "cutmix_smooth", "mosaic", "cutmix_or_mosaic"])
def test_cutmix_and_mosaic_match_alexeyabs_darknet(name):
    recorded = _recorded()
    greys = recorded["levels"].astype(F32) / F32(255)
    xs, ys = recorded[f"{name}_x"], recorded[f"{name}_y"]
    mode, eps, _ = recorded[f"{name}_case"]
    rows = _smoothed_rows(ys.shape[-1], eps)
    side = xs.shape[-1]
    rebuilt = 0
    for pixels, y in zip(xs.reshape(-1, side, side), ys.reshape(-1, ys.shape[-1])):
        explained = None
        if int(mode) in (CUTMIX, CUTMIX_OR_MOSAIC):
            explained = _explain_cutmix(pixels, greys, rows)
            if explained is not None and int(mode) == CUTMIX_OR_MOSAIC \
                    and not np.array_equal(explained[1], y):
                explained = None  # a mosaic, read as a rectangle
        if explained is None and int(mode) in (MOSAIC, CUTMIX_OR_MOSAIC):
            explained = _explain_mosaic(pixels, greys, rows)
        cls = _classes(pixels, greys)
        shares = np.bincount(cls.ravel(), minlength=len(rows)) / cls.size
        # whatever the geometry, each class weighs the share of the pixels it shows
        np.testing.assert_allclose(y, shares @ rows, atol=1e-6)
        if explained is None:
            # one class showing, or quadrants of one class hiding a cut
            assert len(np.unique(cls)) == 1 or int(mode) != CUTMIX
            continue
        x_darkpy, y_darkpy, geometry = explained
        np.testing.assert_array_equal(x_darkpy, pixels)
        np.testing.assert_array_equal(y_darkpy, y)  # the area weights, bit for bit
        if len(geometry) == 4:  # darkpy's draw_cutmix covers his rectangle
            left, _, right, bottom = geometry
            assert int(side * F32(0.3)) <= right - left <= int(side * F32(0.8))
            assert right <= side - 1 and bottom <= side - 1
        else:  # and draw_cut his mosaic's cut
            assert all(int(side * 0.2) <= c <= int(side * 0.8) for c in geometry)
        rebuilt += 1
    assert rebuilt >= 10


def test_mixup_matches_alexeyabs_darknet():
    recorded = _recorded()
    greys = recorded["levels"].astype(F32) / F32(255)
    xs, ys = recorded["mixup_x"], recorded["mixup_y"]
    side = xs.shape[-1]
    rows = _smoothed_rows(ys.shape[-1], 0.0)
    mixed = 0
    for pixels, y in zip(xs.reshape(-1, side, side), ys.reshape(-1, ys.shape[-1])):
        pair = np.flatnonzero(y)
        if len(pair) == 1:
            assert y[pair[0]] == 1 and (pixels == greys[pair[0]]).all()
            continue
        mixed += 1
        a, b = pair
        x_darkpy, y_darkpy = mixup_pair(_flat(greys[a], (side, side)), rows[a],
                                        _flat(greys[b], (side, side)), rows[b])
        np.testing.assert_array_equal(x_darkpy[..., 0], pixels)
        np.testing.assert_array_equal(y_darkpy, y)
    assert mixed >= 10


def _sorted_rows(rows):
    rows = rows[rows[:, 0] > 0]
    return rows[np.lexsort(rows.T[::-1])]


def test_detector_mixup_matches_alexeyabs_cpu_build():
    """His CPU build's load_data_detection with mixup=1: the pixels are darkpy's blend of the
    two greys bit for bit, and the boxes are both images' with the second image's first, as
    darkpy lists them with Augmentation(opencv=False); each image's own boxes are darkpy's
    placement of its labels (jitter and colour off) bit for bit."""
    from darkpy.train.darknet.placement import crop_alexeyab

    recorded = _recorded()
    greys = recorded["levels"].astype(F32) / F32(255)
    xs, ys = recorded["detection_x"], recorded["detection_y"]
    side, max_boxes = xs.shape[-1], ys.shape[-2]
    aug = Augmentation(lineage=ALEXEYAB, flip=False, mixup=MIXUP, opencv=False)

    def darkpy_rows(k):
        boxes = np.array([[k, 0.2 + 0.15 * j, 0.5, 0.1, 0.2] for j in range(k + 1)], F32)
        rng = np.random.default_rng(k)
        placed = crop_alexeyab(np.full((side, side, 3), greys[k], F32), side, side, aug, rng)
        return placed.truth(boxes, max_boxes, rng, F32(1) / F32(side), F32(1) / F32(side))

    blended = 0
    for load in range(xs.shape[0]):
        mixed_load = []
        for i in range(xs.shape[2]):
            plain, mixed = xs[load, 0, i], xs[load, 1, i]
            base = int(_classes(plain, greys)[0, 0])
            own = darkpy_rows(base)
            np.testing.assert_array_equal(_sorted_rows(ys[load, 0, i]), _sorted_rows(own))
            rows = ys[load, 1, i]
            count = int((rows[:, 0] > 0).sum())
            mixed_load.append(count > base + 1)
            if count == base + 1:
                np.testing.assert_array_equal(mixed, plain)
                continue
            blended += 1
            partner = int(np.argmin(np.abs(2 * mixed[0, 0] - plain[0, 0] - greys)))
            np.testing.assert_array_equal(
                mixed, blend_images(_flat(greys[base], (side, side)),
                                    _flat(greys[partner], (side, side)))[..., 0])
            expected = blend_truth(darkpy_rows(partner), own)  # his CPU build's order
            assert count == int((expected[:, 0] > 0).sum())
            first = partner + 1
            np.testing.assert_array_equal(_sorted_rows(rows[:first]),
                                          _sorted_rows(expected[:first]))
            for row in rows[first:count]:  # the first image's boxes, as many as fit
                assert any(np.array_equal(row, r) for r in own)
        assert len(set(mixed_load)) == 1  # one coin per load
    assert blended >= 10
