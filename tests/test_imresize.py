"""MATLAB's imresize(..., 'bicubic'): hand-worked weights, invariants, and the literature's
Set5 LR images reproduced from their HR images."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.imresize import axis_matrix, cubic, imresize

# k(x) for a = -0.5 worked by hand at the distances an x2 shrink samples (x = d / 2)
K_025, K_075, K_125, K_175 = 0.8671875, 0.2265625, -0.0703125, -0.0234375


def test_cubic_kernel_values():
    x = np.array([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5])
    np.testing.assert_allclose(cubic(x), [1.0, K_025, K_075, 0.0, K_125, K_175, 0.0, 0.0], atol=1e-12)


def test_x2_shrink_interior_row_is_the_antialiased_kernel():
    m = axis_matrix(20, 10)
    taps = 0.5 * np.array([K_175, K_125, K_075, K_025, K_025, K_075, K_125, K_175])
    # output 4 (0-based) sits at input coordinate 8.5: inputs 5..12
    expected = np.zeros(20)
    expected[5:13] = taps
    np.testing.assert_allclose(m[4], expected, atol=1e-12)


def test_border_taps_read_the_edge_pixel():
    m = axis_matrix(20, 10)
    # output 0 sits at 0.5: taps at -3..4, the four beyond the border fold onto pixel 0
    taps = 0.5 * np.array([K_175, K_125, K_075, K_025, K_025, K_075, K_125, K_175])
    np.testing.assert_allclose(m[0, 0], taps[:4].sum(), atol=1e-12)
    np.testing.assert_allclose(m[0, 1:5], taps[4:], atol=1e-12)


def test_x2_enlarge_phases():
    m = axis_matrix(10, 20)
    # output 8 (0-based) sits at input 3.75: distances 1.75, 0.75, 0.25, 1.25 to inputs 2..5
    expected = np.zeros(10)
    expected[2:6] = [K_175, K_075, K_025, K_125]
    np.testing.assert_allclose(m[8], expected, atol=1e-12)


@pytest.mark.parametrize("size", [(7, 5), (16, 16), (3, 11)])
def test_rows_sum_to_one_and_constants_survive(size):
    for n_in, n_out in ((size[0], size[1]), (size[1], size[0])):
        np.testing.assert_allclose(axis_matrix(n_in, n_out).sum(axis=1), 1.0, atol=1e-12)
    image = np.full((12, 9, 3), 77, np.uint8)
    assert np.all(imresize(image, size=size) == 77)


def test_uint8_rounds_after_each_axis():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    rows = np.tensordot(axis_matrix(12, 6), image.astype(np.float64), axes=([1], [0]))
    rows = np.clip(np.floor(rows + 0.5), 0, 255)
    both = np.moveaxis(np.tensordot(axis_matrix(10, 5), rows, axes=([1], [1])), 0, 1)
    expected = np.clip(np.floor(both + 0.5), 0, 255).astype(np.uint8)
    out = imresize(image, 0.5)
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_float_is_unrounded_and_stronger_shrink_goes_first():
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 1, (9, 16)).astype(np.float32)
    out = imresize(image, size=(6, 4))  # columns shrink x4, rows x1.5: columns first
    expected = axis_matrix(9, 6) @ (image.astype(np.float64) @ axis_matrix(16, 4).T)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_needs_scale_or_size():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_set5_lr_images(scale, shared):
    import cv2

    folder = shared("data", "sr", "set5", f"x{scale}")
    names = sorted(p.name[:-len("_HR.png")] for p in folder.glob("*_HR.png"))
    assert names, f"{folder} holds no *_HR.png"
    for name in names:
        hr = cv2.imread(str(folder / f"{name}_HR.png"))
        lr = cv2.imread(str(folder / f"{name}_LR.png"))
        mine = imresize(hr, 1 / scale)
        assert mine.shape == lr.shape
        close = np.abs(mine.astype(int) - lr.astype(int)) <= 1
        assert close.mean() >= 0.99, f"{name} x{scale}: {close.mean():.4f} within one level"
        # in fact MATLAB's rules reproduce them exactly
        assert np.array_equal(mine, lr), f"{name} x{scale}: not bit-exact"
