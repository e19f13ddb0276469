"""Network graph: reference resolution, shape inference, outputs, error messages."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError, InputError
from darkpy.network import INPUT, Network

SMALL = """
[net]
width=12
height=10
channels=3

[convolutional]
filters=4
size=3
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=6
size=1
activation=linear

[route]
layers=-1,-3

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=linear

[shortcut]
from=-2
activation=linear
"""


def build(text: str, name: str = "t.cfg") -> Network:
    return Network(parse_cfg_text(text, name), source=name)


def test_sources_resolve_relative_and_absolute():
    net = build(SMALL.replace("layers=-1,-3", "layers=-1,1"))
    assert net.sources[0] == [INPUT]
    assert net.sources[3] == [2, 1]  # route layers=-1,1 at index 3: relative, then absolute
    assert net.sources[5] == [4, 3]  # shortcut: previous, then from=-2
    assert net.shapes[0] == (10, 12, 4)
    assert net.shapes[1] == (5, 6, 4)
    assert net.shapes[3] == (5, 6, 10)


def test_route_spatial_mismatch_is_error_with_origin():
    with pytest.raises(ConfigError, match=r"t\.cfg:\d+"):
        build(SMALL)  # layer 2 is 5x6, layer 0 is 10x12: a route cannot concatenate them


FIXED = SMALL.replace("layers=-1,-3", "layers=-1,-2")


def test_forward_shapes_and_outputs_dict():
    net = build(FIXED)
    assert net.shapes[3] == (5, 6, 10)
    x = np.random.default_rng(0).standard_normal((2, 10, 12, 3)).astype(np.float32)
    out = net.forward(x)
    assert out.shape == (2, 5, 6, 6) and out.dtype == np.float32
    outs = net.forward(x, outputs=[0, 3, -1])
    assert set(outs) == {0, 3, 5}
    np.testing.assert_array_equal(outs[5], out)
    # route output = concat(layer 2, layer 1)
    outs2 = net.forward(x, outputs=[1, 2, 3])
    np.testing.assert_array_equal(outs2[3], np.concatenate([outs2[2], outs2[1]], axis=3))


def test_fully_convolutional_runs_on_other_sizes():
    net = build(FIXED)
    x = np.zeros((1, 22, 14, 3), np.float32)
    assert net.forward(x).shape == (1, 11, 7, 6)


def test_forward_rejects_wrong_rank_and_channels():
    net = build(FIXED)
    with pytest.raises(InputError, match="NHWC"):
        net.forward(np.zeros((10, 12, 3), np.float32))
    with pytest.raises(InputError, match="channels"):
        net.forward(np.zeros((1, 10, 12, 4), np.float32))


@pytest.mark.parametrize("ref", ["5", "-9", "3"])
def test_dangling_or_forward_reference_names_layer_and_line(ref):
    text = FIXED.replace("layers=-1,-2", f"layers=-1,{ref}")
    with pytest.raises(ConfigError) as info:
        build(text)
    msg = str(info.value)
    line = text.splitlines().index(f"layers=-1,{ref}") + 1
    assert f"t.cfg:{line}" in msg and "[route] layer 3" in msg and "`layers`" in msg


def test_unknown_layer_kind_and_unknown_key():
    with pytest.raises(ConfigError, match=r"t\.cfg:5: unsupported layer kind \[convolution\] \(did you mean \[convolutional\]\?\)"):
        build("[net]\n[convolution]\nfilters=1\n".replace("[net]", "[net]\nwidth=4\nheight=4\nchannels=1"))
    with pytest.raises(ConfigError, match=r"t\.cfg:8: unknown key `filter` in \[convolutional\]; did you mean `filters`\?"):
        build("[net]\nwidth=4\nheight=4\nchannels=1\n\n[convolutional]\nsize=1\nfilter=3\n")


def test_bad_value_names_key_and_expectation():
    with pytest.raises(ConfigError, match=r"t\.cfg:7: key `size` in \[convolutional\] expects an integer, got 'three'"):
        build("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=2\nsize=three\n")
    with pytest.raises(ConfigError, match=r"must be one of"):
        build("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=2\nactivation=lekay\n")


def test_net_needs_geometry():
    with pytest.raises(ConfigError, match="width"):
        build("[net]\nwidth=4\n[convolutional]\nfilters=2\n")


def test_input_too_small_is_clear():
    net = build("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=2\nsize=5\n")
    with pytest.raises(InputError, match="too small"):
        net.forward(np.zeros((1, 3, 3, 3), np.float32))
