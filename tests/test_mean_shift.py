"""[mean_shift]: hand-worked numbers, a naive loop reference, errors, and its place in a network."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.mean_shift import MeanShift


def make(shape=(1, 1, 3), **options):
    section = Section("mean_shift", {k: str(v) for k, v in options.items()}, origin="test.cfg:7")
    return MeanShift(parse_options(section, MeanShift.keys), [shape], 0, section.origin)


def test_hand_worked_subtract_and_add():
    x = np.array([10, 20, 30], np.float32).reshape(1, 1, 1, 3)
    down = make(mean="1,2,3", scale=2, reverse=0).forward([x])
    np.testing.assert_array_equal(down.ravel(), [4.5, 9.0, 13.5])  # (10-1)/2, (20-2)/2, (30-3)/2
    up = make(mean="1,2,3", scale=2, reverse=1).forward([x])
    np.testing.assert_array_equal(up.ravel(), [21.0, 42.0, 63.0])  # 10*2+1, 20*2+2, 30*2+3
    assert down.dtype == np.float32 and up.dtype == np.float32


def test_defaults_are_div2k_mean_on_255_scale():
    layer = make()
    np.testing.assert_allclose(layer.mean, np.float32([0.4488 * 255, 0.4371 * 255, 0.4040 * 255]))
    assert layer.scale == 1 and not layer.reverse
    x = np.zeros((1, 1, 1, 3), np.float32)
    np.testing.assert_allclose(layer.forward([x]).ravel(), [-114.444, -111.4605, -103.02], rtol=1e-6)


def naive(x, mean, scale, reverse):
    out = np.empty_like(x)
    n, h, w, c = x.shape
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for k in range(c):
                    m = mean[k] if len(mean) > 1 else mean[0]
                    out[b, i, j, k] = x[b, i, j, k] * scale + m if reverse else (x[b, i, j, k] - m) / scale
    return out


@pytest.mark.parametrize("reverse", [0, 1])
def test_matches_naive_loops_batch_and_odd_sizes(reverse):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, size=(3, 5, 7, 4)).astype(np.float32)
    mean = [10.5, -3.25, 100.0, 7.0]
    layer = make((5, 7, 4), mean=",".join(map(str, mean)), scale=127.5, reverse=reverse)
    before = x.copy()
    out = layer.forward([x])
    np.testing.assert_allclose(out, naive(x, mean, 127.5, reverse), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(x, before)  # the input is left alone
    assert out.flags.c_contiguous and out.shape == x.shape


def test_single_mean_value_broadcasts():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    out = make((1, 2, 3), mean="1").forward([x])
    np.testing.assert_array_equal(out, x - 1)


def test_round_trip_is_identity():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(2, 3, 5, 3)).astype(np.float32)
    y = make((3, 5, 3), scale=127.5, reverse=1).forward([make((3, 5, 3), scale=127.5).forward([x])])
    np.testing.assert_allclose(y, x, atol=1e-4)


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="2 values, the input has 3 channels"):
        make(mean="1,2")
    with pytest.raises(ConfigError, match="scale"):
        make(scale=0)
    with pytest.raises(ConfigError, match="reverse"):
        make(reverse=2)
    with pytest.raises(ConfigError, match="test.cfg:7"):
        make(mean="1,2")


def test_in_a_network_from_cfg():
    from darkpy.network import Network

    text = "[net]\nwidth=4\nheight=3\nchannels=3\n\n[mean_shift]\nmean=1,2,3\nscale=2\n\n" \
           "[mean_shift]\nmean=1,2,3\nscale=2\nreverse=1\n"
    net = Network(parse_cfg_text(text, "ms.cfg"))
    assert net.num_params() == 0 and net.shapes == [(3, 4, 3), (3, 4, 3)]
    x = np.random.default_rng(1).uniform(0, 255, size=(2, 3, 4, 3)).astype(np.float32)
    out = net.forward(x, outputs=[0, 1])
    np.testing.assert_allclose(out[0], (x - np.float32([1, 2, 3])) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], x, rtol=1e-6)


@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("mean", ["10.5,-3.25,100.1", "0.3"])
def test_float32_kernel_rounds_as_float32_numpy(reverse, mean):
    # the float32 path (elementwise.channel_affine, rows of 64 pixels) against numpy's float32
    # arithmetic, bit for bit; 2 x 13 x 17 pixels is no whole number of rows
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, size=(2, 13, 17, 3)).astype(np.float32)
    layer = make((13, 17, 3), mean=mean, scale=127.3, reverse=reverse)
    m, s = layer.mean, np.float32(127.3)
    expected = x * s + m if reverse else (x - m) / s
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(layer.forward([x]), expected)
    pixels = (x.astype(np.uint8))  # not float32: numpy's path, the same formula
    np.testing.assert_array_equal(layer.forward([pixels]),
                                  pixels * s + m if reverse else (pixels - m) / s)
