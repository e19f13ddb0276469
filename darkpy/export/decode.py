"""Detection heads decoded in the graph: boxes and scores, darknet's get_network_boxes before NMS.

Outputs (M candidates an image, every head's in network order, in darknet's candidate order):

    boxes       (N, M, 4)  centre x, centre y, width, height in pixels of the original image
    objectness  (N, M)     the box's objectness (1 for a [region] with background=1)
    scores      (N, M, C)  objectness * class probability ([Gaussian_yolo]: also times
                           1 - the mean of the box's four uncertainties)

These are darkpy.detect's candidates (darkpy/detect/decode.py, decode_gaussian.py,
decode_detection.py) with nothing thresholded: darknet keeps a [yolo] candidate when its
objectness > thresh and reports a class when its score > thresh, then runs NMS; a consumer
of the graph does the same with its own threshold. Per head, for cell (row, col) of an H x W
grid and anchor (aw, ah):

    [yolo]           x = (col + tx) / W, y = (row + ty) / H, w = e^tw aw / net_w
                     (new_coords: 4 tw^2 aw / net_w); cells row-major, anchors inside a cell
    [Gaussian_yolo]  the same from entries 0, 2, 4, 6, moved by yolo_point
    [region]         w = e^tw aw / W (anchors in grid cells); anchor-major, as darknet
    [detection]      x = (col + tx) / side, w = tw (tw^2 with sqrt=1); cell-major, then box

The second input `image_size` (N, 2) holds each original image's width and height (0, 0
meaning "the network input itself"). Boxes are mapped to it as darknet's correct_yolo_boxes
does: with letterboxing the padding is removed (the resized size computed with darknet's
integer arithmetic), otherwise the network input is the stretched image.
"""
from __future__ import annotations

import numpy as np

from darkpy.export.graph import GraphBuilder, Value

FLOAT, INT64 = 1, 7  # onnx.TensorProto.FLOAT / INT64


def _float(g: GraphBuilder, dim):
    return g.const(float(dim)) if isinstance(dim, int) else g.node("Cast", [dim], to=FLOAT)


def _grid(g: GraphBuilder, head: Value, shape: list[int]):
    """(col, row) of every cell, row-major, as float tensors of `shape` (-1 = the cells)."""
    h, w = g.dim(head, 2), g.dim(head, 3)
    if isinstance(h, int) and isinstance(w, int):
        cell = np.arange(h * w)
        col = (cell % w).astype(np.float32).reshape(shape)
        row = (cell // w).astype(np.float32).reshape(shape)
        return g.const(col, hint="grid_col"), g.const(row, hint="grid_row")
    cells = g.reshape(g.dim_op("Mul", h, w), [])
    cell = g.node("Range", [g.const(0, np.int64), cells, g.const(1, np.int64)])
    col = g.node("Cast", [g.node("Mod", [cell, w])], to=FLOAT)
    row = g.node("Cast", [g.node("Div", [cell, w])], to=FLOAT)
    return g.reshape(col, shape), g.reshape(row, shape)


def _entry(g: GraphBuilder, t: str, k: int, stop: int | None = None) -> str:
    """Entries k (..stop) on the last axis, kept as an axis."""
    return g.slice(t, -1, k, k + 1 if stop is None else stop)


def _anchor_major_last(g: GraphBuilder, head: Value, n: int, entries: int, perm) -> str:
    """The head (N, n*entries, H, W) viewed as (N, n, entries, H*W) and transposed by perm."""
    return g.node("Transpose", [g.reshape(head.name, [0, n, entries, -1])], perm=perm)


def _yolo_like(g: GraphBuilder, layer, head: Value, net, centre: tuple, size: tuple,
               obj: int, first_class: int):
    """[yolo] and [Gaussian_yolo] candidates: (boxes, objectness, class entries, t)."""
    t = _anchor_major_last(g, head, layer.n, layer.entries, [0, 3, 1, 2])  # (N, HW, n, E)
    col, row = _grid(g, head, [1, -1, 1, 1])
    grid_w, grid_h = _float(g, g.dim(head, 3)), _float(g, g.dim(head, 2))
    anchors = np.asarray(layer.anchors, np.float32)
    aw = g.const(anchors[:, 0].reshape(1, 1, -1, 1), hint="anchor_w")
    ah = g.const(anchors[:, 1].reshape(1, 1, -1, 1), hint="anchor_h")
    x = g.node("Div", [g.node("Add", [col, _entry(g, t, centre[0])]), grid_w])
    y = g.node("Div", [g.node("Add", [row, _entry(g, t, centre[1])]), grid_h])
    tw, th = _entry(g, t, size[0]), _entry(g, t, size[1])
    if getattr(layer, "new_coords", 0):
        four = g.const(4.0)
        w = g.node("Mul", [g.node("Mul", [g.node("Mul", [tw, tw]), four]), aw])
        h = g.node("Mul", [g.node("Mul", [g.node("Mul", [th, th]), four]), ah])
    else:
        w = g.node("Mul", [g.node("Exp", [tw]), aw])
        h = g.node("Mul", [g.node("Exp", [th]), ah])
    w, h = g.node("Div", [w, net[0]]), g.node("Div", [h, net[1]])
    point = getattr(layer, "yolo_point", "center")
    if point != "center":  # x, y located a corner: move them to the centre
        sign = 0.5 if point == "left_top" else -0.5
        x = g.node("Add", [x, g.node("Mul", [w, g.const(sign)])])
        y = g.node("Add", [y, g.node("Mul", [h, g.const(sign)])])
    boxes = g.node("Concat", [x, y, w, h], axis=-1)
    return boxes, _entry(g, t, obj), _entry(g, t, first_class, layer.entries), t


def yolo(g: GraphBuilder, layer, head: Value, net):
    boxes, obj, classes, _ = _yolo_like(g, layer, head, net, (0, 1), (2, 3), 4, 5)
    return boxes, obj, g.node("Mul", [obj, classes])


def gaussian_yolo(g: GraphBuilder, layer, head: Value, net):
    boxes, obj, classes, t = _yolo_like(g, layer, head, net, (0, 2), (4, 6), 8, 9)
    uncertainty = [_entry(g, t, k) for k in (1, 3, 5, 7)]
    total = g.node("Add", [g.node("Add", [uncertainty[0], uncertainty[1]]),
                           g.node("Add", [uncertainty[2], uncertainty[3]])])
    certainty = g.node("Sub", [g.const(1.0), g.node("Div", [total, g.const(4.0)])])
    return boxes, obj, g.node("Mul", [g.node("Mul", [obj, classes]), certainty])


def region(g: GraphBuilder, layer, head: Value, net):
    t = _anchor_major_last(g, head, layer.n, layer.entries, [0, 1, 3, 2])  # (N, n, HW, E)
    col, row = _grid(g, head, [1, 1, -1, 1])
    grid_w, grid_h = _float(g, g.dim(head, 3)), _float(g, g.dim(head, 2))
    anchors = np.asarray(layer.anchors, np.float32)
    aw = g.const(anchors[:, 0].reshape(1, -1, 1, 1), hint="anchor_w")
    ah = g.const(anchors[:, 1].reshape(1, -1, 1, 1), hint="anchor_h")
    x = g.node("Div", [g.node("Add", [col, _entry(g, t, 0)]), grid_w])
    y = g.node("Div", [g.node("Add", [row, _entry(g, t, 1)]), grid_h])
    w = g.node("Div", [g.node("Mul", [g.node("Exp", [_entry(g, t, 2)]), aw]), grid_w])
    h = g.node("Div", [g.node("Mul", [g.node("Exp", [_entry(g, t, 3)]), ah]), grid_h])
    boxes = g.node("Concat", [x, y, w, h], axis=-1)
    first = layer.coords + 1
    classes = _entry(g, t, first, first + layer.classes)
    if layer.background:  # the objectness slot is a softmax entry: darknet scores by 1
        return boxes, _ones_like(g, _entry(g, t, 0)), classes
    obj = _entry(g, t, layer.coords)
    return boxes, obj, g.node("Mul", [obj, classes])


def _ones_like(g: GraphBuilder, x: str) -> str:
    return g.node("Add", [g.node("Mul", [x, g.const(0.0)]), g.const(1.0)])


def detection(g: GraphBuilder, layer, head: Value, net):
    """YOLOv1: the flat buffer's three blocks; every (cell, box) pair, cell-major."""
    side, num, classes, coords = layer.side, layer.n, layer.classes, layer.coords
    cells = side * side
    flat = g.reshape(head.name, [0, -1])
    scores = g.reshape(g.slice(flat, 1, 0, cells * classes), [0, cells, 1, classes])
    conf = g.reshape(g.slice(flat, 1, cells * classes, cells * (classes + num)),
                     [0, cells, num, 1])
    end = cells * ((1 + coords) * num + classes)
    raw = g.reshape(g.slice(flat, 1, cells * (classes + num), end), [0, cells, num, coords])
    cell = np.arange(cells)
    col = g.const((cell % side).astype(np.float32).reshape(1, cells, 1, 1), hint="grid_col")
    row = g.const((cell // side).astype(np.float32).reshape(1, cells, 1, 1), hint="grid_row")
    s = g.const(float(side))
    x = g.node("Div", [g.node("Add", [_entry(g, raw, 0), col]), s])
    y = g.node("Div", [g.node("Add", [_entry(g, raw, 1), row]), s])
    w, h = _entry(g, raw, 2), _entry(g, raw, 3)
    if layer.sqrt:
        w, h = g.node("Mul", [w, w]), g.node("Mul", [h, h])
    boxes = g.node("Concat", [x, y, w, h], axis=-1)
    return boxes, conf, g.node("Mul", [conf, scores])


DECODERS = {"yolo": yolo, "Gaussian_yolo": gaussian_yolo, "region": region,
            "detection": detection}


def decode_heads(g: GraphBuilder, heads: list, values: dict, image: Value, image_size: str,
                 letterbox: bool, classes: int) -> tuple[str, str, str]:
    """(boxes, objectness, scores) tensors for the heads [(index, layer)] whose outputs are
    `values[index]`; `image` is the network input, `image_size` the (N, 2) input."""
    net_w, net_h = _float(g, g.dim(image, 3)), _float(g, g.dim(image, 2))
    all_boxes, all_obj, all_scores = [], [], []
    for index, layer in heads:
        boxes, obj, scores = DECODERS[layer.kind](g, layer, values[index], (net_w, net_h))
        all_boxes.append(g.reshape(boxes, [0, -1, 4]))
        all_obj.append(g.reshape(obj, [0, -1]))
        all_scores.append(g.reshape(scores, [0, -1, classes]))

    def join(parts, axis):
        return parts[0] if len(parts) == 1 else g.node("Concat", parts, axis=axis)

    boxes = _to_image(g, join(all_boxes, 1), net_w, net_h, image_size, letterbox)
    return boxes, join(all_obj, 1), join(all_scores, 1)


def _to_image(g: GraphBuilder, boxes: str, net_w: str, net_h: str, image_size: str,
              letterbox: bool) -> str:
    """Network-relative boxes (N, M, 4) -> pixels of each image (darknet's correct boxes)."""
    net = g.node("Concat", [g.reshape(net_w, [1]), g.reshape(net_h, [1])], axis=0)  # (2,)
    given = g.node("Greater", [image_size, g.const(0.0)])
    size = g.node("Where", [given, image_size, net])  # (N, 2): image width, height
    if letterbox:
        fitted = _letterbox_size(g, size, net)
        ratio = g.node("Div", [fitted, net])  # new / net, per axis
        offset = g.node("Div", [g.node("Div", [g.node("Sub", [net, fitted]), g.const(2.0)]), net])
        zeros = g.node("Mul", [offset, g.const(0.0)])
        offset4 = g.node("Concat", [offset, zeros], axis=1)
        ratio4 = g.node("Concat", [ratio, ratio], axis=1)
        shifted = g.node("Sub", [boxes, g.node("Unsqueeze", [offset4, g.ints([1])])])
        boxes = g.node("Div", [shifted, g.node("Unsqueeze", [ratio4, g.ints([1])])])
    pixels = g.node("Unsqueeze", [g.node("Concat", [size, size], axis=1), g.ints([1])])
    return g.node("Mul", [boxes, pixels])


def _letterbox_size(g: GraphBuilder, size: str, net: str) -> str:
    """(N, 2) float: darknet's letterbox_image size, with its integer arithmetic: the side
    that fits takes the network's size, the other image_side * net_side / fitting_side."""
    ratio = g.node("Div", [net, size])  # net_w / image_w, net_h / image_h
    r_w, r_h = g.slice(ratio, 1, 0, 1), g.slice(ratio, 1, 1, 2)
    width_fits = g.node("Less", [r_w, r_h])  # (N, 1)
    isize = g.node("Cast", [size], to=INT64)
    inet = g.node("Cast", [net], to=INT64)
    i_w, i_h = g.slice(isize, 1, 0, 1), g.slice(isize, 1, 1, 2)
    n_w, n_h = g.slice(inet, 0, 0, 1), g.slice(inet, 0, 1, 2)
    by_width = g.node("Concat", [g.node("Expand", [n_w, g.node("Shape", [i_w])]),
                                 g.node("Div", [g.node("Mul", [i_h, n_w]), i_w])], axis=1)
    by_height = g.node("Concat", [g.node("Div", [g.node("Mul", [i_w, n_h]), i_h]),
                                  g.node("Expand", [n_h, g.node("Shape", [i_h])])], axis=1)
    fitted = g.node("Where", [width_fits, by_width, by_height])
    return g.node("Cast", [fitted], to=FLOAT)
