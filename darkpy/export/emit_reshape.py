"""Layers that move values: [upsample], [reorg], [reorg3d], [shuffler], [route], [crop].

The shuffles are darknet's, derived in each layer's docstring; on NCHW data they become:

- [shuffler] (torch's PixelShuffle): DepthToSpace, mode CRD.
- [reorg3d] (textbook space-to-depth): SpaceToDepth; reverse=1 reads the input buffer as a
  (C/s^2, h*s, w*s) grid, applies a DCR depth-to-space to it and reads the result back with
  that grid (three reshapes around DepthToSpace DCR).
- [reorg] reverse=0 (YOLOv2's passthrough): the input buffer read as (C/s^2, h*s, w*s),
  SpaceToDepth on that, the result's buffer read as the output (C*s^2, h/s, w/s);
  reverse=1 is a plain DepthToSpace DCR. flatten/extra reorder or pad the CHW buffer.
- [upsample]: Resize nearest (asymmetric, floor) times `scale`; a negative stride sums s x s
  blocks, a depthwise convolution with weights 1 and stride s.
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ExportError
from darkpy.export.graph import GraphBuilder, Value


def upsample(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x = inputs[0]
    s = layer.stride
    if layer.reverse:
        c = x.ref[1]
        ones = g.const(np.ones((c, 1, s, s), np.float32), hint=f"blocksum{layer.index}.w")
        y = g.node("Conv", [x.name, ones], f"downsample{layer.index}", kernel_shape=[s, s],
                   strides=[s, s], group=c)
    else:
        scales = g.const(np.array([1, 1, s, s], np.float32), hint="scales")
        y = g.node("Resize", [x.name, "", scales], f"upsample{layer.index}", mode="nearest",
                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    if layer.scale != 1:
        y = g.node("Mul", [y, g.const(layer.scale)])
    return y


def shuffler(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    return g.node("DepthToSpace", [inputs[0].name], f"shuffler{layer.index}",
                  blocksize=layer.scale, mode="CRD")


def _regrid(g: GraphBuilder, x: Value, channels: int, factor: int, shrink: bool) -> list:
    """Shape [N, channels, h*f, w*f] (or h/f, w/f when shrink) for x's (N, C, h, w)."""
    op = "Div" if shrink else "Mul"
    return [0, channels, g.dim_op(op, g.dim(x, 2), factor), g.dim_op(op, g.dim(x, 3), factor)]


def reorg3d(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x, s = inputs[0], layer.stride
    if not layer.reverse:
        return g.node("SpaceToDepth", [x.name], f"reorg3d{layer.index}", blocksize=s)
    a = x.ref[1] // (s * s)
    g1 = g.reshape(x.name, _regrid(g, x, a, s, shrink=False))
    g2 = g.node("DepthToSpace", [g1], blocksize=s, mode="DCR")
    return g.reshape(g2, _regrid(g, x, a, s, shrink=False), f"reorg3d{layer.index}")


def reorg(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x, s = inputs[0], layer.stride
    if layer.extra:
        flat = g.reshape(x.name, [0, -1])
        padded = g.node("Pad", [flat, g.ints([0, 0, 0, layer.extra]), g.const(0.0)],
                        mode="constant")
        return g.reshape(padded, [0, -1, 1, 1], f"reorg{layer.index}")
    c = x.ref[1]
    if layer.flatten:
        return _reorg_flatten(g, layer, x)
    if layer.reverse:
        return g.node("DepthToSpace", [x.name], f"reorg{layer.index}", blocksize=s, mode="DCR")
    big = g.reshape(x.name, _regrid(g, x, c // (s * s), s, shrink=False))
    shuffled = g.node("SpaceToDepth", [big], blocksize=s)  # (N, C, h, w) in the input's grid
    return g.reshape(shuffled, _regrid(g, x, c * s * s, s, shrink=True), f"reorg{layer.index}")


def _reorg_flatten(g: GraphBuilder, layer, x: Value) -> str:
    """darknet's flatten(): the buffer reordered between CHW and HWC, read with the output's
    (C', h', w') grid."""
    s = layer.stride
    c = x.ref[1]
    h, w = g.dim(x, 2), g.dim(x, 3)
    if layer.reverse:
        # the CHW buffer read as if it were HWC: (N, h*w, C) -> back to channel-first
        hw = g.dim_op("Mul", h, w)
        as_hwc = g.reshape(x.name, [0, hw, c])
        flat = g.node("Transpose", [as_hwc], perm=[0, 2, 1])
        out = [0, c // (s * s), g.dim_op("Mul", h, s), g.dim_op("Mul", w, s)]
    else:
        flat = g.node("Transpose", [x.name], perm=[0, 2, 3, 1])  # the HWC buffer
        out = [0, c * s * s, g.dim_op("Div", h, s), g.dim_op("Div", w, s)]
    return g.reshape(flat, out, f"reorg{layer.index}")


def route(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    parts = []
    for x in inputs:
        if layer.groups == 1:
            parts.append(x.name)
            continue
        part = x.ref[1] // layer.groups
        start = layer.group_id * part
        parts.append(g.slice(x.name, 1, start, start + part))
    if len(parts) == 1:
        return g.node("Identity", parts, f"route{layer.index}")
    return g.node("Concat", parts, f"route{layer.index}", axis=1)


def crop(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """The inference crop (centred), then a * x + b, for a fixed size (darknet's rule for
    other sizes truncates a float ratio)."""
    x = inputs[0]
    if not x.fixed_size:
        raise ExportError(f"{layer.origin}: [crop] layer {layer.index}: the crop window depends "
                          "on the image size: export with a fixed --size")
    _, _, h, w = x.shape
    out_h, out_w, _ = out_shape
    dy, dx = (h - out_h) // 2, (w - out_w) // 2
    y = g.slice(x.name, 2, dy, dy + out_h)
    y = g.slice(y, 3, dx, dx + out_w)
    if layer.a != 1:
        y = g.node("Mul", [y, g.const(layer.a)])
    if layer.b != 0:
        y = g.node("Add", [y, g.const(layer.b)])
    return g.node("Identity", [y], f"crop{layer.index}")
