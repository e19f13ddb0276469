"""A WDSR-style skip started as OpenCV's bicubic: the untrained network is bicubic upscaling."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError
from darkpy.network import Network
from darkpy.train import bicubic

SKIP_NET = """
[net]
width=8
height=8
channels=3

[mean_shift]
scale=127.5

[convolutional]
filters=8
size=3
pad=1
activation=relu

[convolutional]
filters={tail}
size=3
pad=1
activation=linear

[shuffler]
scale={scale}

[route]
layers=0

[convolutional]
filters={tail}
size={size}
pad=1
activation=linear

[shuffler]
scale={scale}

[shortcut]
from=-4

[mean_shift]
scale=127.5
reverse=1
"""


def _net(scale=2, size=5):
    text = SKIP_NET.format(tail=3 * scale * scale, scale=scale, size=size)
    return Network(parse_cfg_text(text, "skip.cfg"), "skip.cfg")


def test_phase_taps_by_hand():
    # Keys' cubic with a = -0.75 at distances 1.75, 0.75, 0.25, 1.25 (phase 0 of x2)
    np.testing.assert_allclose(bicubic.phase_taps(0, 2, 5),
                               [-0.03515625, 0.26171875, 0.87890625, -0.10546875, 0.0], atol=1e-15)
    np.testing.assert_allclose(bicubic.phase_taps(1, 2, 5), bicubic.phase_taps(0, 2, 5)[::-1], atol=1e-15)
    assert bicubic.cubic(0) == 1 and bicubic.cubic(1) == 0 and bicubic.cubic(2) == 0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_untrained_network_is_opencv_bicubic_inside_the_border(scale):
    import cv2

    net = _net(scale)
    bicubic.bicubic_skip(net, 5, zero=[2])
    rng = np.random.default_rng(scale)
    x = rng.uniform(0, 255, (2, 9, 11, 3)).astype(np.float32)
    out = net.forward(x)
    for image, result in zip(x, out):
        reference = cv2.resize(image, (11 * scale, 9 * scale), interpolation=cv2.INTER_CUBIC)
        b = 3 * scale  # the border: zero padding of the shifted input vs OpenCV's replication
        np.testing.assert_allclose(result[b:-b, b:-b], reference[b:-b, b:-b], atol=2e-3)
    assert not np.array_equal(net.layers[1].get_param("weights"), 0)  # other layers keep their init
    assert np.array_equal(net.layers[2].get_param("weights"), np.zeros((3 * scale * scale, 8, 3, 3)))


def test_refuses_layers_that_cannot_be_a_bicubic_skip():
    net = _net()
    with pytest.raises(ConfigError, match="feed exactly one"):
        bicubic.bicubic_skip(net, 1)
    with pytest.raises(ConfigError, match="not a \\[convolutional\\]"):
        bicubic.bicubic_skip(net, 3)
    with pytest.raises(ConfigError, match="cannot hold"):
        bicubic.bicubic_skip(_net(size=3), 5)
