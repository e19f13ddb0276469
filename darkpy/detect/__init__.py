"""Object detection with darknet's YOLO heads, giving darknet's answers.

    from darkpy import load
    from darkpy.detect import detect
    results = detect(load("yolov3-tiny.cfg", "yolov3-tiny.weights"), ["dog.jpg"], "coco.names")

Modules: letterbox (darknet's resizing; images are read by darkpy.io.image.load_image),
decode ([yolo]/[region] outputs -> boxes), nms (do_nms_sort / do_nms_obj), result
(Detection records), names, draw, output, files (the inputs of `darkpy detect`), video,
api (Detector, detect).
"""
from darkpy.detect.api import Detector, detect
from darkpy.detect.result import Detection

__all__ = ["Detector", "detect", "Detection"]
