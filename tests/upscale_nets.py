"""Tiny super-resolution networks for the upscale tests (random or hand-set weights)."""
from __future__ import annotations

import numpy as np

import darkpy

# conv3 relu -> conv3 relu -> shortcut -> conv3 (12) -> shuffle x2 -> conv3 (3), between mean
# shifts: a miniature EDSR. Hand-worked halo: three 3x3 convs at scale 1 reach 3 input pixels,
# the x2 shuffle adds (2-1)/2 = 1/2 and the last 3x3 at scale 2 adds 1/2: halo 4.
TINY_SR = """[net]
width=24
height=24
channels=3

[mean_shift]

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=relu

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=relu

[shortcut]
from=-2
activation=linear

[convolutional]
filters=12
size=3
stride=1
pad=1
activation=linear

[shuffler]
scale=2

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=linear

[mean_shift]
reverse=1
"""
TINY_SR_HALO = 4

# A stride-2 convolution then a x4 shuffle: x2 overall, with a half-resolution grid inside, so
# tile origins must be even. Hand-worked reach: conv 3x3/2 pad 1 at scale 1: max(1, 2-1+1-2) = 1;
# conv 3x3/1 at scale 1/2: 1/(1/2) = 2; shuffle x4 at scale 1/2: (3/4)/(1/2) = 3/2; conv 3x3 at
# scale 2: 1/2. Total 5 -> halo 6 after rounding up to the alignment 2.
STRIDED_SR = """[net]
width=24
height=24
channels=3

[convolutional]
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters=48
size=3
stride=1
pad=1
activation=linear

[shuffler]
scale=4

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=linear
"""
STRIDED_SR_HALO = 6

# 1x1 conv copying RGB channel c to the 4 sub-pixels of output channel c, then a x2 shuffle:
# exact nearest-neighbour upscaling, so results can be predicted with np.repeat.
NEAREST_X2 = """[net]
width=16
height=16
channels=3

[convolutional]
filters=12
size=1
stride=1
pad=1
activation=linear

[shuffler]
scale=2
"""


def write(tmp_path, text: str, name: str = "net.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def random_network(tmp_path, text: str = TINY_SR, seed: int = 0, std: float = 0.2):
    network = darkpy.load(write(tmp_path, text))
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0.0, std, shape).astype(np.float32))
    return network


def nearest_network(tmp_path):
    """The NEAREST_X2 network with its copying weights set."""
    network = darkpy.load(write(tmp_path, NEAREST_X2, "nearest.cfg"))
    conv = network.layers[0]
    weights = np.zeros(dict(conv.param_layout())["weights"], dtype=np.float32)
    for c in range(3):
        weights[c * 4:(c + 1) * 4, c] = 1.0
    conv.set_param("weights", weights)
    for name, shape in conv.param_layout():
        if name != "weights":  # biases (and nothing else for a plain conv) stay zero
            conv.set_param(name, np.zeros(shape, np.float32))
    return network


def nearest(image: np.ndarray, scale: int = 2) -> np.ndarray:
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
