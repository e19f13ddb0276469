"""Pooling: [maxpool] (and maxpool_depth), [avgpool], [local_avgpool].

darknet pads a window `padding` cells in total, padding/2 before the image and the rest after
it (2x2/1 on 13x13 stays 13x13): ONNX pads are [top, left, bottom, right], so they are
[p/2, p/2, p - p/2, p - p/2]. Both ONNX pools skip padded cells as darknet does (max: they
never win; local average: the mean is over the cells inside the image). ONNX runtimes refuse
a pad as large as the window; a max pool then pads explicitly with -FLT_MAX, darknet's value
for cells outside the image.
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ExportError
from darkpy.export.graph import GraphBuilder, Value

LOWEST = float(np.finfo(np.float32).min)  # -FLT_MAX: what darknet's max starts from


def _pads(padding: int) -> tuple[int, int]:
    before = padding // 2
    return before, padding - before


def maxpool(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x = inputs[0]
    if layer.depth:
        return _maxpool_depth(g, layer, x)
    if layer.padding < 0:
        raise ExportError(f"{layer.origin}: [maxpool] layer {layer.index}: padding="
                          f"{layer.padding} (negative) has no ONNX export")
    before, after = _pads(layer.padding)
    kernel = [layer.size, layer.size]
    strides = [layer.stride_y, layer.stride_x]
    if after < layer.size:
        return g.node("MaxPool", [x.name], f"maxpool{layer.index}", kernel_shape=kernel,
                      strides=strides, pads=[before, before, after, after])
    padded = g.node("Pad", [x.name, g.ints([0, 0, before, before, 0, 0, after, after]),
                            g.const(LOWEST)], mode="constant")
    return g.node("MaxPool", [padded], f"maxpool{layer.index}", kernel_shape=kernel,
                  strides=strides)


def _maxpool_depth(g: GraphBuilder, layer, x: Value) -> str:
    """out[g] = max of channels g, g + out_channels, ...: pad the channels with -FLT_MAX to a
    multiple of out_channels, view them as (rounds, out_channels), reduce the rounds."""
    n_out = layer.out_channels
    c = x.ref[1]
    rounds = -(-c // n_out)
    y = x.name
    if rounds * n_out != c:
        y = g.node("Pad", [y, g.ints([0, 0, 0, 0, 0, rounds * n_out - c, 0, 0]),
                           g.const(LOWEST)], mode="constant")
    h, w = g.dim(x, 2), g.dim(x, 3)
    grouped = g.reshape(y, [0, rounds, n_out, h, w])
    return g.reduce("ReduceMax", grouped, [1], keepdims=0, hint=f"maxpool_depth{layer.index}")


def avgpool(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    return g.node("GlobalAveragePool", [inputs[0].name], f"avgpool{layer.index}")


def local_avgpool(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    before, after = _pads(layer.padding)
    if layer.padding < 0 or after >= layer.size:
        raise ExportError(
            f"{layer.origin}: [local_avgpool] layer {layer.index}: padding={layer.padding} "
            f"with size={layer.size} has no ONNX export (AveragePool needs pads smaller than "
            "the window)")
    return g.node("AveragePool", [inputs[0].name], f"local_avgpool{layer.index}",
                  kernel_shape=[layer.size, layer.size],
                  strides=[layer.stride_y, layer.stride_x],
                  pads=[before, before, after, after], count_include_pad=0)
