"""The float32 convolution backward (kernels/conv/training.py, winograd_grad.py, and the layer's
choice between them) against a naive numpy backward written here: Winograd weight gradients
with ragged tiles and both paddings, im2col + GEMM with strides, groups, dilation and 1x1,
dL/dx as a convolution of dz with flipped weights, the fused activation derivative and bias
sum, and independence from the thread count."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.kernels import activations, workers
from darkpy.kernels.conv import training
from darkpy.layers.convolutional import Convolutional


def naive_conv_grads(x, w, dz, groups, stride, pad, dilation):
    """(dL/dx, dL/dw) of z = conv(x, w), NHWC x, (K, K, C/groups, F) w, float64, one
    kernel tap at a time over a zero-padded copy of x."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    dz = dz.astype(np.float64)
    n, h, wd, c = x.shape
    k, _, cg, f = w.shape
    cog = f // groups
    _, oh, ow, _ = dz.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for ky in range(k):
        for kx in range(k):
            ys = slice(ky * dilation, ky * dilation + stride * (oh - 1) + 1, stride)
            xs = slice(kx * dilation, kx * dilation + stride * (ow - 1) + 1, stride)
            for g in range(groups):
                ci, co = slice(g * cg, (g + 1) * cg), slice(g * cog, (g + 1) * cog)
                patch = xp[:, ys, xs, ci]
                dw[ky, kx, :, co] += np.einsum("nhwc,nhwo->co", patch, dz[..., co])
                dxp[:, ys, xs, ci] += np.einsum("nhwo,co->nhwc", dz[..., co], w[ky, kx, :, co])
    return dxp[:, pad:pad + h, pad:pad + wd], dw


def make_conv(input_shape, **options):
    section = Section("convolutional", {k: str(v) for k, v in options.items()}, "t.cfg:1")
    opts = parse_options(section, {**COMMON_KEYS, **Convolutional.keys})
    return Convolutional(opts, [input_shape], 0, "t.cfg:1")


@pytest.mark.parametrize("shape, cout, pad", [
    ((2, 9, 11, 8), 5, 1),    # ragged last tiles in both directions
    ((3, 10, 7, 4), 9, 0),    # unpadded: output 8x5
    ((1, 4, 4, 3), 2, 1),     # one tile
    ((2, 13, 6, 16), 16, 1),  # channels multiples of 16: the vector transforms and GEMMs
    ((3, 14, 11, 32), 48, 0),
])
def test_winograd_weight_grad_matches_naive(shape, cout, pad, threads, monkeypatch):
    monkeypatch.setattr(training, "MIN_BLOCK_TILES", 2)  # many blocks and partial sums
    monkeypatch.setattr(training, "VECTOR_BLOCK_TILES", 5)
    monkeypatch.setattr(training, "WINOGRAD_BLOCK_BYTES", 1)
    monkeypatch.setattr(training, "MAX_PARTIALS", 3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    n, h, w, c = shape
    dz = rng.standard_normal((n, h + 2 * pad - 2, w + 2 * pad - 2, cout)).astype(np.float32)
    _, want = naive_conv_grads(x, np.zeros((3, 3, c, cout)), dz, 1, 1, pad, 1)
    dw = np.full((3, 3, c, cout), 0.5, np.float32)  # gradients add to what is there
    training.weight_grad_winograd(x, dz, pad, dw)
    np.testing.assert_allclose(dw - 0.5, want, rtol=1e-4, atol=2e-5 * np.abs(want).max())


GEMM_CASES = {
    # name: (input shape, K, cout, groups, stride, pad, dilation)
    "stride2": ((2, 9, 8, 6), 3, 5, 1, 2, 1, 1),
    "groups2-stride1": ((3, 7, 6, 8), 3, 6, 2, 1, 1, 1),
    "dilation2": ((2, 9, 9, 4), 3, 3, 1, 1, 2, 2),
    "pointwise": ((2, 5, 4, 6), 1, 7, 1, 1, 0, 1),
    "pointwise-groups": ((1, 5, 4, 6), 1, 4, 2, 1, 0, 1),
    "5x5-unpadded": ((1, 11, 9, 3), 5, 4, 1, 1, 0, 1),
    "4x4-stride3": ((2, 10, 11, 3), 4, 2, 1, 3, 2, 1),
}


@pytest.mark.parametrize("case", list(GEMM_CASES))
def test_gemm_backward_matches_naive(case, threads, monkeypatch):
    monkeypatch.setattr(training, "COL_BLOCK_BYTES", 1)  # one output row per block
    monkeypatch.setattr(training, "MAX_PARTIALS", 2)
    shape, k, cout, groups, stride, pad, dilation = GEMM_CASES[case]
    rng = np.random.default_rng(2)
    n, h, w, c = shape
    x = rng.standard_normal(shape).astype(np.float32)
    wt = rng.standard_normal((k, k, c // groups, cout)).astype(np.float32)
    span = (k - 1) * dilation + 1
    oh, ow = (h + 2 * pad - span) // stride + 1, (w + 2 * pad - span) // stride + 1
    dz = rng.standard_normal((n, oh, ow, cout)).astype(np.float32)
    want_dx, want_dw = naive_conv_grads(x, wt, dz, groups, stride, pad, dilation)
    for with_dx in (True, False):
        dw = np.zeros_like(wt)
        dx = np.zeros_like(x) if with_dx else None
        training.conv_backward_gemm(x, wt, dz, groups, stride, stride, pad, dilation, dw, dx)
        np.testing.assert_allclose(dw, want_dw, rtol=1e-5, atol=1e-4)
        if with_dx:
            np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-4)


LAYER_CASES = {
    # name: (input shape with batch, options, forward's algorithm): Winograd forward means
    # dL/dw through Winograd; dL/dx is a Winograd convolution for 3x3 stride 1 with >= 8
    # filters and >= 64 4x4 tiles (F(2x2) below: "winograd small", dL/dw then by GEMM),
    # im2col + GEMM for other stride-1 ones, else col2im
    "winograd": ((4, 17, 13, 8), dict(filters=9, size=3, pad=1, activation="relu"), "winograd"),
    "winograd-unpadded": ((6, 18, 14, 8), dict(filters=8, size=3, activation="leaky"),
                          "winograd"),
    "winograd-few-filters": ((4, 16, 16, 16), dict(filters=3, size=3, pad=1), "winograd"),
    "winograd-small": ((2, 9, 7, 16), dict(filters=17, size=3, pad=1, activation="relu"),
                       "winograd small"),
    "gemm-few-channels": ((2, 16, 16, 3), dict(filters=16, size=3, pad=1, activation="mish"),
                          "gemm"),
    "gemm-groups": ((2, 7, 9, 16), dict(filters=16, size=3, pad=1, groups=2), "gemm"),
    "gemm-dilation": ((2, 11, 10, 4), dict(filters=6, size=3, pad=1, dilation=2), "gemm"),
    "gemm-5x5": ((1, 9, 12, 4), dict(filters=5, size=5, pad=1, activation="logistic"), "gemm"),
    "gemm-1x1": ((2, 5, 6, 8), dict(filters=12, size=1, activation="swish"), "gemm"),
    "stride2": ((2, 9, 10, 4), dict(filters=6, size=3, stride=2, pad=1), "gemm"),
    "padding-beyond-kernel": ((1, 6, 5, 3), dict(filters=4, size=1, padding=1), "gemm"),
}


@pytest.mark.parametrize("case", list(LAYER_CASES) + ["winograd-off"])
def test_layer_float32_backward_matches_naive(case, threads):
    # winograd-off: the first case with Winograd disabled (DARKPY_WINOGRAD=0): all by GEMM
    shape, options, algorithm = LAYER_CASES.get(case, (*LAYER_CASES["winograd"][:2], "gemm"))
    rng = np.random.default_rng(3)
    layer = make_conv(shape[1:], **options)
    if case == "winograd-off":
        layer.winograd = False
    assert layer.algorithm(shape) == algorithm
    layer.params["weights"][...] = rng.standard_normal(layer.params["weights"].shape)
    layer.params["biases"][...] = rng.standard_normal(layer.params["biases"].shape)
    layer.invalidate()
    x = rng.standard_normal(shape).astype(np.float32)
    y = layer.forward([x], train=True)
    delta = rng.standard_normal(y.shape).astype(np.float32)
    delta_copy = delta.copy()
    layer.zero_grads()
    dx = layer.backward(delta, [x], y)[0]
    np.testing.assert_array_equal(delta, delta_copy)  # backward leaves delta alone

    # naive: the pre-activation from a naive forward, f' by its formula
    pre = _naive_pre_activation(layer, x)
    fprime = _derivative(layer.code, pre)
    dz = delta.astype(np.float64) * fprime
    want_dx, want_dw = naive_conv_grads(x, layer.params["weights"], dz, layer.groups,
                                        layer.stride_x, layer.padding * layer.dilation,
                                        layer.dilation)
    scale = np.abs(want_dw).max()
    np.testing.assert_allclose(layer.grads["weights"], want_dw, rtol=1e-4, atol=2e-5 * scale)
    np.testing.assert_allclose(layer.grads["biases"], dz.sum(axis=(0, 1, 2)), rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=2e-5 * np.abs(want_dx).max())
    assert dx.dtype == np.float32


def _naive_pre_activation(layer, x):
    """conv(x, w) + b in float64, one tap at a time (the forward the tests above mirror)."""
    w = layer.params["weights"].astype(np.float64)
    k, _, cg, f = w.shape
    cog = f // layer.groups
    pad, d, s = layer.padding * layer.dilation, layer.dilation, layer.stride_x
    oh, ow, _ = layer.output_shape([x.shape[1:]])
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    z = np.zeros((x.shape[0], oh, ow, f))
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, ky * d:ky * d + s * (oh - 1) + 1:s, kx * d:kx * d + s * (ow - 1) + 1:s]
            for g in range(layer.groups):
                ci, co = slice(g * cg, (g + 1) * cg), slice(g * cog, (g + 1) * cog)
                z[..., co] += patch[..., ci] @ w[ky, kx, :, co]
    return z + layer.params["biases"]


def _derivative(code, x):
    name = activations.ACTIVATION_NAMES[code]
    if name == "linear":
        return np.ones_like(x)
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "leaky":
        return np.where(x > 0, 1.0, 0.1)
    if name == "logistic":
        s = 1 / (1 + np.exp(-x))
        return s * (1 - s)
    if name == "swish":
        s = 1 / (1 + np.exp(-x))
        return s + x * s * (1 - s)
    if name == "mish":
        sp = np.log1p(np.exp(x))
        t = np.tanh(sp)
        return t + x * (1 - t * t) / (1 + np.exp(-x))
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["linear", "relu", "leaky", "mish"])
def test_activation_gradient_sum_matches_numpy(name, threads, monkeypatch):
    monkeypatch.setattr(training, "GRADIENT_CHUNK_VALUES", 50)  # several ragged chunks
    monkeypatch.setattr(workers, "SERIAL_WORK", 0)
    rng = np.random.default_rng(4)
    code = activations.activation_code(name)
    pre = rng.uniform(-3, 3, (37, 7)).astype(np.float32)
    y = pre.copy()
    activations.activate(y, code)
    delta = rng.standard_normal((37, 7)).astype(np.float32)
    g, sums = training.activation_gradient_sum(delta, y, pre, code)
    want = delta * _derivative(code, pre.astype(np.float64))
    np.testing.assert_allclose(g, want, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(sums, want.sum(axis=0), rtol=1e-6, atol=1e-5)
    assert g is not delta and sums.dtype == np.float64
    # share: a linear gradient is delta itself, with the same sums; others still copy
    before = delta.copy()
    shared, shared_sums = training.activation_gradient_sum(delta, y, pre, code, share=True)
    assert (shared is delta) == (name == "linear")
    np.testing.assert_array_equal(shared, g)
    np.testing.assert_array_equal(shared_sums, sums)
    np.testing.assert_array_equal(delta, before)


def test_flipped_weights_hand_worked():
    # 2x2 kernel, 2 groups of one input and two output channels: cg=1, cout=4
    w = np.arange(2 * 2 * 1 * 4, dtype=np.float32).reshape(2, 2, 1, 4)
    f = training.flipped_weights(w, 2)  # (2, 2, cog=2, groups*cg=2)
    assert f.shape == (2, 2, 2, 2)
    # f[ky, kx, o, g] = w[1-ky, 1-kx, 0, 2g + o]
    for ky in range(2):
        for kx in range(2):
            for o in range(2):
                for g in range(2):
                    assert f[ky, kx, o, g] == w[1 - ky, 1 - kx, 0, 2 * g + o]


def test_backward_does_not_depend_on_thread_count():
    rng = np.random.default_rng(5)
    layer = make_conv((12, 10, 8), filters=8, size=3, pad=1, activation="relu")
    layer.params["weights"][...] = rng.standard_normal(layer.params["weights"].shape)
    x = rng.standard_normal((3, 12, 10, 8)).astype(np.float32)
    delta = rng.standard_normal((3, 12, 10, 8)).astype(np.float32)
    saved = workers.num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            workers.set_num_threads(n)
            layer.zero_grads()
            y = layer.forward([x], train=True)
            dx = layer.backward(delta, [x], y)[0]
            results.append((dx, layer.grads["weights"].copy(), layer.grads["biases"].copy()))
    finally:
        workers.set_num_threads(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
