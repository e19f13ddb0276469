"""darkpy's activations as ONNX operators, formula for formula (darkpy/kernels/activations.py).

Every function takes the builder and a tensor name and returns the activated tensor's name.
Where ONNX has the very function (Sigmoid, Tanh, Relu, LeakyRelu, Elu, Selu, Clip) it is
used; the rest are written out of elementary operators with darkpy's constants, thresholds
and piecewise branches, so the exported graph computes what darkpy computes up to float
rounding (no approximations):

- softplus keeps darknet's thresholds (x above 20, e^x below -20) and evaluates log(1 + e)
  as e * log(u) / (u - 1) with u = 1 + e (exact where u rounds), because ONNX has no log1p
  and log(1 + e) loses all precision for small e;
- mish is x n / (n + 2) with n = e (e + 2), e = exp(min(x, 20)), darkpy's own form (equal to
  x tanh(softplus(x)) and free of overflow);
- gelu is AlexeyAB's tanh form with his constants, written x sigmoid(2u).

AlexeyAB's normalize_channels* (kernels/channel_activations.py) act across the channels of a
pixel, axis 1 of NCHW data.
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ExportError
from darkpy.export.graph import GraphBuilder
from darkpy.kernels import activations as act
from darkpy.kernels import channel_activations as chan


def _where(g: GraphBuilder, cond: str, a: str, b: str) -> str:
    return g.node("Where", [cond, a, b])


def _mul(g, x, k):
    return g.node("Mul", [x, g.const(k)])


def _add(g, x, k):
    return g.node("Add", [x, g.const(k)])


def _less(g, x, k):
    return g.node("Less", [x, g.const(k)])


def _greater(g, x, k):
    return g.node("Greater", [x, g.const(k)])


def _logistic(g, x):
    return g.node("Sigmoid", [x], "logistic")


def _loggy(g, x):
    return _add(g, _mul(g, _logistic(g, x), 2.0), -1.0)


def _relu6(g, x):
    return g.node("Clip", [x, g.const(0.0), g.const(6.0)], "relu6")


def _selu(g, x):
    # darknet's truncated constants (1.0507, 1.6732), not ONNX's defaults
    return g.node("Selu", [x], "selu", alpha=float(np.float32(1.6732)),
                  gamma=float(act.SELU_SCALE))


def _ramp(g, x):
    return g.node("Add", [g.node("Relu", [x]), _mul(g, x, act.RAMP_SLOPE)], "ramp")


def _plse(g, x):
    low = _mul(g, _add(g, x, 4.0), act.PLSE_OUTER)
    high = _add(g, _mul(g, _add(g, x, -4.0), act.PLSE_OUTER), 1.0)
    middle = _add(g, _mul(g, x, act.PLSE_INNER), 0.5)
    return _where(g, _less(g, x, -4.0), low, _where(g, _greater(g, x, 4.0), high, middle))


def _stair(g, x):
    n = g.node("Floor", [x])
    half = g.node("Floor", [_mul(g, x, 0.5)])
    # n even <=> n - 2 floor(n / 2) == 0 (right for negative n too)
    parity = g.node("Sub", [n, _mul(g, g.node("Floor", [_mul(g, n, 0.5)]), 2.0)])
    even = g.node("Equal", [parity, g.const(0.0)])
    odd = g.node("Add", [g.node("Sub", [x, n]), half])
    return _where(g, even, half, odd)


def _hardtan(g, x):
    return g.node("Clip", [x, g.const(-1.0), g.const(1.0)], "hardtan")


def _lhtan(g, x):
    low = _mul(g, x, act.LHTAN_SLOPE)
    high = _add(g, _mul(g, _add(g, x, -1.0), act.LHTAN_SLOPE), 1.0)
    return _where(g, _less(g, x, 0.0), low, _where(g, _greater(g, x, 1.0), high, x))


def log1p(g: GraphBuilder, e: str) -> str:
    """log(1 + e) accurate for small e: e * log(u) / (u - 1), u = 1 + e (e itself where u
    rounds to 1)."""
    u = _add(g, e, 1.0)
    shrink = g.node("Sub", [u, g.const(1.0)])
    exact = g.node("Div", [g.node("Mul", [e, g.node("Log", [u])]), shrink])
    return _where(g, g.node("Equal", [shrink, g.const(0.0)]), e, exact)


def _softplus(g, x):
    e = g.node("Exp", [x])
    middle = log1p(g, e)
    limit = float(act.SOFTPLUS_THRESHOLD)
    return _where(g, _greater(g, x, limit), x, _where(g, _less(g, x, -limit), e, middle))


def _softsign(g, x):
    return g.node("Div", [x, _add(g, g.node("Abs", [x]), 1.0)], "softsign")


def _elliot(g, x):
    return _add(g, _mul(g, _softsign(g, x), 0.5), 0.5)


def _mish(g, x):
    e = g.node("Exp", [g.node("Min", [x, g.const(act.SOFTPLUS_THRESHOLD)])])
    n = g.node("Mul", [e, _add(g, e, 2.0)])
    return g.node("Mul", [x, g.node("Div", [n, _add(g, n, 2.0)])], "mish")


def _swish(g, x):
    return g.node("Mul", [x, _logistic(g, x)], "swish")


def _gelu(g, x):
    cube = g.node("Mul", [g.node("Mul", [x, x]), x])
    u = g.node("Add", [_mul(g, x, act.GELU_A), _mul(g, cube, act.GELU_B)])
    return g.node("Mul", [x, _logistic(g, _mul(g, u, 2.0))], "gelu")


def _hard_mish(g, x):
    middle = g.node("Add", [_mul(g, g.node("Mul", [x, x]), 0.5), x])
    zero = g.const(0.0)
    return _where(g, _greater(g, x, 0.0), x, _where(g, _greater(g, x, -2.0), middle, zero))


def _leaky(slope):
    return lambda g, x: g.node("LeakyRelu", [x], "leaky", alpha=float(np.float32(slope)))


ELEMENTWISE = {
    act.LOGISTIC: _logistic,
    act.LOGGY: _loggy,
    act.RELU: lambda g, x: g.node("Relu", [x], "relu"),
    act.RELU6: _relu6,
    act.ELU: lambda g, x: g.node("Elu", [x], "elu", alpha=1.0),
    act.SELU: _selu,
    act.RELIE: _leaky(act.RELIE_SLOPE),
    act.RAMP: _ramp,
    act.TANH: lambda g, x: g.node("Tanh", [x], "tanh"),
    act.PLSE: _plse,
    act.LEAKY: _leaky(act.LEAKY_SLOPE),
    act.STAIR: _stair,
    act.HARDTAN: _hardtan,
    act.LHTAN: _lhtan,
    act.SOFTPLUS: _softplus,
    act.SOFTSIGN: _softsign,
    act.ELLIOT: _elliot,
    act.SYMMELLIOT: _softsign,
    act.MISH: _mish,
    act.SWISH: _swish,
    act.GELU: _gelu,
    act.HARD_MISH: _hard_mish,
    act.REVLEAKY: _leaky(act.LEAKY_SLOPE),
}


def activate(g: GraphBuilder, x: str, code: int) -> str:
    """The element-wise activation `code` (an index into ACTIVATION_NAMES) of tensor x."""
    if code == act.LINEAR:
        return x
    emit = ELEMENTWISE.get(code)
    if emit is None:  # a new activation added to darkpy without an export
        raise ExportError(f"activation {act.ACTIVATION_NAMES[code]} has no ONNX export yet")
    return emit(g, x)


def activate_channels(g: GraphBuilder, x: str, code: int) -> str:
    """AlexeyAB's normalize_channels* (code from channel_activations) over axis 1."""
    eps = g.const(chan.EPS)
    if code == chan.NORM_CHAN:
        positive = g.node("Relu", [x])  # x where x > 0, else 0: both sum and output
        total = g.node("Add", [g.reduce("ReduceSum", positive, [1]), eps])
        return g.node("Div", [positive, total], "normalize_channels")
    if code == chan.NORM_CHAN_SOFTMAX_MAXVAL:
        x = g.node("Sub", [x, g.reduce("ReduceMax", x, [1])])
    elif code != chan.NORM_CHAN_SOFTMAX:
        raise ExportError(f"channel activation {chan.CHANNEL_ACTIVATION_NAMES[code]} has no "
                          "ONNX export yet")
    e = g.node("Exp", [x])
    total = g.node("Add", [g.reduce("ReduceSum", e, [1]), eps])
    return g.node("Div", [e, total], "normalize_channels_softmax")
