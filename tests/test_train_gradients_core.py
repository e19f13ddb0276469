"""Backward of the core layers against finite differences (float64), batch norm in training
mode against a naive numpy version, the [cost] types against hand-worked numbers, and whole
networks through Network.backward / train_step."""
from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_layer_gradients, check_network_gradients

from darkpy.config.cfg import parse_cfg_text
from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError, InputError
from darkpy.kernels.activations import ACTIVATION_NAMES, activate
from darkpy.layers.activation import Activation
from darkpy.layers.batchnorm import BatchNorm
from darkpy.layers.connected import Connected
from darkpy.layers.convolutional import Convolutional
from darkpy.layers.cost import Cost
from darkpy.network import Network


def make(cls, input_shapes, **options):
    section = Section(cls.kind, {k: str(v) for k, v in options.items()}, "t.cfg:1")
    opts = parse_options(section, {**COMMON_KEYS, **cls.keys})
    return cls(opts, input_shapes, 0, "t.cfg:1")


def randomise(layer, rng, scale=0.5):
    """Non-trivial parameters (scales near 1, nonzero biases) so every term is exercised."""
    for name, p in layer.params.items():
        if name == "scales":
            p[...] = 1 + 0.3 * rng.standard_normal(p.shape)
        elif name == "rolling_variance":
            p[...] = 0.5 + rng.random(p.shape)
        else:
            p[...] = scale * rng.standard_normal(p.shape)
    layer.invalidate()


def off_kinks(rng, shape, spread=3.0):
    """Values whose distance to every integer is at least 0.05: every activation's kinks
    (relu at 0, relu6 at 6, hardtan at +-1, plse at +-4, stair at integers ...) are there."""
    x = rng.uniform(-spread, spread, shape)
    frac = x - np.floor(x)
    return np.floor(x) + 0.05 + 0.9 * frac


def naive_bn_train(x2d, scales):
    m = x2d.shape[0]
    mean = x2d.mean(axis=0)
    var = ((x2d - mean) ** 2).sum(axis=0) / (m - 1)
    return (x2d - mean) / (np.sqrt(var) + 1e-6) * scales, mean, var


# --- convolutional ----------------------------------------------------------------------------

CONV_CASES = {
    # name: (input h, w, c), options
    "3x3": ((5, 6, 3), dict(filters=4, size=3, pad=1, activation="leaky")),
    "bn-mish": ((5, 4, 3), dict(filters=4, size=3, pad=1, batch_normalize=1, activation="mish")),
    "stride2": ((7, 6, 3), dict(filters=3, size=3, stride=2, pad=1, activation="logistic")),
    "stride-y2-x1": ((7, 5, 2), dict(filters=3, size=3, stride_y=2, stride_x=1, pad=1,
                                     activation="linear")),
    "dilation2": ((7, 7, 3), dict(filters=2, size=3, pad=1, dilation=2, activation="swish")),
    "groups-gemm": ((4, 5, 16), dict(filters=16, size=3, pad=1, groups=2, activation="leaky")),
    "groups-direct": ((4, 5, 8), dict(filters=8, size=3, pad=1, groups=4, batch_normalize=1,
                                      activation="relie")),
    "depthwise-s2": ((6, 5, 4), dict(filters=4, size=3, stride=2, pad=1, groups=4,
                                     activation="gelu")),
    "1x1": ((3, 4, 5), dict(filters=6, size=1, activation="tanh")),
    "1x1-groups": ((3, 4, 8), dict(filters=6, size=1, groups=2, batch_normalize=1,
                                   activation="linear")),
    "1x1-stride2": ((5, 5, 3), dict(filters=2, size=1, stride=2, activation="elu")),
    "2x2-padding1": ((4, 5, 2), dict(filters=3, size=2, padding=1, activation="softplus")),
    "5x5-padding1-stride3": ((8, 7, 2), dict(filters=2, size=5, padding=1, stride=3,
                                             activation="selu")),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_convolutional_gradients(case):
    shape, options = CONV_CASES[case]
    rng = np.random.default_rng(list(CONV_CASES).index(case))  # str hash() changes per process
    layer = make(Convolutional, [shape], **options)
    randomise(layer, rng)
    x = rng.standard_normal((2, *shape))
    check_layer_gradients(layer, [x], rtol=1e-5, atol=1e-7)


def naive_conv(x, w_darknet, stride_y, stride_x, pad, dilation, groups, out_h, out_w):
    """Direct loops over darknet's (cout, cin/groups, k, k) weights, float64."""
    n, h, wd, c = x.shape
    cout, cg, k, _ = w_darknet.shape
    cog = cout // groups
    out = np.zeros((n, out_h, out_w, cout))
    for o in range(cout):
        g = o // cog
        for ky in range(k):
            for kx in range(k):
                for oy in range(out_h):
                    iy = oy * stride_y - pad + ky * dilation
                    if not 0 <= iy < h:
                        continue
                    for ox in range(out_w):
                        ix = ox * stride_x - pad + kx * dilation
                        if 0 <= ix < wd:
                            taps = x[:, iy, ix, g * cg:(g + 1) * cg]
                            out[:, oy, ox, o] += taps @ w_darknet[o, :, ky, kx]
    return out


@pytest.mark.parametrize("case", ["3x3", "stride-y2-x1", "dilation2", "groups-direct",
                                  "5x5-padding1-stride3"])
def test_convolutional_train_forward_matches_naive(case):
    shape, options = CONV_CASES[case]
    rng = np.random.default_rng(20)
    layer = make(Convolutional, [shape], **options)
    randomise(layer, rng)
    p = {k: np.array(v, np.float64) for k, v in layer.params.items()}
    w = np.array(layer.get_param("weights"), np.float64)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    y = layer.forward([x], train=True)
    assert y.dtype == np.float32
    out_h, out_w, _ = layer.output_shape([shape])
    z = naive_conv(x.astype(np.float64), w, layer.stride_y, layer.stride_x,
                   layer.padding * layer.dilation, layer.dilation, layer.groups, out_h, out_w)
    cout = z.shape[-1]
    if layer.batch_normalize:
        z2d, mean, var = naive_bn_train(z.reshape(-1, cout), p["scales"])
        z = z2d.reshape(z.shape)
        np.testing.assert_allclose(layer.params["rolling_mean"],
                                   0.99 * p["rolling_mean"] + 0.01 * mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.params["rolling_variance"],
                                   0.99 * p["rolling_variance"] + 0.01 * var, rtol=1e-5)
    want = np.array(z + p["biases"], np.float64)
    activate(want, layer.code)  # the activations themselves are tested in test_activations
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


FLOAT32_CASES = {
    # name: (input shape with batch, options, the algorithm float32 forward uses)
    "winograd": ((4, 16, 16, 8), dict(filters=8, size=3, pad=1, batch_normalize=1,
                                      activation="leaky"), "winograd"),
    "winograd-unpadded": ((4, 18, 17, 8), dict(filters=9, size=3, activation="mish"),
                          "winograd"),
    "winograd-small": ((1, 13, 13, 16), dict(filters=16, size=3, pad=1, activation="leaky"),
                       "winograd small"),
    "gemm": ((2, 7, 6, 16), dict(filters=16, size=3, stride=2, pad=1, groups=2,
                                 activation="logistic"), "gemm"),
    "direct": ((2, 7, 6, 8), dict(filters=8, size=3, pad=1, groups=8, batch_normalize=1,
                                  activation="linear"), "direct"),
}


@pytest.mark.parametrize("case", list(FLOAT32_CASES))
def test_convolutional_float32_training_matches_float64(case):
    """The float32 path (inference kernels forward, Winograd for dL/dx where it applies)
    against the float64 path the finite differences check."""
    shape, options, algorithm = FLOAT32_CASES[case]
    rng = np.random.default_rng(23)
    layer = make(Convolutional, [shape[1:]], **options)
    randomise(layer, rng, scale=0.2)
    assert layer.algorithm(shape) == algorithm
    x = rng.standard_normal(shape)
    delta = rng.standard_normal((shape[0], *layer.output_shape([shape[1:]])))
    results = []
    for dtype in (np.float32, np.float64):
        layer.astype(dtype)
        layer.zero_grads()
        y = layer.forward([x.astype(dtype)], train=True)
        dx = layer.backward(delta.astype(dtype), [x.astype(dtype)], y)[0]
        assert y.dtype == dx.dtype == dtype
        results.append((y, dx, {k: v.copy() for k, v in layer.grads.items()}))
    (y32, dx32, g32), (y64, dx64, g64) = results
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    for name in g64:
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-3, err_msg=name)


def test_convolutional_train_and_inference_agree_without_batch_norm():
    shape, options = CONV_CASES["groups-gemm"]
    rng = np.random.default_rng(21)
    layer = make(Convolutional, [shape], **options)
    randomise(layer, rng)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    np.testing.assert_allclose(layer.forward([x], train=True), layer.forward([x]),
                               rtol=1e-5, atol=1e-5)


def test_convolutional_backward_is_deterministic_in_float32():
    shape, options = CONV_CASES["bn-mish"]
    rng = np.random.default_rng(22)
    layer = make(Convolutional, [(16, 16, 8)], **{**options, "filters": 16})
    randomise(layer, rng)
    assert layer.algorithm((4, 16, 16, 8)) == "winograd"  # worker threads, forward and dL/dx
    x = rng.standard_normal((4, 16, 16, 8)).astype(np.float32)
    delta = rng.standard_normal((4, 16, 16, 16)).astype(np.float32)
    results = []
    for _ in range(2):
        layer.zero_grads()
        y = layer.forward([x], train=True)
        dx = layer.backward(delta, [x], y)[0]
        results.append((dx, {k: v.copy() for k, v in layer.grads.items()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for name in results[0][1]:
        np.testing.assert_array_equal(results[0][1][name], results[1][1][name])


# --- connected --------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["leaky", "logistic", "mish", "linear"])
@pytest.mark.parametrize("batch_normalize", [0, 1])
def test_connected_gradients(activation, batch_normalize):
    rng = np.random.default_rng(1)
    layer = make(Connected, [(2, 3, 4)], output=5, activation=activation,
                 batch_normalize=batch_normalize)
    randomise(layer, rng)
    x = rng.standard_normal((3, 2, 3, 4))
    check_layer_gradients(layer, [x], rtol=1e-5, atol=1e-7)


def test_connected_train_forward_matches_naive():
    rng = np.random.default_rng(2)
    layer = make(Connected, [(1, 2, 3)], output=4, activation="linear", batch_normalize=1)
    randomise(layer, rng)
    layer.astype(np.float64)
    p = {k: v.copy() for k, v in layer.params.items()}
    x = rng.standard_normal((5, 1, 2, 3))
    y = layer.forward([x], train=True)
    # darknet's weights are (outputs, inputs) over the CHW-flattened input
    z = x.transpose(0, 3, 1, 2).reshape(5, -1) @ layer.get_param("weights").T
    want, mean, var = naive_bn_train(z, p["scales"])
    np.testing.assert_allclose(y.reshape(5, 4), want + p["biases"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.params["rolling_mean"], 0.99 * p["rolling_mean"] + 0.01 * mean)
    np.testing.assert_allclose(layer.params["rolling_variance"],
                               0.99 * p["rolling_variance"] + 0.01 * var)


def test_connected_batch_norm_needs_two_images():
    layer = make(Connected, [(1, 1, 3)], output=2, batch_normalize=1)
    with pytest.raises(InputError, match="at least 2"):
        layer.forward([np.ones((1, 1, 1, 3), np.float32)], train=True)


# --- [batchnorm] ------------------------------------------------------------------------------

def test_batchnorm_gradients():
    rng = np.random.default_rng(3)
    layer = make(BatchNorm, [(3, 5, 4)])
    randomise(layer, rng)
    x = rng.standard_normal((2, 3, 5, 4)) * 2 + 1
    check_layer_gradients(layer, [x], rtol=1e-5, atol=1e-7)


def test_batchnorm_train_forward_and_rolling_update():
    rng = np.random.default_rng(4)
    layer = make(BatchNorm, [(2, 3, 3)])
    randomise(layer, rng)
    p = {k: v.copy() for k, v in layer.params.items()}
    x = (rng.standard_normal((3, 2, 3, 3)) * 3 + 2).astype(np.float32)
    y = layer.forward([x], train=True)
    assert y.dtype == np.float32
    x2d = x.reshape(-1, 3).astype(np.float64)
    want, mean, var = naive_bn_train(x2d, p["scales"].astype(np.float64))
    np.testing.assert_allclose(y.reshape(-1, 3), want, rtol=1e-5, atol=1e-5)
    # darknet: rolling = .99 rolling + .01 batch value, in float32, variance unbiased (m - 1)
    np.testing.assert_allclose(layer.params["rolling_mean"],
                               np.float32(0.99) * p["rolling_mean"] + np.float32(0.01) * mean,
                               rtol=1e-6)
    np.testing.assert_allclose(layer.params["rolling_variance"],
                               np.float32(0.99) * p["rolling_variance"] + np.float32(0.01) * var,
                               rtol=1e-6)
    # inference afterwards uses the rolling values
    y_inf = layer.forward([x])
    rm, rv = layer.params["rolling_mean"], layer.params["rolling_variance"]
    np.testing.assert_allclose(y_inf, (x - rm) / (np.sqrt(rv) + 1e-6) * layer.params["scales"],
                               rtol=1e-5, atol=1e-5)


def test_batchnorm_constant_channel_has_finite_gradient():
    layer = make(BatchNorm, [(2, 2, 2)])
    x = np.ones((2, 2, 2, 2))
    x[..., 1] = np.arange(8).reshape(2, 2, 2)
    layer.astype(np.float64)
    y = layer.forward([x], train=True)
    dx = layer.backward(np.ones_like(y), [x], y)[0]
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(layer.grads["scales"]))


# --- [activation], every activation ------------------------------------------------------------

@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_layer_gradients(name):
    rng = np.random.default_rng(5)
    layer = make(Activation, [(3, 4, 5)], activation=name)
    x = off_kinks(rng, (2, 3, 4, 5))
    # the logistic family is evaluated with a float32-accurate exp also in float64 (1e-8)
    check_layer_gradients(layer, [x], rtol=2e-5, atol=1e-7, max_checks=60)


# --- [cost] -----------------------------------------------------------------------------------

X = np.array([0.2, 1.7, -3.0, 0.5]).reshape(1, 1, 1, 4)
T = np.array([0.0, 0.2, 1.0, 0.5]).reshape(1, 1, 1, 4)  # d = t - x = -0.2, -1.5, 4, 0


@pytest.mark.parametrize("kind, cost, grad", [
    ("sse", 0.04 + 2.25 + 16.0, [0.2, 1.5, -4.0, 0.0]),
    ("smooth", 0.04 + 2.0 + 7.0, [0.2, 1.0, -1.0, 0.0]),
    ("L1", 0.2 + 1.5 + 4.0, [1.0, 1.0, -1.0, 1.0]),  # darknet: d = 0 counts as negative
])
def test_cost_hand_worked(kind, cost, grad):
    for scale in (1.0, 2.5):
        layer = make(Cost, [(1, 1, 4)], type=kind, scale=scale)
        loss, g = layer.loss(X, T)
        assert loss == pytest.approx(cost)  # the reported cost is not scaled
        np.testing.assert_allclose(g.reshape(-1), scale * np.array(grad), atol=1e-12)


def test_cost_masked_ignores_secret_num():
    layer = make(Cost, [(1, 1, 4)], type="masked")
    truth = T.copy()
    truth[..., 2] = -1234
    loss, g = layer.loss(X, truth)
    assert loss == pytest.approx(0.04 + 2.25)
    np.testing.assert_allclose(g.reshape(-1), [0.2, 1.5, 0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("kind, objective", [
    ("sse", lambda d: 0.5 * np.sum(d * d)),
    ("smooth", lambda d: 0.5 * np.sum(np.where(np.abs(d) < 1, d * d, 2 * np.abs(d) - 1))),
    ("L1", lambda d: np.sum(np.abs(d))),
])
def test_cost_gradient_is_derivative_of_objective(kind, objective):
    """dL/dx = -scale * darknet's delta is the gradient of scale * J (J as given)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 3, 3)) * 2
    t = rng.standard_normal((2, 2, 3, 3)) * 2
    x = np.where(np.abs(np.abs(t - x) - 1) < 0.01, x + 0.1, x)  # keep off smooth's kink
    layer = make(Cost, [(2, 3, 3)], type=kind, scale=1.5)
    _, g = layer.loss(x, t)
    eps = 1e-6
    for j in range(0, x.size, 5):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += eps
        xm.flat[j] -= eps
        numeric = 1.5 * (objective(t - xp) - objective(t - xm)) / (2 * eps)
        assert g.flat[j] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_cost_types_only_on_gpu_are_rejected():
    layer = make(Cost, [(1, 1, 4)], type="seg")
    with pytest.raises(ConfigError, match="seg"):
        layer.loss(X, T)


def test_cost_truth_shape_checked():
    layer = make(Cost, [(1, 1, 4)])
    with pytest.raises(InputError, match="truth"):
        layer.loss(X, T[..., :3])


# --- inference-only layers --------------------------------------------------------------------

def test_default_backward_is_a_clear_error():
    from darkpy.layers.base import Layer

    class Frozen(Layer):
        kind = "frozen"

    layer = Frozen({}, [(1, 1, 1)], 3, "t.cfg:9")
    with pytest.raises(ConfigError, match=r"t\.cfg:9.*inference only"):
        layer.backward(np.zeros((1, 1, 1, 1)), [np.zeros((1, 1, 1, 1))], np.zeros((1, 1, 1, 1)))


# --- whole networks ---------------------------------------------------------------------------

DENSE = """
[net]
width=3
height=2
channels=2
batch=4

[connected]
output=5
activation=leaky
batch_normalize=1

[batchnorm]

[activation]
activation=tanh

[connected]
output=3
activation=linear

[cost]
type=sse
"""


def build(text):
    return Network(parse_cfg_text(text, "t.cfg"), source="t.cfg")


def randomise_network(net, seed=0):
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        randomise(layer, rng)


CONV_NET = """
[net]
width=10
height=8
channels=3
batch=2

[convolutional]
filters=8
size=3
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=8
size=3
pad=1
groups=2
activation=mish

[shortcut]
from=-2
alpha=0.75
beta=1.5
activation=linear

[route]
layers=-1,-3
groups=2
group_id=0

[upsample]
stride=2

[convolutional]
filters=4
size=1
batch_normalize=1
activation=logistic

[route]
layers=-1,0

[convolutional]
filters=3
size=3
stride=2
pad=1
activation=linear

[connected]
output=5
activation=tanh

[cost]
type=sse
"""


def test_conv_network_gradients():
    """Routes with groups, a shortcut with alpha/beta, pooling, upsampling, batch norm in
    training mode, grouped and strided convolutions, all in one backward."""
    net = build(CONV_NET)
    randomise_network(net, 16)
    x = np.random.default_rng(17).standard_normal((2, 8, 10, 3))
    check_network_gradients(net, x, rtol=1e-5, atol=1e-7)


def test_dense_network_gradients():
    net = build(DENSE)
    randomise_network(net, 7)
    x = np.random.default_rng(8).standard_normal((4, 2, 3, 2))
    check_network_gradients(net, x, rtol=1e-5, atol=1e-7)


def test_train_step_loss_and_gradient_of_half_sse():
    net = build(DENSE)
    randomise_network(net, 9)
    net.astype(np.float64)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 2, 3, 2))
    truth = rng.standard_normal((4, 1, 1, 3))
    net.zero_grads()
    loss = net.train_step(x, truth)
    out = net.forward(x, train=True)
    assert loss == pytest.approx(np.sum((truth - out) ** 2))
    grads = {(layer.index, name): g.copy() for layer, name, _, g in net.parameters()}
    # the same gradients from backward of the projection w = out - truth (d(sse/2)/dout)
    net.zero_grads()
    net.forward(x, train=True)
    net.backward(out - truth)
    for layer, name, _, g in net.parameters():
        np.testing.assert_allclose(g, grads[(layer.index, name)], rtol=1e-12, atol=1e-14)


def test_gradients_accumulate_until_zeroed():
    net = build(DENSE)
    randomise_network(net, 11)
    net.astype(np.float64)
    rng = np.random.default_rng(12)
    x, truth = rng.standard_normal((4, 2, 3, 2)), rng.standard_normal((4, 1, 1, 3))
    net.zero_grads()
    net.train_step(x, truth)
    once = [g.copy() for _, _, _, g in net.parameters()]
    net.train_step(x, truth)
    for (_, _, _, g), g1 in zip(net.parameters(), once):
        np.testing.assert_allclose(g, 2 * g1, rtol=1e-12, atol=1e-14)
    net.zero_grads()
    assert all(not g.any() for _, _, _, g in net.parameters())


def test_parameters_skip_rolling_statistics():
    net = build(DENSE)
    names = [(layer.index, name) for layer, name, _, _ in net.parameters()]
    assert (0, "rolling_mean") not in names and (0, "scales") in names and (1, "scales") in names
    assert (3, "weights") in names and (3, "biases") in names


def test_astype_float64_inference_and_back():
    net = build(DENSE)
    x = np.random.default_rng(13).standard_normal((2, 2, 3, 2)).astype(np.float32)
    y32 = net.forward(x)
    net.astype(np.float64)
    y64 = net.forward(x)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, y32, rtol=1e-5, atol=1e-6)
    net.astype(np.float32)
    assert net.forward(x).dtype == np.float32


def test_train_step_needs_cost_layer_last():
    net = build(DENSE.replace("[cost]\ntype=sse\n", ""))
    with pytest.raises(ConfigError, match="cost"):
        net.train_step(np.zeros((2, 2, 3, 2)), np.zeros((2, 1, 1, 3)))


def test_backward_needs_train_forward():
    net = build(DENSE)
    net.forward(np.zeros((2, 2, 3, 2), np.float32))
    with pytest.raises(InputError, match="train=True"):
        net.backward(np.zeros((2, 1, 1, 3), np.float32))


def test_stopbackward_stops_gradient_flow():
    net = build(DENSE.replace("[batchnorm]\n", "[batchnorm]\nstopbackward=1\n"))
    randomise_network(net, 14)
    rng = np.random.default_rng(15)
    net.zero_grads()
    net.forward(rng.standard_normal((4, 2, 3, 2)), train=True)
    dx = net.backward(rng.standard_normal((4, 1, 1, 3)))
    assert dx is None
    grads = {(layer.index, name): g for layer, name, _, g in net.parameters()}
    assert not grads[(0, "weights")].any() and not grads[(1, "scales")].any()
    assert grads[(3, "weights")].any()


FAN_OUT_NET = """
[net]
width=6
height=5
channels=2
batch=2

[convolutional]
filters=4
size=3
pad=1
activation=leaky

[convolutional]
filters=4
size=1
activation=tanh

[shortcut]
from=-2
activation=linear

[route]
layers=-1,0

[convolutional]
filters=4
size=3
pad=1
activation=linear

[shortcut]
from=0
activation=linear

[cost]
type=sse
"""


def test_gradients_summed_over_many_consumers():
    """Layer 0 feeds four consumers (two shortcuts, each handing one array to both its
    inputs, a route and a convolution): its gradient is their sum, added in place once
    backward has made the sum's array itself."""
    net = build(FAN_OUT_NET)
    randomise_network(net, 21)
    x = np.random.default_rng(22).standard_normal((2, 5, 6, 2))
    check_network_gradients(net, x, rtol=1e-5, atol=1e-7)
