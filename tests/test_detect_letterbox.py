"""darknet's resize_image / letterbox_image / load_image_color, against a loop port of image.c."""
import cv2
import numpy as np
import pytest

from darkpy.detect.letterbox import letterbox_image, letterbox_size, network_input
from darkpy.io.image import load_image
from darkpy.errors import InputError
from darkpy.kernels.resize import darknet_resize

F = np.float32


def naive_resize_chw(im, w, h):
    """image.c's resize_image, loop for loop, on a CHW float32 image."""
    c, ih, iw = im.shape
    part = np.zeros((c, ih, w), np.float32)
    w_scale = F(iw - 1) / F(w - 1)
    h_scale = F(ih - 1) / F(h - 1)
    for k in range(c):
        for r in range(ih):
            for col in range(w):
                if col == w - 1 or iw == 1:
                    val = im[k, r, iw - 1]
                else:
                    sx = F(col) * w_scale
                    ix = int(sx)
                    dx = F(sx - F(ix))
                    val = F(F(F(1) - dx) * im[k, r, ix]) + F(dx * im[k, r, ix + 1])
                part[k, r, col] = val
    out = np.zeros((c, h, w), np.float32)
    for k in range(c):
        for r in range(h):
            sy = F(r) * h_scale
            iy = int(sy)
            dy = F(sy - F(iy))
            for col in range(w):
                out[k, r, col] = F(F(1) - dy) * part[k, iy, col]
            if r == h - 1 or ih == 1:
                continue
            for col in range(w):
                out[k, r, col] = F(out[k, r, col] + F(dy * part[k, iy + 1, col]))
    return out


@pytest.mark.parametrize("src,dst", [((7, 11), (5, 4)), ((5, 4), (13, 9)), ((9, 9), (9, 9)),
                                     ((1, 6), (3, 4)), ((6, 1), (4, 3))])
def test_resize_is_darknets_bit_for_bit(src, dst):
    rng = np.random.default_rng(3)
    im = rng.random((src[0], src[1], 3), dtype=np.float32)
    got = darknet_resize(im, dst[1], dst[0])
    want = naive_resize_chw(im.transpose(2, 0, 1).copy(), dst[1], dst[0]).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, want)


def test_resize_corners_map_to_corners_and_differs_from_opencv():
    im = np.random.default_rng(4).random((20, 30, 3), dtype=np.float32)
    out = darknet_resize(im, 13, 7)
    for r, c in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        np.testing.assert_allclose(out[r, c], im[r, c], atol=1e-6)
    # OpenCV aligns pixel centres instead of corners: not darknet's numbers
    assert np.abs(cv2.resize(im, (13, 7), interpolation=cv2.INTER_LINEAR) - out).max() > 1e-3


@pytest.mark.parametrize("image,net,new", [((576, 768), (416, 416), (416, 312)),
                                           ((768, 576), (416, 416), (312, 416)),
                                           ((100, 100), (416, 320), (320, 320)),
                                           ((424, 640), (608, 608), (608, 402))])
def test_letterbox_size_and_padding(image, net, new):
    h, w = image
    assert letterbox_size(w, h, *net) == new
    im = np.full((h, w, 3), 0.25, np.float32)
    boxed = letterbox_image(im, *net)
    assert boxed.shape == (net[1], net[0], 3)
    top, left = (net[1] - new[1]) // 2, (net[0] - new[0]) // 2
    inside = np.zeros(boxed.shape[:2], bool)
    inside[top:top + new[1], left:left + new[0]] = True
    np.testing.assert_array_equal(boxed[inside].reshape(new[1], new[0], 3), darknet_resize(im, *new))
    np.testing.assert_allclose(boxed[top:top + new[1] - 1, left:left + new[0]], 0.25, atol=1e-6)
    assert (boxed[~inside] == 0.5).all()


def test_last_row_quirk_is_kept():
    """darknet drops the second term on the last row even when float rounding leaves dy near
    1 (99 / 319 * 319 < 99): the row comes out nearly black. darknet's input has it, so ours does."""
    out = darknet_resize(np.ones((100, 100, 3), np.float32), 320, 320)
    assert out[-1].max() < 1e-4 and np.allclose(out[:-1], 1, atol=1e-6)


def test_plain_resize_option_stretches():
    im = np.random.default_rng(5).random((30, 50, 3), dtype=np.float32)
    np.testing.assert_array_equal(network_input(im, 32, 24, letterbox=False), darknet_resize(im, 32, 24))


def test_load_image_png_gray_and_alpha(tmp_path):
    rgb = np.random.default_rng(6).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), rgb[:, :, ::-1])
    np.testing.assert_array_equal(load_image(tmp_path / "c.png"), rgb.astype(np.float32) / F(255))
    gray = rgb[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    got = load_image(tmp_path / "g.png")
    assert got.shape == (9, 13, 3) and (got == (gray.astype(np.float32) / F(255))[:, :, None]).all()
    rgba = np.dstack([rgb[:, :, ::-1], np.full((9, 13), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb.astype(np.float32) / F(255))


def test_load_image_errors(tmp_path):
    with pytest.raises(InputError, match="no such image"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="cannot decode"):
        load_image(tmp_path / "bad.jpg")


def test_dog_input_is_darknets_exactly(shared):
    """load_image + letterbox_image give the very floats darknet fed its network."""
    ref = np.fromfile(shared("oracle", "yolov3-tiny", "dog.input_3x416x416.f32"), "<f4")
    ref = ref.reshape(3, 416, 416).transpose(1, 2, 0)
    got = letterbox_image(load_image(shared("images", "dog.jpg")), 416, 416)
    np.testing.assert_array_equal(got, ref)
