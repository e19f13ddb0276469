"""[reorg3d] against darknet's reorg kernel run on flat CHW buffers, and vs. the [reorg]s."""
import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.reorg import Reorg
from darkpy.layers.reorg3d import Reorg3d
from tests.zoo_util import check_gradients, chw_flat, make, nhwc_from_flat


def darknet_reorg_kernel(x, w, h, c, batch, stride, forward):
    """blas.c reorg_cpu: pairs flat offsets of a (c, h, w) grid and a (c/s^2, h*s, w*s) grid."""
    out = np.full(x.size, np.nan, np.float32)
    out_c = c // (stride * stride)
    for b in range(batch):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2, offset = k % out_c, k // out_c
                    w2 = i * stride + offset % stride
                    h2 = j * stride + offset // stride
                    out_index = w2 + w * stride * (h2 + h * stride * (c2 + out_c * b))
                    if forward:
                        out[out_index] = x[in_index]
                    else:
                        out[in_index] = x[out_index]
    return out


def test_reorg3d_hand_worked():
    # one 2x2 image, 1 channel: the four pixels become four channels (dy*2 + dx order)
    layer = make(Reorg3d, {"stride": 2}, [(2, 2, 1)])
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(layer.forward([x]).ravel(), [1, 2, 3, 4])


@pytest.mark.parametrize("stride", [2, 3])
def test_reorg3d_forward_is_darknets_kernel_with_output_dims(stride):
    n, h, w, c = 2, 2 * stride, 3 * stride, 3
    x = np.random.default_rng(stride).standard_normal((n, h, w, c)).astype(np.float32)
    layer = make(Reorg3d, {"stride": stride}, [(h, w, c)])
    out = layer.forward([x])
    oh, ow, oc = h // stride, w // stride, c * stride * stride
    # forward_reorg_layer (reorg3d): reorg_cpu(input, out_w, out_h, out_c, ..., forward=0)
    want = darknet_reorg_kernel(chw_flat(x).ravel(), ow, oh, oc, n, stride, forward=0)
    np.testing.assert_array_equal(out, nhwc_from_flat(want, oh, ow, oc))


def test_reorg3d_reverse_is_darknets_kernel_with_output_dims():
    n, h, w, c, s = 2, 2, 3, 32, 2
    x = np.random.default_rng(9).standard_normal((n, h, w, c)).astype(np.float32)
    layer = make(Reorg3d, {"stride": s, "reverse": 1}, [(h, w, c)])
    out = layer.forward([x])
    oh, ow, oc = h * s, w * s, c // (s * s)
    want = darknet_reorg_kernel(chw_flat(x).ravel(), ow, oh, oc, n, s, forward=1)
    assert not np.isnan(want).any()
    np.testing.assert_array_equal(out, nhwc_from_flat(want, oh, ow, oc))


def test_reorg3d_differs_from_the_reorgs():
    # the [reorg] of both forks (reorg_cpu with the INPUT's dims) is not a space-to-depth
    x = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)
    old = make(Reorg, {"stride": 2}, [(4, 4, 4)]).forward([x])
    new = make(Reorg3d, {"stride": 2}, [(4, 4, 4)]).forward([x])
    assert old.shape == new.shape and not np.array_equal(old, new)
    want_old = darknet_reorg_kernel(chw_flat(x).ravel(), 4, 4, 4, 2, 2, forward=0)
    np.testing.assert_array_equal(old, nhwc_from_flat(want_old, 2, 2, 16))


def test_reorg3d_refusals():
    with pytest.raises(ConfigError, match="divisible by 2"):
        make(Reorg3d, {"stride": 2}, [(5, 4, 3)])
    with pytest.raises(ConfigError, match="stride\\^4"):
        make(Reorg3d, {"stride": 2, "reverse": 1}, [(4, 4, 8)])


@pytest.mark.parametrize("reverse,shape", [(0, (4, 6, 2)), (1, (2, 2, 16))])
def test_reorg3d_gradients(reverse, shape):
    layer = make(Reorg3d, {"stride": 2, "reverse": reverse}, [shape])
    check_gradients(layer, [np.random.default_rng(2).standard_normal((2, *shape))])
