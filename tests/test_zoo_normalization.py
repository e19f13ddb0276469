"""[normalization] / [lrn]: darknet's running channel sums, hand-worked and looped, gradients."""
import numpy as np
import pytest

from darkpy.errors import ConfigError
from darkpy.layers.normalization import Normalization, darknet_window_matrix
from darkpy.layers.registry import REGISTRY
from tests.zoo_util import check_gradients, chw_flat, make, nhwc_from_flat


def darknet_lrn(x_chw, c, hw, size, alpha, beta, kappa):
    """forward_normalization_layer on one image's CHW buffer, sum for sum."""
    sq = (x_chw.reshape(c, hw).astype(np.float32)) ** 2
    norms = np.empty((c, hw), np.float32)
    norms[0] = kappa
    for k in range(size // 2):
        norms[0] += np.float32(alpha) * sq[k]
    for k in range(1, c):
        norms[k] = norms[k - 1]
        prev, nxt = k - (size - 1) // 2 - 1, k + size // 2
        if prev >= 0:
            norms[k] += np.float32(-alpha) * sq[prev]
        if nxt < c:
            norms[k] += np.float32(alpha) * sq[nxt]
    return (x_chw.reshape(c, hw) * norms ** np.float32(-beta)).reshape(-1)


def test_window_matrix_hand_worked():
    # size 5 on 6 channels: channel 0 sums 0,1; then -(k-3) +(k+2)
    m = darknet_window_matrix(6, 5)
    np.testing.assert_array_equal(m[0], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(m[1], [1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(m[3], [0, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(m[5], [0, 0, -1, 1, 1, 1])  # channel 2 subtracted, never added


@pytest.mark.parametrize("size,c", [(5, 7), (3, 4), (4, 6), (1, 3)])
def test_lrn_matches_darknet_loop(size, c):
    x = np.random.default_rng(size).standard_normal((2, 3, 2, c)).astype(np.float32)
    layer = make(Normalization, {"size": size, "alpha": 0.3, "beta": 0.75, "kappa": 10}, [(3, 2, c)])
    out = layer.forward([x])
    flat = chw_flat(x)
    want = np.stack([darknet_lrn(flat[b], c, 6, size, 0.3, 0.75, 10) for b in range(2)])
    np.testing.assert_allclose(out, nhwc_from_flat(want, 3, 2, c), rtol=2e-6, atol=1e-7)


def test_lrn_alias_refusal_and_gradients():
    assert REGISTRY["lrn"] is Normalization is REGISTRY["normalization"]
    with pytest.raises(ConfigError, match="past its buffer"):
        make(Normalization, {"size": 9}, [(2, 2, 3)])
    layer = make(Normalization, {"size": 5, "alpha": 0.5, "beta": 0.75, "kappa": 1.5}, [(2, 2, 6)])
    check_gradients(layer, [np.random.default_rng(3).standard_normal((2, 2, 2, 6))])
