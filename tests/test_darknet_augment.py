"""darknet's training augmentation (darkpy.train.darknet.augment / placement): HSV against
hand-worked pixels, boxes that follow the pixels, flip, letter_box, mosaic, determinism by
seed, multi-scale sizes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from darkpy.train.darknet.augment import (
    ALEXEYAB, PJREDDIE, Augmentation, classifier_input_size, distort_darknet, distort_opencv,
    hsv_to_rgb, input_size, rand_scale, rgb_to_hsv)
from darkpy.train.darknet.data import DetectionItem, DetectionSet, Problems
from darkpy.train.darknet.detection_batch import DetectionLoader
from darkpy.train.darknet.placement import classifier_crop, crop_alexeyab, place_pjreddie

F32 = np.float32


# --- colour -----------------------------------------------------------------------------------
def test_darknet_hsv_of_a_hand_worked_pixel():
    # (0.8, 0.4, 0.2): v = max = .8, s = (.8 - .2) / .8 = .75, red is the max:
    # h = (g - b) / delta / 6 = (.2 / .6) / 6 = 1/18
    hsv = rgb_to_hsv(np.array([[[0.8, 0.4, 0.2]]], F32))[0, 0]
    np.testing.assert_allclose(hsv, [1 / 18, 0.75, 0.8], rtol=1e-6)
    # dhue .1, dsat .5, dexp 1.2: h = 1/18 + .1 = .15556, s = .375, v = .96
    # 6h = .93333: sector 0, f = .93333: p = v (1 - s) = .6, t = v (1 - s (1 - f)) = .936
    # sector 0 gives r = v, g = t, b = p
    out = distort_darknet(np.array([[[0.8, 0.4, 0.2]]], F32), 0.1, 0.5, 1.2)[0, 0]
    np.testing.assert_allclose(out, [0.96, 0.936, 0.6], rtol=1e-5)


def test_darknet_hue_wraps_and_values_clip():
    # h = 1/18 + .98 > 1 wraps to .03556: still sector 0, f = .21333, s .75, v .8:
    # r = v = .8, g = t = .8 (1 - .75 .78667) = .328, b = p = .2
    out = distort_darknet(np.array([[[0.8, 0.4, 0.2]]], F32), 0.98, 1.0, 1.0)[0, 0]
    np.testing.assert_allclose(out, [0.8, 0.328, 0.2], rtol=1e-5)
    # exposure 2 takes v to 1.6: clipped to 1 (darknet's constrain_image)
    out = distort_darknet(np.array([[[0.8, 0.4, 0.2]]], F32), 0.0, 1.0, 2.0)[0, 0]
    np.testing.assert_allclose(out, [1.0, 0.8, 0.4], rtol=1e-6)
    # grey pixels stay grey: s = 0
    grey = distort_darknet(np.full((1, 1, 3), 0.3, F32), 0.3, 2.0, 1.0)[0, 0]
    np.testing.assert_allclose(grey, [0.3, 0.3, 0.3], rtol=1e-6)


def test_darknet_hsv_round_trip():
    rgb = np.random.default_rng(0).random((20, 20, 3), dtype=np.float32)
    np.testing.assert_allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=2e-6)


def test_opencv_hsv_of_a_hand_worked_pixel():
    # (204, 102, 51): V = 204, S = 255 * 153 / 204 = 191, H = 60 * 51 / 153 / 2 = 10.
    # dhue = 10 / 179: H = 20 (40 degrees): r = 204, b = 204 (1 - 191/255) = 51,
    # g = 204 (1 - .749 (1 - 40/60)) = 153
    pixel = np.array([[[204, 102, 51]]], np.uint8)
    out = distort_opencv(pixel, 10 / 179, 1.0, 1.0)[0, 0].astype(int)
    assert np.abs(out - [204, 153, 51]).max() <= 1
    # dsat .5: S = 96 (95.5 rounded to even); H 10 (20 degrees): b = 204 (1 - 96/255) = 127,
    # g = b + (r - b) * 20/60 = 153
    out = distort_opencv(pixel, 0.0, 0.5, 1.0)[0, 0].astype(int)
    assert np.abs(out - [204, 153, 127]).max() <= 1
    # dhue -.2: H = 10 - 35.8 saturates at 0 (OpenCV adds, no wrap); S = 191 * 1.3 = 248,
    # V = 204 * 1.4 = 286 saturates at 255: r = 255, g = b = 255 (1 - 248/255) = 7
    out = distort_opencv(pixel, -0.2, 1.3, 1.4)[0, 0].astype(int)
    assert np.abs(out - [255, 7, 7]).max() <= 1


def test_rand_scale_covers_both_sides():
    rng = np.random.default_rng(1)
    values = np.array([rand_scale(rng, 1.5) for _ in range(400)])
    assert values.min() >= 1 / 1.5 - 1e-6 and values.max() <= 1.5 + 1e-6
    assert (values < 1).sum() > 100 and (values > 1).sum() > 100
    assert all(rand_scale(rng, 1) == 1 for _ in range(10))


# --- geometry ---------------------------------------------------------------------------------
def _rectangle_image(w=80, h=60, box=(20, 10, 50, 40)):
    """A black image with a white rectangle x0, y0, x1, y1 and its label row."""
    image = np.zeros((h, w, 3), F32)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = 1
    label = np.array([[0, (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]],
                     F32)
    return image, label


def _check_box_covers_pixels(pixels, truth, tolerance=2.0):
    # darknet itself is off by up to ~1.5 pixels: place_image samples at x * w / nw (no
    # half-pixel centre) at int(dx), int(nw), while the boxes use the float dx, nw
    H, W = pixels.shape[:2]
    mask = pixels[..., 0] > 0.75  # the rectangle; background 0, canvas 0.5, mean fill < .75
    rows, cols = np.nonzero(mask)
    if truth[0, 2] == 0:
        assert mask.sum() < 3 * max(W, H) * 0.05 + 4  # dropped: at most a sliver was visible
        return
    x, y, w, h = truth[0, :4]
    left, right = (x - w / 2) * W, (x + w / 2) * W
    top, bottom = (y - h / 2) * H, (y + h / 2) * H
    assert rows.size, "a box but no rectangle on the canvas"
    # every rectangle pixel lies in the box, and the box is no larger than the rectangle
    assert cols.min() >= left - tolerance and cols.max() + 1 <= right + tolerance
    assert rows.min() >= top - tolerance and rows.max() + 1 <= bottom + tolerance
    assert cols.min() <= left + tolerance and cols.max() + 1 >= right - tolerance
    assert rows.min() <= top + tolerance and rows.max() + 1 >= bottom - tolerance


@pytest.mark.parametrize("lineage,extra", [
    (PJREDDIE, {}),
    (ALEXEYAB, {}),
    (ALEXEYAB, {"letter_box": True}),
    (ALEXEYAB, {"resize": 1.5}),
])
def test_boxes_follow_the_pixels(lineage, extra):
    image, label = _rectangle_image()
    aug = Augmentation(lineage=lineage, jitter=0.3, flip=True, **extra)
    place = place_pjreddie if lineage == PJREDDIE else crop_alexeyab
    flipped = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        placed = place(image, 64, 48, aug, rng)
        assert placed.pixels.shape == (48, 64, 3)
        truth = placed.truth(label, 4, rng, 1 / 64, 1 / 48)
        _check_box_covers_pixels(placed.pixels, truth)
        flipped += placed.flip
    assert 5 < flipped < 35


def test_flip_mirrors_pixels_and_boxes():
    image, label = _rectangle_image(64, 48, (4, 10, 20, 30))
    for lineage, place in ((PJREDDIE, place_pjreddie), (ALEXEYAB, crop_alexeyab)):
        aug = Augmentation(lineage=lineage, flip=True)
        seen = set()
        for seed in range(10):
            rng = np.random.default_rng(seed)
            placed = place(image, 64, 48, aug, rng)
            truth = placed.truth(label, 2, rng, 0.001, 0.001)
            expected = image[:, ::-1] if placed.flip else image
            assert np.array_equal(placed.pixels, expected)  # same size: no resampling
            x = (4 + 20) / 2 / 64
            assert truth[0, 0] == pytest.approx(1 - x if placed.flip else x, abs=1e-6)
            assert truth[0, 1:4] == pytest.approx(label[0, 2:5], abs=1e-6)
            seen.add(placed.flip)
        assert seen == {True, False}
        off = place(image, 64, 48, Augmentation(lineage=lineage, flip=False),
                    np.random.default_rng(0))
        assert not off.flip and np.array_equal(off.pixels, image)


def test_letter_box_geometry():
    # a 100 x 50 image on a 64 x 64 network: padded to 100 x 100 (25 rows of the mean colour
    # above and below), so the image covers rows 16..48 and a full-image box becomes
    # (.5, .5, 1, .5)
    image = np.full((50, 100, 3), 0.8, F32)
    image[:, :50] = 0.2  # mean 0.5
    aug = Augmentation(lineage=ALEXEYAB, letter_box=True, flip=False)
    rng = np.random.default_rng(0)
    placed = crop_alexeyab(image, 64, 64, aug, rng)
    truth = placed.truth(np.array([[0, 0.5, 0.5, 1, 1]], F32), 2, rng, 1 / 64, 1 / 64)
    np.testing.assert_allclose(truth[0, :4], [0.5, 0.5, 1, 0.5], atol=1e-6)
    px = placed.pixels
    np.testing.assert_allclose(px[:15, :, 0], 128 / 255, atol=1e-6)   # padding: the mean
    np.testing.assert_allclose(px[-15:, :, 0], 128 / 255, atol=1e-6)
    np.testing.assert_allclose(px[18:46, :30, 0], round(0.2 * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(px[18:46, 34:, 0], round(0.8 * 255) / 255, atol=1e-6)


def _solid_dataset(n=4, w=40, h=30):
    """n images of solid grey levels (k+1)/(n+1), each labelled class k over the whole image."""
    images = {Path(f"img{k}.png"): np.full((h, w, 3), (k + 1) / (n + 1), F32) for k in range(n)}
    items = [DetectionItem(p, Path(f"img{k}.txt"), np.array([[k, .5, .5, 1, 1]], F32),
                           f"list:{k + 1}") for k, p in enumerate(images)]
    return DetectionSet(items, Problems(), n), images


def test_mosaic_quadrants_and_their_boxes():
    dataset, images = _solid_dataset()
    aug = Augmentation(lineage=ALEXEYAB, mosaic=True, flip=True)
    loader = DetectionLoader(dataset, 64, 64, 8, flip=True, seed=3, flavor=ALEXEYAB,
                             load_image=lambda p: images[Path(p)], aug=aug)
    mosaics = 0
    for iteration in range(12):
        x, truth, _ = loader.batch(iteration, 2)
        for pixels, rows in zip(x, truth):
            rows = rows[rows[:, 2] > 0]
            if len(rows) < 4:
                continue  # not a mosaic this time: one image over the whole canvas
            mosaics += 1
            assert len(rows) == 4
            for x_, y_, w_, h_, cls in rows:
                left, right = (x_ - w_ / 2) * 64, (x_ + w_ / 2) * 64
                top, bottom = (y_ - h_ / 2) * 64, (y_ + h_ / 2) * 64
                # the box is one quadrant: its pixels all have the grey of its class
                inner = pixels[int(np.ceil(top)) + 1:int(bottom) - 1,
                               int(np.ceil(left)) + 1:int(right) - 1, 0]
                assert inner.size
                np.testing.assert_allclose(inner, round((cls + 1) / 5 * 255) / 255, atol=1e-6)
            # the four boxes tile the canvas
            area = (rows[:, 2] * rows[:, 3]).sum()
            assert area == pytest.approx(1.0, abs=4 / 64)
            # one box per quadrant: two left of the others' left edge, two above
            lefts = sorted((rows[:, 0] - rows[:, 2] / 2) * 64)
            tops = sorted((rows[:, 1] - rows[:, 3] / 2) * 64)
            assert lefts[1] < 1 and lefts[2] > 10 and tops[1] < 1 and tops[2] > 10
    assert 2 <= mosaics <= 22


def test_batches_are_deterministic_by_seed_and_iteration():
    dataset, _ = _solid_dataset()
    rng = np.random.default_rng(0)
    pictures = {item.image: rng.random((30, 40, 3), dtype=np.float32) for item in dataset.items}
    for lineage, extra in ((PJREDDIE, {}), (ALEXEYAB, {"mosaic": True, "letter_box": False})):
        aug = Augmentation(lineage=lineage, jitter=0.2, hue=0.1, saturation=1.5, exposure=1.5,
                           **extra)

        def loader(seed, lineage=lineage, aug=aug):
            return DetectionLoader(dataset, 32, 32, 4, flip=True, seed=seed, flavor=lineage,
                                   load_image=lambda p: pictures[Path(p)], aug=aug)
        a, b = loader(7), loader(7)
        x1, t1, i1 = a.batch(5, 3)
        a.batch(6, 3)  # other iterations in between change nothing
        x2, t2, i2 = b.batch(5, 3)
        x3, t3, _ = a.batch(5, 3)
        assert np.array_equal(x1, x2) and np.array_equal(t1, t2) and i1 == i2
        assert np.array_equal(x1, x3) and np.array_equal(t1, t3)
        x4, _, _ = loader(8).batch(5, 3)
        assert not np.array_equal(x1, x4)


def test_everything_off_feeds_a_network_size_image_through_darknets_hsv_round_trip():
    """With everything off a network-size image is fed as darknet feeds it: AlexeyAB's usual
    (OpenCV) build skips the colour step when it changes nothing, so the pixels come back
    unchanged; pjreddie's loaders and AlexeyAB's build without OpenCV run distort_image on
    every image anyway, whose float RGB -> HSV -> RGB round trip moves some colour pixels by
    a rounding (grey pixels, r = g = b, come back exactly). The round trip is checked against
    hsv_to_rgb(rgb_to_hsv(.)) (pjreddie's formulas, pinned to libdarknet.so below)."""
    dataset, _ = _solid_dataset(2, 32, 32)
    picture = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    round_trip = np.clip(hsv_to_rgb(rgb_to_hsv(picture)), 0, 1)  # and constrain_image
    assert not np.array_equal(round_trip, picture)  # the rounding is real on colour pixels
    np.testing.assert_allclose(round_trip, picture, atol=1e-6)
    for aug, expected in ((Augmentation(lineage=ALEXEYAB, flip=False), picture),
                          (Augmentation(lineage=PJREDDIE, flip=False), round_trip),
                          (Augmentation(lineage=ALEXEYAB, flip=False, opencv=False),
                           round_trip)):
        loader = DetectionLoader(dataset, 32, 32, 4, flip=False, seed=0, flavor=aug.lineage,
                                 load_image=lambda p: picture, aug=aug)
        x, _, _ = loader.batch(0, 2)
        assert np.array_equal(x[0], expected) and np.array_equal(x[1], expected), aug
    grey = np.repeat(picture[..., :1], 3, axis=2)
    loader = DetectionLoader(dataset, 32, 32, 4, flip=False, seed=0, flavor=PJREDDIE,
                             load_image=lambda p: grey, aug=Augmentation(flip=False))
    assert np.array_equal(loader.batch(0, 1)[0][0], grey)


# --- multi-scale --------------------------------------------------------------------------------
def test_pjreddie_multi_scale_sizes():
    aug = Augmentation(lineage=PJREDDIE, random=1)
    sizes = {input_size(aug, i, 100000, 416, 416, seed=1) for i in range(3000)}
    assert sizes <= {(d, d) for d in range(320, 609, 32)} and len(sizes) >= 8
    # one size per block of 10 iterations
    assert len({input_size(aug, i, 100000, 416, 416, 1) for i in range(20, 30)}) == 1
    assert input_size(aug, 99850, 100000, 416, 416, 1) == (608, 608)  # the last 200
    assert input_size(Augmentation(random=0), 7, 100, 416, 416, 1) == (416, 416)


def test_alexeyab_multi_scale_sizes():
    aug = Augmentation(lineage=ALEXEYAB, random=1)
    # rand_coef 1.4: round(v * 416 / 32 + 1) * 32 for v in [1/1.4, 1.4]; shrinking never
    # grows past 416
    largest = int(np.floor(1.4 * 416 / 32 + 1.5)) * 32
    assert input_size(aug, 3, 10000, 416, 416, 1) == (largest, largest)  # the first block
    assert input_size(aug, 9950, 10000, 416, 416, 1) == (largest, largest)  # the last 100
    sizes = {input_size(aug, i, 10000, 416, 416, 1) for i in range(10, 5000, 10)}
    sides = {w for w, h in sizes}
    assert all(w == h and w % 32 == 0 for w, h in sizes)
    assert min(sides) >= int(np.floor(416 / 1.4 / 32 + 1.5)) * 32 and max(sides) <= largest
    assert len(sides) >= 5


# --- classifier crops ---------------------------------------------------------------------------
def test_classifier_crop_without_augmentation_is_the_image_or_its_mirror():
    # ... through darknet's HSV round trip, which runs on every classifier image
    image = np.random.default_rng(0).random((24, 24, 3), dtype=np.float32)
    aug = Augmentation(min_crop=24, max_crop=24)
    same = distort_darknet(image, 0.0, 1.0, 1.0)
    assert not np.array_equal(same, image)  # the round trip moves some pixels by an ulp
    np.testing.assert_allclose(same, image, atol=1e-6)
    flips = set()
    for seed in range(8):
        crop = classifier_crop(image, 24, aug, np.random.default_rng(seed))
        mirrored = np.array_equal(crop, same[:, ::-1])
        assert np.array_equal(crop, same) or mirrored
        flips.add(mirrored)
    assert flips == {True, False}
    unflipped = Augmentation(min_crop=24, max_crop=24, flip=False)
    for seed in range(4):
        assert np.array_equal(classifier_crop(image, 24, unflipped, np.random.default_rng(seed)),
                              same)


def test_classifier_crop_scales_to_the_shorter_side():
    # a 40 x 20 image, crop side 10 drawn from [10, 10]: scale 0.5, the crop sees a 20 x 20
    # window at a random horizontal offset within the image
    image = np.zeros((20, 40, 3), F32)
    image[:, :, 0] = np.arange(40, dtype=F32)[None, :] / F32(40)  # colours stay in 0..1
    aug = Augmentation(min_crop=10, max_crop=10)
    crop = classifier_crop(image, 10, aug, np.random.default_rng(0))
    assert crop.shape == (10, 10, 3)
    row = crop[5, :, 0]
    steps = np.abs(np.diff(row))
    np.testing.assert_allclose(steps, 2 / 40, atol=1e-6)  # each crop pixel: 2 source pixels


def test_pjreddie_classifier_multi_scale_sizes():
    aug = Augmentation(random=1)
    sides = {classifier_input_size(aug, i, 224, seed=2) for i in range(0, 4000, 40)}
    assert sides <= set(range(128, 449, 32)) and len(sides) >= 8
    assert len({classifier_input_size(aug, i, 224, 2) for i in range(80, 120)}) == 1
    assert classifier_input_size(Augmentation(), 5, 224, 2) == 224


# --- against darknet's own primitives ------------------------------------------------------------
FIXTURES = Path(__file__).parent / "fixtures" / "darknet_augment"


def _oracle_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "darknet_augment_oracle", Path(__file__).parents[1] / "tools" / "darknet_augment_oracle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recorded(name):
    with np.load(FIXTURES / name) as npz:
        return {k: npz[k] for k in npz.files}


def test_primitives_match_pjreddie_darknet():
    """distort_image, place_image and rotate_crop_image as pjreddie's libdarknet.so computes
    them (recorded by tools/darknet_augment_oracle.py; darknet's -Ofast build reassociates
    float sums, hence the ~1e-6 tolerance rather than bit equality)."""
    module = _oracle_tool()
    recorded = _recorded("pjreddie.npz")
    assert len(recorded) == 1 + len(module.DISTORTIONS) + len(module.PLACEMENTS) + len(
        module.ROTATIONS)
    assert module.compare(recorded) < 2e-6


def test_boxes_match_alexeyab_darknet():
    """AlexeyAB's fill_truth_detection (crop offsets, scales, flips, one-pixel minimum) and
    blend_truth_mosaic (each quadrant, with and without mosaic_bound) on random boxes, as its
    compiled code gives them (tools/darknet_augment_oracle.py --alexeyab): the same boxes
    kept, the same values to an ulp or two (-Ofast turns darknet's divisions into
    reciprocal multiplications)."""
    module = _oracle_tool()
    recorded = _recorded("alexeyab.npz")
    assert len(recorded) == 3 * module.FILL_CASES + 4 * module.MOSAIC_CASES
    assert module.compare_alexeyab(recorded) < 1e-7


def test_lineage_follows_the_keys_only_alexeyab_reads(tmp_path):
    from darkpy.api import read_sections
    from darkpy.network import Network
    from darkpy.train.darknet.augment import lineage_of

    base = ("[net]\nwidth=32\nheight=32\nchannels=3\n{net}\n[convolutional]\nfilters=14\n"
            "size=1\nstride=1\nactivation=linear\n\n[yolo]\nmask=0,1\nanchors=8,8, 16,16\n"
            "classes=2\nnum=2\n{head}\n")
    cases = {("hue=.1", "jitter=.3"): PJREDDIE, ("mosaic=1", ""): ALEXEYAB,
             ("", "iou_loss=ciou"): ALEXEYAB, ("", "scale_x_y=1.05"): ALEXEYAB}
    for (net, head), want in cases.items():
        path = tmp_path / "x.cfg"
        path.write_text(base.format(net=net, head=head))
        assert lineage_of(Network(read_sections(path), init=False)) == want, (net, head)
