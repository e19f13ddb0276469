"""The SR data pipeline: the degradations (MATLAB, blur, OpenCV), patches, augmentation, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.errors import InputError
from darkpy.train import data


def _naive_downscale_x2(image):
    """OpenCV INTER_CUBIC shrinking by 2 (no antialiasing, a = -0.75): LR pixel i sits at HR
    coordinate 2i + 0.5, taps 2i-1..2i+2 weigh (-3/32, 19/32, 19/32, -3/32), edges replicated."""
    taps = np.array([-3 / 32, 19 / 32, 19 / 32, -3 / 32])
    padded = np.pad(image.astype(np.float64), ((1, 2), (1, 2), (0, 0)), mode="edge")
    h, w = image.shape[0] // 2, image.shape[1] // 2
    rows = np.zeros((h, padded.shape[1], image.shape[2]))
    for i in range(h):
        rows[i] = np.tensordot(taps, padded[2 * i:2 * i + 4], axes=(0, 0))
    out = np.zeros((h, w, image.shape[2]))
    for j in range(w):
        out[:, j] = np.tensordot(taps, rows[:, 2 * j:2 * j + 4], axes=(0, 1))
    return out


def _naive_blur(image):
    """3x3 Gaussian, sigma 1, OpenCV's default border (reflect without repeating the edge)."""
    g = np.exp(-0.5 * np.array([1.0, 0.0, 1.0]))
    g /= g.sum()
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="reflect")
    out = np.zeros(image.shape)
    for dy in range(3):
        for dx in range(3):
            out += g[dy] * g[dx] * padded[dy:dy + image.shape[0], dx:dx + image.shape[1]]
    return out


def _naive_matlab_x2(image, round_passes=False):
    """MATLAB's antialiased x2 shrink worked by hand: LR pixel i (0-based) sits at HR
    coordinate 2i + 0.5 and weighs the 8 HR pixels 2i-3..2i+4 by k(d/2)/2 for their distances
    d = 3.5 .. 0.5 .. 3.5, edges replicated (a = -0.5; see test_imresize.py for the numbers).
    `round_passes`: an 8-bit image, rounded (half up) and clipped after each axis, as MATLAB."""
    taps = 0.5 * np.array([-0.0234375, -0.0703125, 0.2265625, 0.8671875,
                           0.8671875, 0.2265625, -0.0703125, -0.0234375])
    padded = np.pad(image.astype(np.float64), ((3, 4), (3, 4), (0, 0)), mode="edge")
    h, w = image.shape[0] // 2, image.shape[1] // 2
    rows = np.stack([np.tensordot(taps, padded[2 * i:2 * i + 8], axes=(0, 0)) for i in range(h)])
    if round_passes:
        cols = np.clip(np.floor(rows + 0.5), 0, 255)
        out = np.stack([np.tensordot(taps, cols[:, 2 * j:2 * j + 8], axes=(0, 1)) for j in range(w)], axis=1)
        return np.clip(np.floor(out + 0.5), 0, 255)
    return np.stack([np.tensordot(taps, rows[:, 2 * j:2 * j + 8], axes=(0, 1)) for j in range(w)], axis=1)


def test_degrade_is_matlab_bicubic_by_default():
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (10, 14, 3)).astype(np.float32)
    lr = data.degrade(hr, 2, eight_bit=False)
    assert lr.shape == (5, 7, 3) and lr.dtype == np.float32
    np.testing.assert_allclose(lr, np.clip(_naive_matlab_x2(hr), 0, 255), atol=1e-3)


def test_degrade_opencv_is_opencv_bicubic():
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (10, 14, 3)).astype(np.float32)
    lr = data.degrade(hr, 2, "opencv", eight_bit=False)
    assert lr.shape == (5, 7, 3) and lr.dtype == np.float32
    np.testing.assert_allclose(lr, np.clip(_naive_downscale_x2(hr), 0, 255), atol=1e-3)


def test_degrade_with_blur_blurs_first_and_eight_bit_rounds():
    rng = np.random.default_rng(1)
    hr = rng.uniform(0, 255, (12, 8, 1)).astype(np.float32)
    expected = np.clip(_naive_matlab_x2(_naive_blur(hr)), 0, 255)
    np.testing.assert_allclose(data.degrade(hr, 2, "blur", eight_bit=False), expected, atol=1e-3)
    rounded = data.degrade(hr, 2, "blur", eight_bit=True)
    assert np.array_equal(rounded, np.rint(rounded))
    # 8-bit: the blurred image and each axis's pass are rounded, as MATLAB's uint8 passes are
    blurred8 = np.clip(np.rint(_naive_blur(hr)), 0, 255)
    np.testing.assert_array_equal(rounded, _naive_matlab_x2(blurred8, round_passes=True))


def test_unknown_degradation_is_a_clear_error():
    with pytest.raises(InputError, match="unknown degradation 'bilinear'.*matlab, blur, opencv"):
        data.degrade(np.zeros((8, 8, 3), np.float32), 2, "bilinear")


def test_degrade_needs_multiples_of_the_scale():
    with pytest.raises(ValueError, match="multiple"):
        data.degrade(np.zeros((9, 8, 3), np.float32), 2)


def test_image_conversion_gray_16bit_float_bool():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    im = data.image_from_array(gray)
    assert im.pixels.shape == (3, 4, 3) and im.eight_bit
    assert np.array_equal(im.pixels[:, :, 0], gray) and np.array_equal(im.pixels[:, :, 2], gray)
    deep = np.array([[0, 65535], [257, 32768]], dtype=np.uint16)
    im16 = data.image_from_array(deep)
    np.testing.assert_allclose(im16.pixels[:, :, 1], deep / 257.0, rtol=1e-6)
    assert not im16.eight_bit
    unit = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    np.testing.assert_allclose(data.image_from_array(unit).pixels[:, :, 0], unit * 255, rtol=1e-6)
    mask = np.array([[True, False]])
    assert np.array_equal(data.image_from_array(mask).pixels[0, :, 0], [255, 0])
    one = data.image_from_array(np.zeros((2, 2, 3), np.uint8), channels=1)
    assert one.pixels.shape == (2, 2, 1)
    rgba = np.zeros((2, 3, 4), np.uint8)
    assert data.image_from_array(rgba).pixels.shape == (2, 3, 3)


def _images():
    rng = np.random.default_rng(3)
    return [data.image_from_array(rng.integers(0, 256, (23, 30, 3), dtype=np.uint8), "a"),
            data.image_from_array(rng.integers(0, 65536, (17, 21), dtype=np.uint16), "b")]


def test_batches_depend_only_on_seed_and_iteration():
    one = data.PatchSampler(_images(), 2, (5, 6), seed=4)
    two = data.PatchSampler(_images(), 2, (5, 6), seed=4)
    x, y = one.batch(7, 3)
    assert x.shape == (3, 5, 6, 3) and y.shape == (3, 10, 12, 3)
    assert x.dtype == np.float32 and y.dtype == np.float32
    one.batch(0, 5)  # other draws in between change nothing
    x2, y2 = two.batch(7, 3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = one.batch(8, 3)
    x4, _ = data.PatchSampler(_images(), 2, (5, 6), seed=5).batch(7, 3)
    assert not np.array_equal(x, x3) and not np.array_equal(x, x4)


def _crops_of(image, h, w):
    out = []
    for y0 in range(image.shape[0] - h + 1):
        for x0 in range(image.shape[1] - w + 1):
            out.append(image[y0:y0 + h, x0:x0 + w])
    return out


def test_targets_are_transformed_crops_and_inputs_their_degradation():
    images = _images()
    sampler = data.PatchSampler(images, 2, (3, 3), seed=0)
    x, y = sampler.batch(0, 40)
    seen = set()
    for lr, hr in zip(x, y):
        eight_bit = None
        found = False
        for image in images:
            for t in range(8):
                back = data.dihedral(hr, (4 - t % 4) % 4) if t < 4 else \
                    np.rot90(hr[:, ::-1], -(t % 4), axes=(0, 1))
                if any(np.array_equal(back, c) for c in _crops_of(image.pixels, 6, 6)):
                    found, eight_bit = True, image.eight_bit
                    seen.add(t)
                    break
            if found:
                break
        assert found
        assert np.array_equal(lr, data.degrade(hr, 2, eight_bit=eight_bit))
    assert len(seen) >= 6  # flips and quarter turns are all drawn


def test_no_augment_keeps_orientation():
    image = data.image_from_array(np.arange(64, dtype=np.uint8).reshape(8, 8), "ramp")
    sampler = data.PatchSampler([image], 2, (2, 2), augment=False)
    _, y = sampler.batch(0, 10)
    crops = _crops_of(image.pixels, 4, 4)
    assert all(any(np.array_equal(t, c) for c in crops) for t in y)


def test_pre_upsampled_inputs_have_the_target_size():
    sampler = data.PatchSampler(_images(), 2, (8, 6), pre_upsample=True, seed=1)
    x, y = sampler.batch(0, 2)
    assert x.shape == y.shape == (2, 8, 6, 3)
    for lr, hr in zip(x, y):
        eight = np.array_equal(hr, np.rint(hr))  # image "a" is 8-bit; "b" (16-bit) is not
        expected = data.upscale_bicubic(data.degrade(hr, 2, eight_bit=eight), 2)
        np.testing.assert_allclose(lr, expected, atol=1e-4)
    with pytest.raises(InputError, match="multiple"):
        data.PatchSampler(_images(), 2, (7, 6), pre_upsample=True)


def test_small_images_are_skipped_and_too_small_everywhere_is_an_error():
    images = _images()
    sampler = data.PatchSampler(images, 2, (9, 9))  # needs 18x18: "b" (17 high) is too small
    assert sampler.skipped == ["b"] and len(sampler.images) == 1
    with pytest.raises(InputError, match="at least"):
        data.PatchSampler(images, 4, (9, 9))


def test_load_images_from_files_and_volumes(tmp_path):
    import nibabel as nib
    from darkpy.io import image as io

    rng = np.random.default_rng(5)
    io.write_image(tmp_path / "a.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    io.write_image(tmp_path / "b.png", rng.integers(0, 65536, (9, 11), dtype=np.uint16))
    volume = np.zeros((6, 7, 5), np.int16)
    volume[:, :, 1:4] = rng.integers(100, 1000, (6, 7, 3))  # slices 0 and 4 are empty
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / "v.nii.gz"))
    images = data.load_images([tmp_path])
    names = [im.name.split("/")[-1] for im in images]
    assert names == ["a.png", "b.png", "v.nii.gz[z=1]", "v.nii.gz[z=2]", "v.nii.gz[z=3]"]
    assert [im.eight_bit for im in images] == [True, False, False, False, False]
    lo, hi = volume.min(), volume.max()
    np.testing.assert_allclose(images[3].pixels[:, :, 0], (volume[:, :, 2] - lo) * 255.0 / (hi - lo), rtol=1e-5)
    with pytest.raises(InputError, match="no such"):
        data.load_images([tmp_path / "missing"])


def test_validation_scores_bicubic_against_the_hr_image():
    from darkpy import metrics

    rng = np.random.default_rng(6)
    hr = rng.integers(0, 256, (21, 26, 3), dtype=np.uint8)
    vs = data.ValidationSet([data.image_from_array(hr, "v")], 2)
    item = vs.items[0]
    assert item.hr.shape == (20, 26, 3) and item.lr.shape == (10, 13, 3)  # cropped to even sides
    # MATLAB's baseline upscales the uint8 LR image, rounding after each axis
    from darkpy.imresize import imresize
    bicubic = imresize(item.lr.astype(np.uint8), 2).astype(np.float64)
    assert vs.baseline[0][0] == pytest.approx(metrics.psnr(bicubic, item.hr, shave=2))
    unrounded = metrics.quantize(data.upscale_bicubic(item.lr, 2))
    assert vs.baseline[0][0] != pytest.approx(metrics.psnr(unrounded, item.hr, shave=2))

    class Bicubic:  # a "network" that is bicubic itself scores exactly the baseline
        def forward(self, x):
            return data.upscale_bicubic(x[0], 2, eight_bit=True)[None]

    mean, rows = vs.evaluate(Bicubic())
    assert mean.psnr == pytest.approx(mean.bicubic_psnr) and mean.ssim == pytest.approx(mean.bicubic_ssim)
    assert rows[0][0] == "v"
