"""Parameters: one initialisation, nothing allocated for values a file is about to give, and
a clear error (file:line, bytes) for a layer too big to hold."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from darkpy.errors import ConfigError, InputError, WeightsError
from darkpy.io.darknet_weights import save_darknet_weights
from darkpy.layers.base import Layer
from darkpy.network import Network

SMALL = """[net]
width=5
height=5
channels=2

[convolutional]
filters=3
size=3
pad=1
batch_normalize=1
activation=leaky

[connected]
output=4
activation=linear

[connected]
output=2
activation=linear
"""

HUGE = """[net]
width=1000
height=1000
channels=100

[connected]
output=100000
activation=linear
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_enormous_layer_is_a_config_error_naming_file_line_and_bytes(tmp_path):
    cfg = _write(tmp_path, "huge.cfg", HUGE)
    # 10^5 biases + 10^5 x 10^8 weights, float32
    with pytest.raises(ConfigError, match=r"huge\.cfg:6: \[connected\] layer 0: its parameters "
                                          r"need 40\.0 TB \(10,000,000,100,000 float32 values\)"):
        darkpy.load(cfg)
    net = darkpy.load(cfg, params=False)  # shapes and counts need no memory
    assert net.num_params() == 10**13 + 10**5
    result = CliRunner().invoke(app, ["info", str(cfg)])
    assert result.exit_code == 0 and "10,000,000,100,000" in result.stdout


def test_an_enormous_layer_with_a_weights_file_fails_on_the_file_not_in_numpy(tmp_path):
    cfg = _write(tmp_path, "huge.cfg", HUGE)
    weights = tmp_path / "huge.weights"
    weights.write_bytes(np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.int64).tobytes()
                        + np.zeros(10, np.float32).tobytes())
    with pytest.raises(WeightsError, match="truncated"):
        darkpy.load(cfg, weights)


def test_loading_weights_allocates_no_initial_values(tmp_path, monkeypatch):
    cfg = _write(tmp_path, "small.cfg", SMALL)
    reference = darkpy.load(cfg)
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
    path = tmp_path / "small.weights"
    save_darknet_weights(reference, path)
    drawn = []
    original = Layer.initial_value

    def spy(self, name, shape, rng):
        drawn.append((self.index, name))
        return original(self, name, shape, rng)

    monkeypatch.setattr(Layer, "initial_value", spy)
    full = darkpy.load(cfg, path)
    assert drawn == []
    for a, b in zip(full.layers, reference.layers):
        for name, _ in a.param_layout():
            np.testing.assert_array_equal(a.get_param(name), b.get_param(name))
    # a partial file (a backbone): only the layers after it get initial values, the same
    # values a network without weights starts from
    partial = darkpy.load(cfg, path, max_layers=2)
    assert sorted(set(drawn)) == [(2, "biases"), (2, "weights")]
    fresh = darkpy.load(cfg)
    np.testing.assert_array_equal(partial.layers[2].get_param("weights"),
                                  fresh.layers[2].get_param("weights"))
    np.testing.assert_array_equal(partial.layers[1].get_param("weights"),
                                  reference.layers[1].get_param("weights"))


def test_initial_values_are_darknets(tmp_path):
    net = darkpy.load(_write(tmp_path, "small.cfg", SMALL))
    conv, first, second = net.layers
    w = conv.get_param("weights")  # (3, 2, 3, 3): fan_in 2*3*3
    bound = np.sqrt(2.0 / 18)
    assert w.shape == (3, 2, 3, 3) and 0.5 * bound < np.abs(w).max() <= bound
    assert (conv.get_param("scales") == 1).all() and (conv.get_param("rolling_variance") == 1).all()
    assert not conv.get_param("rolling_mean").any() and not conv.get_param("biases").any()
    w = first.get_param("weights")  # (4, 75): fan_in 5*5*3
    assert w.shape == (4, 75) and np.abs(w).max() <= np.sqrt(2.0 / 75)
    # each layer draws from a generator seeded by its index: equal shapes, different values
    again = darkpy.load(_write(tmp_path, "again.cfg", SMALL))
    np.testing.assert_array_equal(again.layers[2].get_param("weights"), second.get_param("weights"))


def test_a_network_built_without_parameters_says_so(tmp_path):
    from darkpy.config.cfg import read_cfg

    net = Network(read_cfg(_write(tmp_path, "small.cfg", SMALL)), init=False)
    assert net.layers[0].params == {}
    assert net.num_params() == (3 + 3 * 3 + 3 * 2 * 9) + (4 + 4 * 75) + (2 + 2 * 4)
    with pytest.raises(InputError, match=r"small\.cfg:6: \[convolutional\] layer 0 has no "
                                         "parameter values"):
        net.forward(np.zeros((1, 5, 5, 2), np.float32))
    net.init_params()
    assert net.forward(np.zeros((1, 5, 5, 2), np.float32)).shape == (1, 1, 1, 2)
