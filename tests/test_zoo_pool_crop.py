"""[local_avgpool] and [crop]: hand-worked cases, naive loops over darknet's buffers, gradients."""
import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.crop import Crop
from darkpy.layers.local_avgpool import LocalAvgPool
from tests.zoo_util import check_gradients, make


def naive_local_avgpool(x, size, sy, sx, padding):
    n, h, w, c = x.shape
    out_h = int((h + padding - size) / sy) + 1
    out_w = int((w + padding - size) / sx) + 1
    off = -int(padding / 2)
    out = np.zeros((n, out_h, out_w, c), np.float32)
    for b, oy, ox, k in np.ndindex(n, out_h, out_w, c):
        total, count = np.float32(0), 0
        for dy in range(size):
            for dx in range(size):
                iy, ix = off + oy * sy + dy, off + ox * sx + dx
                if 0 <= iy < h and 0 <= ix < w:
                    total = np.float32(total + x[b, iy, ix, k])
                    count += 1
        out[b, oy, ox, k] = total / np.float32(count)
    return out


def test_local_avgpool_hand_worked():
    # 2x2 window, stride 1, default padding 1 (0 before, 1 after): the border keeps its value
    layer = make(LocalAvgPool, {"size": 2, "stride": 1}, [(2, 2, 1)])
    x = np.array([[1, 3], [5, 7]], np.float32).reshape(1, 2, 2, 1)
    out = layer.forward([x]).reshape(2, 2)
    np.testing.assert_array_equal(out, [[4, 5], [6, 7]])


@pytest.mark.parametrize("opts", [{"size": 3, "stride": 1}, {"size": 2, "stride": 2},
                                  {"size": 3, "stride_x": 2, "stride_y": 1, "padding": 2},
                                  {"size": 5, "stride": 3, "padding": 0}])
def test_local_avgpool_matches_naive(opts):
    x = np.random.default_rng(1).standard_normal((2, 7, 9, 3)).astype(np.float32)
    layer = make(LocalAvgPool, opts, [(7, 9, 3)])
    size = opts["size"]
    sy = opts.get("stride_y", opts.get("stride", 1))
    sx = opts.get("stride_x", opts.get("stride", 1))
    want = naive_local_avgpool(x, size, sy, sx, opts.get("padding", size - 1))
    np.testing.assert_allclose(layer.forward([x]), want, rtol=1e-6, atol=1e-7)


def test_local_avgpool_alias_and_gradients():
    from darkpy.layers.registry import REGISTRY
    assert REGISTRY["local_avg"] is LocalAvgPool is REGISTRY["local_avgpool"]
    layer = make(LocalAvgPool, {"size": 3, "stride": 2}, [(5, 4, 2)])
    check_gradients(layer, [np.random.default_rng(5).standard_normal((2, 5, 4, 2))])


def test_crop_test_time_centre_and_adjust():
    x = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6, 1) / 100
    layer = make(Crop, {"crop_height": 3, "crop_width": 2}, [(5, 6, 1)])
    out = layer.forward([x])
    # dy = (5-3)/2 = 1, dx = (6-2)/2 = 2; values mapped to 2v - 1
    np.testing.assert_allclose(out[0, :, :, 0], 2 * x[0, 1:4, 2:4, 0] - 1, rtol=1e-6)
    plain = make(Crop, {"crop_height": 3, "crop_width": 2, "noadjust": 1}, [(5, 6, 1)])
    np.testing.assert_array_equal(plain.forward([x])[0, :, :, 0], x[0, 1:4, 2:4, 0])


def naive_crop(x_chw, h, w, out_h, out_w, dh, dw, flip, scale, trans):
    """forward_crop_layer's loop on one CHW image."""
    c = x_chw.shape[0]
    out = np.empty((c, out_h, out_w), np.float32)
    for k, i, j in np.ndindex(c, out_h, out_w):
        col = w - dw - j - 1 if flip else j + dw
        out[k, i, j] = x_chw[k, i + dh, col] * scale + trans
    return out


def test_crop_training_windows_match_naive():
    x = np.random.default_rng(2).random((3, 7, 8, 2)).astype(np.float32)
    layer = make(Crop, {"crop_height": 4, "crop_width": 5, "flip": 1}, [(7, 8, 2)])
    layer.rng = np.random.default_rng(11)
    seen_flip = set()
    for _ in range(12):
        out = layer.forward([x], train=True)
        dy, dx, flipped = layer._window
        seen_flip.add(flipped)
        for b in range(3):
            want = naive_crop(x[b].transpose(2, 0, 1), 7, 8, 4, 5, dy, dx, flipped, 2, -1)
            np.testing.assert_allclose(out[b], want.transpose(1, 2, 0), rtol=1e-6)
    assert seen_flip == {True, False}


def test_crop_resize_rule_and_errors():
    layer = make(Crop, {"crop_height": 3, "crop_width": 4}, [(6, 6, 1)])
    assert layer.output_shape([(6, 6, 1)]) == (3, 4, 1)
    assert layer.output_shape([(10, 8, 1)]) == (5, 4, 1)  # both sides scale by 3/6
    with pytest.raises(ConfigError, match="cannot crop"):
        make(Crop, {"crop_height": 7, "crop_width": 4}, [(6, 6, 1)])


@pytest.mark.parametrize("flip", [0, 1])
def test_crop_gradients(flip):
    layer = make(Crop, {"crop_height": 2, "crop_width": 3, "flip": flip}, [(4, 5, 2)])
    layer.rng = np.random.default_rng(3)  # each forward draws a window; the check fixes it
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 2))
    layer.forward([x], train=True)
    window = layer._window
    original = layer.forward

    def fixed(inputs, train=False):
        layer.rng = _Fixed(window)
        return original(inputs, train)

    layer.forward = fixed
    check_gradients(layer, [x])


class _Fixed:
    """An rng that repeats one crop window: integers() answers dy, dx, then the flip."""

    def __init__(self, window):
        self.values = [window[0], window[1], int(window[2])]

    def integers(self, low, high):
        return self.values.pop(0)
