"""`darkpy.export_onnx(network, path)`: any darkpy network as an ONNX model.

The graph computes darkpy's inference forward exactly (layer by layer, darkpy/export/emit_*.py),
takes NCHW float32 input as darknet does, and carries its preprocessing, class names and
decoding parameters as metadata (darkpy/export/metadata.py). `onnx` is an optional
dependency (pip install 'darkpy[onnx]'); ONNX Runtime is not needed to export.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.errors import ExportError
from darkpy.export import metadata as meta
from darkpy.export.build import INPUT_NAME, build_graph
from darkpy.export.emitters import heads_of
from darkpy.export.options import (
    DEFAULT_OPSET,
    DYNAMIC,
    HEADS,
    MIN_OPSET,
    parse_batch,
    parse_size,
)
from darkpy.export.sizes import dynamic_shapes


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'darkpy[onnx]' "
                          "(or pip install onnx)") from None
    return onnx


def _check_opset(opset: int, onnx) -> int:
    highest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= highest:
        raise ExportError(f"opset {opset}: darkpy writes opsets {MIN_OPSET} to {highest} "
                          f"(the installed onnx {onnx.__version__} knows up to {highest})")
    return int(opset)


def _shapes(network, size):
    """(reference shapes, shapes with None for run-time sizes, input (ref, with None), size
    multiple or None)."""
    c = network.input_shape[2]
    if size == DYNAMIC:
        h, w = network.input_shape[:2]
        reference, varying, multiple = dynamic_shapes(network, h, w)
        return reference, varying, ((h, w, c), (None, None, c)), multiple
    w, h = size if size is not None else network.input_shape[1::-1]
    if min(w, h) < 1:
        raise ExportError(f"size {w}x{h}: width and height must be positive")
    reference = network.infer_shapes((h, w, c))
    return reference, reference, ((h, w, c), (h, w, c)), None


def _names(network, names, heads) -> list[str] | None:
    from darkpy.detect.names import check_names, read_names

    if names is None:
        carried = network.metadata  # what a converted .h5 carries
        return list(carried["names"]) if carried.get("names") else None
    if isinstance(names, (str, Path)):
        names = read_names(names)
    names = [str(n) for n in names]
    if heads:
        return check_names(names, heads[0][1].classes, "the class names given")
    return names


def export_onnx(network, path=None, *, opset: int = DEFAULT_OPSET, batch="dynamic", size=None,
                heads: str = "raw", names=None, letterbox: bool | None = None,
                outputs: list[int] | None = None, metadata: dict | None = None,
                check: bool = True):
    """Write `network` (a darkpy Network) as an ONNX model to `path` (if given); returns the
    onnx.ModelProto.

    batch: a fixed batch size or 'dynamic'. size: (width, height), 'WxH', 'dynamic' (any
    size the network takes; metadata says which multiple), or None for the [net] size.
    heads: 'raw' outputs every detection head's map (darknet's l.output, NCHW) and, for a
    network without heads, the last layer; 'decoded' adds an `image_size` input and outputs
    boxes, objectness and scores (darkpy/export/decode.py). letterbox: how detector inputs
    are made (default: as darkpy detect, letterboxed unless a YOLOv1 [detection] head).
    outputs: layer indices to output instead (raw only). names: class names (a list or a
    names file; default: those an .h5 carries). metadata: extra key -> value pairs.
    check: run onnx.checker (with its shape inference) on the result.
    """
    onnx = _onnx()
    opset = _check_opset(opset, onnx)
    if heads not in HEADS:
        raise ExportError(f"heads {heads!r}: expected one of {', '.join(HEADS)}")
    batch = parse_batch(batch)
    size = parse_size(size)
    head_layers = heads_of(network)
    decoded_heads = None
    if heads == "decoded":
        if outputs:
            raise ExportError("decoded heads and a list of output layers cannot be combined")
        from darkpy.detect.decode import detection_layers

        decoded_heads = detection_layers(network)  # also checks the heads can be decoded
    if letterbox is None:
        letterbox = not any(layer.kind == "detection" for _, layer in head_layers)
    reference, varying, input_hwc, multiple = _shapes(network, size)
    spec = build_graph(network, opset=opset, batch=batch, ref_shapes=reference, shapes=varying,
                       input_hwc=input_hwc, heads=heads, outputs=outputs, letterbox=letterbox,
                       decoded_heads=decoded_heads)
    task = meta.task_of(network, head_layers)
    input_info = {"name": INPUT_NAME, "layout": "NCHW", "dtype": "float32",
                  "shape": [batch or "batch", input_hwc[1][2],
                            input_hwc[1][0] or "height", input_hwc[1][1] or "width"]}
    if multiple:
        input_info["size_multiple"] = multiple
    if heads == "decoded":
        input_info["image_size"] = ("second input (N, 2) float32: each original image's width "
                                    "and height, which boxes are mapped to (0, 0: the network "
                                    "input itself)")
    props = meta.build_metadata(network, input_info=input_info, task=task,
                                pre=meta.preprocess(network, task, letterbox),
                                outputs=spec.output_info, heads=head_layers,
                                names=_names(network, names, head_layers), extra=metadata)
    model = _model(onnx, spec, opset, network, props)
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:  # a darkpy bug, said as one
            raise ExportError(f"the exported graph fails onnx.checker (a darkpy bug): "
                              f"{str(exc).splitlines()[0]}") from None
    if path is not None:
        from darkpy.io.atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), model.SerializeToString())
    return model


PROTOBUF_LIMIT = 2**31 - 1


def _model(onnx, spec, opset: int, network, props: dict):
    helper = onnx.helper
    g = spec.builder
    graph = helper.make_graph(g.nodes, "darkpy", spec.inputs, spec.outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="darkpy",
                              producer_version=props["darkpy_version"],
                              doc_string=f"{network.source}, exported by darkpy")
    # the oldest IR version that holds this opset: older runtimes can load the file
    model.ir_version = helper.find_min_ir_version_for(opsets)
    helper.set_model_props(model, props)
    if model.ByteSize() > PROTOBUF_LIMIT:
        raise ExportError(f"{network.source}: the model is over 2 GB, the limit of one ONNX "
                          "(protobuf) file")
    return model


__all__ = ["export_onnx"]
