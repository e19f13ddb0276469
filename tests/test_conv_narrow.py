"""Convolutions of few input channels without im2col (kernels/conv/narrow.py), against a
naive float64 convolution: strides, padding, several images and output panels, threads."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.kernels import aligned
from darkpy.kernels.activations import LEAKY, LINEAR, LOGISTIC, RELU
from darkpy.kernels.conv import inference, narrow
from tests.conv_reference import float64_conv


@pytest.mark.parametrize("n,h,w,c,f,k,stride,pad,code", [
    (1, 30, 29, 3, 16, 3, 1, 1, LEAKY),   # a row of 29: one whole register block and a ragged one
    (2, 17, 26, 3, 32, 3, 2, 1, LINEAR),  # two images, stride 2 (yolov4-tiny's first layer)
    (1, 9, 11, 2, 80, 3, 1, 0, LEAKY),    # unpadded; 64 + 16 output channels: two panels
    (1, 12, 13, 1, 48, 5, 1, 2, LINEAR),  # a 5x5 kernel on one channel
])
def test_narrow_convolution_matches_float64(monkeypatch, threads, n, h, w, c, f, k, stride,
                                            pad, code):
    called = []
    real = inference._conv2d_narrow
    monkeypatch.setattr(inference, "_conv2d_narrow", lambda *a: called.append(1) or real(*a))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    wt = rng.standard_normal((k, k, c, f), dtype=np.float32)
    bias = rng.standard_normal(f, dtype=np.float32)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = np.full((n, oh, ow, f), np.nan, np.float32)
    inference.conv2d_gemm(x, wt.reshape(-1, f), bias, code, k, stride, stride, pad, 1, 1, out)
    assert called
    np.testing.assert_allclose(out, float64_conv(x, wt, bias, stride, pad, code), rtol=1e-5,
                               atol=1e-5 * np.sqrt(k * k * c))


def test_many_input_channels_keep_im2col(monkeypatch):
    """K*C beyond NARROW_TAPS (or output channels off whole vectors) is im2col's."""
    called = []
    monkeypatch.setattr(inference, "_conv2d_narrow", lambda *a: called.append(1))
    x = np.ones((1, 6, 6, 8), np.float32)
    out = np.empty((1, 6, 6, 16), np.float32)
    inference.conv2d_gemm(x, np.ones((72, 16), np.float32), None, LINEAR, 3, 1, 1, 1, 1, 1, out)
    out3 = np.empty((1, 6, 6, 3), np.float32)
    inference.conv2d_gemm(np.ones((1, 6, 6, 3), np.float32), np.ones((27, 3), np.float32), None,
                          LINEAR, 3, 1, 1, 1, 1, 1, out3)
    assert not called and out[0, 2, 2, 0] == 72 and out3[0, 2, 2, 0] == 27


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code", [LINEAR, RELU, LEAKY])
@pytest.mark.parametrize("stride,f", [(1, 16), (2, 32)])
@pytest.mark.parametrize("n,h,w,pad", [(1, 23, 45, 1), (2, 7, 20, 1), (1, 9, 13, 0)])
def test_direct_kernel_gives_the_gemm_bits(monkeypatch, threads, n, h, w, pad, stride, f, code,
                                           stream):
    """f output channels of a 3x3 RGB convolution by the direct kernel (16 at stride 1, 32 at
    stride 2: ragged last runs of pixels, non-temporal stores or not) against the same
    channels of one with 16 more, which takes the row GEMM: the same sums in the same order,
    so the same bits."""
    monkeypatch.setattr(inference, "STREAM_BYTES", 0 if stream else 1 << 62)
    wider = f + 16
    assert narrow.direct_applies(3, 3, stride, f, code)
    assert not narrow.direct_applies(3, 3, stride, wider, code)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, h, w, 3), dtype=np.float32)
    wt = rng.standard_normal((3, 3, 3, wider), dtype=np.float32)
    bias = rng.standard_normal(wider, dtype=np.float32)
    oh, ow = (h + 2 * pad - 3) // stride + 1, (w + 2 * pad - 3) // stride + 1
    wide = aligned.empty((n, oh, ow, wider))
    inference.conv2d_gemm(x, wt.reshape(-1, wider), bias, code, 3, stride, stride, pad, 1, 1,
                          wide)
    out = aligned.empty((n, oh, ow, f))
    out[:] = np.nan
    inference.conv2d_gemm(x, np.ascontiguousarray(wt[..., :f]).reshape(-1, f), bias[:f], code,
                          3, stride, stride, pad, 1, 1, out)
    np.testing.assert_array_equal(out, wide[..., :f])
    np.testing.assert_allclose(out, float64_conv(x, wt[..., :f], bias[:f], stride, pad, code),
                               rtol=1e-5, atol=1e-4)


def test_other_activations_take_the_row_gemm(monkeypatch):
    """A logistic first layer of 16 channels: not the direct kernel's (it fuses linear, ReLU
    and leaky only), still right."""
    monkeypatch.setattr(narrow, "convolve_rows_direct", None)  # would fail if called
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 6, 7, 3), dtype=np.float32)
    wt = rng.standard_normal((3, 3, 3, 16), dtype=np.float32)
    out = np.empty((1, 6, 7, 16), np.float32)
    inference.conv2d_gemm(x, wt.reshape(-1, 16), None, LOGISTIC, 3, 1, 1, 1, 1, 1, out)
    expected = float64_conv(x, wt, np.zeros(16), 1, 1, LOGISTIC)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
