"""Backward passes of the parameter-free layers, checked by central finite differences in float64.

tests/gradcheck.py uses the loss L = sum(w * forward(inputs)) with a random projection w, so the
analytic gradient is backward(w, inputs, output); each input value is nudged by +-eps and the
loss re-evaluated. Permutation layers are also checked exactly (backward undoes forward), and
darknet's tie/padding rules of maxpool and the mask semantics of dropout by hand.
"""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.avgpool import AvgPool
from darkpy.layers.dropout import Dropout
from darkpy.layers.maxpool import MaxPool
from darkpy.layers.mean_shift import MeanShift
from darkpy.layers.region import Region
from darkpy.layers.reorg import Reorg
from darkpy.layers.route import Route
from darkpy.layers.shortcut import Shortcut
from darkpy.layers.shuffler import Shuffler
from darkpy.layers.softmax import Softmax
from darkpy.layers.upsample import Upsample
from gradcheck import check_layer_gradients


def make(cls, options, shapes):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, [tuple(s) for s in shapes], index=4, origin="grad.cfg:9")


def random_inputs(shapes, seed=0, n=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *s)) for s in shapes]


# every value is checked, not a sample: one wrong index in a permutation must show
ALL_VALUES = 10**9


def check_gradients(layer, inputs, eps=1e-6, rtol=1e-6, atol=1e-8, before_forward=None):
    """Compare layer.backward with finite differences (tests/gradcheck.py, float64; it also
    checks dtypes, shapes and that neither the inputs nor delta are written)."""
    grads, _ = check_layer_gradients(layer, inputs, rtol, atol, eps=eps, max_checks=ALL_VALUES,
                                     before_forward=before_forward)
    return grads


def check_float32_backward(layer, inputs, forward=None, rtol=1e-5, atol=1e-6):
    """The float32 path stays float32 in both directions and computes what the float64 path
    (checked against finite differences) computes on the same, float32-rounded, values."""
    forward = forward or (lambda xs: layer.forward(xs))
    inputs32 = [x.astype(np.float32) for x in inputs]
    inputs64 = [x.astype(np.float64) for x in inputs32]
    out64 = forward(inputs64)
    delta = np.random.default_rng(99).standard_normal(out64.shape)
    delta[delta == 0] = 1.0
    want = layer.backward(delta, inputs64, out64)
    out = forward(inputs32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, out64, rtol=rtol, atol=atol)
    grads = layer.backward(delta.astype(np.float32), inputs32, out)
    assert len(grads) == len(inputs32)
    for g, w, x in zip(grads, want, inputs32):
        assert g.dtype == np.float32 and g.shape == x.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --- pooling -------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, shape", [
    ({"size": "2", "stride": "2"}, (5, 7, 3)),                   # odd sizes: padding on the far side
    ({"size": "3", "stride": "2"}, (7, 5, 2)),                   # overlapping windows
    ({"size": "2", "stride": "1"}, (4, 5, 2)),                   # darknet's 2x2/1 (keeps the size)
    ({"size": "3", "stride_x": "2", "stride_y": "1", "padding": "1"}, (5, 6, 3)),
    ({"size": "2", "stride": "2", "padding": "0"}, (6, 4, 17)),  # > one channel block
])
def test_maxpool_gradient(options, shape):
    layer = make(MaxPool, options, [shape])
    inputs = random_inputs([shape], seed=1)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)


def test_maxpool_depth_gradient():
    layer = make(MaxPool, {"maxpool_depth": "1", "out_channels": "3"}, [(3, 4, 8)])
    inputs = random_inputs([(3, 4, 8)], seed=2)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)


def test_maxpool_ties_go_to_the_first_cell_and_padding_never_wins():
    # one 2x2/2 window of equal values: darknet keeps the first (row-major) index
    layer = make(MaxPool, {"size": "2", "stride": "2", "padding": "0"}, [(2, 2, 1)])
    x = np.full((1, 2, 2, 1), 3.0)
    out = layer.forward([x])
    dx = layer.backward(np.full_like(out, 5.0), [x], out)[0]
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5, 0], [0, 0]])

    # 2x2/1 on 3x3 pads one row and column at the end; all values negative, so a padded -FLT_MAX
    # cell winning would lose gradient. Overlapping windows add up on the shared winner.
    layer = make(MaxPool, {"size": "2", "stride": "1"}, [(3, 3, 1)])
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # max of every window is its top-left cell
    out = layer.forward([x])
    np.testing.assert_array_equal(out[0, :, :, 0], x[0, :, :, 0])
    dx = layer.backward(np.ones_like(out), [x], out)[0]
    np.testing.assert_array_equal(dx[0, :, :, 0], np.ones((3, 3)))
    x = -np.arange(9.0, 0.0, -1).reshape(1, 3, 3, 1)  # now the max is the bottom-right cell
    out = layer.forward([x])
    dx = layer.backward(np.ones_like(out), [x], out)[0]
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [0, 1, 2], [0, 2, 4]])

    # a window lying entirely in the padding has no winner and passes no gradient
    layer = make(MaxPool, {"size": "2", "stride": "1", "padding": "4"}, [(3, 3, 1)])
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = layer.forward([x])
    assert out[0, 0, 0, 0] == np.float32(-np.finfo(np.float32).max)
    dx = layer.backward(np.ones_like(out), [x], out)[0]
    assert dx.sum() == out[out > -1e30].size  # every real window handed its 1 to one cell


def test_maxpool_depth_ties_go_to_the_first_channel():
    layer = make(MaxPool, {"maxpool_depth": "1", "out_channels": "2"}, [(1, 1, 6)])
    x = np.array([1.0, 4.0, 1.0, 4.0, 0.0, 4.0]).reshape(1, 1, 1, 6)
    out = layer.forward([x])
    dx = layer.backward(np.array([[[[2.0, 3.0]]]]), [x], out)[0]
    np.testing.assert_array_equal(dx.ravel(), [2, 3, 0, 0, 0, 0])


def test_avgpool_gradient():
    layer = make(AvgPool, {}, [(3, 5, 4)])
    inputs = random_inputs([(3, 5, 4)], seed=3)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)


# --- shortcut and route ---------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["linear", "leaky", "tanh", "elu", "logistic"])
def test_shortcut_gradient_alpha_beta(activation):
    shapes = [(3, 5, 4), (3, 5, 4)]
    layer = make(Shortcut, {"from": "-3", "alpha": "0.7", "beta": "-1.5",
                            "activation": activation}, shapes)
    inputs = random_inputs(shapes, seed=4)
    check_gradients(layer, inputs, rtol=1e-5, atol=1e-7)
    check_float32_backward(layer, inputs)


def test_shortcut_gradient_activation_reading_its_input():
    # mish's derivative needs the pre-activation sum, which backward recomputes from the inputs.
    # Its float64 evaluation is accurate to ~1e-8 (a float32-style exp), hence the larger eps.
    shapes = [(3, 4, 3), (3, 4, 3)]
    layer = make(Shortcut, {"from": "-2", "alpha": "1.3", "beta": "0.6", "activation": "mish"},
                 shapes)
    check_gradients(layer, random_inputs(shapes, seed=5), eps=1e-4, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("prev_shape, from_shape", [
    ((6, 6, 4), (3, 3, 3)),  # from is smaller: added at every second cell, fewer channels
    ((3, 3, 2), (6, 6, 5)),  # from is larger: read at every second cell, channels cut
    ((5, 5, 3), (2, 2, 3)),  # odd sizes: sample 2, only a 2x2 grid of cells hit
    ((3, 3, 3), (7, 7, 2)),  # stride 2 into an odd-sized from
])
def test_shortcut_gradient_mismatched_shapes(prev_shape, from_shape):
    shapes = [prev_shape, from_shape]
    layer = make(Shortcut, {"from": "-4", "alpha": "0.5", "beta": "2", "activation": "leaky"},
                 shapes)
    inputs = random_inputs(shapes, seed=6)
    _, d_from = check_gradients(layer, inputs, rtol=1e-5, atol=1e-7)
    check_float32_backward(layer, inputs)
    # the cells of `from` the sum never reads get exactly zero
    h1, w1 = from_shape[:2]
    stride = max(from_shape[1] // prev_shape[1], 1)
    read = np.zeros(from_shape, bool)
    n_read = min(h1, prev_shape[0]), min(w1, prev_shape[1])
    read[: n_read[0] * stride : stride, : n_read[1] * stride : stride, : prev_shape[2]] = True
    assert np.all(d_from[:, ~read] == 0)


@pytest.mark.parametrize("groups, group_id", [(1, 0), (2, 1), (3, 0)])
def test_route_gradient(groups, group_id):
    shapes = [(3, 5, 6), (3, 5, 3 * groups), (3, 5, 6)]
    layer = make(Route, {"layers": "-1,-3,-4", "groups": str(groups), "group_id": str(group_id)},
                 shapes)
    inputs = random_inputs(shapes, seed=7)
    grads = check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)
    # channels outside the routed slice get exactly zero
    for g, s in zip(grads, shapes):
        part = s[2] // groups
        outside = np.ones(s[2], bool)
        outside[group_id * part : (group_id + 1) * part] = False
        assert np.all(g[..., outside] == 0)


# --- resampling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stride, scale, shape", [
    ("2", "1", (3, 5, 2)),
    ("3", "0.5", (2, 3, 3)),
    ("-2", "1", (6, 4, 3)),     # reverse: block sum
    ("-3", "0.25", (3, 6, 2)),
])
def test_upsample_gradient_both_directions(stride, scale, shape):
    layer = make(Upsample, {"stride": stride, "scale": scale}, [shape])
    inputs = random_inputs([shape], seed=8)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)


def naive_pixel_unshuffle(x, r):
    n, hr, wr, c = x.shape
    out = np.zeros((n, hr // r, wr // r, c * r * r))
    for y in range(hr):
        for xx in range(wr):
            for k in range(c):
                out[:, y // r, xx // r, k * r * r + (y % r) * r + xx % r] = x[:, y, xx, k]
    return out


@pytest.mark.parametrize("scale, shape", [(2, (3, 5, 8)), (3, (2, 3, 9))])
def test_shuffler_gradient_is_the_inverse_shuffle(scale, shape):
    layer = make(Shuffler, {"scale": str(scale)}, [shape])
    inputs = random_inputs([shape], seed=9)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)
    x = inputs[0].astype(np.float32)
    out = layer.forward([x])
    np.testing.assert_array_equal(layer.backward(out, [x], out)[0], x)  # exact inverse
    np.testing.assert_array_equal(layer.backward(out, [x], out)[0], naive_pixel_unshuffle(out, scale))


@pytest.mark.parametrize("options, shape", [
    ({"stride": "2"}, (4, 6, 8)),
    ({"stride": "2", "reverse": "1"}, (3, 5, 8)),
    ({"stride": "3", "reverse": "1"}, (2, 3, 18)),
    ({"stride": "2", "flatten": "1"}, (4, 2, 4)),
    ({"stride": "2", "flatten": "1", "reverse": "1"}, (3, 2, 4)),
    ({"stride": "1", "extra": "3"}, (3, 2, 2)),
])
def test_reorg_gradient_both_ways(options, shape):
    layer = make(Reorg, options, [shape])
    inputs = random_inputs([shape], seed=10)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)
    # a permutation's gradient is its inverse: backward(forward(x)) gives x back exactly
    x = inputs[0].astype(np.float32)
    out = layer.forward([x])
    np.testing.assert_array_equal(layer.backward(out, [x], out)[0], x)


# --- softmax, mean_shift -------------------------------------------------------------------------------

@pytest.mark.parametrize("options, shape", [
    ({}, (1, 1, 7)),
    ({"groups": "3", "temperature": "0.7"}, (2, 3, 2)),
    ({"temperature": "2.5"}, (3, 1, 3)),
    ({"spatial": "1"}, (3, 4, 5)),
])
def test_softmax_gradient(options, shape):
    layer = make(Softmax, options, [shape])
    inputs = random_inputs([shape], seed=11)
    check_gradients(layer, inputs, rtol=1e-5, atol=1e-9)
    check_float32_backward(layer, inputs)


@pytest.mark.parametrize("options", [
    {"mean": "1,2,3", "scale": "2.5"},
    {"mean": "1,2,3", "scale": "0.8", "reverse": "1"},
    {"mean": "4", "scale": "1"},
])
def test_mean_shift_gradient(options):
    layer = make(MeanShift, options, [(3, 5, 3)])
    inputs = random_inputs([(3, 5, 3)], seed=12)
    check_gradients(layer, inputs)
    check_float32_backward(layer, inputs)


# --- dropout --------------------------------------------------------------------------------------------

def test_dropout_gradient_with_a_fixed_mask():
    layer = make(Dropout, {"probability": "0.4"}, [(3, 5, 4)])
    state = layer.rng_state()

    def same_mask():
        layer.set_rng_state(state)  # every evaluation draws the same mask

    def forward_same_mask(xs):
        same_mask()
        return layer.forward(xs, train=True)

    inputs = random_inputs([(3, 5, 4)], seed=13)
    dx = check_gradients(layer, inputs, before_forward=same_mask)[0]
    assert 0 < np.count_nonzero(dx) < dx.size  # some values dropped, some kept
    check_float32_backward(layer, inputs, forward=forward_same_mask)


def test_dropout_mask_semantics_and_scaling():
    p = 0.3
    layer = make(Dropout, {"probability": str(p)}, [(4, 5, 3)])
    layer.reseed(42)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype(np.float32)
    x_before = x.copy()
    out = layer.forward([x], train=True)
    # darknet: r ~ U[0,1) per value; dropped when r < p, else scaled by 1/(1-p)
    r = np.random.default_rng(42).random(x.shape, dtype=np.float32)
    keep = r >= np.float32(p)
    np.testing.assert_array_equal(layer.keep_mask, keep)
    scale = np.float32(1 / (1 - p))
    np.testing.assert_array_equal(out, np.where(keep, x * scale, 0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(x, x_before)
    delta = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(delta, [x], out)[0]
    np.testing.assert_array_equal(dx, np.where(keep, delta * scale, 0))
    # an inference forward is the identity and so is the backward after it
    assert layer.forward([x]) is x
    np.testing.assert_array_equal(layer.backward(delta, [x], x)[0], delta)


def test_dropout_rng_state_resumes_exactly():
    shape = (2, 3, 3, 2)
    x = np.ones(shape, np.float32)
    layer = make(Dropout, {"probability": "0.5"}, [shape[1:]])
    layer.forward([x], train=True)
    saved = layer.rng_state()
    expected = [layer.forward([x], train=True) for _ in range(3)]
    other = make(Dropout, {"probability": "0.5"}, [shape[1:]])
    other.reseed(999)
    other.set_rng_state(saved)
    for want in expected:
        np.testing.assert_array_equal(other.forward([x], train=True), want)
    # masks change from call to call, and the default seed is reproducible
    assert not np.array_equal(expected[0], expected[1])
    fresh_a = make(Dropout, {"probability": "0.5"}, [shape[1:]]).forward([x], train=True)
    fresh_b = make(Dropout, {"probability": "0.5"}, [shape[1:]]).forward([x], train=True)
    np.testing.assert_array_equal(fresh_a, fresh_b)


# --- detection layers are inference only ------------------------------------------------------------

def test_region_takes_no_gradient_from_later_layers():
    # [yolo] and [region] train through their own loss (tests/test_yolo_loss.py,
    # tests/test_region_loss.py); nothing flows back through [region] otherwise, as in darknet
    region = make(Region, {"num": "1", "classes": "2", "anchors": "1,1"}, [(2, 2, 7)])
    x = np.zeros((1, 2, 2, 7), np.float32)
    out = region.forward([x])
    with pytest.raises(ConfigError, match=r"grad.cfg:9.*no gradient from later layers"):
        region.backward(np.ones_like(out), [x], out)
