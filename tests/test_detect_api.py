"""The detect() pipeline on a stand-in network whose [yolo] input is chosen by hand."""
import cv2
import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.detect import Detector, detect
from darkpy.errors import ConfigError, InputError
from darkpy.layers.yolo import Yolo


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-float(v)))


def yolo_layer(classes=2, anchors="40,20", channels=None):
    opts = parse_options(Section("yolo", {"classes": str(classes), "anchors": anchors}), Yolo.keys)
    return Yolo(opts, [(2, 2, channels or 5 + classes)], index=0, origin="toy.cfg:9")


class StubNetwork:
    """What Detector needs of a Network: layers, net, forward(x, outputs), metadata."""

    def __init__(self, raw, layers, width=100, height=100, channels=3, metadata=None):
        self.raw, self.layers = raw, layers
        self.net = {"width": width, "height": height, "channels": channels}
        self.metadata = metadata or {}
        self.inputs = []

    def forward(self, x, outputs=None):
        self.inputs.append(x)
        return {i: self.layers[i].forward([self.raw]) for i in outputs}


def one_object_raw():
    """2x2 grid, 1 anchor, 2 classes: only cell (row 1, col 1) holds an object, of class 1."""
    raw = np.full((1, 2, 2, 7), -10.0, np.float32)
    raw[0, 1, 1] = [0, 0, 0, 0, 10, -10, 10]  # x, y at the cell centre, w, h = the anchor
    return raw


def test_one_object_in_original_pixels(tmp_path):
    net = StubNetwork(one_object_raw(), [yolo_layer()])
    image = np.zeros((100, 200, 3), np.uint8)
    (dets,) = detect(net, [image], names=["cat", "dog"])
    (det,) = dets
    # network box (0.75, 0.75, 40/100, 20/100); the 200x100 image sits in rows 25..74
    # confidence = objectness * class probability = sigmoid(10) * sigmoid(10) = 0.999909;
    # the class probability alone, sigmoid(10) = 0.999955, is 4.5e-5 away
    assert det.class_name == "dog" and det.confidence == pytest.approx(sigmoid(10) ** 2, abs=2e-6)
    assert det.center == pytest.approx((150.0, 100.0, 80.0, 40.0), abs=1e-3)
    assert det.bbox == pytest.approx((110.0, 80.0, 80.0, 20.0), abs=1e-3)  # clipped at the bottom
    x = net.inputs[0]
    assert x.shape == (1, 100, 100, 3) and (x[0, :25] == 0.5).all() and (x[0, 25:75] == 0).all()


def test_paths_arrays_and_names_sources(tmp_path):
    path = tmp_path / "black.png"
    cv2.imwrite(str(path), np.zeros((100, 200, 3), np.uint8))
    (names_file := tmp_path / "two.names").write_text("cat\ndog\n\n")
    net = StubNetwork(one_object_raw(), [yolo_layer()], metadata={"names": ["felix", "rex"]})
    by_path, by_array = detect(net, [path, np.zeros((100, 200, 3), np.float32)], names=names_file)
    assert by_path[0].image == str(path) and by_array[0].image == ""
    assert by_path[0].center == pytest.approx(by_array[0].center)
    assert Detector(net)(path)[0].class_name == "rex"  # names carried by a converted model
    assert Detector(StubNetwork(one_object_raw(), [yolo_layer()]))(path)[0].class_name == "1"


def test_empty_output_gives_no_detections():
    net = StubNetwork(np.full((1, 2, 2, 7), -10.0, np.float32), [yolo_layer()])
    assert detect(net, np.zeros((10, 10, 3), np.uint8), names=["a", "b"]) == [[]]


def test_nms_options():
    raw = np.full((1, 2, 2, 7), -10.0, np.float32)
    raw[0, 0, 0] = [0, 0, 2, 2, 10, 10, -10]  # class 0, big box over the image centre
    raw[0, 0, 1] = [-2, 0, 2, 2, 9, -10, 10]  # class 1, much the same box
    net = StubNetwork(raw, [yolo_layer()])
    image = np.zeros((100, 100, 3), np.uint8)
    assert len(detect(net, image, names=["a", "b"])[0]) == 2
    (dets,) = detect(net, image, names=["a", "b"], agnostic=True)
    assert [d.class_name for d in dets] == ["a"]
    raw[0, 0, 1] = raw[0, 0, 0]
    assert len(detect(net, image, names=["a", "b"])[0]) == 1
    assert len(detect(net, image, names=["a", "b"], nms=0)[0]) == 2


def test_clear_errors(tmp_path):
    net = StubNetwork(one_object_raw(), [yolo_layer()])
    with pytest.raises(InputError, match="no such names file"):
        Detector(net, tmp_path / "coco.names")
    (tmp_path / "three.names").write_text("a\nb\nc\n")
    with pytest.raises(InputError, match="3 class names, but the network predicts 2"):
        Detector(net, tmp_path / "three.names")
    with pytest.raises(InputError, match="1 class names"):
        Detector(net, ["a"])

    class NoHeads(StubNetwork):
        pass

    with pytest.raises(ConfigError, match=r"no \[yolo\] or \[region\] layer"):
        Detector(NoHeads(None, [object()]))
    with pytest.raises(ConfigError, match="channels=3"):
        Detector(StubNetwork(one_object_raw(), [yolo_layer()], channels=1))


def test_region_head_through_the_pipeline():
    from darkpy.layers.region import Region

    opts = parse_options(Section("region", {"classes": "2", "num": "1", "softmax": "1",
                                            "anchors": "1,0.5"}), Region.keys)
    layer = Region(opts, [(2, 2, 7)], index=0, origin="v2.cfg:30")
    raw = np.full((1, 2, 2, 7), -10.0, np.float32)
    raw[0, 0, 1] = [0, 0, 0, 0, 10, -5, 5]  # anchor 1 x 0.5 grid cells, class 1
    (det,) = detect(StubNetwork(raw, [layer]), np.zeros((100, 100, 3), np.uint8), names=["a", "b"])[0]
    # x = (1 + 0.5) / 2, y = (0 + 0.5) / 2, w = 1 / 2, h = 0.5 / 2 of a square image
    # confidence = sigmoid(objectness 10) * softmax(-5, 5)[1], and softmax(-5, 5)[1] = sigmoid(10)
    class_b = np.exp(5.0) / (np.exp(-5.0) + np.exp(5.0))
    assert det.class_name == "b" and det.confidence == pytest.approx(sigmoid(10) * class_b, abs=2e-6)
    assert det.center == pytest.approx((75.0, 25.0, 50.0, 25.0), abs=1e-3)
