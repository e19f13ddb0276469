"""What an exported model says about itself (ONNX metadata_props, strings; JSON where nested).

    darkpy_version, source     who wrote it, from which model file
    task                       detector | image-to-image | other
    input                      {name, layout: NCHW, dtype: float32, shape, size_multiple
                               (dynamic sizes), image_size (decoded heads' second input)}
    preprocess                 darknet's [net] preprocessing the input expects: color order,
                               scale (1/255: darknet's load_image_color; 1: darkpy's
                               super-resolution networks take 0..255), resize (letterbox with
                               a 0.5 gray fill, stretch, or none: any size runs)
    outputs                    one entry per graph output: name, layer, kind, what it holds
    heads                      every detection head's decoding parameters (anchors in network
                               pixels for [yolo]/[Gaussian_yolo], grid cells for [region])
    names                      the class names (JSON list), when known
    darknet_cfg                the network's cfg text, so the file describes itself fully
"""
from __future__ import annotations

import json

import numpy as np

import darkpy


def task_of(network, heads: list) -> str:
    """detector (it has YOLO heads), image-to-image (the output is an image at least as large
    as the input with as many channels: darkpy's super-resolution networks), or other."""
    if heads:
        return "detector"
    (h, w, c), (oh, ow, oc) = network.input_shape, network.shapes[-1]
    if oc == c and oh >= h and ow >= w and h > 1:
        return "image-to-image"
    return "other"


def preprocess(network, task: str, letterbox: bool) -> dict:
    channels = network.input_shape[2]
    out = {"color": {3: "RGB", 1: "gray"}.get(channels, f"{channels} channels"),
           "layout": "NCHW"}
    if task == "image-to-image":
        # darkpy's SR networks (darkpy upscale) take RGB on 0..255 and return it on 0..255
        out.update(scale=1.0, range=[0, 255], resize="none: any size the network takes",
                   output_range=[0, 255])
        return out
    out.update(scale=1 / 255, range=[0, 1])
    if letterbox:
        out.update(resize="letterbox", letterbox_fill=0.5,
                   note="darknet's letterbox_image: keep the aspect ratio, centre the image "
                        "on a 0.5 gray canvas of the network size")
    else:
        out.update(resize="stretch", note="darknet's resize_image to the network size")
    return out


def head_info(index: int, layer) -> dict:
    info = {"layer": index, "kind": layer.kind, "classes": int(layer.classes)}
    if layer.kind == "detection":
        info.update(side=layer.side, num=layer.n, coords=layer.coords, sqrt=bool(layer.sqrt),
                    softmax=bool(layer.softmax))
        return info
    info["anchors"] = np.asarray(layer.anchors, float).round(6).tolist()
    if layer.kind == "region":
        info.update(coords=layer.coords, softmax=bool(layer.softmax),
                    background=bool(layer.background), anchors_unit="grid cells")
        return info
    info.update(mask=[int(m) for m in layer.mask], scale_x_y=float(layer.scale_x_y),
                anchors_unit="network input pixels")
    if layer.kind == "yolo":
        info["new_coords"] = int(layer.new_coords)
    else:
        info["yolo_point"] = layer.yolo_point
    return info


def build_metadata(network, *, input_info: dict, task: str, pre: dict, outputs: list[dict],
                   heads: list, names: list[str] | None, extra: dict | None = None) -> dict:
    """metadata_props as {key: string}."""
    meta = {
        "darkpy_version": darkpy.__version__,
        "source": str(network.source),
        "task": task,
        "input": json.dumps(input_info),
        "preprocess": json.dumps(pre),
        "outputs": json.dumps(outputs),
        "darknet_cfg": network.cfg_text(),
    }
    if heads:
        meta["heads"] = json.dumps([head_info(i, layer) for i, layer in heads])
    if names:
        meta["names"] = json.dumps(list(names))
    for key, value in (extra or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return meta
