"""The learning rate of an update: darknet's get_current_rate, policy by policy.

`batch_num` is darknet's get_current_batch at the time of the update: seen images divided by
the images of one batch (batch), i.e. the number of batches trained *including* the one being
applied, so the first update has batch_num = 1. lr = learning_rate from [net]; b = batch_num.

    b < burn_in      lr * (b / burn_in)^power           (before any policy)
    constant         lr
    step             lr * scale^(b // step)
    steps            lr * scales[0] * ... * scales[i-1]    for the first i with steps[i] > b
    exp              lr * gamma^b
    poly             lr * (1 - b / max_batches)^power
    sigmoid          lr / (1 + e^(gamma * (b - step)))
    random           lr * u^power, u uniform in [0, 1)
    sgdr             lr_min + (lr - lr_min) * (1 + cos(pi * (b - start) / cycle)) / 2,
                     cycles of sgdr_cycle batches (default max_batches), each sgdr_mult times
                     longer than the last (AlexeyAB's fork; lr_min = learning_rate_min)

Rounding follows darknet: its rates and ratios are float (float32) and pow/exp/cos run in
double, the result is returned as float; so is it here. Two deliberate differences: sigmoid
uses b - step as a signed number (pjreddie's size_t arithmetic makes it wrap to a huge value,
and the rate 0, for every b < step); random draws u from a generator seeded by (seed, b), so a
resumed run repeats its rates exactly (darknet calls rand()).
"""
from __future__ import annotations

import math

import numpy as np

from darkpy.errors import ConfigError

F32 = np.float32


def _c_pow(base, exponent) -> float:
    """C's pow on doubles: NaN (not an exception) for a negative base and fractional power."""
    try:
        return math.pow(float(base), float(exponent))
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf


def _f32(value) -> float:
    """The float darknet's `return <double expression>` from a float function gives."""
    with np.errstate(over="ignore"):
        return float(F32(value))


def _steps_rate(lr, steps, scales, batch_num) -> float:
    rate = F32(lr)
    for step, scale in zip(steps, scales):
        if step > batch_num:
            return float(rate)
        rate = F32(rate * F32(scale))
    return float(rate)


def learning_rate(net, batch_num: int, seed: int = 0, where: str = "[net]") -> float:
    """darknet's learning rate for the update at `batch_num` (see the module docstring).

    `net` holds the [net] options (Network.net); `where` names the section in errors.
    """
    batch_num = int(batch_num)
    lr = F32(net["learning_rate"])
    power = F32(net["power"])
    burn_in = int(net["burn_in"])
    if batch_num < burn_in:
        return _f32(float(lr) * _c_pow(F32(batch_num) / F32(burn_in), power))
    policy = net["policy"]
    if policy == "constant":
        return float(lr)
    if policy == "step":
        step = int(net["step"])
        if step <= 0:
            raise ConfigError(f"{where}: policy=step needs step > 0, got {step}")
        return _f32(float(lr) * _c_pow(F32(net["scale"]), batch_num // step))
    if policy == "steps":
        steps, scales = list(net["steps"]), list(net["scales"])
        if len(steps) != len(scales):
            raise ConfigError(f"{where}: policy=steps needs as many scales as steps (got "
                              f"{len(steps)} steps, {len(scales)} scales)")
        return _steps_rate(lr, steps, scales, batch_num)
    if policy == "exp":
        return _f32(float(lr) * _c_pow(F32(net["gamma"]), batch_num))
    if policy == "poly":
        max_batches = int(net["max_batches"])
        if max_batches <= 0:
            raise ConfigError(f"{where}: policy=poly needs max_batches > 0")
        base = F32(1) - F32(batch_num) / F32(max_batches)
        return _f32(float(lr) * _c_pow(base, power))
    if policy == "sigmoid":
        z = F32(net["gamma"]) * F32(batch_num - int(net["step"]))
        try:
            e = math.exp(float(z))
        except OverflowError:
            e = math.inf
        return _f32(float(lr) * (1.0 / (1.0 + e)))
    if policy == "random":
        u = F32(np.random.default_rng([int(seed) & 0xFFFFFFFF, batch_num]).random())
        return _f32(float(lr) * _c_pow(u, power))
    if policy == "sgdr":
        return _sgdr_rate(net, lr, batch_num, where)
    raise ConfigError(f"{where}: unknown learning-rate policy {policy!r}")


def _sgdr_rate(net, lr, batch_num, where) -> float:
    lr_min = F32(net.get("learning_rate_min", 0.00001))
    cycle = int(net.get("sgdr_cycle", 0)) or int(net["max_batches"])
    mult = int(net.get("sgdr_mult", 2))
    if cycle <= 0:
        raise ConfigError(f"{where}: policy=sgdr needs sgdr_cycle or max_batches > 0")
    start = 0
    while start + cycle < batch_num:
        start += cycle
        cycle *= mult
    phase = float(F32(batch_num - start)) * math.pi / cycle
    return _f32(float(lr_min) + 0.5 * float(F32(lr - lr_min)) * (1.0 + math.cos(phase)))
