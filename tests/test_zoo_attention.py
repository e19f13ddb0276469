"""[scale_channels] and [sam]: hand-worked values, darknet's flat-index loops, gradients."""
import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.sam import Sam
from darkpy.layers.scale_channels import ScaleChannels
from tests.zoo_util import check_gradients, chw_flat, make, nhwc_from_flat


def darknet_scale_channels(scales_flat, from_flat, c, h, w, scale_wh):
    """forward_scale_channels_layer's loop over the flat CHW buffers (linear activation)."""
    n = from_flat.shape[0]
    size, channel_size, batch_size = n * c * h * w, h * w, c * h * w
    src, fr = scales_flat.reshape(-1), from_flat.reshape(-1)
    out = np.empty(size, np.float32)
    for i in range(size):
        if scale_wh:
            out[i] = src[i % channel_size + (i // batch_size) * channel_size] * fr[i]
        else:
            out[i] = src[i // channel_size] * fr[i]
    return out.reshape(n, -1)


def test_scale_channels_hand_worked():
    layer = make(ScaleChannels, {"from": -2}, [(1, 1, 2), (1, 2, 2)])
    scales = np.array([2, -1], np.float32).reshape(1, 1, 1, 2)
    feature = np.array([[1, 10], [3, 30]], np.float32).reshape(1, 1, 2, 2)
    out = layer.forward([scales, feature])
    np.testing.assert_array_equal(out.reshape(2, 2), [[2, -10], [6, -30]])


@pytest.mark.parametrize("scale_wh", [0, 1])
def test_scale_channels_matches_darknet_loop(scale_wh):
    rng = np.random.default_rng(scale_wh)
    n, h, w, c = 3, 5, 3, 7
    s_shape = (h, w, 1) if scale_wh else (1, 1, c)
    scales = rng.standard_normal((n, *s_shape)).astype(np.float32)
    feature = rng.standard_normal((n, h, w, c)).astype(np.float32)
    layer = make(ScaleChannels, {"from": -3, "scale_wh": scale_wh}, [s_shape, (h, w, c)])
    out = layer.forward([scales, feature])
    want = darknet_scale_channels(chw_flat(scales), chw_flat(feature), c, h, w, scale_wh)
    np.testing.assert_array_equal(out, nhwc_from_flat(want, h, w, c))


def test_scale_channels_activation():
    layer = make(ScaleChannels, {"from": -2, "activation": "logistic"}, [(1, 1, 1), (1, 1, 1)])
    out = layer.forward([np.full((1, 1, 1, 1), 2, np.float32), np.full((1, 1, 1, 1), 1.5, np.float32)])
    np.testing.assert_allclose(out.ravel(), [1 / (1 + np.exp(-3.0))], rtol=1e-6)


def test_scale_channels_shape_errors():
    with pytest.raises(ConfigError, match="1x1x4 scales"):
        make(ScaleChannels, {"from": -2}, [(1, 1, 3), (5, 5, 4)])
    with pytest.raises(ConfigError, match="scale map"):
        make(ScaleChannels, {"from": -2, "scale_wh": 1}, [(5, 5, 2), (5, 5, 4)])
    with pytest.raises(ConfigError, match="swish or mish"):
        make(ScaleChannels, {"from": -2, "activation": "mish"}, [(1, 1, 4), (5, 5, 4)])


@pytest.mark.parametrize("scale_wh,activation", [(0, "linear"), (1, "logistic"), (0, "gelu")])
def test_scale_channels_gradients(scale_wh, activation):
    rng = np.random.default_rng(7)
    s_shape = (3, 2, 1) if scale_wh else (1, 1, 3)
    layer = make(ScaleChannels, {"from": -2, "scale_wh": scale_wh, "activation": activation},
                 [s_shape, (3, 2, 3)])
    check_gradients(layer, [rng.standard_normal((2, *s_shape)), rng.standard_normal((2, 3, 2, 3))])


def test_sam_hand_worked_and_naive():
    layer = make(Sam, {"from": -3}, [(2, 3, 4), (2, 3, 4)])
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) / 10
    f = np.full((1, 2, 3, 4), -2, np.float32)
    np.testing.assert_allclose(layer.forward([a, f]), -2 * a, rtol=0)
    rng = np.random.default_rng(3)
    a, f = (rng.standard_normal((2, 2, 3, 4)).astype(np.float32) for _ in range(2))
    want = np.empty_like(a)
    for idx in np.ndindex(*a.shape):  # forward_sam_layer: out[i] = in[i] * from[i], then f
        v = a[idx] * f[idx]
        want[idx] = v if v > 0 else np.float32(0.1) * v
    leaky = make(Sam, {"from": -3, "activation": "leaky"}, [(2, 3, 4), (2, 3, 4)])
    np.testing.assert_allclose(leaky.forward([a, f]), want, rtol=1e-6)


def test_sam_rejects_mismatch_and_has_gradients():
    with pytest.raises(ConfigError, match="same shape"):
        make(Sam, {"from": -2}, [(2, 3, 4), (2, 3, 5)])
    rng = np.random.default_rng(4)
    layer = make(Sam, {"from": -2, "activation": "tanh"}, [(2, 2, 3), (2, 2, 3)])
    check_gradients(layer, [rng.standard_normal((2, 2, 2, 3)), rng.standard_normal((2, 2, 2, 3))])
