"""Activations: kernels against naive float64 formulas written here, hand-worked values,
finite-difference derivatives, and the [activation] layer."""
import math

import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.kernels.activations import (
    ACTIVATION_NAMES,
    activate,
    activate_gradient,
    activation_code,
    bias_activate,
)
from darkpy.layers.activation import Activation


# --- naive references (float64, straight from the darknet / NumPyNet definitions) --------------

def _stair(x):
    out = np.empty_like(x)
    for i, v in enumerate(x.flat):
        n = math.floor(v)
        half = math.floor(v / 2)
        out.flat[i] = half if n % 2 == 0 else (v - n) + half
    return out


def _plse(x):
    return np.where(x < -4, 0.01 * (x + 4), np.where(x > 4, 0.01 * (x - 4) + 1, 0.125 * x + 0.5))


def _lhtan(x):
    return np.where(x < 0, 0.001 * x, np.where(x > 1, 0.001 * (x - 1) + 1, x))


def _gelu(x):
    return 0.5 * x * (1 + np.tanh(0.797885 * x + 0.035677 * x ** 3))


NAIVE = {
    "linear": lambda x: x,
    "logistic": lambda x: 1 / (1 + np.exp(-x)),
    "loggy": lambda x: 2 / (1 + np.exp(-x)) - 1,
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "elu": lambda x: np.where(x >= 0, x, np.exp(np.minimum(x, 0)) - 1),
    "selu": lambda x: np.where(x >= 0, 1.0507 * x, 1.0507 * 1.6732 * (np.exp(np.minimum(x, 0)) - 1)),
    "relie": lambda x: np.where(x > 0, x, 0.01 * x),
    "ramp": lambda x: np.where(x > 0, x, 0.0) + 0.1 * x,
    "tanh": np.tanh,
    "plse": _plse,
    "leaky": lambda x: np.where(x > 0, x, 0.1 * x),
    "stair": _stair,
    "hardtan": lambda x: np.clip(x, -1, 1),
    "lhtan": _lhtan,
    "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elliot": lambda x: 0.5 * x / (1 + np.abs(x)) + 0.5,
    "symmelliot": lambda x: x / (1 + np.abs(x)),
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "gelu": _gelu,
    # AlexeyAB's hard_mish_yashas and revleaky (leaky's forward)
    "hard_mish": lambda x: np.where(x > 0, x, np.where(x > -2, x * x / 2 + x, 0.0)),
    "revleaky": lambda x: np.where(x > 0, x, 0.1 * x),
}

# breakpoints of plse (+-4), lhtan (0, 1), hardtan (+-1), relu6 (6), stair (integers), large |x|
POINTS = np.array(
    [-30, -7.3, -5, -4.5, -4, -3.5, -2.5, -2, -1.5, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 1.5, 2,
     2.5, 3, 3.5, 4, 4.5, 5, 6, 6.5, 30],
    dtype=np.float32,
)


def naive(name, x32):
    with np.errstate(over="ignore"):
        return NAIVE[name](x32.astype(np.float64))


def test_names_and_codes():
    assert len(ACTIVATION_NAMES) == 24 and set(NAIVE) == set(ACTIVATION_NAMES)
    assert activation_code("linear") == 0 and activation_code("gelu") == 21
    # names added later go at the end, so earlier codes never move
    assert activation_code("hard_mish") == 22 and activation_code("revleaky") == 23
    assert activation_code("leaky") == ACTIVATION_NAMES.index("leaky")
    with pytest.raises(ValueError, match="mish"):
        activation_code("mesh")


HAND = [  # (name, x, f(x)) worked out by hand from the definitions
    ("leaky", -2.0, -0.2), ("leaky", 3.0, 3.0), ("relu", -2.0, 0.0), ("relu6", 7.0, 6.0),
    ("relu6", 5.5, 5.5), ("relie", -2.0, -0.02), ("ramp", 2.0, 2.2), ("ramp", -2.0, -0.2),
    ("plse", -5.0, -0.01), ("plse", -4.0, 0.0), ("plse", 0.0, 0.5), ("plse", 4.0, 1.0),
    ("plse", 5.0, 1.01), ("lhtan", -1.0, -0.001), ("lhtan", 0.5, 0.5), ("lhtan", 1.0, 1.0),
    ("lhtan", 2.0, 1.001), ("hardtan", -3.0, -1.0), ("hardtan", 0.25, 0.25),
    ("stair", 1.0, 0.0), ("stair", 1.5, 0.5), ("stair", 2.0, 1.0), ("stair", 2.5, 1.0),
    ("stair", 3.0, 1.0), ("stair", 3.5, 1.5), ("stair", -0.5, -0.5), ("stair", -1.5, -1.0),
    ("logistic", 0.0, 0.5), ("logistic", 30.0, 1.0), ("logistic", -30.0, 9.357622968839299e-14),
    ("loggy", 0.0, 0.0), ("loggy", 2.0, 0.7615941559557649),  # loggy(x) = tanh(x / 2)
    ("tanh", 0.0, 0.0), ("tanh", 30.0, 1.0), ("elu", -1.0, -0.6321205588285577),
    ("elu", -30.0, -1.0), ("selu", 2.0, 2.1014), ("selu", -30.0, -1.0507 * 1.6732),
    ("softplus", 0.0, math.log(2)), ("softplus", 30.0, 30.0),
    ("softplus", -30.0, 9.357622968839737e-14), ("softsign", 1.0, 0.5), ("softsign", -3.0, -0.75),
    ("elliot", 1.0, 0.75), ("elliot", -1.0, 0.25), ("symmelliot", 3.0, 0.75),
    ("mish", 0.0, 0.0), ("mish", 1.0, 0.8650983882673103), ("mish", -1.0, -0.30340146137410895),
    ("mish", 30.0, 30.0), ("mish", -30.0, -30 * 9.357622968839299e-14),
    ("swish", 1.0, 0.7310585786300049), ("swish", -2.0, -0.2384058440442351), ("swish", 30.0, 30.0),
    ("gelu", 1.0, 0.8411919989069876), ("gelu", -1.0, -0.15880800109301235), ("gelu", 30.0, 30.0),
    ("gelu", -30.0, 0.0), ("linear", -30.0, -30.0),
    ("hard_mish", 3.0, 3.0), ("hard_mish", -1.0, -0.5), ("hard_mish", -0.5, -0.375),
    ("hard_mish", -2.0, 0.0), ("hard_mish", -3.0, 0.0), ("hard_mish", 0.0, 0.0),
    ("revleaky", -2.0, -0.2), ("revleaky", 3.0, 3.0),
]


@pytest.mark.parametrize("name,x,expected", HAND)
def test_hand_worked_values(name, x, expected):
    a = np.array([x], dtype=np.float32)
    activate(a, activation_code(name))
    np.testing.assert_allclose(a[0], expected, rtol=2e-6, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activate_matches_naive(name):
    code = activation_code(name)
    a = POINTS.copy()
    activate(a, code)
    np.testing.assert_allclose(a, naive(name, POINTS), rtol=1e-5, atol=1e-6)

    # any shape; 2 full blocks of 4096 and a tail exercise the block split
    rng = np.random.default_rng(code)
    for shape in [(3, 5, 7), (2 * 4096 + 37,)]:
        x = (rng.standard_normal(shape) * 6).astype(np.float32)
        a = x.copy()
        activate(a, code)
        np.testing.assert_allclose(a, naive(name, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_bias_activate(name):
    code = activation_code(name)
    rng = np.random.default_rng(100 + code)
    y = (rng.standard_normal((7, 5)) * 5).astype(np.float32)
    bias = (rng.standard_normal(5) * 2).astype(np.float32)
    pre = y + bias  # the kernel adds in float32 too
    out = y.copy()
    bias_activate(out, bias, code)
    np.testing.assert_allclose(out, naive(name, pre), rtol=1e-5, atol=1e-6)

    out = y.copy()
    bias_activate(out, None, code)
    np.testing.assert_allclose(out, naive(name, y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["leaky", "mish", "logistic", "stair"])
def test_bias_activate_many_row_chunks(name):
    # 3 channels: 1365 rows per work item, so 3001 rows make three, the last one short
    code = activation_code(name)
    rng = np.random.default_rng(7)
    y = (rng.standard_normal((3001, 3)) * 4).astype(np.float32)
    bias = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    out = y.copy()
    bias_activate(out, bias, code)
    np.testing.assert_allclose(out, naive(name, y + bias), rtol=1e-5, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError):
        activate(np.zeros(4, np.float16), 3)  # neither float32 nor float64
    with pytest.raises(ValueError):
        activate(np.zeros((4, 4), np.float32)[:, ::2], 3)  # not contiguous
    with pytest.raises(ValueError):
        bias_activate(np.zeros(4, np.float32), None, 3)  # not 2-D
    with pytest.raises(ValueError):
        bias_activate(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), 3)
    with pytest.raises(ValueError):
        activate(np.zeros(4, np.float32), len(ACTIVATION_NAMES))


# --- derivatives ----------------------------------------------------------------------------------

def _grad_points():
    xs = np.concatenate([np.linspace(-7.7, 7.7, 61), [-30.3, -25.3, 25.3, 30.3]])
    # every kink of every activation lies on an integer: stay clear of them
    return xs[np.abs(xs - np.round(xs)) > 0.02].astype(np.float32)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_gradient_matches_finite_difference(name):
    code = activation_code(name)
    x = _grad_points()
    x64 = x.astype(np.float64)
    h = 1e-6 * np.maximum(1.0, np.abs(x64))
    with np.errstate(over="ignore"):
        fd = (NAIVE[name](x64 + h) - NAIVE[name](x64 - h)) / (2 * h)
    y = naive(name, x).astype(np.float32)
    rng = np.random.default_rng(200 + code)
    delta = rng.uniform(-2, 2, x.shape).astype(np.float32)
    expected = delta.astype(np.float64) * fd
    activate_gradient(delta, y, x, code)
    np.testing.assert_allclose(delta, expected, rtol=1e-4, atol=1e-5)


def test_gradient_shapes_and_missing_input():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
    for name in ("leaky", "logistic", "tanh"):
        y = naive(name, x).astype(np.float32)
        d = np.ones_like(x)
        activate_gradient(d, y, None, activation_code(name))  # needs only y
        d2 = np.ones_like(x)
        activate_gradient(d2, y, x, activation_code(name))
        np.testing.assert_array_equal(d, d2)
    for name in ("mish", "swish", "gelu", "hard_mish"):
        with pytest.raises(ValueError, match="input"):
            activate_gradient(np.ones_like(x), x.copy(), None, activation_code(name))
    with pytest.raises(ValueError):
        activate_gradient(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), None, 3)


# --- the [activation] layer ------------------------------------------------------------------------

def _layer(value=None):
    options = {} if value is None else {"activation": value}
    opts = parse_options(Section("activation", options, "t.cfg:3"), Activation.keys)
    return Activation(opts, [(3, 5, 4)], 2, "t.cfg:3")


def test_activation_layer_forward_nhwc():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, 3, 5, 4)) * 3).astype(np.float32)
    keep = x.copy()
    for name in ("mish", "leaky", "stair"):
        layer = _layer(name)
        out = layer.forward([x])
        assert out.shape == (2, 3, 5, 4) and out.dtype == np.float32 and out.flags.c_contiguous
        assert out is not x
        np.testing.assert_allclose(out, naive(name, x), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(x, keep)  # input untouched
        assert layer.output_shape([(3, 5, 4)]) == (3, 5, 4)
    assert _layer().opts.activation == "linear"
    np.testing.assert_array_equal(_layer().forward([x]), x)


def test_activation_layer_rejects_unknown_name():
    with pytest.raises(ConfigError, match="did you mean `leaky`"):
        _layer("leakyy")


def test_hard_mish_gradient_hand_worked():
    # f' = 1 (x > 0), x + 1 (-2 < x <= 0), 0 (x <= -2); at x = 0 darknet takes x + 1 = 1
    x = np.array([2.0, 0.0, -0.5, -1.5, -2.0, -5.0], np.float32)
    y = naive("hard_mish", x).astype(np.float32)
    d = np.ones_like(x)
    activate_gradient(d, y, x, activation_code("hard_mish"))
    np.testing.assert_array_equal(d, [1.0, 1.0, 0.5, -0.5, 0.0, 0.0])


# --- AlexeyAB's channel-wise activations (kernels/channel_activations.py) ------------------------

from darkpy.kernels.channel_activations import (  # noqa: E402
    CHANNEL_ACTIVATION_NAMES, activate_channels, channel_activation_code, channel_gradient)


EPS32 = float(np.float32(0.0001))  # darknet's `const float eps = 0.0001`


def naive_channels(name, x):
    """darknet's loops, one pixel (row) at a time, in float64."""
    out = np.zeros(x.shape)
    for r, row in enumerate(np.asarray(x, np.float64)):
        if name == "normalize_channels":
            total = EPS32 + sum(v for v in row if v > 0)
            out[r] = [v / total if v > 0 else 0.0 for v in row]
        else:
            m = row.max() if name.endswith("maxval") else 0.0
            total = EPS32 + sum(math.exp(v - m) for v in row)
            out[r] = [math.exp(v - m) / total for v in row]
    return out


def test_channel_activations_hand_worked():
    x = np.array([[1.0, 2.0, -3.0]], np.float32)
    y = activate_channels(x, channel_activation_code("normalize_channels"))
    np.testing.assert_allclose(y, [[1 / 3.0001, 2 / 3.0001, 0.0]], rtol=1e-6)
    # softmax: the 1e-4 is added to sum e^x without (6.0) and with the max subtracted (2.0)
    x = np.array([[0.0, math.log(2.0), math.log(3.0)]], np.float32)
    y = activate_channels(x, channel_activation_code("normalize_channels_softmax"))
    np.testing.assert_allclose(y, [[1 / 6.0001, 2 / 6.0001, 3 / 6.0001]], rtol=1e-6)
    y = activate_channels(x, channel_activation_code("normalize_channels_softmax_maxval"))
    np.testing.assert_allclose(y, [[(1 / 3) / 2.0001, (2 / 3) / 2.0001, 1 / 2.0001]], rtol=1e-6)


@pytest.mark.parametrize("name", CHANNEL_ACTIVATION_NAMES)
def test_channel_activations_match_naive(name):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((37, 7)) * 3).astype(np.float32)
    x[3] = -1.0  # a pixel with no positive channel: all zeros (normalize_channels)
    code = channel_activation_code(name)
    np.testing.assert_allclose(activate_channels(x, code), naive_channels(name, x),
                               rtol=2e-6, atol=1e-7)
    y = x.copy()
    activate_channels(y, code, out=y)  # in place
    np.testing.assert_allclose(y, naive_channels(name, x), rtol=2e-6, atol=1e-7)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(activate_channels(x64, code), naive_channels(name, x), rtol=1e-12)


@pytest.mark.parametrize("name", CHANNEL_ACTIVATION_NAMES)
def test_channel_gradients_match_finite_differences(name):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 4)) * 2
    x[np.abs(x) < 0.05] += 0.2  # clear of normalize_channels' kink at 0
    g = rng.standard_normal(x.shape)
    code = channel_activation_code(name)
    y = activate_channels(x, code)
    analytic = g.copy()
    channel_gradient(analytic, y, x, code)
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = np.sum(g * (naive_channels(name, up) - naive_channels(name, down))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_channel_activations_are_not_elementwise_names():
    assert not set(CHANNEL_ACTIVATION_NAMES) & set(ACTIVATION_NAMES)
    with pytest.raises(ConfigError, match="must be one of"):
        _layer("normalize_channels")  # only [convolutional] takes them, as in AlexeyAB


def _conv(shape, **options):
    from darkpy.config.common_keys import COMMON_KEYS
    from darkpy.layers.convolutional import Convolutional
    section = Section("convolutional", {k: str(v) for k, v in options.items()}, "c.cfg:2")
    opts = parse_options(section, {**COMMON_KEYS, **Convolutional.keys})
    return Convolutional(opts, [shape], 1, "c.cfg:2")


@pytest.mark.parametrize("name", CHANNEL_ACTIVATION_NAMES)
def test_convolutional_applies_channel_activation_per_pixel(name):
    rng = np.random.default_rng(12)
    layer = _conv((5, 6, 3), filters=4, size=3, pad=1, activation=name)
    # AlexeyAB starts these layers from weights of 1
    np.testing.assert_array_equal(layer.get_param("weights"), np.ones((4, 3, 3, 3)))
    layer.set_param("weights", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    layer.set_param("biases", rng.standard_normal(4).astype(np.float32))
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    linear = _conv((5, 6, 3), filters=4, size=3, pad=1, activation="linear")
    for pname, _ in layer.param_layout():
        linear.set_param(pname, layer.get_param(pname))
    z = linear.forward([x]).astype(np.float64).reshape(-1, 4)
    expected = naive_channels(name, z).reshape(2, 5, 6, 4)
    np.testing.assert_allclose(layer.forward([x]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.forward([x.astype(np.float64)]), expected, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", CHANNEL_ACTIVATION_NAMES)
def test_convolutional_channel_activation_gradients(name):
    from gradcheck import check_layer_gradients
    rng = np.random.default_rng(13)
    layer = _conv((4, 3, 2), filters=3, size=3, pad=1, batch_normalize=1, activation=name)
    layer.set_param("weights", rng.standard_normal((3, 2, 3, 3)).astype(np.float32))
    x = rng.standard_normal((2, 4, 3, 2))
    check_layer_gradients(layer, [x], rtol=1e-5, atol=1e-8, max_checks=30)
