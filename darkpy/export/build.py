"""A darkpy Network -> an ONNX graph: one emitter per layer, in order, on NCHW tensors.

The graph input `input` is (N, C, H, W) float32, as darknet's own buffers; darkpy's NHWC
shapes (h, w, c) become (N, c, h, w). Outputs: the detection heads' maps (raw), the decoded
boxes and scores (decoded), the last layer, or any layers asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from darkpy.errors import ExportError
from darkpy.export.decode import decode_heads
from darkpy.export.emitters import (HEAD_EMITTERS, emitter_for, heads_of, no_export,
                                    unsupported)
from darkpy.export.graph import GraphBuilder, Value
from darkpy.network import INPUT

INPUT_NAME = "input"
BATCH = "batch"  # the symbolic batch dimension of a dynamic-batch export
DECODED_NAMES = ("image_size", "boxes", "objectness", "scores")


@dataclass
class GraphSpec:
    """What build_graph produced: graph pieces plus the facts the metadata reports."""
    builder: GraphBuilder
    inputs: list = field(default_factory=list)   # onnx ValueInfoProto
    outputs: list = field(default_factory=list)  # onnx ValueInfoProto
    output_info: list = field(default_factory=list)  # dicts for the metadata


def _nchw(shape_hwc, batch):
    h, w, c = shape_hwc
    return (batch, c, h, w)


def _dims(shape, batch_dynamic: bool) -> list:
    """An ONNX shape: the batch named when dynamic, other run-time sizes unnamed."""
    return [BATCH if (i == 0 and batch_dynamic) else d for i, d in enumerate(shape)]


def check_exportable(network) -> None:
    """Every layer has an emitter; otherwise one ExportError naming all that have none,
    grouped by reason."""
    problems: dict[str, list] = {}
    for layer in network.layers:
        why = unsupported(layer)
        if why is not None:
            problems.setdefault(why, []).append(layer)
    if problems:
        raise ExportError("; ".join(str(no_export(layers, why))
                                    for why, layers in problems.items()))


def build_graph(network, *, opset: int, batch: int | None, ref_shapes: list, shapes: list,
                input_hwc: tuple, heads: str, outputs: list[int] | None,
                letterbox: bool, decoded_heads: list | None) -> GraphSpec:
    """The graph of `network`: ref_shapes are darkpy's (h, w, c) per layer at the reference
    size, `shapes` the same with None for sizes left to run time, input_hwc the pair
    (reference, with None) for the input; batch None = dynamic."""
    from onnx import TensorProto, helper

    check_exportable(network)
    g = GraphBuilder(opset)
    spec = GraphSpec(g)
    dynamic_batch = batch is None
    ref_input = _nchw(input_hwc[0], batch or 1)
    image = Value(g.reserve(INPUT_NAME), _nchw(input_hwc[1], batch), ref_input)
    spec.inputs.append(helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.FLOAT, _dims(_input_dims(image.shape), dynamic_batch)))
    decoded = heads == "decoded"
    wanted = [] if decoded else _wanted_outputs(network, outputs)
    names = {i: g.reserve(_output_name(network, i, outputs)) for i in wanted}
    for name in DECODED_NAMES if decoded else ():
        g.reserve(name)
    values: list[Value] = []
    for i, (layer, sources) in enumerate(zip(network.layers, network.sources)):
        inputs = [image if s == INPUT else values[s] for s in sources]
        name = emitter_for(layer)(g, layer, inputs, ref_shapes[i])
        values.append(Value(name, _nchw(shapes[i], batch), _nchw(ref_shapes[i], batch or 1)))
    if decoded:
        _decoded_outputs(g, spec, values, image, decoded_heads, letterbox, dynamic_batch)
        return spec
    for i in wanted:
        g.rename(values[i].name, names[i])
        spec.outputs.append(helper.make_tensor_value_info(
            names[i], TensorProto.FLOAT, _dims(values[i].shape, dynamic_batch)))
        layer = network.layers[i]
        spec.output_info.append({"name": names[i], "layer": i, "kind": layer.kind,
                                 "layout": "NCHW", "holds": _holds(layer)})
    g.prune([names[i] for i in wanted])
    return spec


def _input_dims(shape):
    n, c, h, w = shape
    return [n, c, "height" if h is None else h, "width" if w is None else w]


def _wanted_outputs(network, outputs: list[int] | None) -> list[int]:
    if outputs:
        n = len(network.layers)
        wanted = []
        for i in outputs:
            j = int(i) + n if int(i) < 0 else int(i)
            if not 0 <= j < n:
                raise ExportError(f"output layer {i} does not exist (the network has {n} "
                                  "layers)")
            if j not in wanted:
                wanted.append(j)
        return wanted
    head_indices = [i for i, _ in heads_of(network)]
    return head_indices or [len(network.layers) - 1]


def _output_name(network, index: int, outputs) -> str:
    if not outputs and not heads_of(network):
        return "output"
    return f"{network.layers[index].kind.lower()}_{index}"


def _holds(layer) -> str:
    if type(layer) in HEAD_EMITTERS:
        return ("the head's activated map as darknet's l.output (NCHW: channel a*entries+e "
                "is entry e of anchor a)")
    return "the layer's output"


def _decoded_outputs(g: GraphBuilder, spec: GraphSpec, values, image: Value, heads: list,
                     letterbox: bool, dynamic_batch: bool) -> None:
    from onnx import TensorProto, helper

    classes = heads[0][1].classes
    spec.inputs.append(helper.make_tensor_value_info(
        "image_size", TensorProto.FLOAT, _dims((image.shape[0], 2), dynamic_batch)))
    boxes, objectness, scores = decode_heads(g, heads, {i: values[i] for i, _ in heads}, image,
                                             "image_size", letterbox, classes)
    count = _candidates(heads, values)
    n = image.shape[0]
    for name, src, shape in (("boxes", boxes, (n, count, 4)), ("objectness", objectness, (n, count)),
                             ("scores", scores, (n, count, classes))):
        g.rename(src, name)
        spec.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                          _dims(shape, dynamic_batch)))
    spec.output_info += [
        {"name": "boxes", "holds": "centre x, centre y, width, height in pixels of the image "
                                   "whose width, height are given in image_size"},
        {"name": "objectness", "holds": "each box's objectness"},
        {"name": "scores", "holds": "objectness * class probability per class, not "
                                    "thresholded, before NMS"},
    ]
    g.prune(list(DECODED_NAMES[1:]))


def _candidates(heads: list, values) -> int | None:
    """Candidates an image (known when every head's grid is)."""
    total = 0
    for i, layer in heads:
        h, w = values[i].shape[2:]
        if layer.kind == "detection":
            total += layer.cells * layer.n
        elif h is None or w is None:
            return None
        else:
            total += h * w * layer.n
    return total
