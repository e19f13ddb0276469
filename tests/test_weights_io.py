"""darknet .weights and darkpy .h5: bit-exact round trips and strict, clear failures."""
from __future__ import annotations

import re
import struct

import numpy as np
import pytest

import darkpy
from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import WeightsError
from darkpy.io.darknet_weights import (WeightsHeader, expected_floats, load_darknet_weights,
                                       save_darknet_weights)
from darkpy.network import Network

CFG = """[net]
width=8
height=8
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=5
size=1
activation=linear

[connected]
output=7
activation=relu
"""


def make_net() -> Network:
    return Network(parse_cfg_text(CFG, "w.cfg"), source="w.cfg")


def randomise(net: Network, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            values = rng.standard_normal(shape).astype(np.float32)
            if name == "rolling_variance":
                values = np.abs(values) + 0.5
            layer.set_param(name, values)


def params(net: Network) -> list[np.ndarray]:
    return [np.array(layer.get_param(n)) for layer in net.layers for n, _ in layer.param_layout()]


def test_expected_float_count_by_hand():
    net = make_net()
    # conv1: 4 biases + 3*4 bn + 4*3*3*3 weights; conv2: 5 + 5*4; connected: 7 + 7*(4*4*5)
    assert expected_floats(net) == (4 + 12 + 108) + (5 + 20) + (7 + 7 * 80)


@pytest.mark.parametrize("header", [WeightsHeader(0, 2, 0, 123456789012), WeightsHeader(0, 1, 0, 77)])
def test_darknet_round_trip_bit_exact(tmp_path, header):
    net = make_net()
    randomise(net)
    path = tmp_path / "m.weights"
    save_darknet_weights(net, path, header)
    raw = path.read_bytes()
    assert len(raw) == (20 if header.seen_is_64bit else 16) + 4 * expected_floats(net)
    other = make_net()
    got = load_darknet_weights(other, path)
    assert (got.major, got.minor, got.seen) == (header.major, header.minor, header.seen)
    for a, b in zip(params(net), params(other)):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(x), other.forward(x))
    # writing what we read gives the same bytes
    path2 = tmp_path / "again.weights"
    save_darknet_weights(other, path2, got)
    assert path2.read_bytes() == raw


def test_file_layout_is_darknet_order(tmp_path):
    """First conv's biases come first, then scales, mean, variance, then weights (Cout,Cin,K,K)."""
    net = make_net()
    randomise(net)
    path = tmp_path / "m.weights"
    save_darknet_weights(net, path)
    floats = np.frombuffer(path.read_bytes()[20:], "<f4")
    conv = net.layers[0]
    np.testing.assert_array_equal(floats[:4], conv.get_param("biases"))
    np.testing.assert_array_equal(floats[4:8], conv.get_param("scales"))
    np.testing.assert_array_equal(floats[16:124], conv.get_param("weights").reshape(-1))
    assert conv.get_param("weights").shape == (4, 3, 3, 3)


def test_truncated_weights_say_where(tmp_path):
    net = make_net()
    randomise(net)
    path = tmp_path / "m.weights"
    save_darknet_weights(net, path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(WeightsError, match=r"truncated.*layer 3 \[connected\].*`weights`"):
        load_darknet_weights(make_net(), path)


def test_oversized_weights_rejected_unless_partial(tmp_path):
    net = make_net()
    randomise(net)
    path = tmp_path / "m.weights"
    save_darknet_weights(net, path)
    path.write_bytes(path.read_bytes() + b"\0" * 16)
    with pytest.raises(WeightsError, match="4 more floats"):
        load_darknet_weights(make_net(), path)
    # a backbone-style partial load of the first 2 layers ignores the rest
    part = make_net()
    load_darknet_weights(part, path, max_layers=2)
    np.testing.assert_array_equal(part.layers[0].get_param("weights"), net.layers[0].get_param("weights"))


def test_header_too_short(tmp_path):
    path = tmp_path / "x.weights"
    path.write_bytes(b"\0" * 7)
    with pytest.raises(WeightsError, match="too short"):
        load_darknet_weights(make_net(), path)


def test_h5_round_trip_bit_exact_and_self_describing(tmp_path):
    net = make_net()
    randomise(net, seed=3)
    path = tmp_path / "m.h5"
    darkpy.save(net, path, source="unit test", extras={"names": ["a", "b"]})
    loaded = darkpy.load(path)
    assert loaded.cfg_text() == net.cfg_text()
    assert loaded.metadata["names"] == ["a", "b"] and loaded.metadata["source"] == "unit test"
    for a, b in zip(params(net), params(loaded)):
        np.testing.assert_array_equal(a, b)
    import h5py

    with h5py.File(path) as f:
        assert f.attrs["format"] == "darkpy"
        assert f["layers/000_convolutional/weights"].shape == (4, 3, 3, 3)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_h5_write_failure_leaves_nothing(tmp_path, monkeypatch):
    net = make_net()
    path = tmp_path / "m.h5"

    def boom(name):
        raise RuntimeError("disk full")

    monkeypatch.setattr(net.layers[2], "get_param", boom)
    with pytest.raises(RuntimeError):
        darkpy.save(net, path)
    assert list(tmp_path.iterdir()) == []


def test_h5_shape_mismatch_and_non_darkpy(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(WeightsError, match="not a darkpy model"):
        darkpy.load(other)
    net = make_net()
    path = tmp_path / "m.h5"
    darkpy.save(net, path)
    with h5py.File(path, "a") as f:
        del f["layers/002_convolutional/weights"]
        f["layers/002_convolutional/weights"] = np.zeros((5, 4, 3, 3), np.float32)
    with pytest.raises(WeightsError, match=r"002_convolutional/weights has shape \(5, 4, 3, 3\)"):
        darkpy.load(path)


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os
    import stat

    net = make_net()
    path = tmp_path / "m.h5"
    darkpy.save(net, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# --- error paths: each names the file and what is wrong ------------------------------------------

def saved_weights(tmp_path, header=None):
    net = make_net()
    randomise(net)
    path = tmp_path / "m.weights"
    save_darknet_weights(net, path, header)
    return net, path


@pytest.mark.parametrize("stray", [1, 2, 3])
def test_stray_trailing_bytes_are_an_error(tmp_path, stray):
    _, path = saved_weights(tmp_path)
    path.write_bytes(path.read_bytes() + b"\x7f" * stray)
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: {stray} stray byte\(s\) after the "
                                           rf"network's {expected_floats(make_net()):,} floats"):
        load_darknet_weights(make_net(), path)


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_header_with_64_bit_seen_cut_short(tmp_path, length):
    path = tmp_path / "cut.weights"
    # major 0, minor 2: darknet reads `seen` as 8 bytes (a size_t), so the header is 20 bytes
    path.write_bytes(struct.pack("<3i", 0, 2, 0) + b"\1" * (length - 12))
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: header truncated: version 0\.2\.0 "
                                           rf"stores `seen` as a 64-bit integer, so the header takes 20 "
                                           rf"bytes, but the file has {length}"):
        load_darknet_weights(make_net(), path)
    # the same 16 bytes as a version 0.1 header (32-bit seen) are a whole header: the floats are missing
    path.write_bytes(struct.pack("<4i", 0, 1, 0, 5))
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: truncated: the network needs"):
        load_darknet_weights(make_net(), path)


@pytest.mark.parametrize("major, minor", [(1001, 0), (0, 1001)])
def test_transposed_connected_format_by_hand(tmp_path, major, minor):
    """major or minor > 1000: darknet's oldest files store [connected] weights as (inputs,
    outputs) and `seen` as 32 bits; convolutions are stored as always."""
    net = make_net()
    randomise(net, seed=5)
    parts = [struct.pack("<4i", major, minor, 0, 321)]
    for layer in net.layers:
        for name, _ in layer.param_layout():
            values = np.asarray(layer.get_param(name), "<f4")
            if layer.kind == "connected" and name == "weights":
                values = values.T  # darknet layout (outputs, inputs) -> the old (inputs, outputs)
            parts.append(np.ascontiguousarray(values).tobytes())
    path = tmp_path / "old.weights"
    path.write_bytes(b"".join(parts))
    loaded = make_net()
    header = load_darknet_weights(loaded, path)
    assert header.transposed and not header.seen_is_64bit and header.seen == 321
    for a, b in zip(params(net), params(loaded)):
        np.testing.assert_array_equal(a, b)
    # read as a current file, the same bytes would give the connected weights transposed
    path.write_bytes(struct.pack("<4i", 0, 1, 0, 321) + b"".join(parts[1:]))
    wrong = make_net()
    load_darknet_weights(wrong, path)
    w = net.layers[3].get_param("weights")
    np.testing.assert_array_equal(wrong.layers[3].get_param("weights"), w.T.reshape(w.shape))


@pytest.mark.parametrize("max_layers", [-1, 5])
def test_max_layers_out_of_range(tmp_path, max_layers):
    _, path = saved_weights(tmp_path)
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: max_layers={max_layers} is "
                                           r"outside 0\.\.4: the network has 4 layers"):
        load_darknet_weights(make_net(), path, max_layers=max_layers)


def saved_h5(tmp_path):
    net = make_net()
    randomise(net)
    path = tmp_path / "m.h5"
    darkpy.save(net, path)
    return path


def edit_h5(path, edit):
    import h5py

    with h5py.File(path, "a") as f:
        edit(f)


H5_DAMAGE = {
    "missing layer group": (lambda f: f["layers"].__delitem__("002_convolutional"),
                            r"no weights for layer 2 \[convolutional\] \(group layers/002_convolutional\)"),
    "missing parameter": (lambda f: f["layers/000_convolutional"].__delitem__("rolling_mean"),
                          r"layers/000_convolutional lacks `rolling_mean`"),
    "extra layers": (lambda f: f.copy(f["layers/002_convolutional"], "layers/004_convolutional"),
                     r"weights for layers the network does not have: \['004_convolutional'\]"),
    "newer format_version": (lambda f: f.attrs.__setitem__("format_version", 2),
                             r"format_version 2 is newer than this darkpy reads \(1\)"),
    "non-integer format_version": (lambda f: f.attrs.__setitem__("format_version", "two"),
                                   r"format_version 'two' is not an integer"),
    "no cfg": (lambda f: f.attrs.__delitem__("cfg"),
               r"darkpy model without its network description \(root attribute `cfg`\)"),
    "not darkpy": (lambda f: f.attrs.__delitem__("format"), r"HDF5 file is not a darkpy model"),
}


@pytest.mark.parametrize("case", list(H5_DAMAGE))
def test_h5_damage_names_file_and_problem(tmp_path, case):
    edit, message = H5_DAMAGE[case]
    path = saved_h5(tmp_path)
    edit_h5(path, edit)
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: {message}"):
        darkpy.load(path)


def test_h5_params_into_a_network_with_fewer_layers(tmp_path):
    path = saved_h5(tmp_path)
    smaller = Network(parse_cfg_text(CFG.split("[connected]")[0], "w.cfg"), source="w.cfg")
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: weights for layers the network "
                                           r"does not have: \['003_connected'\]"):
        darkpy.load_weights(smaller, path)


def test_unreadable_h5(tmp_path):
    path = saved_h5(tmp_path)
    raw = path.read_bytes()
    cases = {tmp_path / "garbage.h5": b"\x89HDF\r\n" + b"\0" * 100, tmp_path / "cut.h5": raw[:len(raw) // 2]}
    for bad, data in cases.items():
        bad.write_bytes(data)
        with pytest.raises(WeightsError, match=rf"^{re.escape(str(bad))}: not a readable HDF5 file"):
            darkpy.load(bad)
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(folder))}: not a readable HDF5 file"):
        darkpy.load_weights(make_net(), folder)
    with pytest.raises(WeightsError, match="no such file"):
        darkpy.load_weights(make_net(), tmp_path / "nope.h5")
    # damage inside a whole file, found by the signatures of HDF5 structures: the global heap
    # ("GCOL") holds the cfg string; the local heaps ("HEAP") the links of the groups
    damaged = tmp_path / "damaged.h5"
    assert b"GCOL" in raw and b"HEAP" in raw
    damaged.write_bytes(raw.replace(b"GCOL", b"JUNK"))
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(damaged))}: damaged HDF5 file \(.*global heap"):
        darkpy.load(damaged)
    damaged.write_bytes(raw.replace(b"HEAP", b"JUNK"))
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(damaged))}: no `layers` group"):
        darkpy.load_weights(make_net(), damaged)
