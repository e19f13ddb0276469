"""The stb_image-compatible JPEG decoder: its arithmetic by hand, its pixels against libjpeg."""
import cv2
import numpy as np
import pytest

from darkpy.io.jpeg import decode_jpeg
from darkpy.kernels.jpeg import _resample_row, idct_block, ycbcr_to_rgb


def exact_idct(coef):
    """The textbook 8x8 inverse DCT, +128, rounded and clamped."""
    c = np.array([np.sqrt(0.5)] + [1.0] * 7)
    k = np.arange(8)
    basis = c[None, :] * np.cos((2 * k[:, None] + 1) * k[None, :] * np.pi / 16) / 2  # [x, u]
    f = basis @ coef.reshape(8, 8).astype(np.float64) @ basis.T
    return np.clip(np.round(f + 128), 0, 255)


def run_idct(coef):
    plane = np.zeros((8, 8), np.uint8)
    idct_block(np.asarray(coef, np.int64), plane, 0, 0)
    return plane


@pytest.mark.parametrize("dc,value", [(0, 128), (80, 138), (-12, 127), (-4, 128), (2000, 255), (-2000, 0)])
def test_dc_only_block_hand_worked(dc, value):
    coef = np.zeros(64, np.int64)
    coef[0] = dc  # output = floor(dc / 8 + 1/2) + 128, clamped
    assert (run_idct(coef) == value).all()


def test_idct_within_one_level_of_the_exact_transform():
    rng = np.random.default_rng(7)
    for _ in range(200):
        coef = np.zeros(64, np.int64)
        coef[0] = rng.integers(-600, 600)
        nonzero = rng.choice(np.arange(1, 64), rng.integers(1, 20), replace=False)
        coef[nonzero] = rng.integers(-120, 120, nonzero.size)
        assert np.abs(run_idct(coef).astype(int) - exact_idct(coef)).max() <= 1


def test_ycbcr_hand_worked_and_near_the_float_formula():
    full = np.array([[[128, 0, 255, 76]], [[128, 128, 128, 85]], [[128, 128, 128, 255]]], np.int64)
    out = np.zeros((1, 4, 3), np.uint8)
    ycbcr_to_rgb(full, out)
    np.testing.assert_array_equal(out[0, :3], [[128, 128, 128], [0, 0, 0], [255, 255, 255]])
    y, cb, cr = (full[i, 0, 3] for i in range(3))
    rgb = [y + 1.402 * (cr - 128), y - 0.34414 * (cb - 128) - 0.71414 * (cr - 128), y + 1.772 * (cb - 128)]
    assert np.abs(out[0, 3].astype(float) - np.clip(rgb, 0, 255)).max() <= 1


def test_upsampling_filters_hand_worked():
    out = np.zeros(16, np.int64)
    near, far = np.array([0, 40, 80, 120]), np.array([100, 100, 100, 100])
    _resample_row(out, near, far, 4, 1, 2)  # vertical: (3 near + far + 2) >> 2
    np.testing.assert_array_equal(out[:4], [25, 55, 85, 115])
    _resample_row(out, near, far, 4, 2, 1)  # horizontal; stb weights the last pair toward w-2
    np.testing.assert_array_equal(out[:8], [0, 10, 30, 50, 70, 90, 90, 120])
    _resample_row(out, near, near, 2, 2, 2)  # both: 3x3 weights over 16
    np.testing.assert_array_equal(out[:4], [0, 10, 30, 40])
    _resample_row(out, near, far, 4, 4, 1)  # other ratios repeat samples
    np.testing.assert_array_equal(out[:8], [0, 0, 0, 0, 40, 40, 40, 40])


def smooth_image(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 90 * np.cos(yy / 7.0),
                    128 + 60 * np.sin((xx + yy) / 11.0)], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


SAMPLINGS = ["420", "422", "444", "411", "440"]


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("size", [(29, 37), (48, 64)])
def test_decoder_agrees_with_libjpeg_to_rounding(sampling, size):
    img = smooth_image(*size)
    flag = getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{sampling}")
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, flag])
    got = decode_jpeg(buf.ravel())
    ref = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(int)
    assert got.shape == img.shape and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - ref)
    if sampling == "422":
        # stb_image weights its second-to-last horizontal chroma sample the wrong way
        # (3 in[w-2] + in[w-1] at output 2(w-1)); darknet sees that column as stb makes it
        diff = np.delete(diff, 2 * ((size[1] + 1) // 2 - 1), axis=1)
    assert diff.max() <= 2 and diff.mean() < 0.3  # same coefficients, different rounding


def test_restart_intervals_gray_and_quality_100():
    img = smooth_image(40, 56)
    ok, plain = cv2.imencode(".jpg", img[:, :, ::-1])
    ok, rst = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
    np.testing.assert_array_equal(decode_jpeg(rst.ravel()), decode_jpeg(plain.ravel()))
    ok, gray = cv2.imencode(".jpg", img[:, :, 1])
    got = decode_jpeg(gray.ravel())
    assert (got == got[:, :, :1]).all()
    assert np.abs(got[:, :, 0].astype(int) - cv2.imdecode(gray, cv2.IMREAD_GRAYSCALE)).max() <= 1
    ok, q100 = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100,
                                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    assert np.abs(decode_jpeg(q100.ravel()).astype(int) - img).max() <= 4


@pytest.mark.parametrize("sampling", ["420", "444", "422"])
def test_progressive_gives_the_pixels_of_the_same_baseline_file(sampling):
    """libjpeg quantises both encodings alike: the coefficients, so the pixels, must agree."""
    img = smooth_image(61, 83).astype(int)
    img = np.clip(img + np.random.default_rng(8).integers(-30, 30, img.shape), 0, 255).astype(np.uint8)
    flag = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{sampling}")]
    ok, progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] + flag)
    ok, baseline = cv2.imencode(".jpg", img, flag)
    got = decode_jpeg(progressive.ravel())
    assert got is not None
    np.testing.assert_array_equal(got, decode_jpeg(baseline.ravel()))
    ok, gray = cv2.imencode(".jpg", img[:, :, 0], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                                  cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
    ok, gray_baseline = cv2.imencode(".jpg", img[:, :, 0])
    np.testing.assert_array_equal(decode_jpeg(gray.ravel()), decode_jpeg(gray_baseline.ravel()))


def test_unsupported_or_broken_jpegs_return_none():
    ok, buf = cv2.imencode(".jpg", smooth_image(33, 47))
    data = buf.ravel().copy()
    assert decode_jpeg(np.frombuffer(b"\xff\xd8\xff\xd9", np.uint8)) is None
    assert decode_jpeg(data[: data.size // 3]) is None  # truncated
    sof = int(np.nonzero((data[:-1] == 0xFF) & (data[1:] == 0xC0))[0][0])
    data[sof + 1] = 0xC3  # lossless: stb_image does not decode it either
    assert decode_jpeg(data) is None
    assert decode_jpeg(np.zeros(10, np.uint8)) is None


@pytest.mark.parametrize("name", ["dog", "person", "horses"])
def test_sample_images_decode_close_to_libjpeg(name, shared):
    data = np.fromfile(shared("images", f"{name}.jpg"), np.uint8)
    got = decode_jpeg(data).astype(int)
    ref = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1].astype(int)
    assert np.abs(got - ref).max() <= 4 and (got != ref).mean() < 0.15
