"""`darkpy detect` end to end on a toy network, plus videos through OpenCV.

The toy has no weights: [maxpool] 1x1 passes the image through, [route] doubles it to 6
channels, [yolo] reads them as x, y, w, h, objectness, class. So a pixel's green value drives
its objectness and blue its class score: on black, prob = sigma(0)^2 = 0.25; on white,
sigma(1)^2 = 0.53. With --thresh 0.4 only white patches are detected.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.cli import app

runner = CliRunner()

TOY = """[net]
width=32
height=32
channels=3

[maxpool]
size=1
stride=1

[route]
layers=0,0

[yolo]
mask=0
num=1
classes=1
anchors=8,8
"""


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.cfg").write_text(TOY)
    (tmp_path / "toy.names").write_text("blob\n")
    (tmp_path / "empty.weights").write_bytes(np.array([0, 2, 0], np.int32).tobytes()
                                             + np.zeros(1, np.int64).tobytes())
    images = tmp_path / "images"
    images.mkdir()
    white = np.zeros((24, 40, 3), np.uint8)
    white[4:12, 20:28] = 255
    cv2.imwrite(str(images / "patch.png"), white)
    cv2.imwrite(str(images / "black.jpg"), np.zeros((30, 30, 3), np.uint8))
    return tmp_path


def args(toy, *extra):
    return ["detect", *extra, "--cfg", str(toy / "toy.cfg"), "--weights", str(toy / "empty.weights"),
            "--names", str(toy / "toy.names"), "--thresh", "0.4"]


def test_folder_json_and_annotated_copies(toy):
    out, js = toy / "out", toy / "run.json"
    result = runner.invoke(app, args(toy, str(toy / "images"), "--out", str(out), "--json", str(js)))
    assert result.exit_code == 0, result.output
    assert "patch.png: Predicted in" in result.stdout and "blob: 5" in result.stdout
    records = json.loads(js.read_text())
    assert records and {r["image"] for r in records} == {str(toy / "images" / "patch.png")}
    for r in records:
        assert set(r) == {"image", "class_id", "class_name", "confidence", "bbox"}
        assert r["class_name"] == "blob" and r["class_id"] == 0 and 0.4 < r["confidence"] < 0.6
        left, top, width, height = r["bbox"]
        assert 0 <= left and 0 <= top and left + width <= 40 + 1e-6 and top + height <= 24 + 1e-6
    assert sorted(p.name for p in out.iterdir()) == ["black.jpg", "patch.png"]
    drawn = cv2.imread(str(out / "patch.png"))
    assert drawn.shape == (24, 40, 3) and (drawn != cv2.imread(str(toy / "images" / "patch.png"))).any()


def test_glob_quiet_and_bad_inputs_exit_1(toy):
    (toy / "images" / "broken.png").write_bytes(b"junk")
    result = runner.invoke(app, args(toy, str(toy / "images" / "*.png"), str(toy / "nothing.jpg"), "-q"))
    assert result.exit_code == 1
    assert "Predicted" not in result.stdout
    assert "broken.png" in result.stderr and "nothing.jpg: no such file" in result.stderr


@pytest.mark.parametrize("extra,message", [
    ([], "no network"),
    (["--cfg", "x.cfg"], "--cfg needs --weights"),
])
def test_usage_errors_exit_2(toy, extra, message):
    result = runner.invoke(app, ["detect", str(toy / "images"), *extra])
    assert result.exit_code == 2 and message in result.stderr


def test_names_and_network_errors_exit_2(toy):
    (toy / "three.names").write_text("a\nb\nc\n")
    cmd = args(toy, str(toy / "images"))
    cmd[cmd.index("--names") + 1] = str(toy / "three.names")
    result = runner.invoke(app, cmd)
    assert result.exit_code == 2 and "3 class names, but the network predicts 1" in result.stderr
    cmd[cmd.index("--names") + 1] = str(toy / "missing.names")
    result = runner.invoke(app, cmd)
    assert result.exit_code == 2 and "no such names file" in result.stderr
    (toy / "plain.cfg").write_text(TOY.split("[route]")[0])
    cmd = args(toy, str(toy / "images"))
    cmd[cmd.index("--cfg") + 1] = str(toy / "plain.cfg")
    result = runner.invoke(app, cmd)
    assert result.exit_code == 2 and "no [yolo] or [region] layer" in result.stderr


def test_converted_h5_carries_the_names(toy):
    h5 = toy / "toy.h5"
    result = runner.invoke(app, ["convert", str(toy / "toy.cfg"), str(toy / "empty.weights"), str(h5),
                                 "--names", str(toy / "toy.names")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["detect", str(toy / "images" / "patch.png"), "--model", str(h5),
                                 "--thresh", "0.4"])
    assert result.exit_code == 0, result.output
    assert "blob: 5" in result.stdout


def test_help_shows_the_layer_names():
    result = runner.invoke(app, ["detect", "--help"])
    assert result.exit_code == 0 and "[yolo] or [region]" in result.stdout


def write_video(path, frames=3):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (40, 24))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((24, 40, 3), np.uint8)
        frame[4:12, 4 + 8 * i:12 + 8 * i] = 255
        writer.write(frame)
    writer.release()


def test_video_in_annotated_video_out(toy):
    write_video(toy / "clip.avi")
    out, js = toy / "out", toy / "video.json"
    result = runner.invoke(app, args(toy, str(toy / "clip.avi"), "--out", str(out), "--json", str(js),
                                     "--max-frames", "2"))
    assert result.exit_code == 0, result.output
    assert "clip.avi#0: Predicted" in result.stdout and "clip.avi#1: Predicted" in result.stdout
    assert "clip.avi#2" not in result.stdout
    capture = cv2.VideoCapture(str(out / "clip.avi"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 2
    images = {r["image"] for r in json.loads(js.read_text())}
    assert images <= {f"{toy / 'clip.avi'}#0", f"{toy / 'clip.avi'}#1"} and images


def test_detect_files_is_the_library_behind_the_command(toy):
    """The batch loop as a library call: detections, annotated copies numbered when two
    inputs share a name, failures recorded while the others run, a callback per image."""
    import darkpy
    from darkpy.detect import Detector, detect_files

    other = toy / "other"
    other.mkdir()
    (other / "patch.png").write_bytes((toy / "images" / "patch.png").read_bytes())
    (other / "broken.png").write_bytes(b"not a png")
    detector = Detector(darkpy.load(toy / "toy.cfg", toy / "empty.weights"), toy / "toy.names",
                        thresh=0.4)
    seen = []
    report = detect_files([toy / "images", other, toy / "missing.png"], detector, toy / "out",
                          on_detections=lambda label, seconds, dets: seen.append((label, len(dets))))
    assert [label for label, _ in seen] == [str(toy / "images" / "black.jpg"),
                                            str(toy / "images" / "patch.png"),
                                            str(other / "patch.png")]
    assert [n for _, n in seen] == [0, 1, 1]
    assert [d.class_name for d in report.detections] == ["blob", "blob"]
    assert sorted(p.name for p in report.written) == ["black.jpg", "patch.png", "patch_1.png"]
    assert [item for item, _ in report.failed] == [str(toy / "missing.png"), str(other / "broken.png")]
    assert "cannot decode" in report.failed[1][1] and not report.ok


def test_detect_files_without_any_input_is_an_input_error(toy):
    import darkpy
    from darkpy.detect import detect_files
    from darkpy.errors import InputError

    with pytest.raises(InputError, match="no such file or folder"):
        detect_files([toy / "missing.png"], darkpy.load(toy / "toy.cfg", toy / "empty.weights"))


def test_an_unknown_head_is_an_error_not_a_region():
    from darkpy.detect.decode import network_candidates
    from darkpy.errors import ConfigError

    class NotAHead:
        kind, origin = "route", "t.cfg:9"

    with pytest.raises(ConfigError, match=r"t.cfg:9: layer 3 \[route\] is not a detection head"):
        network_candidates([(3, NotAHead())], {3: np.zeros((2, 2, 6), np.float32)}, 10, 10, 10,
                           10, 0.5)
