"""Detection in one call: `detect(network, images, names)`, darknet's `detector test` pipeline.

load_image_color -> letterbox_image -> forward -> get_network_boxes (thresh, hier_thresh) ->
do_nms_sort (nms) -> every class above thresh of every surviving box.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from darkpy.detect.decode import detection_layers, network_candidates
from darkpy.detect.letterbox import network_input
from darkpy.detect.names import resolve_names
from darkpy.detect.nms import NMS_KINDS, nms_objectness, nms_sort
from darkpy.detect.result import Detection, to_detections
from darkpy.errors import ConfigError
from darkpy.io.image import load_image, to_float_rgb


class Detector:
    """A network ready to detect: heads found, names checked, thresholds fixed.

    hier_thresh is darknet's threshold for walking a YOLO9000 class tree; darkpy refuses tree
    models, so it is accepted for compatibility and has no effect.
    """

    def __init__(self, network, names=None, thresh: float = 0.25, hier_thresh: float = 0.5,
                 nms: float = 0.45, agnostic: bool = False, letterbox: bool = True):
        self.network = network
        self.heads = detection_layers(network)
        self.classes = self.heads[0][1].classes
        carried = getattr(network, "metadata", {}).get("names")  # from a converted .h5
        self.names = resolve_names(names, carried, self.classes)
        self.net_w, self.net_h = int(network.net["width"]), int(network.net["height"])
        channels = int(network.net["channels"])
        if self.net_w < 1 or self.net_h < 1 or channels != 3:
            raise ConfigError(
                f"detection needs [net] width, height and channels=3 set; this network has "
                f"width={self.net_w}, height={self.net_h}, channels={channels}"
            )
        self.thresh, self.hier_thresh, self.nms = float(thresh), float(hier_thresh), float(nms)
        # AlexeyAB's detector takes the suppression measure from the network's last layer
        last = network.layers[-1]
        self.nms_kind = str(last.opts.get("nms_kind", "default") or "default")
        self.beta_nms = float(last.opts.get("beta_nms", 0.6) or 0.6)
        if self.nms_kind not in NMS_KINDS:
            raise ConfigError(f"{last.origin}: nms_kind={self.nms_kind}: expected one of "
                              f"{', '.join(NMS_KINDS)}")
        self.agnostic, self.letterbox = bool(agnostic), bool(letterbox)
        if any(layer.kind == "detection" for _, layer in self.heads):
            # YOLOv1 works only in darknet's `yolo test`, which stretches the image to the
            # network (its `detector test` letterboxes but never undoes it for [detection])
            self.letterbox = False
        self.last_forward_seconds = 0.0

    def __call__(self, image, label: str | None = None) -> list[Detection]:
        """Detections for one image: a path, or an (H, W, 3) RGB array (uint8, or float 0..1)."""
        if isinstance(image, (str, Path)):
            label = str(image) if label is None else label
            image = load_image(image)
        else:
            image = to_float_rgb(image)
        return self.detect_rgb(image, "" if label is None else label)

    def detect_rgb(self, image: np.ndarray, label: str = "") -> list[Detection]:
        """Detections for an (H, W, 3) float32 RGB 0..1 image (as load_image returns)."""
        image_h, image_w = image.shape[:2]
        cands, order, probs = self.candidates(image)
        return to_detections(cands, order, probs, self.thresh, image_w, image_h, self.names, label)

    def candidates(self, image: np.ndarray):
        """darknet's `dets` after NMS for an (H, W, 3) float32 RGB image: (candidates, order,
        probs): boxes image-relative, `order` the surviving boxes in darknet's final array
        order, `probs` with suppressed entries zeroed (what `detector map` walks)."""
        image_h, image_w = image.shape[:2]
        x = network_input(image, self.net_w, self.net_h, self.letterbox)[None]
        start = time.perf_counter()
        outputs = self.network.forward(x, outputs=[i for i, _ in self.heads])
        self.last_forward_seconds = time.perf_counter() - start
        outputs = {i: outputs[i][0] for i, _ in self.heads}
        cands = network_candidates(self.heads, outputs, image_w, image_h, self.net_w, self.net_h,
                                   self.thresh, self.letterbox)
        if self.nms > 0 and len(cands):
            if self.agnostic:
                order, _, probs = nms_objectness(cands.boxes, cands.objectness, cands.probs, self.nms)
            else:
                order, probs = nms_sort(cands.boxes, cands.objectness, cands.probs, self.nms,
                                        self.nms_kind, self.beta_nms)
        else:
            order, probs = np.arange(len(cands)), cands.probs
        return cands, order, probs


def detect(network, images, names=None, thresh: float = 0.25, hier_thresh: float = 0.5,
           nms: float = 0.45, agnostic: bool = False, letterbox: bool = True) -> list[list[Detection]]:
    """Detect objects in images (paths or RGB arrays); one list of Detection per image.

    network: a darkpy Network with [yolo] or [region] heads (darkpy.load). names: a list, a
    names file, or None for the names the model carries. nms=0 turns suppression off;
    agnostic=True suppresses across classes (darknet's do_nms_obj) instead of per class.
    letterbox=False stretches images to the network size instead of padding them.
    """
    if isinstance(images, (str, Path, np.ndarray)):
        images = [images]
    detector = Detector(network, names, thresh, hier_thresh, nms, agnostic, letterbox)
    return [detector(image) for image in images]
