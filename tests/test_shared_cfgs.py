"""darknet's own cfgs (../shared) parse, build and describe, with darknet's shapes."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from tests.conftest import SHARED, shared_path

CFGS = ["darknet-cfg/yolov3.cfg", "darknet-cfg/yolov2-tiny.cfg", "darknet-cfg/yolov4-tiny.cfg",
        "darknet-cfg/yolov4.cfg", "models/yolov3-tiny/yolov3-tiny.cfg"]


@pytest.mark.parametrize("name", CFGS)
def test_shared_cfg_builds_and_info_prints(name):
    path = shared_path(name)
    net = darkpy.load(path)
    assert net.layers
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "parameters:" in result.stdout


# Output shapes darknet prints when it loads these cfgs (w x h x c), checked by hand from the
# cfgs' strides: 416 input -> 13/26/52 grids, 255 = 3*(80+5) channels.
YOLO_SHAPES = {
    "models/yolov3-tiny/yolov3-tiny.cfg": {16: (13, 13, 255), 23: (26, 26, 255)},
    "darknet-cfg/yolov3.cfg": {82: (13, 13, 255), 94: (26, 26, 255), 106: (52, 52, 255)},
    "darknet-cfg/yolov4-tiny.cfg": {30: (13, 13, 255), 37: (26, 26, 255)},
    "darknet-cfg/yolov4.cfg": {139: (76, 76, 255), 150: (38, 38, 255), 161: (19, 19, 255)},
    "darknet-cfg/yolov2-tiny.cfg": {15: (13, 13, 425)},
}


@pytest.mark.parametrize("name", sorted(YOLO_SHAPES))
def test_detection_heads_have_darknet_shapes(name):
    net = darkpy.load(shared_path(name))
    for index, shape in YOLO_SHAPES[name].items():
        assert net.layers[index].kind in ("yolo", "region"), (index, net.layers[index].kind)
        assert net.shapes[index] == shape, (index, net.shapes[index])
