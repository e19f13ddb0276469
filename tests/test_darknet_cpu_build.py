"""AlexeyAB's CPU build's way of passing gradients (darkpy/train/darknet/cpu_build.py), on
networks of 1x1 linear convolutions small enough to work by hand."""
from __future__ import annotations

import numpy as np

from darkpy.config.cfg import parse_cfg_text
from darkpy.network import Network
from darkpy.train.darknet.cpu_build import AlexeyabCpuDeltas

CONV = "[convolutional]\nfilters=1\nsize=1\nstride=1\npad=0\nactivation=linear\n"


def network(body: str) -> Network:
    net = Network(parse_cfg_text("[net]\nwidth=2\nheight=2\nchannels=1\n\n" + body, "<test>"))
    for i, layer in enumerate(net.layers):
        if layer.kind == "convolutional":
            layer.params["weights"][...] = 2.0 + i
            layer.params["biases"][...] = 0.0
    return net


def weight_grad(net, x, rule, index=0):
    for layer in net.layers:
        for g in layer.grads.values():
            g[...] = 0
    out = net.forward(x, train=True)
    net.backward(np.ones_like(out), rule=rule)
    return float(net.layers[index].grads["weights"].reshape(-1)[0])


def test_a_convolution_overwrites_what_a_route_sent_its_input():
    # 0 conv (w 2), 1 conv (w 3) on 0, 2 route -> 0, 3 route 2 + 1: the output is [y0, 3 y0]
    net = network(CONV + "\n" + CONV + "\n[route]\nlayers=-2\n\n[route]\nlayers=-1,-2\n")
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    # the math: dL/dy0 = 1 (through the route) + 3 (through conv 1); dL/dw0 = sum(4 x) = 40
    assert weight_grad(net, x, None) == 40.0
    # AlexeyAB's CPU build: conv 1's backward zeroes layer 0's gradient first: sum(3 x) = 30
    assert weight_grad(net, x, AlexeyabCpuDeltas(net)) == 30.0


def test_route_gradients_pile_up_over_backwards():
    # 0 conv, 1 route -> 0, 2 route -> 1, 3 conv (w 5): route 1's buffer is never cleared
    # nor overwritten (its consumer is a route), route 2's is overwritten by conv 3
    net = network(CONV + "\n[route]\nlayers=-1\n\n[route]\nlayers=-1\n\n" + CONV)
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    once = weight_grad(net, x, None)
    assert once == 5.0 * 10.0
    rule = AlexeyabCpuDeltas(net)
    assert weight_grad(net, x, rule) == once
    assert weight_grad(net, x, rule) == 2 * once
    assert weight_grad(net, x, rule) == 3 * once
