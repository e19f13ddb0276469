"""[shortcut] and [route] against hand-worked numbers and ports of darknet's CHW loops."""
import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.route import Route
from darkpy.layers.shortcut import Shortcut


def make(cls, options, shapes):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, shapes, index=5, origin="test:1")


def nhwc(chw_batch):
    return np.ascontiguousarray(chw_batch.transpose(0, 2, 3, 1))


def leaky(v):
    return np.where(v > 0, v, np.float32(0.1) * v).astype(np.float32)


def logistic(v):
    return (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(np.float32)


def darknet_shortcut_chw(prev, add, s1, s2):
    """pjreddie's forward_shortcut_layer: out = copy(prev); shortcut_cpu(add -> out)."""
    batch, c2, h2, w2 = prev.shape
    _, c1, h1, w1 = add.shape
    out = prev.reshape(-1).copy()
    add_flat = add.reshape(-1)
    stride = w1 // w2
    sample = w2 // w1
    assert stride == h1 // h2 and sample == h2 // h1
    stride = max(stride, 1)
    sample = max(sample, 1)
    s1, s2 = np.float32(s1), np.float32(s2)
    for b in range(batch):
        for k in range(min(c1, c2)):
            for j in range(min(h1, h2)):
                for i in range(min(w1, w2)):
                    out_index = i * sample + w2 * (j * sample + h2 * (k + c2 * b))
                    add_index = i * stride + w1 * (j * stride + h1 * (k + c1 * b))
                    out[out_index] = s1 * out[out_index] + s2 * add_flat[add_index]
    return out.reshape(prev.shape)


def test_shortcut_hand_worked_alpha_beta():
    prev = np.array([1, 2, -3], np.float32).reshape(1, 1, 1, 3)
    other = np.array([10, 20, 1], np.float32).reshape(1, 1, 1, 3)
    layer = make(Shortcut, {"from": "-3", "alpha": "0.5", "beta": "2"}, [(1, 1, 3), (1, 1, 3)])
    out = layer.forward([prev, other])
    np.testing.assert_allclose(out.ravel(), [20.5, 41.0, 0.5])
    layer = make(Shortcut, {"from": "-3", "activation": "leaky"}, [(1, 1, 3), (1, 1, 3)])
    np.testing.assert_allclose(layer.forward([prev, -other]).ravel(), [-0.9, -1.8, -0.4], rtol=1e-6)


def test_shortcut_references_and_defaults():
    opts = parse_options(Section("shortcut", {"from": "-3"}), Shortcut.keys)
    assert Shortcut.references(opts) == [(-1, None), (-3, "from")]
    assert opts.activation == "linear" and opts.alpha == 1.0 and opts.beta == 1.0


@pytest.mark.parametrize(
    "prev_chw, from_chw, options, act",
    [
        ((4, 5, 7), (4, 5, 7), {}, None),
        ((4, 5, 7), (4, 5, 7), {"alpha": "0.25", "beta": "-1.5", "activation": "leaky"}, leaky),
        ((3, 4, 6), (3, 8, 12), {"activation": "logistic"}, logistic),  # from is larger: stride 2
        ((3, 8, 12), (3, 4, 6), {"alpha": "2", "beta": "0.5"}, None),  # from smaller: sample 2
        ((5, 3, 3), (2, 3, 3), {"alpha": "3"}, None),  # fewer channels in from
        ((2, 3, 3), (5, 3, 3), {"beta": "-1"}, None),  # more channels in from
        ((4, 3, 5), (2, 9, 15), {"alpha": "0.5", "activation": "leaky"}, leaky),  # stride 3
        ((2, 7, 5), (3, 3, 2), {"alpha": "-1"}, None),  # sample 2, floor ratios, uneven fit
    ],
)
def test_shortcut_matches_darknet(prev_chw, from_chw, options, act):
    rng = np.random.default_rng(0)
    prev = rng.standard_normal((2, *prev_chw)).astype(np.float32)
    add = rng.standard_normal((2, *from_chw)).astype(np.float32)
    expected = darknet_shortcut_chw(
        prev, add, float(options.get("alpha", 1)), float(options.get("beta", 1))
    )
    if act is not None:
        expected = act(expected)
    shapes = [prev_chw[1:] + prev_chw[:1], from_chw[1:] + from_chw[:1]]
    layer = make(Shortcut, {"from": "-2", **options}, shapes)
    assert layer.output_shape(shapes) == shapes[0]
    a, b = nhwc(prev), nhwc(add)
    a0, b0 = a.copy(), b.copy()
    out = layer.forward([a, b])
    np.testing.assert_allclose(out, nhwc(expected), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert out.dtype == np.float32


def test_shortcut_cells_missed_by_a_smaller_from_are_not_scaled():
    prev = np.ones((1, 2, 2, 1), np.float32)
    add = np.full((1, 1, 1, 1), 10, np.float32)
    out = make(Shortcut, {"from": "-2", "alpha": "3"}, [(2, 2, 1), (1, 1, 1)]).forward([prev, add])
    np.testing.assert_array_equal(out[0, :, :, 0], [[13, 1], [1, 1]])


def test_shortcut_errors():
    with pytest.raises(ConfigError, match="same scale factor"):
        make(Shortcut, {"from": "-2"}, [(4, 4, 3), (8, 4, 3)])
    with pytest.raises(ConfigError, match="one layer"):
        make(Shortcut, {"from": "-2,-3"}, [(4, 4, 3), (4, 4, 3), (4, 4, 3)])
    with pytest.raises(ConfigError, match="weights_type"):
        make(Shortcut, {"from": "-2", "weights_type": "per_channel"}, [(4, 4, 3), (4, 4, 3)])
    with pytest.raises(ConfigError, match="activation"):
        make(Shortcut, {"from": "-2", "activation": "leeky"}, [(4, 4, 3), (4, 4, 3)])
    with pytest.raises(ConfigError, match="from"):
        Shortcut.references(parse_options(Section("shortcut", {}), Shortcut.keys))


def darknet_route_chw(inputs, groups, group_id):
    """AlexeyAB's forward_route_layer on flat CHW buffers."""
    batch = inputs[0].shape[0]
    sizes = [x[0].size for x in inputs]
    outputs = sum(sizes) // groups
    out = np.empty((batch, outputs), np.float32)
    offset = 0
    for x, size in zip(inputs, sizes):
        part = size // groups
        flat = x.reshape(batch, -1)
        for j in range(batch):
            out[j, offset : offset + part] = flat[j, part * group_id : part * (group_id + 1)]
        offset += part
    return out


@pytest.mark.parametrize("groups, group_id", [(1, 0), (2, 0), (2, 1), (3, 2)])
def test_route_matches_darknet(groups, group_id):
    rng = np.random.default_rng(1)
    chans = [6, 3 * groups, 12]
    inputs = [rng.standard_normal((2, c, 5, 3)).astype(np.float32) for c in chans]
    shapes = [(5, 3, c) for c in chans]
    layer = make(
        Route, {"layers": "-1,-3,2", "groups": str(groups), "group_id": str(group_id)}, shapes
    )
    out_shape = layer.output_shape(shapes)
    assert out_shape == (5, 3, sum(chans) // groups)
    flat = darknet_route_chw(inputs, groups, group_id)
    expected = nhwc(flat.reshape(2, out_shape[2], 5, 3))
    out = layer.forward([nhwc(x) for x in inputs])
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous


def test_route_single_input_is_a_copy():
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)
    layer = make(Route, {"layers": "-4"}, [(2, 2, 3)])
    out = layer.forward([x])
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)
    assert Route.references(layer.opts) == [(-4, "layers")]


def test_route_yolov4_tiny_groups_hand_worked():
    # channels 0..3 at one pixel; groups=2 group_id=1 keeps the second half
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    layer = make(Route, {"layers": "-1", "groups": "2", "group_id": "1"}, [(1, 1, 4)])
    np.testing.assert_array_equal(layer.forward([x]).ravel(), [2, 3])
    assert layer.describe()["size"] == "1/2"


def test_route_errors():
    with pytest.raises(ConfigError, match=r"4x4x3, 2x2x3"):
        make(Route, {"layers": "-1,-2"}, [(4, 4, 3), (2, 2, 3)])
    with pytest.raises(ConfigError, match="group_id"):
        make(Route, {"layers": "-1", "groups": "2", "group_id": "2"}, [(4, 4, 4)])
    with pytest.raises(ConfigError, match="groups"):
        make(Route, {"layers": "-1", "groups": "2"}, [(4, 4, 3)])
    with pytest.raises(ConfigError, match="layers"):
        Route.references(parse_options(Section("route", {}), Route.keys))
