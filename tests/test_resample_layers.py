"""[upsample], [reorg] and [shuffler] against hand-worked numbers and ports of darknet's loops."""
import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.reorg import Reorg
from darkpy.layers.shuffler import Shuffler
from darkpy.layers.upsample import Upsample


def make(cls, options, shape):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, [shape], index=0, origin="test:1")


def nhwc(chw_batch):
    return np.ascontiguousarray(chw_batch.transpose(0, 2, 3, 1))


def chw(nhwc_batch):
    return np.ascontiguousarray(nhwc_batch.transpose(0, 3, 1, 2))


def darknet_upsample_cpu(inp, w, h, c, batch, stride, forward, scale, out):
    """blas.c upsample_cpu on flat buffers, loop for loop."""
    scale = np.float32(scale)
    for b in range(batch):
        for k in range(c):
            for j in range(h * stride):
                for i in range(w * stride):
                    in_index = b * w * h * c + k * w * h + (j // stride) * w + i // stride
                    out_index = (b * w * h * c * stride * stride + k * w * h * stride * stride
                                 + j * w * stride + i)
                    if forward:
                        out[out_index] = scale * inp[in_index]
                    else:
                        inp[in_index] += scale * out[out_index]


def darknet_upsample_layer(x_chw, stride, scale):
    """forward_upsample_layer: fill 0, then upsample_cpu forwards or (stride < 0) backwards."""
    n, c, h, w = x_chw.shape
    if stride > 0:
        out = np.zeros(n * c * h * stride * w * stride, np.float32)
        darknet_upsample_cpu(x_chw.reshape(-1), w, h, c, n, stride, 1, scale, out)
        return out.reshape(n, c, h * stride, w * stride)
    s = -stride
    out = np.zeros(n * c * (h // s) * (w // s), np.float32)
    darknet_upsample_cpu(out, w // s, h // s, c, n, s, 0, scale, x_chw.reshape(-1).copy())
    return out.reshape(n, c, h // s, w // s)


def test_upsample_hand_worked():
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    out = make(Upsample, {}, (2, 2, 1)).forward([x])  # stride 2 by default
    expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


def test_downsample_is_a_scaled_block_sum():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    layer = make(Upsample, {"stride": "-2", "scale": "0.5"}, (4, 4, 1))
    assert layer.output_shape([(4, 4, 1)]) == (2, 2, 1)
    out = layer.forward([x])
    # blocks {0,1,4,5}=10, {2,3,6,7}=18, {8,9,12,13}=42, {10,11,14,15}=50, times 0.5
    np.testing.assert_array_equal(out[0, :, :, 0], [[5, 9], [21, 25]])


@pytest.mark.parametrize(
    "c, h, w, stride, scale",
    [(3, 5, 7, 2, 1.0), (2, 3, 4, 3, 0.5), (4, 1, 1, 2, 2.0), (3, 4, 6, 1, -1.5),
     (3, 6, 9, -3, 1.0), (2, 4, 6, -2, 0.25), (5, 5, 5, -5, 1.0)],
)
def test_upsample_matches_darknet(c, h, w, stride, scale):
    rng = np.random.default_rng(0)
    x_chw = rng.standard_normal((2, c, h, w)).astype(np.float32)
    expected = darknet_upsample_layer(x_chw, stride, scale)
    layer = make(Upsample, {"stride": str(stride), "scale": str(scale)}, (h, w, c))
    x = nhwc(x_chw)
    out = layer.forward([x])
    assert out.shape[1:] == layer.output_shape([(h, w, c)])
    np.testing.assert_array_equal(out, nhwc(expected))


def test_upsample_errors():
    with pytest.raises(ConfigError, match="divisible"):
        make(Upsample, {"stride": "-2"}, (5, 4, 1))
    with pytest.raises(ConfigError, match="stride"):
        make(Upsample, {"stride": "0"}, (4, 4, 1))


def darknet_reorg_cpu(x, w, h, c, batch, stride, forward, out):
    """blas.c reorg_cpu on flat buffers, loop for loop."""
    out_c = c // (stride * stride)
    for b in range(batch):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2 = k % out_c
                    offset = k // out_c
                    w2 = i * stride + offset % stride
                    h2 = j * stride + offset // stride
                    out_index = w2 + w * stride * (h2 + h * stride * (c2 + out_c * b))
                    if forward:
                        out[out_index] = x[in_index]
                    else:
                        out[in_index] = x[out_index]


def darknet_flatten(x, size, layers, batch, forward):
    swap = np.empty_like(x)
    for b in range(batch):
        for c in range(layers):
            for i in range(size):
                i1 = b * layers * size + c * size + i
                i2 = b * layers * size + i * layers + c
                if forward:
                    swap[i2] = x[i1]
                else:
                    swap[i1] = x[i2]
    return swap


def darknet_reorg_layer(x_chw, stride, reverse, flatten=0, extra=0):
    """pjreddie's forward_reorg_layer; returns the flat output per image and its CHW shape."""
    n, c, h, w = x_chw.shape
    flat = x_chw.reshape(-1)
    if reverse:
        shape = (c // (stride * stride), h * stride, w * stride)
    else:
        shape = (c * stride * stride, h // stride, w // stride)
    if flatten:
        return darknet_flatten(flat.copy(), w * h, c, n, 0 if reverse else 1), shape
    if extra:
        out = np.zeros((n, c * h * w + extra), np.float32)
        out[:, : c * h * w] = flat.reshape(n, -1)
        return out.reshape(-1), (c * h * w + extra, 1, 1)
    out = np.empty_like(flat)
    darknet_reorg_cpu(flat, w, h, c, n, stride, 1 if reverse else 0, out)
    return out, shape


def test_reorg_hand_worked_is_darknet_order_not_textbook():
    # input CHW (4, 2, 2) holding its own flat index; stride 2 -> output (16, 1, 1)
    x_chw = np.arange(16, dtype=np.float32).reshape(1, 4, 2, 2)
    layer = make(Reorg, {"stride": "2"}, (2, 2, 4))
    out = layer.forward([nhwc(x_chw)])
    assert out.shape == (1, 1, 1, 16)
    # worked by hand from reorg_cpu(forward=0): output p reads input flat
    # q = (2i + k%2) + 4*(2j + k//2) for p = i + 2*(j + 2k)
    expected = [0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15]
    np.testing.assert_array_equal(out.ravel(), expected)


@pytest.mark.parametrize(
    "c, h, w, options",
    [
        (8, 4, 6, {"stride": "2"}),
        (4, 6, 4, {"stride": "2"}),
        (18, 3, 6, {"stride": "3"}),
        (3, 5, 3, {"stride": "1"}),
        (8, 3, 5, {"stride": "2", "reverse": "1"}),
        (9, 2, 3, {"stride": "3", "reverse": "1"}),
        (8, 4, 6, {"stride": "2", "flatten": "1"}),
        (8, 3, 5, {"stride": "2", "flatten": "1", "reverse": "1"}),
        (3, 5, 3, {"flatten": "1"}),
        (3, 5, 3, {"extra": "7"}),
    ],
)
def test_reorg_matches_darknet(c, h, w, options):
    rng = np.random.default_rng(1)
    x_chw = rng.standard_normal((2, c, h, w)).astype(np.float32)
    opt = {k: int(v) for k, v in options.items()}
    flat, shape = darknet_reorg_layer(
        x_chw, opt.get("stride", 1), opt.get("reverse", 0), opt.get("flatten", 0),
        opt.get("extra", 0)
    )
    expected = nhwc(flat.reshape(2, *shape))
    layer = make(Reorg, options, (h, w, c))
    assert layer.output_shape([(h, w, c)]) == expected.shape[1:]
    out = layer.forward([nhwc(x_chw)])
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_reorg_errors():
    with pytest.raises(ConfigError, match="divisible by 2"):
        make(Reorg, {"stride": "2"}, (5, 4, 4))
    with pytest.raises(ConfigError, match="stride\\^2"):
        make(Reorg, {"stride": "2"}, (4, 4, 6))
    with pytest.raises(ConfigError, match="flatten and extra"):
        make(Reorg, {"flatten": "1", "extra": "2"}, (4, 4, 4))


def naive_pixel_shuffle(x, r):
    n, h, w, c_in = x.shape
    c = c_in // (r * r)
    out = np.empty((n, h * r, w * r, c), np.float32)
    for b in range(n):
        for y in range(h):
            for xx in range(w):
                for k in range(c):
                    for i in range(r):
                        for j in range(r):
                            out[b, y * r + i, xx * r + j, k] = x[b, y, xx, k * r * r + i * r + j]
    return out


def test_shuffler_hand_worked():
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 1, 1, 4)
    out = make(Shuffler, {"scale": "2"}, (1, 1, 4)).forward([x])
    np.testing.assert_array_equal(out[0, :, :, 0], [[1, 2], [3, 4]])


@pytest.mark.parametrize("h, w, c, r", [(3, 5, 2, 2), (2, 3, 3, 3), (4, 4, 1, 4), (3, 2, 5, 1)])
def test_shuffler_matches_naive_loop(h, w, c, r):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, h, w, c * r * r)).astype(np.float32)
    layer = make(Shuffler, {"scale": str(r)}, (h, w, c * r * r))
    assert layer.output_shape([(h, w, c * r * r)]) == (h * r, w * r, c)
    np.testing.assert_array_equal(layer.forward([x]), naive_pixel_shuffle(x, r))


@pytest.mark.parametrize("h, w, c, r", [(3, 5, 2, 2), (2, 3, 17, 2), (2, 3, 3, 3), (4, 4, 1, 4)])
def test_shuffler_backward_is_the_inverse_permutation(h, w, c, r):
    # the gradient of a permutation sends each output cell's delta back to the input cell
    # it was copied from: the naive loop's index pairs, read the other way
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, h, w, c * r * r)).astype(np.float32)
    layer = make(Shuffler, {"scale": str(r)}, (h, w, c * r * r))
    delta = rng.standard_normal((2, h * r, w * r, c)).astype(np.float32)
    expected = np.empty_like(x)
    for b in range(2):
        for y in range(h):
            for xx in range(w):
                for k in range(c):
                    for i in range(r):
                        for j in range(r):
                            expected[b, y, xx, k * r * r + i * r + j] = delta[b, y * r + i,
                                                                                xx * r + j, k]
    (dx,) = layer.backward(delta, [x], layer.forward([x]))
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("r", [2, 3])
def test_shuffler_matches_torch_pixel_shuffle(r):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x_chw = rng.standard_normal((2, 3 * r * r, 4, 5)).astype(np.float32)
    expected = torch.nn.PixelShuffle(r)(torch.from_numpy(x_chw)).numpy()
    out = make(Shuffler, {"scale": str(r)}, (4, 5, 3 * r * r)).forward([nhwc(x_chw)])
    np.testing.assert_array_equal(chw(out), expected)


def test_shuffler_errors():
    with pytest.raises(ConfigError, match="divisible"):
        make(Shuffler, {"scale": "2"}, (4, 4, 6))
