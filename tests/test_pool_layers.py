"""[maxpool] and [avgpool] against hand-worked numbers and a port of darknet's CHW loops."""
import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.avgpool import AvgPool
from darkpy.layers.maxpool import MaxPool

FLT_MAX = np.float32(np.finfo(np.float32).max)


def make(cls, options, shape):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, [shape], index=0, origin="test:1")


def nhwc(chw_batch):
    return np.ascontiguousarray(chw_batch.transpose(0, 2, 3, 1))


def c_div(a, b):
    return int(a / b)  # C truncates toward zero


def darknet_maxpool_chw(x, size, stride_x, stride_y, pad):
    """forward_maxpool_layer of darknet, loop for loop, on an (n, c, h, w) array."""
    n, c, h, w = x.shape
    out_h = c_div(h + pad - size, stride_y) + 1
    out_w = c_div(w + pad - size, stride_x) + 1
    off = c_div(-pad, 2)
    out = np.empty((n, c, out_h, out_w), np.float32)
    for b in range(n):
        for k in range(c):
            for i in range(out_h):
                for j in range(out_w):
                    best = -FLT_MAX
                    for dn in range(size):
                        for dm in range(size):
                            cur_h = off + i * stride_y + dn
                            cur_w = off + j * stride_x + dm
                            valid = 0 <= cur_h < h and 0 <= cur_w < w
                            val = x[b, k, cur_h, cur_w] if valid else -FLT_MAX
                            best = val if val > best else best
                    out[b, k, i, j] = best
    return out


def test_maxpool_2x2_stride1_hand_worked():
    # darknet's default padding = size-1 = 1, all of it after the image (offset -1/2 = 0):
    # windows start at every pixel and the last row/column see only what is inside.
    x = np.array([[9, 1, 2], [3, 4, 8], [5, 7, 6]], np.float32).reshape(1, 3, 3, 1)
    layer = make(MaxPool, {"size": "2", "stride": "1"}, (3, 3, 1))
    assert layer.output_shape([(3, 3, 1)]) == (3, 3, 1)
    out = layer.forward([x])
    expected = [[9, 8, 8], [7, 8, 8], [7, 7, 6]]
    np.testing.assert_array_equal(out[0, :, :, 0], expected)
    assert layer.describe()["size"] == "2x2/1"


def test_maxpool_padding_never_wins_over_negative_values():
    x = -np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)  # -1 .. -9
    out = make(MaxPool, {"size": "2", "stride": "1"}, (3, 3, 1)).forward([x])
    expected = [[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]]  # a zero pad would have won
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


def test_maxpool_3x3_stride2_centred_padding_hand_worked():
    # size 3, stride 2, padding 2 (default) on 5x5: out = (5+2-3)/2+1 = 3, window starts at -1
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    out = make(MaxPool, {"size": "3", "stride": "2"}, (5, 5, 1)).forward([x])
    # window rows/cols {-1,0,1}, {1,2,3}, {3,4,5}: max is at the bottom-right valid cell
    expected = [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


def test_maxpool_2x2_stride2_default_padding_on_odd_input():
    # 5x5, 2x2/2, padding 1: out = (5+1-2)/2+1 = 3, the last window hangs off the edge
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    layer = make(MaxPool, {"size": "2", "stride": "2"}, (5, 5, 1))
    out = layer.forward([x])
    np.testing.assert_array_equal(out[0, :, :, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    assert layer.flops([(5, 5, 1)]) == 2 * 2 * 1 * 3 * 3


def test_maxpool_ignores_nan_and_minus_inf_like_darknet():
    x = np.array([[np.nan, 1], [-np.inf, -np.inf]], np.float32).reshape(1, 2, 2, 1)
    out = make(MaxPool, {"size": "2", "stride": "2", "padding": "0"}, (2, 2, 1)).forward([x])
    assert out[0, 0, 0, 0] == 1  # NaN > max is false, so NaN never wins
    y = np.full((1, 2, 2, 1), -np.inf, np.float32)
    out = make(MaxPool, {"size": "2", "stride": "2", "padding": "0"}, (2, 2, 1)).forward([y])
    assert out[0, 0, 0, 0] == -FLT_MAX  # darknet's starting value survives


@pytest.mark.parametrize(
    "h, w, c, options",
    [
        (7, 5, 3, {"size": "2", "stride": "1"}),
        (7, 5, 3, {"size": "2", "stride": "2"}),
        (9, 9, 2, {"size": "3", "stride": "2"}),
        (8, 6, 4, {"size": "5", "stride": "1"}),  # yolov4 SPP
        (9, 7, 2, {"size": "3", "stride": "2", "padding": "0"}),
        (9, 7, 2, {"size": "3", "stride": "1", "padding": "3"}),  # odd padding
        (10, 9, 3, {"size": "3", "stride_x": "2", "stride_y": "3"}),
        (6, 6, 5, {"stride": "3"}),  # size defaults to stride
        (4, 4, 1, {"size": "2", "stride": "1", "padding": "-1"}),  # C division of a negative
    ],
)
def test_maxpool_matches_darknet_loops(h, w, c, options):
    rng = np.random.default_rng(0)
    x_chw = rng.standard_normal((2, c, h, w)).astype(np.float32)
    layer = make(MaxPool, options, (h, w, c))
    size = int(options.get("size", options.get("stride", 1)))
    stride = int(options.get("stride", 1))
    sx = int(options.get("stride_x", stride))
    sy = int(options.get("stride_y", stride))
    pad = int(options.get("padding", size - 1))
    expected = nhwc(darknet_maxpool_chw(x_chw, size, sx, sy, pad))
    x = nhwc(x_chw)
    before = x.copy()
    out = layer.forward([x])
    assert out.shape[1:] == layer.output_shape([(h, w, c)]) == expected.shape[1:]
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(x, before)


def test_maxpool_depth_matches_darknet():
    rng = np.random.default_rng(1)
    n, c, h, w, oc = 2, 7, 3, 5, 3
    x_chw = rng.standard_normal((n, c, h, w)).astype(np.float32)
    expected = np.empty((n, oc, h, w), np.float32)
    for g in range(oc):  # max over channels g, g+oc, g+2*oc, ...
        expected[:, g] = x_chw[:, g::oc].max(axis=1)
    layer = make(MaxPool, {"maxpool_depth": "1", "out_channels": str(oc)}, (h, w, c))
    assert layer.output_shape([(h, w, c)]) == (h, w, oc)
    np.testing.assert_array_equal(layer.forward([nhwc(x_chw)]), nhwc(expected))


def test_maxpool_unsupported_and_bad_options_raise():
    with pytest.raises(ConfigError, match="antialiasing"):
        make(MaxPool, {"size": "2", "stride": "2", "antialiasing": "1"}, (4, 4, 1))
    with pytest.raises(ConfigError, match="does not fit"):
        make(MaxPool, {"size": "5", "stride": "1", "padding": "0"}, (3, 3, 1))
    with pytest.raises(ConfigError, match="test:1"):
        make(MaxPool, {"size": "0"}, (3, 3, 1))
    with pytest.raises(ConfigError, match="unknown key"):
        make(MaxPool, {"sise": "2"}, (3, 3, 1))
    # training-only key is accepted
    make(MaxPool, {"size": "2", "maxpool_zero_nonmax": "1"}, (4, 4, 1))


def test_maxpool_describes_unequal_strides():
    layer = make(MaxPool, {"size": "2", "stride_x": "2", "stride_y": "1"}, (4, 4, 1))
    assert layer.describe()["size"] == "2x2/2x1"
    assert layer.output_shape([(4, 4, 1)]) == (4, 2, 1)


def test_avgpool_hand_worked():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)
    layer = make(AvgPool, {}, (3, 3, 1))
    out = layer.forward([x])
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 5.0


def test_avgpool_matches_darknet_loop():
    rng = np.random.default_rng(2)
    n, c, h, w = 2, 37, 5, 3  # more channels than one kernel block, odd sizes
    x_chw = rng.standard_normal((n, c, h, w)).astype(np.float32)
    expected = np.empty((n, c), np.float32)
    for b in range(n):
        for k in range(c):
            acc = np.float32(0)
            for i in range(h * w):  # darknet: float sum in CHW order, then /= h*w
                acc = np.float32(acc + x_chw[b, k].reshape(-1)[i])
            expected[b, k] = acc / np.float32(h * w)
    layer = make(AvgPool, {}, (h, w, c))
    assert layer.output_shape([(h, w, c)]) == (1, 1, c)
    out = layer.forward([nhwc(x_chw)])
    np.testing.assert_array_equal(out.reshape(n, c), expected)
