"""`heads="decoded"`: the graph's boxes, objectness and scores equal darkpy detect's
candidates before NMS (darkpy.detect.decode.network_candidates with nothing thresholded),
for every head kind, letterboxed and stretched, several images of different sizes in one
batch, fixed and dynamic sizes; and with yolov3-tiny's real weights, darknet's own
detections (../shared/oracle) come out of the decoded graph."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from darkpy.detect.decode import detection_layers, network_candidates
from darkpy.export import export_onnx
from tests.onnx_util import assert_close, network, randomize, run_onnx


def net(w, h):
    return f"[net]\nwidth={w}\nheight={h}\nchannels=3\n\n"


def conv(filters, act="leaky", size=1):
    return f"[convolutional]\nfilters={filters}\nsize={size}\nstride=1\npad=1\nactivation={act}\n\n"


ANCHORS = "anchors=10,14,23,27,37,58,81,82\n"
HEADS = {
    "yolo": net(32, 24) + conv(8, size=3) + "[maxpool]\nsize=2\nstride=2\n\n" + conv(2 * 8) +
    "[yolo]\nclasses=3\nnum=4\nmask=2,3\n" + ANCHORS + "scale_x_y=1.1\n\n[route]\nlayers=1\n\n" +
    conv(2 * 8, "logistic") + "[yolo]\nclasses=3\nnum=4\nmask=0,1\nnew_coords=1\n"
    "scale_x_y=2\n" + ANCHORS + "\n[route]\nlayers=0\n\n" + conv(2 * 8) +
    "[yolo]\nclasses=3\nnum=4\nmask=1,3\n" + ANCHORS,
    "gaussian_yolo": net(24, 24) + conv(8, size=3) + conv(2 * 12) +
    "[Gaussian_yolo]\nclasses=3\nnum=4\nmask=0,1\n" + ANCHORS + "\n[route]\nlayers=0\n\n" +
    conv(2 * 12) + "[Gaussian_yolo]\nclasses=3\nnum=4\nmask=2,3\nyolo_point=left_top\n" + ANCHORS
    + "\n[route]\nlayers=0\n\n" + conv(12) + "[Gaussian_yolo]\nclasses=3\nnum=4\nmask=1\n"
    "yolo_point=right_bottom\nscale_x_y=1.2\n" + ANCHORS,
    "region": net(24, 32) + conv(8, size=3) + conv(2 * 9) + "[region]\nclasses=4\nnum=2\n"
    "anchors=1,2,3,4\nsoftmax=1\n\n[route]\nlayers=0\n\n" + conv(2 * 9) +
    "[region]\nclasses=4\nnum=2\nanchors=1.5,1,2,3\nsoftmax=1\nbackground=1\n",
    "detection": net(16, 16) + conv(4, size=3) + "[connected]\noutput=" + str(9 * (5 * 2 + 3)) +
    "\nactivation=linear\n\n[detection]\nclasses=3\ncoords=4\nnum=2\nside=3\nsqrt=1\n",
}
IMAGE_SIZES = [(640, 480), (333, 500)]  # landscape and portrait: both letterbox branches


def _input(net_, batch, h=None, w=None):
    h0, w0, c = net_.input_shape
    return np.random.default_rng(5).uniform(0, 1, (batch, h or h0, w or w0, c)).astype(np.float32)


def expected_candidates(net_, x, sizes, letterbox):
    """darkpy's candidates (thresh -inf: nothing dropped), one per image, for input x."""
    heads = detection_layers(net_)
    h, w = x.shape[1:3]
    out = []
    for b, (image_w, image_h) in enumerate(sizes):
        outputs = net_.forward(x[b:b + 1], outputs=[i for i, _ in heads])
        out.append(network_candidates(heads, {i: o[0] for i, o in outputs.items()}, image_w,
                                      image_h, w, h, thresh=-np.inf, letterbox=letterbox))
    return out


def check_decoded(net_, model, x, sizes, letterbox):
    got = run_onnx(model, x, image_size=np.asarray(sizes, np.float32))
    for b, cands in enumerate(expected_candidates(net_, x, sizes, letterbox)):
        image_w, image_h = sizes[b]
        fractions = got["boxes"][b] / np.float32([image_w, image_h, image_w, image_h])
        assert_close(fractions, cands.boxes, f"boxes of image {b}")
        assert_close(got["objectness"][b], cands.objectness, f"objectness of image {b}")
        assert_close(got["scores"][b], cands.probs, f"scores of image {b}")
    return got


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_decoded_heads_equal_darkpy_candidates(kind):
    net_ = randomize(network(HEADS[kind], f"{kind}.cfg"))
    letterbox = kind != "detection"  # YOLOv1 stretches, as darkpy detect does
    model = export_onnx(net_, heads="decoded")
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["preprocess"])["resize"] == ("letterbox" if letterbox else "stretch")
    assert "width and height" in json.loads(meta["input"])["image_size"]
    check_decoded(net_, model, _input(net_, 2), IMAGE_SIZES, letterbox)


@pytest.mark.parametrize("kind", ["yolo", "region"])
def test_decoded_heads_stretched_and_at_a_dynamic_size(kind):
    net_ = randomize(network(HEADS[kind], f"{kind}.cfg"))
    model = export_onnx(net_, heads="decoded", size="dynamic", letterbox=False)
    h, w = net_.input_shape[:2]
    check_decoded(net_, model, _input(net_, 2, h + 16, w + 8), IMAGE_SIZES, letterbox=False)
    model = export_onnx(net_, heads="decoded", size="dynamic")
    check_decoded(net_, model, _input(net_, 2, h + 8, w + 16), IMAGE_SIZES, letterbox=True)


def test_image_size_zero_means_the_network_input():
    net_ = randomize(network(HEADS["yolo"], "yolo.cfg"))
    model = export_onnx(net_, heads="decoded", batch=1)
    x = _input(net_, 1)
    h, w = net_.input_shape[:2]
    zero = run_onnx(model, x, image_size=np.zeros((1, 2), np.float32))
    given = run_onnx(model, x, image_size=np.float32([[w, h]]))
    np.testing.assert_array_equal(zero["boxes"], given["boxes"])


def test_thresholding_the_graph_gives_darkpys_yolo_candidates():
    net_ = randomize(network(HEADS["yolo"], "yolo.cfg"))
    x, sizes = _input(net_, 1), IMAGE_SIZES[:1]
    got = run_onnx(export_onnx(net_, heads="decoded"), x, image_size=np.float32(sizes))
    heads = detection_layers(net_)
    outputs = net_.forward(x, outputs=[i for i, _ in heads])
    h, w = net_.input_shape[:2]
    want = network_candidates(heads, {i: o[0] for i, o in outputs.items()}, *sizes[0], w, h,
                              thresh=0.5)
    keep = got["objectness"][0] > 0.5
    assert 0 < keep.sum() == len(want) < keep.size
    image_w, image_h = sizes[0]
    assert_close(got["boxes"][0][keep] / np.float32([image_w, image_h] * 2), want.boxes)
    scores = got["scores"][0][keep]
    scores[~(scores > 0.5)] = 0
    assert_close(scores, want.probs)


# --- yolov3-tiny with darknet's weights and outputs ---------------------------------------------

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MODEL = SHARED / "models" / "yolov3-tiny"
ORACLE = SHARED / "oracle" / "yolov3-tiny"


@pytest.fixture(scope="module")
def tiny():
    if not (MODEL / "yolov3-tiny.weights").exists() or not ORACLE.exists():
        pytest.skip(f"reference data {SHARED} not present (../shared is only on the developers' "
                    "machines)")
    import darkpy

    return darkpy.load(MODEL / "yolov3-tiny.cfg", MODEL / "yolov3-tiny.weights")


def test_raw_heads_equal_darknets_recorded_outputs(tiny):
    x = np.fromfile(ORACLE / "dog.input_3x416x416.f32", "<f4").reshape(1, 3, 416, 416)
    model = export_onnx(tiny)
    got = run_onnx(model, x.transpose(0, 2, 3, 1))
    for index, grid in ((16, 13), (23, 26)):
        want = np.fromfile(ORACLE / f"dog.layer{index}_255x{grid}x{grid}.f32", "<f4")
        np.testing.assert_allclose(got[f"yolo_{index}"][0], want.reshape(255, grid, grid),
                                   atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["dog", "horses"])
def test_decoded_graph_gives_darknets_detections(tiny, name):
    """Letterbox the image as darknet does, run the decoded graph, threshold at 0.25 and
    suppress with darkpy's NMS: darknet's recorded detections."""
    from darkpy.detect.letterbox import network_input
    from darkpy.detect.nms import nms_sort

    try:
        from darkpy.io.image import load_image  # darknet's load_image_color
    except ImportError:  # before image reading moved to darkpy.io
        from darkpy.io.image import load_image

    image = load_image(SHARED / "images" / f"{name}.jpg")
    image_h, image_w = image.shape[:2]
    x = network_input(image, 416, 416)[None]
    model = export_onnx(tiny, heads="decoded", names=MODEL / "coco.names", batch=1)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["names"])[16] == "dog"
    got = run_onnx(model, x, image_size=np.float32([[image_w, image_h]]))
    # before NMS: darkpy detect's candidates
    heads = detection_layers(tiny)
    outputs = tiny.forward(x, outputs=[i for i, _ in heads])
    want = network_candidates(heads, {i: o[0] for i, o in outputs.items()}, image_w, image_h,
                              416, 416, thresh=-np.inf)
    assert_close(got["boxes"][0] / np.float32([image_w, image_h] * 2), want.boxes)
    assert_close(got["scores"][0], want.probs)
    # after NMS: darknet's detections (class, probability and box in pixels)
    keep = got["objectness"][0] > 0.25
    pixels = got["boxes"][0][keep]
    scores = got["scores"][0][keep]
    scores[~(scores > 0.25)] = 0
    order, probs = nms_sort(pixels / np.float32([image_w, image_h] * 2),
                            got["objectness"][0][keep], scores, 0.45)
    found = [(int(c), float(probs[i, c]), pixels[i]) for i in order
             for c in np.nonzero(probs[i] > 0.25)[0]]
    recorded = [json.loads(line) for line in
                (ORACLE / f"{name}.detections.jsonl").read_text().splitlines() if line.strip()]
    assert len(found) == len(recorded) > 0
    for r in recorded:
        box = np.float32([r["x"], r["y"], r["w"], r["h"]])
        assert any(c == r["class"] and abs(p - r["prob"]) < 0.005
                   and np.abs(b - box).max() < 0.01 * max(image_w, image_h)
                   for c, p, b in found), f"darknet's {r} is not in {found}"
