"""darknet's training data files (darkpy.train.darknet.data) and detection truth
(detection_batch): .data parsing, lists, label paths by both forks' rules, label validation
with file:line warnings and a summary, classifier labels, darknet's box correction."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from darkpy.errors import InputError
from darkpy.train.darknet import data as dd
from darkpy.train.darknet.detection_batch import correct_boxes, fill_truth, place_image


def caught(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    return result, [str(x.message) for x in w]


def test_data_file_keys_comments_repeats(tmp_path):
    path = tmp_path / "obj.data"
    path.write_text("# comment\nclasses= 3\n\ntrain  = data/train.txt\n; another\n"
                    "names = data/obj.names\nbackup = backup/\nclasses = 7\nnonsense\ntop=5\n")
    data, messages = caught(dd.read_data_file, path)
    assert data.classes == 3  # the first value wins, as darknet's option_find
    assert data.text("train") == "data/train.txt"
    assert data.integer("top", 1) == 5
    assert data.where("names") == f"{path}:6"
    assert any(f"{path}:8" in m and "repeated" in m for m in messages)
    assert any(f"{path}:9" in m and "nonsense" in m for m in messages)


def test_data_file_defaults_and_bad_values(tmp_path):
    path = tmp_path / "a.data"
    path.write_text("classes = two\n")
    with pytest.raises(InputError, match=r"a.data:1: `classes` must be an integer"):
        dd.read_data_file(path).classes
    path.write_text("train = x\n")
    assert dd.read_data_file(path).classes == 20  # darknet's detector default
    with pytest.raises(InputError, match="no such .data file"):
        dd.read_data_file(tmp_path / "missing.data")


def test_relative_paths_are_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "train.txt").write_text("")
    data_path = tmp_path / "proj" / "obj.data"
    data_path.write_text("train = train.txt\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"obj.data:1: .*does not exist .*relative to .*working "
                                         "directory"):
        dd.read_data_file(data_path).file("train")
    monkeypatch.chdir(tmp_path / "proj")
    assert dd.read_data_file(data_path).file("train").resolve() == (tmp_path / "proj" / "train.txt").resolve()


@pytest.mark.parametrize("image, rule, label", [
    ("data/images/a.jpg", "pjreddie", "data/labels/a.txt"),
    ("VOC2007/JPEGImages/0001.jpg", "pjreddie", "VOC2007/labels/0001.txt"),
    ("data/obj/a.png", "pjreddie", "data/obj/a.txt"),
    ("data/raw/b.JPEG", "pjreddie", "data/labels/b.txt"),
    ("my_images/x.jpg", "pjreddie", "my_labels/x.txt"),   # darknet replaces the word anywhere
    ("data/obj/a.jpg.jpg", "pjreddie", "data/obj/a.txt.jpg"),  # first occurrence only
    ("data/obj/a.jpeg", "pjreddie", "data/obj/a.jpeg"),   # pjreddie knows no .jpeg
    ("data/obj/a.jpg", "alexeyab", "data/obj/a.txt"),
    ("coco/images/train2017/1.jpg", "alexeyab", "coco/labels/train2017/1.txt"),
    ("VOC/JPEGImages/1.jpeg", "alexeyab", "VOC/labels/1.txt"),
    ("data/images/a.bmp", "alexeyab", "data/images/a.txt"),  # no generic images -> labels
    ("data/a.jpg.png", "alexeyab", "data/a.jpg.txt"),        # only the ending extension
])
def test_label_paths(image, rule, label):
    assert str(dd.label_path(image, rule)) == label


def test_label_lines_are_validated_with_file_and_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("0 0.5 0.5 0.2 0.3\n"
                    "3 0.5 0.5 0.2 0.3\n"      # class >= classes
                    "1 1.5 0.5 0.2 0.3\n"      # x outside [0, 1]
                    "1 0.5 0.5 0.2\n"          # field count
                    "\n"
                    "x 0.5 0.5 0.2 0.3\n"      # class not an integer
                    "2 0.1 0.9 nan 0.3\n"      # not a number
                    "1 0 0 0.2 0.2\n"          # darknet's (0, 0) garbage box
                    "2 0.25 0.75 1.0 0.5\n")
    problems = dd.Problems()
    boxes, messages = caught(dd.read_labels, path, 3, problems)
    np.testing.assert_array_equal(boxes, np.array([[0, .5, .5, .2, .3], [2, .25, .75, 1, .5]], np.float32))
    lines = sorted(int(m.split(":")[1]) for m in messages)
    assert lines == [2, 3, 4, 6, 7, 8]
    assert any("class 3 is outside 0..2" in m for m in messages)
    assert any("x = 1.5 is outside [0, 1]" in m for m in messages)
    assert any("expected 5 fields" in m for m in messages)
    assert problems.summary() == "skipped 6 label lines in 1 file"


def test_missing_label_file_trains_as_background(tmp_path):
    problems = dd.Problems()
    boxes, messages = caught(dd.read_labels, tmp_path / "none.txt", 2, problems)
    assert boxes.shape == (0, 5)
    assert "does not exist" in messages[0]
    assert problems.summary() == "skipped 1 missing label file"


def test_detection_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name in ("a", "b"):
        (tmp_path / "images" / f"{name}.jpg").write_bytes(b"")
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    (tmp_path / "labels" / "b.txt").write_text("5 0.5 0.5 0.1 0.1\n0 0.2 0.2 0.1 0.1\n")
    (tmp_path / "train.txt").write_text("images/a.jpg\n\nimages/b.jpg\r\nimages/gone.jpg\n")
    result, messages = caught(dd.load_detection_list, tmp_path / "train.txt", 2)
    assert [item.image.name for item in result.items] == ["a.jpg", "b.jpg"]
    assert result.items[0].labels == tmp_path.joinpath("labels", "a.txt").relative_to(tmp_path)
    assert len(result.items[1].boxes) == 1
    assert any("train.txt:4" in m and "gone.jpg" in m for m in messages)
    assert any("b.txt:1" in m and "class 5" in m for m in messages)
    assert result.problems.summary() == "skipped 1 image, 1 label line"


def test_classifier_labels_by_substring(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    for name in ("cat_1.png", "dog_2.png", "hotdog_cat.png", "bird.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "list.txt").write_text("cat_1.png\ndog_2.png\nhotdog_cat.png\nbird.png\n")
    labels = dd.read_names(tmp_path / "labels.txt")
    items, messages = caught(dd.load_classifier_list, tmp_path / "list.txt", labels)
    truths = [item.truth.tolist() for item in items]
    assert truths == [[1, 0], [0, 1], [1, 1], [0, 0]]
    assert any("list.txt:3" in m and "matches 2 labels (cat, dog)" in m for m in messages)
    assert any("list.txt:4" in m and "matches 0 labels" in m for m in messages)
    (tmp_path / "bad.txt").write_text("cat\n\ndog\n")
    with pytest.raises(InputError, match=r"bad.txt:2: blank label"):
        dd.read_names(tmp_path / "bad.txt")


# --- darknet's truth ---------------------------------------------------------------------------

def test_correct_boxes_clips_flips_and_recentres():
    boxes = np.array([[4, 0.9, 0.5, 0.4, 0.2]], np.float32)   # sticks out on the right
    out = correct_boxes(boxes, 0, 0, 1, 1, flip=False)
    # edges 0.7 .. 1.1 clip to 0.7 .. 1.0: centre 0.85, width 0.3
    np.testing.assert_allclose(out[0], [0.85, 0.5, 0.3, 0.2, 4], rtol=1e-6)
    flipped = correct_boxes(boxes, 0, 0, 1, 1, flip=True)
    np.testing.assert_allclose(flipped[0], [0.15, 0.5, 0.3, 0.2, 4], rtol=1e-6)
    # placed at half size with an offset of a quarter: x -> 0.9 * .5 + .25
    moved = correct_boxes(boxes, -0.25, 0, 0.5, 1, flip=False)
    np.testing.assert_allclose(moved[0][:3], [0.7, 0.5, 0.2], rtol=1e-6)


def test_fill_truth_drops_tiny_boxes_after_cutting_to_max():
    rng = np.random.default_rng(0)
    boxes = np.array([[0, .5, .5, .2, .2], [1, .3, .3, .0005, .2], [2, .7, .7, .1, .1]], np.float32)
    truth = fill_truth(boxes, 5, rng)
    assert sorted(truth[:2, 4].tolist()) == [0, 2] and np.all(truth[2:] == 0)
    # darknet cuts the list to max_boxes before dropping: 2 of 3 kept, maybe one tiny
    kept = [int((fill_truth(boxes, 2, np.random.default_rng(s))[:, 2] > 0).sum()) for s in range(20)]
    assert set(kept) == {1, 2}


def test_place_image_is_darknets_bilinear_placement():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (5, 7, 3)).astype(np.float32)
    canvas = np.full((8, 8, 3), 0.5, np.float32)
    place_image(image, 6, 4, 1, 3, canvas)
    # a naive transcription of place_image / bilinear_interpolate / get_pixel_extend
    def pixel(x, y, c):
        return image[y, x, c] if 0 <= x < 7 and 0 <= y < 5 else 0.0
    for y in range(8):
        for x in range(8):
            for c in range(3):
                if 1 <= x < 7 and 3 <= y < 7:
                    rx = np.float32(np.float32(x - 1) / np.float32(6)) * np.float32(7)
                    ry = np.float32(np.float32(y - 3) / np.float32(4)) * np.float32(5)
                    ix, iy = int(np.floor(rx)), int(np.floor(ry))
                    dx, dy = rx - ix, ry - iy
                    want = ((1 - dy) * (1 - dx) * pixel(ix, iy, c) + dy * (1 - dx) * pixel(ix, iy + 1, c)
                            + (1 - dy) * dx * pixel(ix + 1, iy, c) + dy * dx * pixel(ix + 1, iy + 1, c))
                else:
                    want = 0.5
                assert canvas[y, x, c] == pytest.approx(want, abs=1e-6)
