"""Finite-difference gradient checks for layers and networks (float64, central differences).

The loss is a random projection of the output, L = sum(w * forward(inputs)), whose gradient
with respect to the output is w. A layer's backward(w, inputs, output) must then return
dL/d(input) for every input and add dL/dparam to its grads; each is compared with

    (L(v + eps) - L(v - eps)) / (2 eps)

for up to `max_checks` entries of every input and trainable parameter (all of them when the
array is small). Training-mode forwards are used by default (batch statistics in batch norm);
`before_forward` runs before every forward, e.g. to reseed a dropout layer so its mask stays
the same. Inputs must keep clear of kinks (relu at 0 ...) by more than eps.
"""
from __future__ import annotations

import numpy as np


def _picks(size: int, max_checks: int, rng) -> np.ndarray:
    if size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, max_checks, replace=False))


def _compare(what, analytic, numeric, rtol, atol):
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                               err_msg=f"gradient of {what}: backward vs finite differences")


def check_layer_gradients(layer, inputs, rtol=1e-6, atol=1e-8, *, train=True, eps=1e-6,
                          max_checks=40, seed=0, before_forward=None, check_params=True):
    """Compare layer.backward with central differences; raises AssertionError on mismatch.

    The layer is switched to float64 (layer.astype). Returns (analytic input gradients,
    analytic parameter gradients) for further checks.
    """
    rng = np.random.default_rng(seed)
    layer.astype(np.float64)
    inputs = [np.array(x, dtype=np.float64, order="C") for x in inputs]
    originals = [x.copy() for x in inputs]

    def forward():
        if before_forward is not None:
            before_forward()
        return layer.forward(inputs, train=train)

    out = forward()
    assert out.dtype == np.float64, f"forward returned {out.dtype} for float64 inputs"
    w = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(w * forward()))

    layer.zero_grads()
    out = forward()
    delta = w.copy()
    input_grads = layer.backward(delta, inputs, out)
    np.testing.assert_array_equal(delta, w, err_msg="backward modified its delta")
    for x, x0 in zip(inputs, originals):
        np.testing.assert_array_equal(x, x0, err_msg="forward/backward modified an input")
    assert len(input_grads) == len(inputs), "backward must return one gradient per input"
    param_grads = {name: layer.grads[name].copy() for name in layer.trainable()}

    def numeric(array, flat_index, after_change=None):
        flat = array.reshape(-1)
        saved = flat[flat_index]
        flat[flat_index] = saved + eps
        if after_change:
            after_change()
        plus = loss()
        flat[flat_index] = saved - eps
        if after_change:
            after_change()
        minus = loss()
        flat[flat_index] = saved
        if after_change:
            after_change()
        return (plus - minus) / (2 * eps)

    for i, (x, g) in enumerate(zip(inputs, input_grads)):
        idx = _picks(x.size, max_checks, rng)
        got = np.zeros(idx.size) if g is None else np.asarray(g).reshape(-1)[idx]
        if g is not None:
            assert g.shape == x.shape and g.dtype == np.float64, (
                f"input {i}: gradient {g.shape} {g.dtype} for input {x.shape}")
        want = np.array([numeric(x, j) for j in idx])
        _compare(f"input {i}", got, want, rtol, atol)

    if check_params:
        for name, g in param_grads.items():
            param = layer.params[name]
            assert g.shape == param.shape, f"grads[{name}] {g.shape} vs param {param.shape}"
            idx = _picks(param.size, max_checks, rng)
            want = np.array([numeric(param, j, layer.invalidate) for j in idx])
            _compare(f"parameter {name}", g.reshape(-1)[idx], want, rtol, atol)
    return input_grads, param_grads


def check_network_gradients(net, x, rtol=1e-6, atol=1e-8, *, eps=1e-6, max_checks=12,
                            seed=0, before_forward=None):
    """The same check for a whole Network (switched to float64): the input and every
    trainable parameter of every layer, through forward(train=True) and backward."""
    rng = np.random.default_rng(seed)
    net.astype(np.float64)
    x = np.array(x, dtype=np.float64, order="C")

    def forward():
        if before_forward is not None:
            before_forward()
        return net.forward(x, train=True)

    w = rng.standard_normal(forward().shape)

    def loss():
        return float(np.sum(w * forward()))

    net.zero_grads()
    forward()
    dx = net.backward(w.copy())
    grads = {(layer.index, name): grad.copy() for layer, name, _, grad in net.parameters()}

    def numeric(array, j, layer=None):
        flat = array.reshape(-1)
        saved = flat[j]
        values = []
        for v in (saved + eps, saved - eps):
            flat[j] = v
            if layer is not None:
                layer.invalidate()
            values.append(loss())
        flat[j] = saved
        if layer is not None:
            layer.invalidate()
        return (values[0] - values[1]) / (2 * eps)

    idx = _picks(x.size, max_checks, rng)
    _compare("the network input", dx.reshape(-1)[idx],
             np.array([numeric(x, j) for j in idx]), rtol, atol)
    for layer, name, param, _ in list(net.parameters()):
        g = grads[(layer.index, name)]
        idx = _picks(param.size, max_checks, rng)
        want = np.array([numeric(param, j, layer) for j in idx])
        _compare(f"layer {layer.index} [{layer.kind}] {name}", g.reshape(-1)[idx], want,
                 rtol, atol)
    return dx, grads
