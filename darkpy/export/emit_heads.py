"""Detection heads as raw maps: what each head's forward leaves in darknet's l.output.

[yolo], [Gaussian_yolo] and [region] act on each anchor's run of `entries` channels, so on
NCHW data every channel c is entry c % entries of anchor c // entries and the per-entry
rules become per-channel constants: a logistic everywhere except the raw entries, then
x * scale + shift on the centre entries (darknet's scale_x_y). [region]'s class softmax spans
several channels of one anchor and is taken on a (N, anchors, entries, H*W) view. [detection]
(YOLOv1) works on each image's flat CHW buffer. Decoding to boxes: darkpy/export/decode.py.
"""
from __future__ import annotations

import numpy as np

from darkpy.export.emit_elementwise import tree_softmax
from darkpy.export.graph import GraphBuilder, Value


def _per_channel(n: int, entries: int, values: dict, default) -> np.ndarray:
    """(1, n*entries, 1, 1) constant: values[entry] for the listed entries, default elsewhere."""
    per_entry = np.full(entries, default, dtype=np.asarray(default).dtype)
    for entry, value in values.items():
        per_entry[entry] = value
    return np.tile(per_entry, n).reshape(1, n * entries, 1, 1)


def logistic_except(g: GraphBuilder, x: str, n: int, entries: int, raw: tuple) -> str:
    """Logistic of every channel but the `raw` entries of each anchor, which stay as they are."""
    keep = _per_channel(n, entries, {e: True for e in raw}, False)
    return g.node("Where", [g.const(keep, bool, "raw_entries"), x, g.node("Sigmoid", [x])])


def scale_centres(g: GraphBuilder, x: str, n: int, entries: int, centres: tuple,
                  scale_x_y: float) -> str:
    """darknet's scale_x_y on the centre entries: v * scale - (scale - 1) / 2."""
    if scale_x_y == 1:
        return x
    scale = np.float32(scale_x_y)
    shift = np.float32(-0.5 * (scale_x_y - 1.0))
    a = _per_channel(n, entries, {e: scale for e in centres}, np.float32(1))
    b = _per_channel(n, entries, {e: shift for e in centres}, np.float32(0))
    return g.node("Add", [g.node("Mul", [x, g.const(a, hint="scale_x_y")]),
                          g.const(b, hint="shift_x_y")])


def yolo(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """x, y: sigma * scale_x_y + shift; w, h raw; objectness and classes sigma (new_coords=1:
    no logistic, the network applied it)."""
    y = inputs[0].name
    if not layer.new_coords:
        y = logistic_except(g, y, layer.n, layer.entries, (2, 3))
    y = scale_centres(g, y, layer.n, layer.entries, (0, 1), layer.scale_x_y)
    return g.node("Identity", [y], f"yolo{layer.index}")


def gaussian_yolo(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """Entries 4 and 6 (w, h means) raw, the rest sigma; x, y means scaled by scale_x_y."""
    y = logistic_except(g, inputs[0].name, layer.n, layer.entries, (4, 6))
    y = scale_centres(g, y, layer.n, layer.entries, (0, 2), layer.scale_x_y)
    return g.node("Identity", [y], f"gaussian_yolo{layer.index}")


def region(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x = inputs[0]
    n, entries, coords = layer.n, layer.entries, layer.coords
    logistic = [0, 1] + ([] if layer.background else [coords])
    if not layer.softmax and layer.tree is None:
        logistic += list(range(coords + 1, entries))
    raw = tuple(e for e in range(entries) if e not in logistic)
    y = logistic_except(g, x.name, n, entries, raw)
    if layer.tree is None and not layer.softmax:
        return g.node("Identity", [y], f"region{layer.index}")
    # the softmax (or tree) runs over entries of one anchor: view (N, n, entries, H*W)
    view = [0, n, entries, -1]
    if layer.tree is not None:
        by_entry = g.node("Transpose", [g.reshape(y, view)], perm=[0, 1, 3, 2])
        first = coords + 1
        classes = tree_softmax(g, g.slice(by_entry, 3, first, entries), layer.tree)
        parts = [g.slice(by_entry, 3, 0, first), classes]
        if first + layer.tree.n < entries:
            parts.append(g.slice(by_entry, 3, first + layer.tree.n, entries))
        joined = g.node("Concat", parts, axis=3)
        joined = g.node("Transpose", [joined], perm=[0, 1, 3, 2])
    else:
        start = coords + 1 - layer.background
        soft = g.node("Softmax", [g.slice(g.reshape(x.name, view), 2, start, entries)], axis=2)
        joined = g.node("Concat", [g.slice(g.reshape(y, view), 2, 0, start), soft], axis=2)
    return g.node("Reshape", [joined, g.node("Shape", [x.name])], f"region{layer.index}")


def detection(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """The flat CHW buffer as (N, size, 1, 1); softmax=1: a softmax over each cell's classes."""
    flat = g.reshape(inputs[0].name, [0, -1])
    if layer.softmax:
        block = layer.cells * layer.classes
        scores = g.reshape(g.slice(flat, 1, 0, block), [0, layer.cells, layer.classes])
        scores = g.reshape(g.node("Softmax", [scores], axis=2), [0, block])
        size = int(np.prod(inputs[0].ref[1:]))
        flat = g.node("Concat", [scores, g.slice(flat, 1, block, size)], axis=1)
    return g.reshape(flat, [0, -1, 1, 1], f"detection{layer.index}")
