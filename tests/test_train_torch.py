"""One whole network's gradients against PyTorch autograd (float64): convolutions (batch
norm in training mode, groups, stride, dilation), shortcut with alpha/beta, route groups,
connected with batch norm, and an sse [cost]. The torch model is written here from darknet's
definitions, not from darkpy's code."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.network import Network

torch = pytest.importorskip("torch")
F = torch.nn.functional

CFG = """
[net]
width=7
height=6
channels=3
batch=3

[convolutional]
filters=8
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[convolutional]
filters=8
size=3
stride=2
pad=1
groups=2
activation=mish

[convolutional]
filters=8
size=1
batch_normalize=1
activation=logistic

[shortcut]
from=-2
alpha=0.5
beta=2
activation=linear

[route]
layers=-1,-3
groups=2
group_id=1

[convolutional]
filters=6
size=3
pad=1
dilation=2
activation=swish

[connected]
output=4
batch_normalize=1
activation=linear

[cost]
type=sse
"""


def bn_train(z, scales, biases):
    """darknet's training batch norm: unbiased variance, epsilon on the standard deviation."""
    mean = z.mean(dim=(0, 2, 3), keepdim=True)
    var = z.var(dim=(0, 2, 3), keepdim=True, unbiased=True)
    out = (z - mean) / (var.sqrt() + 1e-6) * scales.view(1, -1, 1, 1)
    return out + biases.view(1, -1, 1, 1)


ACT = {
    "leaky": lambda v: torch.where(v > 0, v, 0.1 * v),
    "mish": lambda v: v * torch.tanh(F.softplus(v)),
    "logistic": torch.sigmoid,
    "swish": lambda v: v * torch.sigmoid(v),
    "linear": lambda v: v,
}


def torch_params(net):
    """Leaf tensors in darknet layout for every trainable parameter."""
    params = {}
    for layer, name, _, _ in net.parameters():
        value = torch.tensor(np.array(layer.get_param(name), dtype=np.float64), requires_grad=True)
        params[(layer.index, name)] = value
    return params


def torch_forward(net, params, x):
    outs = []
    for i, (layer, sources) in enumerate(zip(net.layers, net.sources)):
        inputs = [x if s == -1 else outs[s] for s in sources]
        p = lambda name: params[(i, name)]  # noqa: E731
        if layer.kind == "convolutional":
            z = F.conv2d(inputs[0], p("weights"), stride=(layer.stride_y, layer.stride_x),
                         padding=layer.padding * layer.dilation, dilation=layer.dilation,
                         groups=layer.groups)
            if layer.batch_normalize:
                z = bn_train(z, p("scales"), p("biases"))
            else:
                z = z + p("biases").view(1, -1, 1, 1)
            out = ACT[layer.opts.activation](z)
        elif layer.kind == "shortcut":
            out = layer.opts.alpha * inputs[0] + layer.opts.beta * inputs[1]
        elif layer.kind == "route":
            g, k = layer.opts.groups, layer.opts.group_id
            out = torch.cat([t[:, k * t.shape[1] // g:(k + 1) * t.shape[1] // g]
                             for t in inputs], dim=1)
        elif layer.kind == "connected":
            flat = inputs[0].reshape(inputs[0].shape[0], -1)  # NCHW flattening = darknet's CHW
            z = flat @ p("weights").T
            mean = z.mean(dim=0)
            var = z.var(dim=0, unbiased=True)
            z = (z - mean) / (var.sqrt() + 1e-6) * p("scales") + p("biases")
            out = z.reshape(z.shape[0], -1, 1, 1)
        elif layer.kind == "cost":
            out = inputs[0]
        else:  # pragma: no cover - the cfg above uses only these
            raise AssertionError(layer.kind)
        outs.append(out)
    return outs[-1]


def darknet_layout(layer, name, grad):
    """A gradient in darkpy's memory layout, arranged as get_param arranges the parameter."""
    saved = layer.params[name]
    layer.params[name] = grad
    try:
        return np.array(layer.get_param(name))
    finally:
        layer.params[name] = saved


def test_whole_network_gradients_match_autograd():
    net = Network(parse_cfg_text(CFG, "t.cfg"), source="t.cfg")
    rng = np.random.default_rng(0)
    for layer in net.layers:
        for name, value in layer.params.items():
            if name == "scales":
                value[...] = 1 + 0.2 * rng.standard_normal(value.shape)
            elif name == "biases":
                value[...] = 0.3 * rng.standard_normal(value.shape)
        layer.invalidate()
    net.astype(np.float64)
    x = rng.standard_normal((3, 6, 7, 3))
    truth = rng.standard_normal((3, 1, 1, 4))

    params = torch_params(net)  # before training forwards touch the rolling statistics
    net.zero_grads()
    loss = net.train_step(x, truth)

    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    out = torch_forward(net, params, xt)
    tt = torch.tensor(truth.transpose(0, 3, 1, 2).copy())
    half_sse = 0.5 * ((out - tt) ** 2).sum()  # darknet's sse delta is d(sse / 2)
    half_sse.backward()

    # darkpy's logistic-family activations use a float32-accurate exp even in float64 (1e-8)
    assert loss == pytest.approx(2 * half_sse.item(), rel=1e-7)
    for layer, name, _, grad in net.parameters():
        want = params[(layer.index, name)].grad.numpy()
        got = darknet_layout(layer, name, grad)
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=2e-6, atol=1e-9,
                                   err_msg=f"layer {layer.index} [{layer.kind}] {name}")
    # the input gradient, through a second backward of the same forward
    net.forward(x, train=True)
    out_np = net.forward(x, train=True)
    dx = net.backward(out_np - truth)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=2e-6, atol=1e-9)
