"""Activation names and their integer codes, without numba.

Kernels select an activation by an integer code, the index of its name in one of these tables;
layers read the tables when they check a cfg and pick their codes while a network is built,
which must not import numba (darkpy/kernels/lazy.py). The formulas are in
kernels/activations.py (element-wise) and kernels/channel_activations.py (across channels).
"""
from __future__ import annotations

ACTIVATION_NAMES: tuple[str, ...] = (
    "linear", "logistic", "loggy", "relu", "relu6", "elu", "selu", "relie", "ramp", "tanh",
    "plse", "leaky", "stair", "hardtan", "lhtan", "softplus", "softsign", "elliot",
    "symmelliot", "mish", "swish", "gelu",
    # appended later (codes are indices: new names go at the end)
    "hard_mish", "revleaky",
)

(LINEAR, LOGISTIC, LOGGY, RELU, RELU6, ELU, SELU, RELIE, RAMP, TANH, PLSE, LEAKY, STAIR, HARDTAN,
 LHTAN, SOFTPLUS, SOFTSIGN, ELLIOT, SYMMELLIOT, MISH, SWISH, GELU,
 HARD_MISH, REVLEAKY) = range(len(ACTIVATION_NAMES))

# Derivatives of these read the pre-activation input x; all others need only the output y.
NEEDS_INPUT = frozenset({MISH, SWISH, GELU, HARD_MISH})

# AlexeyAB's activations across the channels of a pixel ([convolutional] only)
CHANNEL_ACTIVATION_NAMES: tuple[str, ...] = (
    "normalize_channels", "normalize_channels_softmax", "normalize_channels_softmax_maxval",
)
NORM_CHAN, NORM_CHAN_SOFTMAX, NORM_CHAN_SOFTMAX_MAXVAL = range(len(CHANNEL_ACTIVATION_NAMES))


def activation_code(name: str) -> int:
    """The integer code of an activation name (its index in ACTIVATION_NAMES)."""
    try:
        return ACTIVATION_NAMES.index(name)
    except ValueError:
        raise ValueError(
            f"unknown activation '{name}'; valid names: {', '.join(ACTIVATION_NAMES)}"
        ) from None


def channel_activation_code(name: str) -> int:
    """The code of a channel-wise activation name (its index in CHANNEL_ACTIVATION_NAMES)."""
    try:
        return CHANNEL_ACTIVATION_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown channel-wise activation '{name}'; valid names: "
                         f"{', '.join(CHANNEL_ACTIVATION_NAMES)}") from None
