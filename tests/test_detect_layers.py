"""[yolo] and [region] forward against naive loops of darknet's forward_*_layer, and their schemas."""
import numpy as np
import pytest

from darkpy.config.cfg import read_cfg
from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.region import Region
from darkpy.layers.yolo import Yolo


def make(cls, options, shape):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, [shape], index=7, origin="test.cfg:3")


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-np.float64(v)))


def naive_yolo(x, n, classes, scale=1.0, new_coords=False):
    """darknet's CHW loops, per anchor block, on an NHWC array (float64)."""
    out = x.astype(np.float64).copy()
    e = 5 + classes
    for b in range(x.shape[0]):
        for r in range(x.shape[1]):
            for c in range(x.shape[2]):
                for a in range(n):
                    for k in range(e):
                        v = out[b, r, c, a * e + k]
                        if not new_coords and k not in (2, 3):
                            v = sigmoid(v)
                        if k < 2:
                            v = v * scale - 0.5 * (scale - 1)
                        out[b, r, c, a * e + k] = v
    return out


def naive_region(x, n, classes, coords, softmax, background):
    out = x.astype(np.float64).copy()
    e = coords + classes + 1
    for b in range(x.shape[0]):
        for r in range(x.shape[1]):
            for c in range(x.shape[2]):
                for a in range(n):
                    v = x[b, r, c, a * e:(a + 1) * e].astype(np.float64)
                    o = out[b, r, c, a * e:(a + 1) * e]
                    o[0], o[1] = sigmoid(v[0]), sigmoid(v[1])
                    if not background:
                        o[coords] = sigmoid(v[coords])
                    if softmax:
                        s = slice(coords + 1 - background, coords + 1 + classes)
                        z = np.exp(v[s] - v[s].max())
                        o[s] = z / z.sum()
                    else:
                        o[coords + 1:] = sigmoid(v[coords + 1:])
    return out


def test_yolo_forward_matches_naive_loops():
    rng = np.random.default_rng(0)
    layer = make(Yolo, {"mask": "1,3", "num": "4", "classes": "3",
                        "anchors": "1,2, 3,4, 5,6, 7,8"}, (5, 3, 16))
    x = (rng.standard_normal((2, 5, 3, 16)) * 4).astype(np.float32)
    x_before = x.copy()
    out = layer.forward([x])
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, naive_yolo(x, 2, 3), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(x, x_before)  # the input is left alone
    np.testing.assert_array_equal(layer.anchors, [[3, 4], [7, 8]])


def test_yolo_hand_worked_entries():
    # one anchor, one class: x, y, w, h, obj, class
    layer = make(Yolo, {"classes": "1", "anchors": "10,14"}, (1, 1, 6))
    x = np.array([0, 0, 1.5, -2, np.log(3), 0], np.float32).reshape(1, 1, 1, 6)
    out = layer.forward([x]).ravel()
    np.testing.assert_allclose(out, [0.5, 0.5, 1.5, -2, 0.75, 0.5], rtol=1e-6)


def test_yolo_scale_x_y_and_new_coords():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 4, 2 * 7)).astype(np.float32)
    opts = {"mask": "0,1", "num": "2", "classes": "2", "anchors": "1,1,2,2", "scale_x_y": "1.2"}
    out = make(Yolo, opts, (3, 4, 14)).forward([x])
    np.testing.assert_allclose(out, naive_yolo(x, 2, 2, 1.2), rtol=1e-6, atol=1e-6)
    # sigma(0) * 2 - 0.5 = 0.5: the cell centre stays the centre
    layer2 = make(Yolo, dict(opts, scale_x_y="2"), (1, 1, 14))
    assert layer2.forward([np.zeros((1, 1, 1, 14), np.float32)])[0, 0, 0, 0] == 0.5
    # new_coords: no logistic anywhere, the scale step still on x, y
    out = make(Yolo, dict(opts, new_coords="1", scale_x_y="2"), (3, 4, 14)).forward([x])
    np.testing.assert_allclose(out, naive_yolo(x, 2, 2, 2.0, new_coords=True), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("softmax,background,coords", [(1, 0, 4), (0, 0, 4), (1, 1, 4), (1, 0, 6)])
def test_region_forward_matches_naive_loops(softmax, background, coords):
    rng = np.random.default_rng(2)
    n, classes = 3, 4
    c = n * (coords + classes + 1)
    layer = make(Region, {"num": str(n), "classes": str(classes), "coords": str(coords),
                          "softmax": str(softmax), "background": str(background),
                          "anchors": "1,1,2,2,3,3"}, (3, 5, c))
    x = (rng.standard_normal((2, 3, 5, c)) * 3).astype(np.float32)
    out = layer.forward([x])
    np.testing.assert_allclose(out, naive_region(x, n, classes, coords, softmax, background),
                               rtol=1e-5, atol=1e-6)


def test_region_softmax_hand_worked():
    layer = make(Region, {"num": "1", "classes": "2", "softmax": "1", "anchors": "1,1"}, (1, 1, 7))
    x = np.array([0, 0, 0.3, 0.4, 0, np.log(3), 0], np.float32).reshape(1, 1, 1, 7)
    np.testing.assert_allclose(layer.forward([x]).ravel(), [0.5, 0.5, 0.3, 0.4, 0.5, 0.75, 0.25],
                               rtol=1e-6)


@pytest.mark.parametrize("options,shape,words", [
    ({"mask": "0,1", "num": "3", "classes": "80", "anchors": "1,2,3,4,5,6"}, (13, 13, 255),
     "filters=170"),
    ({"mask": "0,5", "num": "3", "classes": "1", "anchors": "1,2,3,4,5,6"}, (13, 13, 12),
     "mask value 5"),
    ({"mask": "2", "num": "3", "classes": "1", "anchors": "1,2"}, (13, 13, 6), "anchors lists 1 pairs"),
])
def test_yolo_errors_name_origin_and_fix(options, shape, words):
    with pytest.raises(ConfigError) as err:
        make(Yolo, options, shape)
    assert "test.cfg:3" in str(err.value) and words in str(err.value)


def test_region_errors():
    with pytest.raises(ConfigError, match="tree=no/such.tree: the hierarchy file does not exist"):
        make(Region, {"num": "1", "classes": "2", "tree": "no/such.tree"}, (13, 13, 7))
    with pytest.raises(ConfigError, match="filters=35"):
        make(Region, {"num": "5", "classes": "2"}, (13, 13, 30))


def test_yolo_without_anchors_uses_darknet_default():
    layer = make(Yolo, {"classes": "1", "num": "2"}, (2, 2, 12))
    np.testing.assert_array_equal(layer.anchors, np.full((2, 2), 0.5, np.float32))


@pytest.mark.parametrize("cfg", ["yolov3.cfg", "yolov2-tiny.cfg", "yolov4-tiny.cfg", "yolov4.cfg"])
def test_every_detection_key_of_real_cfgs_is_known(cfg, shared):
    sections = read_cfg(shared("darknet-cfg", cfg))
    heads = [s for s in sections if s.kind in ("yolo", "region")]
    assert heads
    for section in heads:
        cls = Yolo if section.kind == "yolo" else Region
        opts = parse_options(section, cls.keys)  # raises on an unknown key
        assert opts.classes == 80
