"""Per-value and per-pixel layers: [shortcut], [scale_channels], [sam], [implicit],
[mean_shift], [activation], [logistic], [iseg], [l2norm], [normalization], [softmax], and the
layers that are the identity at inference ([dropout], [empty], [contrastive], [cost])."""
from __future__ import annotations

import numpy as np

from darkpy.errors import ExportError
from darkpy.export.activations import activate
from darkpy.export.graph import GraphBuilder, Value
from darkpy.kernels.activations import LOGISTIC


def identity(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    return inputs[0].name  # no node: the layer's output is its input


def activation(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    return activate(g, inputs[0].name, layer.code)


def logistic(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    return activate(g, inputs[0].name, LOGISTIC)


def shortcut(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """f(alpha * prev + beta * from); darknet's rules where the shapes differ: `from` is
    read every `stride` cells and added at every `sample`-th cell of prev's first
    min(h) x min(w) x min(c); cells it never reaches keep prev unscaled."""
    prev, other = inputs
    (h2, w2), (h1, w1) = prev.ref[2:], other.ref[2:]
    if prev.ref[1:] == other.ref[1:]:
        y = _scaled_sum(g, prev.name, layer.alpha, other.name, layer.beta)
    elif (h1, w1) == (h2, w2):
        y = _channel_mismatch(g, layer, prev, other)
    elif prev.fixed_size and other.fixed_size:
        y = _spatial_mismatch(g, layer, prev, other)
    else:
        raise ExportError(
            f"{layer.origin}: [shortcut] layer {layer.index}: adding a {h1}x{w1} output to a "
            f"{h2}x{w2} one reads cells that depend on the image size: export with a fixed "
            "--size")
    return activate(g, y, layer.code)


def _scaled_sum(g, a: str, alpha, b: str, beta) -> str:
    if alpha != 1:
        a = g.node("Mul", [a, g.const(alpha)])
    if beta != 1:
        b = g.node("Mul", [b, g.const(beta)])
    return g.node("Add", [a, b], "shortcut")


def _channel_mismatch(g: GraphBuilder, layer, prev: Value, other: Value) -> str:
    """Same grid, different channels: the first min(c) channels sum, prev's others pass."""
    c2, c1 = prev.ref[1], other.ref[1]
    common = min(c1, c2)
    added = other.name if c1 == common else g.slice(other.name, 1, 0, common)
    added = _scaled(g, added, layer.beta)
    if c2 > common:
        added = g.node("Pad", [added, g.ints([0, 0, 0, 0, 0, c2 - common, 0, 0]),
                               g.const(0.0)], mode="constant")
    alpha = np.ones((1, c2, 1, 1), np.float32)
    alpha[:, :common] = layer.alpha
    return g.node("Add", [g.node("Mul", [prev.name, g.const(alpha)]), added], "shortcut")


def _scaled(g, x: str, k) -> str:
    return x if k == 1 else g.node("Mul", [x, g.const(k)])


def _spatial_mismatch(g: GraphBuilder, layer, prev: Value, other: Value) -> str:
    """Different grids: the cells `from` reaches, and the values it adds there, are fixed by
    the sizes, so this needs a static size."""
    _, c2, h2, w2 = prev.ref
    _, c1, h1, w1 = other.ref
    stride, sample = max(w1 // w2, 1), max(w2 // w1, 1)
    mh, mw, mc = min(h1, h2), min(w1, w2), min(c1, c2)
    # the values read: from[:mc, ::stride, ::stride], mh x mw of them
    read = g.slice(other.name, 1, 0, mc)
    read = g.slice(read, 2, 0, mh * stride, stride)
    read = g.slice(read, 3, 0, mw * stride, stride)
    read = _scaled(g, read, layer.beta)
    if sample > 1:  # written every `sample` cells: interleave zeros, then trim
        spread = g.reshape(read, [0, mc, mh, 1, mw, 1])
        spread = g.node("Pad", [spread, g.ints([0] * 6 + [0, 0, 0, sample - 1, 0, sample - 1]),
                                g.const(0.0)], mode="constant")
        read = g.reshape(spread, [0, mc, mh * sample, mw * sample])
    rows, cols = min(mh * sample, h2), min(mw * sample, w2)
    read = g.slice(g.slice(read, 2, 0, rows), 3, 0, cols)
    added = g.node("Pad", [read, g.ints([0, 0, 0, 0, 0, c2 - mc, h2 - rows, w2 - cols]),
                           g.const(0.0)], mode="constant")
    alpha = np.ones((1, c2, h2, w2), np.float32)
    hit = np.zeros((h2, w2), bool)
    hit[0:mh * sample:sample, 0:mw * sample:sample] = True
    alpha[:, :mc, hit] = layer.alpha
    return g.node("Add", [g.node("Mul", [prev.name, g.const(alpha)]), added], "shortcut")


def multiply(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """[scale_channels] and [sam]: f(previous * from), broadcasting per channel or pixel."""
    y = g.node("Mul", [inputs[0].name, inputs[1].name], f"{layer.kind}{layer.index}")
    return activate(g, y, layer.code)


def implicit(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """The same (filters, atoms, 1) constant for every image of the batch."""
    w = layer.params["weights"]  # (atoms, 1, filters) NHWC
    value = g.const(np.asarray(w, np.float32).transpose(2, 0, 1)[None],
                    hint=f"implicit{layer.index}.w")
    batch = g.dim(inputs[0], 0)
    shape = g.dims_tensor([batch, layer.filters, layer.atoms, 1])
    return g.node("Expand", [value, shape], f"implicit{layer.index}")


def mean_shift(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    c = inputs[0].ref[1]
    mean = np.broadcast_to(layer.mean, (c,)).reshape(1, c, 1, 1)
    mean = g.const(mean, hint=f"mean_shift{layer.index}.mean")
    scale = g.const(layer.scale)
    x = inputs[0].name
    if layer.reverse:
        return g.node("Add", [g.node("Mul", [x, scale]), mean], f"mean_shift{layer.index}")
    return g.node("Div", [g.node("Sub", [x, mean]), scale], f"mean_shift{layer.index}")


def iseg(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    x = inputs[0].name
    if layer.ids == 0:
        return activate(g, x, LOGISTIC)
    if layer.classes == 0:
        return g.node("Identity", [x], f"iseg{layer.index}")
    masks = activate(g, g.slice(x, 1, 0, layer.classes), LOGISTIC)
    ids = g.slice(x, 1, layer.classes, layer.classes + layer.ids)
    return g.node("Concat", [masks, ids], f"iseg{layer.index}", axis=1)


def l2norm(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """x / sqrt(sum over channels of x^2), 0 where that norm is 0 (as darkpy)."""
    x = inputs[0].name
    norm = g.node("Sqrt", [g.reduce("ReduceSum", g.node("Mul", [x, x]), [1])])
    zero = g.const(0.0)
    return g.node("Where", [g.node("Equal", [norm, zero]), zero, g.node("Div", [x, norm])],
                  f"l2norm{layer.index}")


def normalization(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """darknet's LRN: x * (kappa + alpha * M x^2)^-beta, M darknet's running-sum windows (a
    1x1 convolution over the squares)."""
    from darkpy.layers.normalization import darknet_window_matrix

    x = inputs[0]
    c = x.ref[1]
    m = darknet_window_matrix(c, layer.size).astype(np.float32).reshape(c, c, 1, 1)
    sums = g.node("Conv", [g.node("Mul", [x.name, x.name]), g.const(m, hint="lrn.m")],
                  kernel_shape=[1, 1])
    norms = g.node("Add", [g.node("Mul", [sums, g.const(layer.alpha)]), g.const(layer.kappa)])
    return g.node("Mul", [x.name, g.node("Pow", [norms, g.const(-layer.beta)])],
                  f"lrn{layer.index}")


def softmax(g: GraphBuilder, layer, inputs: list[Value], out_shape) -> str:
    """Over `groups` consecutive chunks of each image's CHW buffer (or over the channels of
    each pixel with spatial=1; a class tree gives one softmax per group of siblings)."""
    x = inputs[0]
    if layer.tree is not None:
        return _tree_layer(g, layer, x)
    if layer.spatial:
        return g.node("Softmax", [x.name], f"softmax{layer.index}", axis=1)
    chunks = g.reshape(x.name, [0, layer.groups, -1])
    if layer.temperature != 1:
        chunks = g.node("Div", [chunks, g.const(layer.temperature)])
    y = g.node("Softmax", [chunks], axis=2)
    return g.node("Reshape", [y, g.node("Shape", [x.name])], f"softmax{layer.index}")


def tree_softmax(g: GraphBuilder, flat: str, tree, temperature=1.0) -> str:
    """One softmax per group of siblings over the first tree.n entries of the last axis of
    `flat` (…, >= tree.n): the groups are contiguous, so split, softmax, concatenate."""
    nodes = g.slice(flat, -1, 0, tree.n)
    if temperature != 1:
        nodes = g.node("Div", [nodes, g.const(temperature)])
    sizes = [int(s) for s in tree.group_size if s > 0]
    if len(sizes) == 1:
        return g.node("Softmax", [nodes], axis=-1)
    parts = g.node("Split", [nodes, g.ints(sizes)], outputs=len(sizes), axis=-1)
    return g.node("Concat", [g.node("Softmax", [p], axis=-1) for p in parts], axis=-1)


def _tree_layer(g: GraphBuilder, layer, x: Value) -> str:
    """[softmax] tree=: the first n values of each CHW buffer, zeros after them (darknet)."""
    if any(d is None for d in x.shape[1:]):
        raise ExportError(f"{layer.origin}: [softmax] layer {layer.index}: a class tree needs "
                          "a fixed input size (export with --size WxH)")
    _, c, h, w = x.shape
    flat = g.reshape(x.name, [0, c * h * w])
    y = tree_softmax(g, flat, layer.tree, layer.temperature)
    rest = c * h * w - layer.tree.n
    if rest:
        y = g.node("Pad", [y, g.ints([0, 0, 0, rest]), g.const(0.0)], mode="constant")
    return g.reshape(y, [0, c, h, w], f"softmax{layer.index}")
