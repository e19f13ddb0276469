"""AlexeyAB's CPU build's float order (kernels/conv/darknet.py's backward, the [yolo] head's
logistic in kernels/logistic_alexeyab_cpu.py): hand-worked sums where the order decides the
result, a float64 reference for the convolution backward, and gcc's -Ofast build of a plain
logistic loop (where gcc is installed) for the logistic."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from darkpy.kernels.conv import darknet as D

F = np.float32


def test_gemm_nt_lanes_fold_as_gcc_vectorises():
    ones = np.ones(8, F)
    # lanes (1, 1e8, 1, -1e8) fold to (1 + 1) + (1e8 - 1e8) = 2, the tail adds 1: 3
    # (summed one by one: 1e8 swallows the first 1, so 1)
    assert D.lane_sum_nt(np.array([1, 1e8, 1, -1e8, 1], F), ones, 5) == 3
    # a tail of two goes into lanes 0 and 1 before the fold: (0 + 1) + (1 + 1) = 3 (in order: 2)
    assert D.lane_sum_nt(np.array([1e8, 1, -1e8, 0, 1, 1], F), ones, 6) == 3
    assert D.lane_sum_nt(np.array([1, 2, 3], F), np.array([1, 1, 2], F), 3) == 9


def test_sum_array_lanes_then_tail():
    a = np.array([1e8, 1, -1e8, 1, 1], F)
    assert D.lane_sum_into(F(0), a, a, 5, False) == 3     # (1e8 - 1e8) + (1 + 1), then + 1
    assert D.lane_sum_into(F(10), a[:3], a, 3, False) == F(10) + F(1e8) + 1 - F(1e8)
    assert D.lane_sum_into(F(0), np.array([2, 3, 4, 5], F), np.array([1, 1, 1, 2], F), 4,
                           True) == 19


@pytest.mark.parametrize("stride,pad,groups,size", [(1, 1, 1, 3), (2, 1, 2, 3), (1, 0, 1, 1)])
def test_conv_backward_equals_a_float64_reference(stride, pad, groups, size):
    rng = np.random.default_rng(stride + 3 * groups + size)
    n, h, w, cin, cout = 2, 7, 6, 4, 6
    x = rng.standard_normal((n, h, w, cin)).astype(F)
    weights = rng.standard_normal((size, size, cin // groups, cout)).astype(F)
    out_h = (h + 2 * pad - size) // stride + 1
    out_w = (w + 2 * pad - size) // stride + 1
    dz = rng.standard_normal((n, out_h, out_w, cout)).astype(F)
    dw = np.full_like(weights, 0.5)
    dx = D.conv_backward(x, weights, dz, stride, pad, groups, dw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ref_dw = np.full(weights.shape, 0.5)
    ref_dx = np.zeros(xp.shape)
    cg, per = cin // groups, cout // groups
    for g in range(groups):
        for ky in range(size):
            for kx in range(size):
                patch = xp[:, ky:ky + stride * out_h:stride, kx:kx + stride * out_w:stride,
                           g * cg:(g + 1) * cg]
                d = dz[..., g * per:(g + 1) * per].astype(np.float64)
                ref_dw[ky, kx, :, g * per:(g + 1) * per] += np.einsum("nyxc,nyxo->co", patch, d)
                ref_dx[:, ky:ky + stride * out_h:stride, kx:kx + stride * out_w:stride,
                       g * cg:(g + 1) * cg] += np.einsum(
                           "nyxo,co->nyxc", d, weights[ky, kx, :, g * per:(g + 1) * per])
    ref_dx = ref_dx[:, pad:pad + h, pad:pad + w]
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=1e-5)


def test_logistic_is_gccs_ofast_loop(tmp_path):
    from darkpy.kernels import logistic_alexeyab_cpu as L

    if not L.available():
        pytest.skip("no glibc libmvec / llvmlite here")
    x = (np.random.default_rng(1).standard_normal(1003) * 4).astype(F)
    got = x.copy()
    L.logistic_in_place(got)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(got, exact, rtol=2e-6)
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the bit-for-bit comparison needs it")
    src = tmp_path / "logistic.c"
    src.write_text("#include <math.h>\nvoid act(float *x, int n)"
                   "{ for (int i = 0; i < n; ++i) x[i] = 1.f / (1.f + expf(-x[i])); }\n")
    lib = tmp_path / "logistic.so"
    subprocess.run([gcc, "-Ofast", "-fPIC", "-shared", "-o", str(lib), str(src), "-lm"],
                   check=True)
    ref = x.copy()
    ctypes.CDLL(str(lib)).act(ref.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(ref.size))
    np.testing.assert_array_equal(got, ref)
