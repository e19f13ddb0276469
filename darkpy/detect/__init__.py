"""Object detection with darknet's YOLO heads, giving darknet's answers.

    from darkpy import load
    from darkpy.detect import Detector, detect, detect_files
    net = load("yolov3-tiny.cfg", "yolov3-tiny.weights")
    results = detect(net, ["dog.jpg"], "coco.names")         # one list of Detection per image
    report = detect_files(["photos/"], Detector(net, "coco.names"), "annotated")

Modules: letterbox (darknet's resizing; images are read by darkpy.io.image.load_image),
candidates (what decoders return), decode (the table from head class to decoder, [yolo] and
[region]; decode_gaussian, decode_detection the other heads), nms (do_nms_sort /
do_nms_obj), result (Detection records), names, draw, output, video, api (Detector,
detect), files (detect_files: the batch over files, folders, globs, videos and cameras).
"""
from darkpy.detect.api import Detector, detect
from darkpy.detect.files import DetectReport, detect_files
from darkpy.detect.result import Detection

__all__ = ["DetectReport", "Detector", "detect", "detect_files", "Detection"]
