"""Detection-head outputs -> candidate boxes, as darknet's get_network_boxes builds them.

A candidate is a box (x, y, w, h: centre and size as fractions of the original image), an
objectness and one probability per class, zero where below the threshold. Candidates come in
darknet's order (it matters to NMS ties and to the printed order):
- [yolo] (get_yolo_detections): cells row-major, anchors inside a cell; only cells whose
  objectness > thresh. Box: x = (col + tx) / W, y = (row + ty) / H, w = e^tw * anchor_w / net_w,
  h = e^th * anchor_h / net_h (new_coords: w = 4 tw^2 * anchor_w / net_w); prob = obj * class.
- [region] (get_region_detections): every anchor x cell, anchor-major; anchors in grid cells,
  so w = e^tw * anchor_w / W. Objectness and probs are zeroed unless objectness > thresh.
Boxes are then mapped from the network input back to the original image (correct_yolo_boxes /
correct_region_boxes): the letterbox padding is removed and the scale undone.
"""
from __future__ import annotations

import numpy as np

from darkpy.detect.candidates import Candidates, class_probs
from darkpy.detect.decode_detection import decode_detection
from darkpy.detect.decode_gaussian import decode_gaussian
from darkpy.detect.letterbox import letterbox_size
from darkpy.errors import ConfigError
from darkpy.layers.detection import DetectionLayer
from darkpy.layers.gaussian_yolo import GaussianYolo
from darkpy.layers.region import Region
from darkpy.layers.yolo import Yolo


def decode_yolo(output: np.ndarray, anchors: np.ndarray, classes: int, net_w: int, net_h: int,
                thresh: float, new_coords: bool = False) -> Candidates:
    """Candidates from one image's [yolo] output (H, W, n*(5+classes)), boxes in network units."""
    grid_h, grid_w = output.shape[:2]
    n = len(anchors)
    t = np.asarray(output, dtype=np.float32).reshape(grid_h * grid_w, n, 5 + classes)
    thresh = np.float32(thresh)
    cell, anchor = np.nonzero(t[:, :, 4] > thresh)
    if cell.size == 0:
        return Candidates.empty(classes)
    sel = t[cell, anchor]
    col = (cell % grid_w).astype(np.float64)
    row = (cell // grid_w).astype(np.float64)
    tx, ty, tw, th = (sel[:, k].astype(np.float64) for k in range(4))
    aw = anchors[anchor, 0].astype(np.float64)
    ah = anchors[anchor, 1].astype(np.float64)
    if new_coords:
        w, h = tw * tw * 4 * aw / net_w, th * th * 4 * ah / net_h
    else:
        w, h = np.exp(tw) * aw / net_w, np.exp(th) * ah / net_h
    boxes = np.stack([(col + tx) / grid_w, (row + ty) / grid_h, w, h], axis=1).astype(np.float32)
    objectness = sel[:, 4].copy()
    return Candidates(boxes, objectness, class_probs(objectness, sel[:, 5:], thresh))


def decode_region(output: np.ndarray, anchors: np.ndarray, classes: int, coords: int,
                  background: bool, thresh: float) -> Candidates:
    """Candidates from one image's [region] output (H, W, n*(coords+1+classes)), all n*H*W."""
    grid_h, grid_w = output.shape[:2]
    n = len(anchors)
    t = np.asarray(output, dtype=np.float32).reshape(grid_h * grid_w, n, coords + 1 + classes)
    t = t.transpose(1, 0, 2).reshape(n * grid_h * grid_w, -1)  # anchor-major, as darknet
    thresh = np.float32(thresh)
    cell = np.tile(np.arange(grid_h * grid_w), n)
    anchor = np.repeat(np.arange(n), grid_h * grid_w)
    col = (cell % grid_w).astype(np.float64)
    row = (cell // grid_w).astype(np.float64)
    tx, ty, tw, th = (t[:, k].astype(np.float64) for k in range(4))
    w = np.exp(tw) * anchors[anchor, 0] / grid_w
    h = np.exp(th) * anchors[anchor, 1] / grid_h
    boxes = np.stack([(col + tx) / grid_w, (row + ty) / grid_h, w, h], axis=1).astype(np.float32)
    scale = np.ones(len(t), np.float32) if background else t[:, coords].copy()
    objectness = np.where(scale > thresh, scale, np.float32(0)).astype(np.float32)
    probs = class_probs(scale, t[:, coords + 1:coords + 1 + classes], thresh)
    probs[objectness == 0] = 0
    return Candidates(boxes, objectness, probs)


def correct_boxes(boxes: np.ndarray, image_w: int, image_h: int, net_w: int, net_h: int,
                  letterbox: bool = True) -> np.ndarray:
    """Network-relative boxes -> image-relative boxes, undoing letterbox_image's padding."""
    if letterbox:
        new_w, new_h = letterbox_size(image_w, image_h, net_w, net_h)
    else:
        new_w, new_h = net_w, net_h
    b = boxes.astype(np.float64)
    out = np.empty_like(b)
    out[:, 0] = (b[:, 0] - (net_w - new_w) / 2.0 / net_w) / np.float32(new_w / np.float32(net_w))
    out[:, 1] = (b[:, 1] - (net_h - new_h) / 2.0 / net_h) / np.float32(new_h / np.float32(net_h))
    out[:, 2] = b[:, 2] * np.float32(np.float32(net_w) / new_w)
    out[:, 3] = b[:, 3] * np.float32(np.float32(net_h) / new_h)
    return out.astype(np.float32)


# head class -> its outputs for one image, in network units (net_w, net_h, thresh given)
DECODERS = {
    Yolo: lambda layer, out, net_w, net_h, thresh: decode_yolo(
        out, layer.anchors, layer.classes, net_w, net_h, thresh, bool(layer.new_coords)),
    Region: lambda layer, out, net_w, net_h, thresh: decode_region(
        out, layer.anchors, layer.classes, layer.coords, bool(layer.background), thresh),
    GaussianYolo: lambda layer, out, net_w, net_h, thresh: decode_gaussian(
        out, layer.anchors, layer.classes, net_w, net_h, thresh, layer.yolo_point),
    DetectionLayer: lambda layer, out, net_w, net_h, thresh: decode_detection(
        out, layer.side, layer.n, layer.classes, layer.coords, layer.sqrt, thresh),
}


def decoder_of(layer):
    """The DECODERS entry for `layer` (its class or a base class), or None."""
    return next((DECODERS[cls] for cls in type(layer).__mro__ if cls in DECODERS), None)


def detection_layers(network) -> list[tuple[int, object]]:
    """(index, layer) of every detection head (a layer DECODERS can decode); a clear error
    when there is none."""
    heads = [(i, layer) for i, layer in enumerate(network.layers) if decoder_of(layer)]
    if not heads:
        raise ConfigError(
            "this network has no [yolo] or [region] layer (nor [Gaussian_yolo] or [detection]), "
            "so it cannot detect objects (detection needs a darknet YOLO cfg)"
        )
    for i, layer in heads:
        if isinstance(layer, Region) and layer.tree is not None:
            raise ConfigError(
                f"{layer.origin}: [region] layer {i} uses a class tree (tree=, YOLO9000): "
                "darkpy can run it but cannot decode detections from a hierarchy "
                "(darknet's hierarchy thresholds are not supported)")
    classes = {layer.classes for _, layer in heads}
    if len(classes) > 1:
        raise ConfigError(
            "the detection layers disagree on the number of classes: "
            + ", ".join(f"layer {i} has classes={layer.classes}" for i, layer in heads)
        )
    return heads


def network_candidates(heads, outputs: dict, image_w: int, image_h: int, net_w: int, net_h: int,
                       thresh: float, letterbox: bool = True) -> Candidates:
    """All candidates of one image from its head outputs (index -> (H, W, C)), image-relative."""
    parts = []
    for index, layer in heads:
        decoder = decoder_of(layer)
        if decoder is None:
            raise ConfigError(f"{layer.origin}: layer {index} [{layer.kind}] is not a detection "
                              "head darkpy can decode ([yolo], [region], [Gaussian_yolo], "
                              "[detection])")
        part = decoder(layer, outputs[index], net_w, net_h, thresh)
        part.boxes = correct_boxes(part.boxes, image_w, image_h, net_w, net_h, letterbox)
        parts.append(part)
    return Candidates.concat(parts)
