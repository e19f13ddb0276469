"""Element-wise activations, darknet semantics, as numba kernels.

An activation is chosen by its integer code, the index of its name in `ACTIVATION_NAMES`.
Formulas (f forward, f' derivative; y = f(x) is the output, x the pre-activation input):

- linear      f = x                                   f' = 1
- logistic    f = 1 / (1 + e^-x)                      f' = y (1 - y)
- loggy       f = 2 / (1 + e^-x) - 1                  f' = 2 s (1 - s),  s = (y + 1) / 2
- relu        f = max(x, 0)                           f' = [y > 0]
- relu6       f = min(max(x, 0), 6)                   f' = [0 < y < 6]
- elu         f = x (x >= 0),  e^x - 1 (x < 0)        f' = 1 (y >= 0),  y + 1 (y < 0)
- selu        f = l x (x >= 0),  l a (e^x - 1)        f' = l (y >= 0),  y + l a (y < 0)
              with darknet's truncated constants l = 1.0507, a = 1.6732
- relie       f = x (x > 0),  0.01 x                  f' = 1 (y > 0),  0.01
- ramp        f = x [x > 0] + 0.1 x                   f' = [y > 0] + 0.1
- tanh        f = tanh x                              f' = 1 - y^2
- plse        f = 0.01 (x + 4) (x < -4),  0.01 (x - 4) + 1 (x > 4),  0.125 x + 0.5
                                                      f' = 0.01 (y < 0 or y > 1),  0.125
- leaky       f = x (x > 0),  0.1 x                   f' = 1 (y > 0),  0.1
- stair       n = floor x;  f = floor(x/2) (n even),  x - n + floor(x/2) (n odd)
                                                      f' = 0 (y integer),  1
- hardtan     f = clamp(x, -1, 1)                     f' = [-1 < y < 1]
- lhtan       f = 0.001 x (x < 0),  0.001 (x - 1) + 1 (x > 1),  x
                                                      f' = 1 (0 < y < 1),  0.001
- softplus    f = log(1 + e^x), evaluated as darknet's thresholded softplus (x when x > 20,
              e^x when x < -20: equal to log(1 + e^x) in float32, and free of overflow)
                                                      f' = sigmoid(x) = 1 - e^-y
- softsign    f = x / (1 + |x|)                       f' = 1 / (1 + |x|)^2 = (1 - |y|)^2
- elliot      f = 0.5 x / (1 + |x|) + 0.5             f' = 0.5 / (1 + |x|)^2 = 0.5 (1 - |2y - 1|)^2
- symmelliot  f = x / (1 + |x|)                       f' = (1 - |y|)^2
- mish        f = x tanh(softplus(x))                 f' = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2)
- swish       f = x sigmoid(x)                        f' = y + sigmoid(x) (1 - y)
- gelu        f = 0.5 x (1 + tanh(u)),  u = 0.797885 x + 0.035677 x^3  (AlexeyAB's tanh form)
                                                      f' = 0.5 (1 + tanh u) + 0.5 x (0.797885 + 3 0.035677 x^2) (1 - tanh(u)^2)
- hard_mish   f = x (x > 0),  x^2/2 + x (-2 < x <= 0),  0 (x <= -2)   (AlexeyAB's hard_mish_yashas)
                                                      f' = 1 (x > 0),  x + 1 (-2 < x <= 0),  0
- revleaky    f = leaky                               f' = leaky's: 1 (y > 0),  0.1
              AlexeyAB's GPU training divides delta by leaky' instead (a deliberately
              "reversed" gradient, not a derivative); his CPU code, and darkpy, use leaky's.

AlexeyAB's normalize_channels* act across the channels of a pixel, not element-wise: they are
in kernels/channel_activations.py and only [convolutional] accepts them (as in AlexeyAB).

Sources: pjreddie/darknet and AlexeyAB/darknet src/activations.{h,c} for every activation they
have (mish uses AlexeyAB's softplus threshold 20). softplus, softsign, elliot and symmelliot
are named activations in neither darknet; they follow NumPyNet (steepness 1), with two
deliberate choices: softplus uses darknet's thresholded evaluation (same values, no overflow)
and elliot uses |x| in the denominator as its NumPyNet gradient (and FANN's Elliot) do,
where NumPyNet's forward writes |x + 1|, inconsistent with its own gradient. With steepness 1
symmelliot and softsign are the same function.

Derivatives use the output y wherever the formula allows (as darknet does, so a backward pass
needs only the stored output); mish, swish, gelu and hard_mish read x, which darknet stores
separately for them (hard_mish's y = 0 both at x = 0 and at x <= -2). gelu's derivative is the
exact derivative of its forward, taken at x (darknet applies its derivative formula, with
constants rounded differently, to the output).

Numerics differ from darknet's by float32 rounding only: the logistic family (logistic, loggy,
swish, mish, gelu) is computed from one vectorisable exp (`exp_f32`), mish as
tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2) and gelu as x sigmoid(2u); tanh uses
tanh (darknet writes 2 / (1 + e^-2x) - 1); elu/selu use expm1 behind a branch (darknet writes
(x < 0) * (e^x - 1), which is NaN for x > 88).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

# names and codes live apart from the kernels, so that layers can be built without numba
from darkpy.kernels.activation_codes import (  # noqa: F401 (re-exported)
    ACTIVATION_NAMES,
    ELLIOT,
    ELU,
    GELU,
    HARD_MISH,
    HARDTAN,
    LEAKY,
    LHTAN,
    LINEAR,
    LOGGY,
    LOGISTIC,
    MISH,
    NEEDS_INPUT,
    PLSE,
    RAMP,
    RELIE,
    RELU,
    RELU6,
    REVLEAKY,
    SELU,
    SOFTPLUS,
    SOFTSIGN,
    STAIR,
    SWISH,
    SYMMELLIOT,
    TANH,
    activation_code,
)

# float32 constants, so that numba never promotes the arithmetic to float64
_F = np.float32
ZERO, HALF, ONE, TWO, SIX = _F(0.0), _F(0.5), _F(1.0), _F(2.0), _F(6.0)
LEAKY_SLOPE = _F(0.1)
RAMP_SLOPE = _F(0.1)
RELIE_SLOPE = _F(0.01)
PLSE_OUTER, PLSE_INNER, PLSE_KNEE = _F(0.01), _F(0.125), _F(4.0)
LHTAN_SLOPE = _F(0.001)
SELU_SCALE = _F(1.0507)
SELU_SCALE_ALPHA = _F(1.0507) * _F(1.6732)
SOFTPLUS_THRESHOLD = _F(20.0)  # AlexeyAB's MISH_THRESHOLD
GELU_A, GELU_B = _F(0.797885), _F(0.035677)
GELU_3B = _F(3.0) * GELU_B

# elements per parallel work item: big enough to amortise dispatch, small enough to balance
_CHUNK = 4096


# --- a vectorisable float32 exp ----------------------------------------------------------------
# numba's math.exp/tanh/log1p are scalar libm calls (about 4, 23 and 16 ns an element here),
# which made mish and gelu ten times slower than memory. exp_f32 is plain arithmetic that LLVM
# vectorises (about 1 ns an element), within 1 ulp of the exact result; the logistic family
# (logistic, loggy, swish, mish, gelu) is written with it alone.

@intrinsic
def _pow2(typingctx, n):
    """2^n as float32 for an integer n in [-126, 127], built from the exponent bits."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        value = args[0]
        if value.type.width > 32:
            value = builder.trunc(value, i32)
        elif value.type.width < 32:
            value = builder.sext(value, i32)
        biased = builder.add(value, ir.Constant(i32, 127))
        return builder.bitcast(builder.shl(biased, ir.Constant(i32, 23)), ir.FloatType())

    return types.float32(n), codegen


LOG2E = _F(1.4426950408889634)
LN2_HI, LN2_LO = _F(0.693359375), _F(-2.12194440e-4)  # ln 2 split so n * LN2_HI is exact
EXP_MAX = _F(88.72283)   # ln(largest float32)
EXP_MIN = _F(-87.33654)  # ln(smallest normal float32)
INF = _F(np.inf)
# Taylor coefficients 1/k!: on |r| <= ln2/2 the degree-7 remainder is below 0.05 ulp
INV_FACT = tuple(_F(1.0 / math.factorial(k)) for k in range(8))
C2, C3, C4, C5, C6, C7 = INV_FACT[2:]


@njit(cache=True, error_model="numpy")
def exp_f32(x):
    """e^x for a float32, 1 ulp accurate; 0 below EXP_MIN (no denormals), inf above EXP_MAX."""
    xc = min(max(x, EXP_MIN), EXP_MAX)
    n = np.floor(xc * LOG2E + HALF)
    r = (xc - n * LN2_HI) - n * LN2_LO
    p = C7
    p = p * r + C6
    p = p * r + C5
    p = p * r + C4
    p = p * r + C3
    p = p * r + C2
    e_r = (p * r) * r + r + ONE
    k = np.int32(n)  # in [-126, 128]: 2^k is applied in two halves so 2^128 never forms
    half_k = k >> np.int32(1)
    out = e_r * _pow2(half_k) * _pow2(k - half_k)
    if x < EXP_MIN:
        out = ZERO
    if x > EXP_MAX:
        out = INF
    if x != x:
        out = x
    return out


# --- scalar forward functions ------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _logistic(x):
    return ONE / (ONE + exp_f32(-x))


@njit(cache=True, error_model="numpy")
def _leaky(x):
    return x if x > ZERO else LEAKY_SLOPE * x


@njit(cache=True, error_model="numpy")
def _relu(x):
    return x if x > ZERO else ZERO


@njit(cache=True, error_model="numpy")
def _softplus(x):
    if x > SOFTPLUS_THRESHOLD:
        return x
    if x < -SOFTPLUS_THRESHOLD:
        return math.exp(x)
    return math.log1p(math.exp(x))


@njit(cache=True, error_model="numpy")
def _mish(x):
    # tanh(softplus(x)) = tanh(log(1 + e)) = n / (n + 2) with n = e (e + 2): one exp, no log.
    # Above the softplus threshold darknet's tanh(softplus(x)) is 1 in float32, as n / (n + 2) is.
    e = exp_f32(min(x, SOFTPLUS_THRESHOLD))
    n = e * (e + TWO)
    return x * (n / (n + TWO))


@njit(cache=True, error_model="numpy")
def _gelu(x):
    # 0.5 x (1 + tanh u) = x sigmoid(2u): the same function, without cancellation for u << 0
    u = GELU_A * x + GELU_B * x * x * x
    return x / (ONE + exp_f32(-TWO * u))


@njit(cache=True, error_model="numpy")
def _swish(x):
    return x * _logistic(x)


@njit(cache=True, error_model="numpy")
def _stair(x):
    n = np.floor(x)
    half = np.floor(x / TWO)
    if n - TWO * np.floor(n / TWO) == ZERO:  # n even (also right for negative n)
        return half
    return (x - n) + half


@njit(cache=True, error_model="numpy")
def _hard_mish(x):
    if x > ZERO:
        return x
    if x > -TWO:
        return x * x / TWO + x
    return ZERO


@njit(cache=True, error_model="numpy")
def act_scalar(x, code):
    """f(x) for one float32 value; the if-chain is only used off the fast paths."""
    if code == LINEAR:
        return x
    if code == LOGISTIC:
        return _logistic(x)
    if code == LOGGY:
        return TWO / (ONE + exp_f32(-x)) - ONE
    if code == RELU:
        return _relu(x)
    if code == RELU6:
        return min(max(x, ZERO), SIX)
    if code == ELU:
        return x if x >= ZERO else math.expm1(x)
    if code == SELU:
        return SELU_SCALE * x if x >= ZERO else SELU_SCALE_ALPHA * math.expm1(x)
    if code == RELIE:
        return x if x > ZERO else RELIE_SLOPE * x
    if code == RAMP:
        return (x if x > ZERO else ZERO) + RAMP_SLOPE * x
    if code == TANH:
        return math.tanh(x)
    if code == PLSE:
        if x < -PLSE_KNEE:
            return PLSE_OUTER * (x + PLSE_KNEE)
        if x > PLSE_KNEE:
            return PLSE_OUTER * (x - PLSE_KNEE) + ONE
        return PLSE_INNER * x + HALF
    if code == LEAKY:
        return _leaky(x)
    if code == STAIR:
        return _stair(x)
    if code == HARDTAN:
        return min(max(x, -ONE), ONE)
    if code == LHTAN:
        if x < ZERO:
            return LHTAN_SLOPE * x
        if x > ONE:
            return LHTAN_SLOPE * (x - ONE) + ONE
        return x
    if code == SOFTPLUS:
        return _softplus(x)
    if code == SOFTSIGN or code == SYMMELLIOT:
        return x / (ONE + abs(x))
    if code == ELLIOT:
        return HALF * x / (ONE + abs(x)) + HALF
    if code == MISH:
        return _mish(x)
    if code == SWISH:
        return _swish(x)
    if code == GELU:
        return _gelu(x)
    if code == HARD_MISH:
        return _hard_mish(x)
    if code == REVLEAKY:
        return _leaky(x)
    return x


# --- scalar derivatives ---------------------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def _mish_grad(x):
    # d/dx x tanh(sp) = t + x sigmoid(x) (1 - t^2), sp = softplus(x), t = tanh(sp) = n / (n + 2);
    # 1 - t^2 = (1 - t)(1 + t) with 1 - t = 2 / (n + 2) keeps precision where t is close to 1.
    # One exp serves t and sigmoid (clamping e at the threshold leaves sigmoid = 1 in float32).
    e = exp_f32(min(x, SOFTPLUS_THRESHOLD))
    n = e * (e + TWO)
    inv = ONE / (n + TWO)
    t = n * inv
    sigmoid = e / (ONE + e)
    return t + x * sigmoid * ((TWO * inv) * (ONE + t))


@njit(cache=True, error_model="numpy")
def _gelu_grad(x):
    # with s = sigmoid(z), z = 2u: f = x s, f' = s + 2 x u'(x) s (1 - s), u' = a + 3 b x^2.
    # e = e^-|z| <= 1 never overflows: s (1 - s) = e / (1 + e)^2 whatever the sign of z.
    z = TWO * (GELU_A * x + GELU_B * x * x * x)
    e = exp_f32(-abs(z))
    inv = ONE / (ONE + e)
    s = inv if z >= ZERO else e * inv
    return s + TWO * x * (GELU_A + GELU_3B * x * x) * (e * inv * inv)


@njit(cache=True, error_model="numpy")
def _swish_grad(y, x):
    return y + _logistic(x) * (ONE - y)


@njit(cache=True, error_model="numpy")
def _hard_mish_grad(x):
    if x > ZERO:
        return ONE
    if x > -TWO:
        return x + ONE
    return ZERO


@njit(cache=True, error_model="numpy")
def grad_scalar(y, x, code):
    """f'(x) given the output y and the input x, for one float32 value."""
    if code == LINEAR:
        return ONE
    if code == LOGISTIC:
        return (ONE - y) * y
    if code == LOGGY:
        s = (y + ONE) / TWO
        return TWO * (ONE - s) * s
    if code == RELU:
        return ONE if y > ZERO else ZERO
    if code == RELU6:
        return ONE if (y > ZERO and y < SIX) else ZERO
    if code == ELU:
        return ONE if y >= ZERO else y + ONE
    if code == SELU:
        return SELU_SCALE if y >= ZERO else y + SELU_SCALE_ALPHA
    if code == RELIE:
        return ONE if y > ZERO else RELIE_SLOPE
    if code == RAMP:
        return (ONE if y > ZERO else ZERO) + RAMP_SLOPE
    if code == TANH:
        return ONE - y * y
    if code == PLSE:
        return PLSE_OUTER if (y < ZERO or y > ONE) else PLSE_INNER
    if code == LEAKY:
        return ONE if y > ZERO else LEAKY_SLOPE
    if code == STAIR:
        return ZERO if np.floor(y) == y else ONE
    if code == HARDTAN:
        return ONE if (y > -ONE and y < ONE) else ZERO
    if code == LHTAN:
        return ONE if (y > ZERO and y < ONE) else LHTAN_SLOPE
    if code == SOFTPLUS:
        return -math.expm1(-y)
    if code == SOFTSIGN or code == SYMMELLIOT:
        d = ONE - abs(y)
        return d * d
    if code == ELLIOT:
        d = ONE - abs(TWO * y - ONE)
        return HALF * d * d
    if code == MISH:
        return _mish_grad(x)
    if code == SWISH:
        return _swish_grad(y, x)
    if code == GELU:
        return _gelu_grad(x)
    if code == HARD_MISH:
        return _hard_mish_grad(x)
    if code == REVLEAKY:
        return ONE if y > ZERO else LEAKY_SLOPE
    return ONE


# --- row-block workers: the code is tested once per block, so hot loops are branch-free ----------

@njit(cache=True, error_model="numpy")
def activate_rows(y, bias, r0, r1, code):
    cols = y.shape[1]
    if code == LINEAR:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = y[r, c] + bias[c]
    elif code == LEAKY:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _leaky(y[r, c] + bias[c])
    elif code == RELU:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _relu(y[r, c] + bias[c])
    elif code == LOGISTIC:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _logistic(y[r, c] + bias[c])
    elif code == MISH:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _mish(y[r, c] + bias[c])
    elif code == SWISH:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _swish(y[r, c] + bias[c])
    elif code == GELU:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = _gelu(y[r, c] + bias[c])
    else:
        for r in range(r0, r1):
            for c in range(cols):
                y[r, c] = act_scalar(y[r, c] + bias[c], code)


@njit(cache=True, error_model="numpy")
def gradient_rows(delta, y, x, r0, r1, code):
    """delta *= f'(x) on rows r0..r1, in place (f the activation `code`, y = f(x) and x the
    pre-activation values: each derivative uses whichever of the two it needs)."""
    cols = delta.shape[1]
    if code == LINEAR:
        return
    if code == LEAKY:
        for r in range(r0, r1):
            for c in range(cols):
                if y[r, c] <= ZERO:
                    delta[r, c] *= LEAKY_SLOPE
    elif code == RELU:
        for r in range(r0, r1):
            for c in range(cols):
                if y[r, c] <= ZERO:
                    delta[r, c] = ZERO
    elif code == LOGISTIC:
        for r in range(r0, r1):
            for c in range(cols):
                v = y[r, c]
                delta[r, c] *= (ONE - v) * v
    elif code == MISH:
        for r in range(r0, r1):
            for c in range(cols):
                delta[r, c] *= _mish_grad(x[r, c])
    elif code == SWISH:
        for r in range(r0, r1):
            for c in range(cols):
                delta[r, c] *= _swish_grad(y[r, c], x[r, c])
    elif code == GELU:
        for r in range(r0, r1):
            for c in range(cols):
                delta[r, c] *= _gelu_grad(x[r, c])
    else:
        for r in range(r0, r1):
            for c in range(cols):
                delta[r, c] *= grad_scalar(y[r, c], x[r, c], code)


@njit(parallel=True, cache=True, error_model="numpy")
def _bias_activate_kernel(y, bias, code):
    rows, cols = y.shape
    step = max(1, _CHUNK // max(cols, 1))
    chunks = (rows + step - 1) // step
    for k in prange(chunks):
        r0 = k * step
        activate_rows(y, bias, r0, min(rows, r0 + step), code)


@njit(parallel=True, cache=True, error_model="numpy")
def _gradient_kernel(delta, y, x, code):
    rows, cols = delta.shape
    step = max(1, _CHUNK // max(cols, 1))
    chunks = (rows + step - 1) // step
    for k in prange(chunks):
        r0 = k * step
        gradient_rows(delta, y, x, r0, min(rows, r0 + step), code)


# --- public API ---------------------------------------------------------------------------------

def _check_code(code: int) -> int:
    code = int(code)
    if not 0 <= code < len(ACTIVATION_NAMES):
        raise ValueError(f"activation code {code} out of range 0..{len(ACTIVATION_NAMES) - 1}")
    return code


# float32 is the fast path; float64 serves finite-difference gradient checks (exp_f32 then
# is accurate to about 1e-8 relative, far below what such checks resolve)
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_array(a: np.ndarray, name: str, dtype=None) -> None:
    if (not isinstance(a, np.ndarray) or a.dtype not in _DTYPES or not a.flags.c_contiguous
            or (dtype is not None and a.dtype != dtype)):
        want = dtype or "float32 (or float64)"
        raise ValueError(f"{name} must be a C-contiguous {want} array (it is modified in place)")


def _as_blocks(flat: np.ndarray):
    """Split a 1-D array into a (rows, _CHUNK) view and a (1, tail) view, both contiguous."""
    main = flat.size - flat.size % _CHUNK
    parts = []
    if main:
        parts.append(flat[:main].reshape(-1, _CHUNK))
    if flat.size > main:
        parts.append(flat[main:].reshape(1, -1))
    return parts


def activate(x: np.ndarray, code: int) -> None:
    """x = f(x) in place, for a C-contiguous float32 array of any shape."""
    code = _check_code(code)
    _check_array(x, "x")
    if code == LINEAR or x.size == 0:
        return
    zeros = np.zeros(_CHUNK, dtype=x.dtype)  # no bias: the kernel adds 0
    for block in _as_blocks(x.reshape(-1)):
        _bias_activate_kernel(block, zeros, code)


def bias_activate(y: np.ndarray, bias: np.ndarray | None, code: int) -> None:
    """y[r, c] = f(y[r, c] + bias[c]) in place, in one pass; y is (rows, C) C-contiguous float32.

    The pass after every convolution GEMM. bias None means no bias.
    """
    code = _check_code(code)
    _check_array(y, "y")
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D (rows, channels), got shape {y.shape}")
    cols = y.shape[1]
    if bias is None:
        if code == LINEAR:
            return
        bias = np.zeros(cols, dtype=y.dtype)
    else:
        bias = np.ascontiguousarray(bias, dtype=y.dtype).reshape(-1)
        if bias.size != cols:
            raise ValueError(f"bias has {bias.size} values for {cols} channels")
    if y.size:
        _bias_activate_kernel(y, bias, code)


def activate_gradient(delta: np.ndarray, y: np.ndarray, x: np.ndarray | None, code: int) -> None:
    """delta *= f'(x) in place; y = f(x) is the output, x the pre-activation input.

    x may be None for activations whose derivative needs only y (all but NEEDS_INPUT).
    """
    code = _check_code(code)
    _check_array(delta, "delta")
    _check_array(y, "y", delta.dtype)
    if y.shape != delta.shape:
        raise ValueError(f"y has shape {y.shape}, delta {delta.shape}")
    if x is None:
        if code in NEEDS_INPUT:
            raise ValueError(f"the {ACTIVATION_NAMES[code]} derivative needs the input x")
        x = y  # never read
    else:
        _check_array(x, "x", delta.dtype)
        if x.shape != delta.shape:
            raise ValueError(f"x has shape {x.shape}, delta {delta.shape}")
    if code == LINEAR or delta.size == 0:
        return
    for d, yy, xx in zip(*(_as_blocks(a.reshape(-1)) for a in (delta, y, x))):
        _gradient_kernel(d, yy, xx, code)
