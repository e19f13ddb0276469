"""`darkpy map` in one call: a detector's mAP report or a classifier's top-1/top-k, chosen by
the network (detection heads: darknet's `detector map`; a softmax last: `classifier valid`).

    from darkpy.evaluation.validate import validate
    report = validate("yolov3-tiny.cfg", "yolov3-tiny.weights", "obj.data")
    print(report.darknet_text())
"""
from __future__ import annotations

from darkpy.errors import ConfigError


def validate(cfg, weights, data, thresh: float = 0.25, iou_thresh: float = 0.5, points: int = 0,
             coco: bool = True, crop: str = "alexeyab", label_rule: str = "alexeyab",
             reporter=None):
    """MapReport (darkpy.evaluation.detection_map) for a detector, ClassifierReport
    (darkpy.evaluation.classifier_valid) for a classifier; `crop` is the classifier's
    resize/crop rule, the other options the detector's."""
    from darkpy.api import load
    from darkpy.detect.decode import decoder_of
    from darkpy.evaluation.classifier_valid import is_classifier, validate_classifier
    from darkpy.evaluation.detection_map import map_network

    network = load(cfg, weights)
    if any(decoder_of(layer) for layer in network.layers):
        return map_network(network, data, iou_thresh=iou_thresh, points=points, thresh=thresh,
                           coco=coco, reporter=reporter, label_rule=label_rule)
    if is_classifier(network):
        return validate_classifier(network, data, rule=crop, reporter=reporter)
    raise ConfigError(f"{cfg}: neither a detector (no [yolo], [region], [Gaussian_yolo] or "
                      "[detection] layer) nor a classifier (its last layer is not [softmax]): "
                      "nothing for `map` to score")
