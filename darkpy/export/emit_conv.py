"""Layers with weights: [convolutional], [deconvolutional], [connected], [batchnorm].

Batch norm is folded as darkpy folds it for inference (kernels/normalize.py: in float64,
a = scales / (sqrt(rolling_variance) + 1e-6), b = biases - rolling_mean * a), so the ONNX
weights are the ones darkpy's own forward multiplies with. Weights are read from the layers'
`params` (darkpy layout) and transposed to ONNX's: Conv wants (Cout, Cin/groups, K, K),
ConvTranspose (Cin, Cout, K, K), Gemm here (outputs, inputs) with inputs in CHW order.
"""
from __future__ import annotations

import numpy as np

from darkpy.export.activations import activate, activate_channels
from darkpy.export.graph import GraphBuilder, Value
from darkpy.kernels.normalize import fold_batchnorm


def _folded(params: dict, batch_normalize: bool, n: int):
    """(per-output-channel scale or None, shift) for weights whose last axis is the output."""
    if batch_normalize:
        a, b = fold_batchnorm(params["scales"], params["rolling_mean"],
                              params["rolling_variance"], params["biases"])
        return a, b
    return None, np.asarray(params["biases"], np.float64).reshape(n)


def convolutional(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """Conv (+ folded batch norm) and the activation; binary=1 as binarised weights."""
    binary = layer.binary
    if binary is not None:
        # binary=1 (xnor is refused by the table): y = conv(x, signs) * scale + shift, with
        # the per-channel scale folded into the signs (products of +-1, exact)
        q = binary.params(layer, np.float64)
        weights = q["signs"] * q["scale"]
        shift = q["shift"]
        code, channel_code = binary.code, binary.channel_code
    else:
        p = layer.source.params  # a share_index layer computes with its owner's parameters
        a, shift = _folded(p, layer.batch_normalize, layer.filters)
        weights = p["weights"] if a is None else p["weights"].astype(np.float64) * a
        code, channel_code = layer.code, layer.channel_code
    # darkpy (K, K, Cin/groups, Cout) -> ONNX (Cout, Cin/groups, K, K), float32 as darkpy uses
    w = g.const(np.asarray(weights, np.float32).transpose(3, 2, 0, 1), hint=f"conv{layer.index}.w")
    b = g.const(np.asarray(shift, np.float32), hint=f"conv{layer.index}.b")
    pad = layer.padding * layer.dilation
    y = g.node("Conv", [inputs[0].name, w, b], f"conv{layer.index}",
               kernel_shape=[layer.size, layer.size], strides=[layer.stride_y, layer.stride_x],
               pads=[pad, pad, pad, pad], dilations=[layer.dilation, layer.dilation],
               group=layer.groups)
    y = activate(g, y, code)
    if channel_code is not None:
        y = activate_channels(g, y, channel_code)
    return y


def deconvolutional(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """ConvTranspose: darknet's scatter-add with `padding` cropped from every side."""
    p = layer.params
    n, c, k = layer.filters, layer.channels, layer.size
    a, shift = _folded(p, layer.batch_normalize, n)
    # darkpy keeps (c, k*k*n) with columns (ky, kx, o); ONNX wants (c, n, k, k)
    w = p["weights"].reshape(c, k, k, n).astype(np.float64)
    if a is not None:
        w = w * a
    w = g.const(np.asarray(w, np.float32).transpose(0, 3, 1, 2), hint=f"deconv{layer.index}.w")
    b = g.const(np.asarray(shift, np.float32), hint=f"deconv{layer.index}.b")
    pad = layer.padding
    y = g.node("ConvTranspose", [inputs[0].name, w, b], f"deconv{layer.index}",
               kernel_shape=[k, k], strides=[layer.stride, layer.stride],
               pads=[pad, pad, pad, pad])
    return activate(g, y, layer.code)


def connected(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """Gemm over each image's CHW buffer (NCHW flattened), output (N, outputs, 1, 1)."""
    p = layer.params
    a, shift = _folded(p, layer.batch_normalize, layer.outputs)
    h, w, c = layer.in_shape
    # darkpy's (h*w*c, outputs) rows follow NHWC; ONNX's flattened input is CHW
    weights = p["weights"].reshape(h, w, c, layer.outputs).transpose(3, 2, 0, 1)
    weights = weights.reshape(layer.outputs, c * h * w).astype(np.float64)
    if a is not None:
        weights = weights * a[:, None]
    flat = g.reshape(inputs[0].name, [0, -1], f"flatten{layer.index}")
    y = g.node("Gemm", [flat, g.const(np.asarray(weights, np.float32), hint=f"fc{layer.index}.w"),
                        g.const(np.asarray(shift, np.float32), hint=f"fc{layer.index}.b")],
               f"fc{layer.index}", transB=1)
    y = g.reshape(y, [0, layer.outputs, 1, 1])
    return activate(g, y, layer.code)


def batchnorm(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """Stand-alone inference batch norm: x * a + b per channel (darkpy's scale_shift)."""
    p = layer.params
    a, b = fold_batchnorm(p["scales"], p["rolling_mean"], p["rolling_variance"])
    c = layer.channels
    scale = g.const(np.asarray(a, np.float32).reshape(1, c, 1, 1), hint=f"bn{layer.index}.a")
    shift = g.const(np.asarray(b, np.float32).reshape(1, c, 1, 1), hint=f"bn{layer.index}.b")
    return g.node("Add", [g.node("Mul", [inputs[0].name, scale]), shift], f"bn{layer.index}")
