"""[implicit], [empty]/[silence], [contrastive], section-name matching, and .weights round trips
of networks that use every weightless zoo kind."""
import numpy as np
import pytest

import darkpy
from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError
from darkpy.layers.contrastive import Contrastive
from darkpy.layers.empty import Empty
from darkpy.layers.implicit import Implicit
from darkpy.layers.registry import REGISTRY
from darkpy.network import Network
from tests.zoo_util import check_gradients, make


def test_implicit_layout_hand_worked():
    layer = make(Implicit, {"filters": 3, "atoms": 2}, [(5, 5, 1)])
    layer.set_param("weights", np.arange(6, dtype=np.float32))
    out = layer.forward([np.zeros((2, 5, 5, 1), np.float32)])
    assert out.shape == (2, 2, 1, 3)
    # darknet's buffer is CHW with c=3, h=2, w=1: value k*2 + y at (y, 0, k)
    np.testing.assert_array_equal(out[1, :, 0, :], [[0, 2, 4], [1, 3, 5]])
    np.testing.assert_array_equal(layer.get_param("weights"), np.arange(6))


def test_implicit_init_and_gradients():
    layer = make(Implicit, {"filters": 4, "atoms": 1, "mean": 1, "std": 0.02}, [(3, 3, 2)])
    w = layer.get_param("weights")
    assert np.all(np.abs(w - 1) <= 0.02) and w.std() > 0
    check_gradients(layer, [np.zeros((3, 3, 3, 2))])


def test_empty_and_silence_pass_through():
    assert REGISTRY["silence"] is Empty is REGISTRY["empty"]
    layer = make(Empty, {}, [(2, 2, 3)])
    x = np.random.default_rng(0).standard_normal((2, 2, 2, 3)).astype(np.float32)
    assert layer.forward([x]) is x
    np.testing.assert_array_equal(layer.backward(x, [x], x)[0], x)


def test_contrastive_identity_and_training_refused():
    layer = make(Contrastive, {"classes": 2}, [(2, 2, 4)])
    x = np.ones((1, 2, 2, 4), np.float32)
    assert layer.forward([x]) is x
    with pytest.raises(ConfigError, match="inference only"):
        layer.forward([x], train=True)


CONTRASTIVE = """[net]
width=4
height=4
channels=3
[convolutional]
filters=6
size=1
activation=linear
[yolo]
classes=1
num=1
anchors=1,1
[route]
layers=-2
[contrastive]
yolo_layer={ref}
"""


def test_contrastive_yolo_layer_reference():
    net = Network(parse_cfg_text(CONTRASTIVE.format(ref=-2), "c.cfg"))
    assert net.sources[3] == [2, 1]
    with pytest.raises(ConfigError, match="yolo_layer"):
        Network(parse_cfg_text(CONTRASTIVE.format(ref=7), "c.cfg"))


@pytest.mark.parametrize("name", ["Convolutional", "CONV", "gaussian_yolo", "Local_avgpool",
                                  "deconvolution", "reorg_old"])
def test_section_names_match_as_darknet_does(name):
    """darknet compares the bracketed name with strcmp: exact spelling and case only."""
    text = f"[net]\nwidth=4\nheight=4\nchannels=1\n[{name}]\n"
    with pytest.raises(ConfigError, match="unsupported layer kind"):
        Network(parse_cfg_text(text, "n.cfg"))


def test_every_darknet_alias_is_registered():
    for alias, kind in [("conv", "convolutional"), ("max", "maxpool"), ("avg", "avgpool"),
                        ("soft", "softmax"), ("conn", "connected"), ("deconv", "deconvolutional"),
                        ("local_avg", "local_avgpool"), ("silence", "empty")]:
        assert REGISTRY[alias] is REGISTRY[kind]
    assert "Gaussian_yolo" in REGISTRY and "reorg3d" in REGISTRY
    net = Network(parse_cfg_text("[network]\nwidth=2\nheight=2\nchannels=1\n[empty]\n", "n.cfg"))
    assert net.layers[0].kind == "empty"


ZOO_CFG = """[net]
width=8
height=8
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
pad=1
activation=leaky

[avg]

[conv]
filters=8
size=1
activation=logistic

[scale_channels]
from=-3

[convolutional]
filters=8
size=1
activation=logistic

[sam]
from=-2

[reorg3d]
stride=2

[local_avg]
size=3
stride=1

[silence]

[implicit]
filters=32
atoms=1

[scale_channels]
from=-3

[crop]
crop_height=3
crop_width=3
noadjust=1

[local]
filters=4
size=3
pad=1
activation=leaky

[deconv]
filters=3
size=2
stride=2
activation=linear

[convolutional]
filters={gauss}
size=1
activation=linear

[Gaussian_yolo]
mask=0,1
anchors=1,1, 2,2, 3,3
classes=2
num=3

[route]
layers=-2

[conn]
output=7
activation=linear

[detection]
classes=2
coords=4
num=1
side=1

[contrastive]
"""


def test_weights_round_trip_of_every_weightless_kind(tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(ZOO_CFG.format(gauss=2 * (9 + 2)))
    net = darkpy.load(cfg)
    rng = np.random.default_rng(4)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.random(shape).astype(np.float32) + 0.5)
    a = tmp_path / "a.weights"
    darkpy.save(net, a)
    expected = sum(layer.num_params() for layer in net.layers)
    assert a.stat().st_size == 20 + 4 * expected
    again = darkpy.load(cfg, a)
    b = tmp_path / "b.weights"
    darkpy.save(again, b)
    assert a.read_bytes() == b.read_bytes()
    x = rng.random((2, 8, 8, 3)).astype(np.float32)
    outs = again.forward(x, outputs=[15, 18, 19])
    np.testing.assert_array_equal(net.forward(x, outputs=[15, 18, 19])[19], outs[19])
    assert outs[15].shape == (2, 6, 6, 22) and outs[18].shape == (2, 1, 1, 7)


def test_readme_lists_every_section_kind():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = text.split("## Section kinds", 1)[1].split("Not accepted", 1)[0]
    listed = set(re.findall(r"`\[([A-Za-z_0-9]+)\]`", table)) - {"net", "network"}
    assert listed == set(REGISTRY)
