"""darknet-exact training arithmetic: batch norm (kernels/batchnorm_darknet.py) and convolution
(kernels/conv/darknet.py) against plain transcriptions of pjreddie's C loops (sequential float
sums, double where C promotes), and the convolutional layer's `darknet_training` switch."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import batchnorm_darknet as bd
from darkpy.network import Network

f32 = np.float32


def c_forward(x, images):
    """mean_cpu, variance_cpu, normalize_cpu on a (m, C) float32 matrix, as darknet loops."""
    m, cols = x.shape
    mean = np.zeros(cols, f32)
    var = np.zeros(cols, f32)
    for c in range(cols):
        acc = f32(0)
        for r in range(m):
            acc = f32(acc + x[r, c])
        mean[c] = f32(acc * f32(1.0 / m))
        acc = f32(0)
        for r in range(m):
            d = float(f32(x[r, c] - mean[c]))
            acc = f32(float(acc) + d * d)
        var[c] = f32(acc * f32(1.0 / (m - 1)))
    xn = np.empty_like(x)
    for r in range(m):
        for c in range(cols):
            xn[r, c] = f32(float(f32(x[r, c] - mean[c]))
                           / (np.sqrt(float(var[c])) + float(f32(0.000001))))
    return mean, var, xn


def c_backward(g, x, xn, mean, var, scales, images):
    """backward_bias, backward_scale_cpu, scale_bias, mean_delta_cpu, variance_delta_cpu,
    normalize_delta_cpu, in darknet's order (g = dL/dy, darknet's delta negated)."""
    m, cols = g.shape
    spatial = m // images
    dbias = np.zeros(cols, f32)
    dscale = np.zeros(cols, f32)
    dx = np.empty_like(g)
    for c in range(cols):
        for b in range(images):
            part = f32(0)
            for r in range(b * spatial, (b + 1) * spatial):
                part = f32(part + g[r, c])
            dbias[c] = f32(dbias[c] + part)
        acc = f32(0)
        for r in range(m):
            acc = f32(acc + f32(g[r, c] * xn[r, c]))
        dscale[c] = acc
        gs = (g[:, c] * scales[c]).astype(f32)
        msum = f32(0)
        vsum = f32(0)
        for r in range(m):
            msum = f32(msum + gs[r])
            vsum = f32(vsum + f32(gs[r] * f32(x[r, c] - mean[c])))
        v = float(f32(var[c] + f32(0.00001)))
        mean_delta = f32(float(msum) * (-1.0 / np.sqrt(v)))
        var_delta = f32(float(vsum) * (-0.5 * v ** float(f32(-1.5))))
        for r in range(m):
            dx[r, c] = f32(float(gs[r]) / np.sqrt(v)
                           + float(var_delta) * 2.0 * float(f32(x[r, c] - mean[c])) / m
                           + float(f32(mean_delta / f32(m))))
    return dx, dscale, dbias


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    images, spatial, cols = 2, 30, 11
    x = (rng.normal(3, 2, (images * spatial, cols)) * rng.uniform(0.1, 5, cols)).astype(f32)
    g = rng.normal(0, 1, x.shape).astype(f32)
    scales = rng.uniform(0.5, 2, cols).astype(f32)
    return x, g, scales, images


def test_forward_is_darknets_float_arithmetic(data):
    x, _, scales, images = data
    rm = np.full(x.shape[1], 0.5, f32)
    rv = np.full(x.shape[1], 2.0, f32)
    y, state = bd.train_forward(x.copy(), scales, rm, rv, images)
    mean, var, xn = c_forward(x, images)
    np.testing.assert_array_equal(state.mean, mean)
    np.testing.assert_array_equal(state.var, var)
    np.testing.assert_array_equal(state.xn, xn)
    np.testing.assert_array_equal(y, (xn * scales).astype(f32))
    np.testing.assert_array_equal(rm, f32(0.5) * f32(0.99) + f32(0.01) * mean)
    np.testing.assert_array_equal(rv, f32(2.0) * f32(0.99) + f32(0.01) * var)


def test_backward_is_darknets_formulas(data):
    x, g, scales, images = data
    y, state = bd.train_forward(x.copy(), scales, np.zeros(x.shape[1], f32),
                                np.ones(x.shape[1], f32), images)
    dx, dscales, dbiases = bd.backward(g, state, scales)
    rdx, rds, rdb = c_backward(g, x, state.xn, state.mean, state.var, scales, images)
    np.testing.assert_array_equal(dbiases, rdb)
    np.testing.assert_array_equal(dscales, rds)
    np.testing.assert_allclose(dx, rdx, rtol=2e-6, atol=1e-7)


def test_darknet_backward_is_close_to_but_not_the_exact_gradient(data):
    """darknet's dx drops O(1/m) terms: near the exact gradient, not equal to it."""
    from darkpy.kernels import batchnorm as bn

    x, g, scales, images = data
    _, state = bd.train_forward(x.copy(), scales, np.zeros(x.shape[1], f32),
                                np.ones(x.shape[1], f32), images)
    dx, _, _ = bd.backward(g, state, scales)
    _, exact_state = bn.train_forward(x.astype(np.float64), scales.astype(np.float64),
                                      np.zeros(x.shape[1]), np.ones(x.shape[1]))
    exact, _, _ = bn.backward(g.astype(np.float64), exact_state, scales)
    rel = np.abs(dx - exact).max() / np.abs(exact).max()
    assert 1e-5 < rel < 0.1


def test_convolution_switch_uses_darknets_batch_norm():
    text = """[net]
width=8
height=8
channels=2

[convolutional]
batch_normalize=1
filters=3
size=3
stride=1
pad=1
activation=leaky
"""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (2, 8, 8, 2)).astype(f32)
    results = []
    for darknet in (False, True):
        net = Network(parse_cfg_text(text, "<t>"))
        conv = net.layers[0]
        conv.params["weights"][...] = rng.normal(0, 1, conv.params["weights"].shape) if not results \
            else results[0][2]
        conv.darknet_training = "exact" if darknet else False
        out = net.forward(x, train=True)
        net.zero_grads()
        net.backward(np.ones_like(out))
        results.append((out, conv.grads["scales"].copy(), conv.params["weights"].copy(),
                        conv._saved[0]))
    assert isinstance(results[1][3], bd.DarknetBatchNormState)
    assert not isinstance(results[0][3], bd.DarknetBatchNormState)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-3, atol=1e-4)


# --- convolution and leaky (kernels/conv/darknet.py) ---------------------------------------------

def c_conv(x, w, stride, pad):
    """im2col + gemm_nn for one image as darknet loops: sequential float sums over
    k = (c, ky, kx), one rounding per multiply and per add. x (C, H, W), w (O, C, K, K)."""
    c_in, h, wd = x.shape
    o_n, _, k, _ = w.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((o_n, oh, ow), f32)
    for o in range(o_n):
        for oy in range(oh):
            for ox in range(ow):
                acc = f32(0)
                for c in range(c_in):
                    for ky in range(k):
                        for kx in range(k):
                            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                            v = x[c, iy, ix] if 0 <= iy < h and 0 <= ix < wd else f32(0)
                            acc = f32(acc + f32(w[o, c, ky, kx] * v))
                out[o, oy, ox] = acc
    return out


@pytest.mark.parametrize("stride, pad, groups", [(1, 1, 1), (2, 1, 1), (1, 0, 2)])
def test_convolution_sums_as_darknet(stride, pad, groups):
    from darkpy.kernels.conv import darknet as conv_darknet

    rng = np.random.default_rng(stride + 3 * pad)
    x = rng.normal(0, 1, (2, 7, 6, 4)).astype(f32)
    w = rng.normal(0, 1, (6, 4 // groups, 3, 3)).astype(f32)
    oh, ow = (7 + 2 * pad - 3) // stride + 1, (6 + 2 * pad - 3) // stride + 1
    out = np.empty((2, oh, ow, 6), f32)
    conv_darknet.conv_forward(x, w, stride, pad, groups, out)
    per = 6 // groups
    for n in range(2):
        for g in range(groups):
            xs = x[n, :, :, g * (4 // groups):(g + 1) * (4 // groups)].transpose(2, 0, 1)
            want = c_conv(xs, w[g * per:(g + 1) * per], stride, pad)
            np.testing.assert_array_equal(out[n, :, :, g * per:(g + 1) * per],
                                          want.transpose(1, 2, 0))


def test_leaky_multiplies_in_double():
    from darkpy.kernels.conv import darknet as conv_darknet

    x = np.array([-3.0, -1e-3, 0.0, 2.5, -0.7], f32)
    want = np.array([f32(0.1 * float(v)) if v <= 0 else v for v in x], f32)
    np.testing.assert_array_equal(conv_darknet.leaky(x.copy()), want)
