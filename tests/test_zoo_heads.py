"""[detection] (YOLOv1) and [Gaussian_yolo]: raw outputs, decoding, and their inference-only-ness."""
import math

import numpy as np
import pytest

from darkpy.detect.decode_detection import decode_detection
from darkpy.detect.decode_gaussian import decode_gaussian
from darkpy.errors import ConfigError
from darkpy.layers.detection import DetectionLayer
from darkpy.layers.gaussian_yolo import GaussianYolo
from tests.zoo_util import chw_flat, make


def sigmoid(v):
    return 1 / (1 + np.exp(-np.asarray(v, np.float64)))


def test_detection_forward_is_the_flat_buffer_with_cell_softmax():
    side, num, classes, coords = 2, 2, 3, 4
    size = side * side * ((1 + coords) * num + classes)
    x = np.random.default_rng(0).standard_normal((2, 1, 1, size)).astype(np.float32)
    raw = make(DetectionLayer, {"side": side, "num": num, "classes": classes, "coords": coords},
               [(1, 1, size)])
    np.testing.assert_array_equal(raw.forward([x]), x)
    soft = make(DetectionLayer, {"side": side, "num": num, "classes": classes, "coords": coords,
                            "softmax": 1}, [(1, 1, size)])
    out = soft.forward([x]).reshape(2, -1)
    flat = x.reshape(2, -1)
    for b in range(2):
        for cell in range(side * side):
            z = flat[b, cell * classes:(cell + 1) * classes].astype(np.float64)
            want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            np.testing.assert_allclose(out[b, cell * classes:(cell + 1) * classes], want, rtol=1e-6)
        np.testing.assert_array_equal(out[b, side * side * classes:], flat[b, side * side * classes:])


def test_detection_reads_a_spatial_input_in_chw_order():
    x = np.random.default_rng(1).standard_normal((1, 2, 2, 11)).astype(np.float32)  # 44 = 4*11
    # side=2, num=1 -> 4 * (5 + 1) = 24 != 44: refused with the numbers
    with pytest.raises(ConfigError, match="need 24 inputs"):
        make(DetectionLayer, {"side": 2, "num": 1, "classes": 1, "coords": 4}, [(2, 2, 11)])
    layer = make(DetectionLayer, {"side": 2, "num": 1, "classes": 6, "coords": 4}, [(2, 2, 11)])
    np.testing.assert_array_equal(layer.forward([x]).reshape(1, -1), chw_flat(x))


def test_detection_trains_only_its_loss_and_gaussian_passes_gradients():
    # [detection] trains through its own loss (tests/test_detection_loss.py)
    layer = make(DetectionLayer, {"side": 1, "num": 1, "classes": 1, "coords": 4}, [(1, 1, 6)])
    out = layer.forward([np.zeros((1, 1, 1, 6), np.float32)])
    with pytest.raises(ConfigError, match="no gradient from later layers"):
        layer.backward(out, [out], out)
    # [Gaussian_yolo] trains (tests/test_gaussian_yolo_loss.py); without truth a later
    # gradient goes through its activations: sigma'(0) = 1/4, the raw w, h means 1
    g = make(GaussianYolo, {"classes": 1, "num": 1}, [(2, 2, 10)])
    zeros = np.zeros((1, 2, 2, 10))
    (grad,) = g.backward(np.ones((1, 2, 2, 10)), [zeros], zeros)
    expected = np.full(10, 0.25)
    expected[[4, 6]] = 1
    np.testing.assert_allclose(grad[0, 1, 0], expected)


def test_decode_detection_hand_worked():
    side, num, classes = 2, 1, 2
    cells = 4
    scores = np.array([[.9, .1], [.2, .8], [.5, .5], [0, 1]], np.float32)
    conf = np.array([.5, .9, .1, 1], np.float32)
    boxes = np.array([[.5, .5, .4, .2], [.25, .75, .5, .5], [0, 0, 1, 1], [1, 1, .3, .3]],
                     np.float32)
    flat = np.concatenate([scores.ravel(), conf, boxes.ravel()])
    cands = decode_detection(flat, side, num, classes, 4, sqrt=True, thresh=0.3)
    assert len(cands) == cells  # every cell and box, thresholded or not
    # cell 1: row 0, col 1 -> x = (1 + .25)/2, y = (0 + .75)/2, w = .5^2
    np.testing.assert_allclose(cands.boxes[1], [0.625, 0.375, 0.25, 0.25], rtol=1e-6)
    np.testing.assert_allclose(cands.objectness, conf)
    np.testing.assert_allclose(cands.probs[0], [0.45, 0], rtol=1e-6)   # .05 <= .3 -> 0
    np.testing.assert_allclose(cands.probs[1], [0, 0.72], rtol=1e-6)
    assert not cands.probs[2].any()
    plain = decode_detection(flat, side, num, classes, 4, sqrt=False, thresh=0.3)
    np.testing.assert_allclose(plain.boxes[0], [0.25, 0.25, 0.4, 0.2], rtol=1e-6)


def naive_gaussian_forward(x_chw, n, classes, h, w, scale):
    """forward_gaussian_yolo_layer's CPU loop on one image's CHW buffer."""
    out = x_chw.astype(np.float64).copy()
    per = h * w
    stride = 9 + classes
    for a in range(n):
        base = a * per * stride
        ent = lambda e: slice(base + e * per, base + (e + 1) * per)  # noqa: E731
        out[base:base + 2 * per] = sigmoid(out[base:base + 2 * per])
        out[ent(0)] = out[ent(0)] * scale - 0.5 * (scale - 1)
        out[ent(2).start:ent(3).stop] = sigmoid(out[ent(2).start:ent(3).stop])
        out[ent(2)] = out[ent(2)] * scale - 0.5 * (scale - 1)
        out[ent(5)] = sigmoid(out[ent(5)])
        out[ent(7)] = sigmoid(out[ent(7)])
        out[ent(8).start:base + stride * per] = sigmoid(out[ent(8).start:base + stride * per])
    return out


def test_gaussian_forward_matches_darknet_loop():
    n, classes, h, w = 2, 3, 3, 4
    c = n * (9 + classes)
    x = np.random.default_rng(3).standard_normal((2, h, w, c)).astype(np.float32) * 3
    layer = make(GaussianYolo, {"classes": classes, "num": 3, "mask": "0,2", "scale_x_y": 1.1,
                                "anchors": "1,2, 3,4, 5,6"}, [(h, w, c)])
    out = chw_flat(layer.forward([x]))
    for b in range(2):
        want = naive_gaussian_forward(chw_flat(x)[b], n, classes, h, w, 1.1)
        np.testing.assert_allclose(out[b], want, rtol=2e-6, atol=1e-6)
    np.testing.assert_array_equal(layer.anchors, [[1, 2], [5, 6]])


def test_gaussian_channel_check():
    with pytest.raises(ConfigError, match="filters=20"):
        make(GaussianYolo, {"classes": 1, "num": 2}, [(4, 4, 18)])


def gaussian_output(grid_h, grid_w, n, classes, cells):
    out = np.zeros((grid_h, grid_w, n * (9 + classes)), np.float32)
    for (row, col, a), entries in cells.items():
        out[row, col, a * (9 + classes):(a + 1) * (9 + classes)] = entries
    return out


def test_decode_gaussian_hand_worked():
    classes = 2
    # cell (1, 0), anchor 1: t0=.5 t1=.2 t2=.25 t3=.2 t4=ln2 t5=.4 t6=0 t7=.4 obj=.8 cls=.9,.3
    entries = [.5, .2, .25, .2, math.log(2), .4, 0, .4, .8, .9, .3]
    out = gaussian_output(2, 4, 2, classes, {(1, 0, 1): entries,
                                             (0, 3, 0): [0] * 8 + [.1, 1, 1]})
    anchors = np.array([[10, 10], [16, 32]], np.float32)
    c = decode_gaussian(out, anchors, classes, net_w=64, net_h=64, thresh=0.25)
    assert len(c) == 1  # the other cell's objectness .1 is below thresh
    # x = (0 + .5)/4, y = (1 + .25)/2, w = 2 * 16/64, h = 1 * 32/64
    np.testing.assert_allclose(c.boxes[0], [0.125, 0.625, 0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(c.uncertainty[0], [.2, .2, .4, .4], rtol=1e-6)
    # mean uncertainty .3: probs .8 * .9 * .7 = .504 and .8 * .3 * .7 = .168 (< .25 -> 0)
    np.testing.assert_allclose(c.probs[0], [0.504, 0], rtol=1e-6)
    lt = decode_gaussian(out, anchors, classes, 64, 64, 0.25, yolo_point="left_top")
    np.testing.assert_allclose(lt.boxes[0, :2], [0.375, 0.875], rtol=1e-6)
    rb = decode_gaussian(out, anchors, classes, 64, 64, 0.25, yolo_point="right_bottom")
    np.testing.assert_allclose(rb.boxes[0, :2], [-0.125, 0.375], rtol=1e-6)


def test_decode_gaussian_order_and_empty():
    classes = 1
    cells = {(0, 1, 0): [0] * 8 + [.9, 1], (0, 0, 1): [0] * 8 + [.7, 1],
             (0, 0, 0): [0] * 8 + [.6, 1]}
    out = gaussian_output(1, 2, 2, classes, cells)
    c = decode_gaussian(out, np.ones((2, 2), np.float32), classes, 8, 8, 0.5)
    np.testing.assert_allclose(c.objectness, [.6, .7, .9], rtol=1e-6)  # cell-major, then anchor
    none = decode_gaussian(out, np.ones((2, 2), np.float32), classes, 8, 8, 0.95)
    assert len(none) == 0 and none.uncertainty.shape == (0, 4)


def test_decode_gaussian_scales_each_box_by_its_own_objectness():
    """Several boxes of several classes (found by the fuzz tests: objectness was broadcast
    along the classes instead of the boxes)."""
    classes = 3
    cells = {(0, 0, 0): [0] * 8 + [.5, .8, .6, 1.0], (0, 1, 0): [0] * 8 + [1.0, .5, .1, .9]}
    c = decode_gaussian(gaussian_output(1, 2, 1, classes, cells), np.ones((1, 2), np.float32),
                        classes, 8, 8, 0.3)
    # uncertainties 0: prob = objectness * class score, kept when > .3
    np.testing.assert_allclose(c.probs, [[.4, 0, .5], [.5, 0, .9]], rtol=1e-6)


GAUSS_NET = """[net]
width=64
height=64
channels=3
[convolutional]
filters=13
size=1
stride=32
activation=linear
[Gaussian_yolo]
classes=4
num=1
anchors=20,30
"""

YOLOV1_NET = """[net]
width=32
height=32
channels=3
[convolutional]
filters=1
size=1
stride=16
activation=linear
[connected]
output=44
activation=linear
[detection]
side=2
num=1
classes=6
coords=4
sqrt=1
"""


def constant_head_input(net, values):
    """Zero every weight and set the last layer before the head to output `values` (its biases)
    at every position, whatever the image: the head's input is then known by hand."""
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, np.zeros(shape, np.float32))
    net.layers[-2].set_param("biases", np.asarray(values, np.float32))


def detect_hand_set(tmp_path, text, values):
    import darkpy
    from darkpy.detect import Detector

    cfg = tmp_path / "net.cfg"
    cfg.write_text(text)
    net = darkpy.load(cfg)
    constant_head_input(net, values)
    image = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)  # 50 wide, 40 high
    detector = Detector(net, [f"c{i}" for i in range(net.layers[-1].classes)], thresh=0.01, nms=0)
    return detector, detector(image)


def test_detector_decodes_gaussian_yolo_heads(tmp_path):
    """darkpy.detect finds a [Gaussian_yolo] head and decodes it through the letterbox."""
    ln4, ln9 = math.log(4), math.log(9)
    # every cell of the 2x2 grid: x, y at the cell centre (sigmoid 0), uncertainties sigmoid(-ln4)
    # = 0.2, w = e^ln2 * 20 = 40 and h = e^0 * 30 = 30 network pixels, objectness 0.8, classes
    # 0.9, 0.5, 0.1 and ~0
    detector, dets = detect_hand_set(tmp_path, GAUSS_NET, [0, -ln4, 0, -ln4, math.log(2), -ln4, 0, -ln4,
                                                           ln4, ln9, 0, -ln9, -20])
    assert detector.letterbox
    # prob = objectness * class * (1 - mean uncertainty 0.2); class 3's ~1e-9 is under thresh
    probs = [0.8 * 0.9 * 0.8, 0.8 * 0.5 * 0.8, 0.8 * 0.1 * 0.8]
    # the 50x40 image is letterboxed to 64x51 at rows 6.5.. of the 64x64 input (darknet's
    # (64 - 51) / 2.): x_image = x_net * 50/64, y_image = (y_net - 6.5) * 40/51
    want = []
    for row in range(2):
        for col in range(2):
            center = ((col + 0.5) * 32 * 50 / 64, ((row + 0.5) * 32 - 6.5) * 40 / 51,
                      40 * 50 / 64, 30 * 40 / 51)
            want += [(k, p, center) for k, p in enumerate(probs)]
    assert len(dets) == len(want) == 12
    for det, (k, p, center) in zip(dets, want):
        assert det.class_name == f"c{k}"
        assert det.confidence == pytest.approx(p, rel=1e-5)
        assert det.center == pytest.approx(center, rel=1e-5)


def test_detector_decodes_yolov1_detection_heads(tmp_path):
    """darkpy.detect finds a [detection] (YOLOv1) head: image stretched, sqrt w and h."""
    scores = np.zeros((4, 6))
    conf = np.zeros(4)
    boxes = np.zeros((4, 4))
    scores[1, [3, 5]], conf[1], boxes[1] = (0.5, 0.25), 0.8, (0.5, 0.25, 0.3, 0.6)  # row 0, col 1
    scores[2, 0], conf[2], boxes[2] = 0.6, 0.5, (0.1, 0.9, 0.2, 0.4)  # row 1, col 0
    detector, dets = detect_hand_set(tmp_path, YOLOV1_NET,
                                     np.concatenate([scores.ravel(), conf, boxes.ravel()]))
    assert not detector.letterbox  # YOLOv1 stretches, as darknet's `yolo test`
    # x = (col + bx) / side of the image width, w = bw^2 (sqrt=1); prob = conf * class
    want = [(3, 0.8 * 0.5, ((1 + 0.5) / 2 * 50, (0 + 0.25) / 2 * 40, 0.3 ** 2 * 50, 0.6 ** 2 * 40)),
            (5, 0.8 * 0.25, ((1 + 0.5) / 2 * 50, (0 + 0.25) / 2 * 40, 0.3 ** 2 * 50, 0.6 ** 2 * 40)),
            (0, 0.5 * 0.6, ((0 + 0.1) / 2 * 50, (1 + 0.9) / 2 * 40, 0.2 ** 2 * 50, 0.4 ** 2 * 40))]
    assert [(d.class_id, d.box) for d in dets] == [(3, 1), (5, 1), (0, 2)]  # nms=0: box = cell
    for det, (k, p, center) in zip(dets, want):
        assert det.confidence == pytest.approx(p, rel=1e-5)
        assert det.center == pytest.approx(center, rel=1e-5)
