"""Hierarchical softmax (`tree=`, YOLO9000) in [softmax] and [region] (layers/tree.py): darknet's
read_tree on small tree files written here, per-group softmax against loops, where the file
is looked for, and the clear refusals (missing file, detection decoding from a tree)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import darkpy
from darkpy.detect.decode import detection_layers
from darkpy.errors import ConfigError
from darkpy.layers.tree import parse_tree
from gradcheck import check_layer_gradients

# 9 nodes: two roots; animal(0) has dog, cat; dog(2) has 3 breeds; vehicle(1) has car, bus
TREE = """animal -1
vehicle -1
dog 0
cat 0
car 1
bus 1
terrier 2
poodle 2
husky 2
"""
GROUPS = [(0, 2), (2, 2), (4, 2), (6, 3)]  # (offset, size), worked out by hand


def test_parse_tree_hand_worked():
    tree = parse_tree(TREE)
    assert tree.n == 9 and tree.groups == 4
    assert list(zip(tree.group_offset, tree.group_size)) == GROUPS
    assert list(tree.group) == [0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert list(tree.parent) == [-1, -1, 0, 0, 1, 1, 2, 2, 2]
    assert list(tree.leaf) == [False, False, False, True, True, True, True, True, True]
    assert tree.names[6] == "terrier"


def test_parse_tree_darknet_quirks():
    # a first parent other than -1 opens an empty group 0; a missing parent reads -1
    tree = parse_tree("a 1\nb\nc -1\n")
    assert list(zip(tree.group_offset, tree.group_size)) == [(0, 0), (0, 1), (1, 2)]
    assert list(tree.parent) == [1, -1, -1]
    with pytest.raises(ConfigError, match="parent 7 does not exist"):
        parse_tree("a -1\nb 7\n", "t.tree")


def naive_tree_softmax(values, temperature=1.0):
    """darknet's softmax() on each group of one vector; zeros past the tree's nodes."""
    out = np.zeros(len(values))
    for offset, size in GROUPS:
        part = [float(v) for v in values[offset:offset + size]]
        largest = max(part)
        e = [math.exp(v / temperature - largest / temperature) for v in part]
        out[offset:offset + size] = [v / sum(e) for v in e]
    return out


def write(tmp_path, cfg_text, tree_name="my.tree", folder=None):
    folder = folder or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / tree_name).write_text(TREE)
    path = tmp_path / "tree.cfg"
    path.write_text(cfg_text)
    return path


SOFTMAX_CFG = """[net]
width=1
height=1
channels=11

[softmax]
groups=1
temperature={t}
tree={tree}
"""


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_softmax_tree_matches_naive(tmp_path, temperature):
    net = darkpy.load(write(tmp_path, SOFTMAX_CFG.format(t=temperature, tree="my.tree")))
    x = np.random.default_rng(0).standard_normal((3, 1, 1, 11)).astype(np.float32) * 3
    y = net.forward(x)
    for image in range(3):
        expected = naive_tree_softmax(x[image, 0, 0], temperature)
        np.testing.assert_allclose(y[image, 0, 0, :9], expected[:9], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(y[image, 0, 0, 9:], 0)  # past the tree: not written
    # each group sums to one
    for offset, size in GROUPS:
        np.testing.assert_allclose(y[..., offset:offset + size].sum(-1), 1, rtol=1e-6)


def test_softmax_tree_over_a_chw_buffer(tmp_path):
    # the tree indexes darknet's CHW buffer: with h*w > 1 the groups cut across channel planes
    text = SOFTMAX_CFG.format(t=1, tree="my.tree").replace("width=1\nheight=1\nchannels=11",
                                                           "width=3\nheight=2\nchannels=2")
    net = darkpy.load(write(tmp_path, text))
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 2)).astype(np.float32)
    y = net.forward(x)
    for image in range(2):
        flat = x[image].transpose(2, 0, 1).reshape(-1)  # C, H, W
        expected = naive_tree_softmax(flat)
        np.testing.assert_allclose(y[image].transpose(2, 0, 1).reshape(-1), expected,
                                   rtol=1e-6, atol=1e-7)


def test_softmax_tree_gradients(tmp_path):
    net = darkpy.load(write(tmp_path, SOFTMAX_CFG.format(t=0.7, tree="my.tree")))
    x = np.random.default_rng(2).standard_normal((2, 1, 1, 11))
    check_layer_gradients(net.layers[0], [x], rtol=1e-6, atol=1e-9)


def test_tree_file_is_found_next_to_the_cfg_then_in_the_working_directory(tmp_path, monkeypatch):
    text = SOFTMAX_CFG.format(t=1, tree="data/9k.tree")
    cfg = write(tmp_path / "a", text, tree_name="9k.tree", folder=tmp_path / "a" / "data")
    assert darkpy.load(cfg).layers[0].tree.n == 9  # relative to the cfg's folder
    cfg = tmp_path / "b" / "cfg" / "x.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"x\.cfg:\d+: \[softmax\] layer 0: tree=data/9k\.tree: "
                                          r"the hierarchy file does not exist"):
        darkpy.load(cfg)
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "9k.tree").write_text(TREE)
    monkeypatch.chdir(work)
    assert darkpy.load(cfg).layers[0].tree.n == 9  # where darknet looks: the working directory
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b" / "data").mkdir()
    (tmp_path / "b" / "data" / "9k.tree").write_text(TREE)
    assert darkpy.load(cfg).layers[0].tree.n == 9  # darknet's layout: cfg/ next to data/


def test_tree_larger_than_the_input_is_refused(tmp_path):
    text = SOFTMAX_CFG.format(t=1, tree="my.tree").replace("channels=11", "channels=8")
    with pytest.raises(ConfigError, match="has 9 nodes but the layer gets 1x1x8 = 8 values"):
        darkpy.load(write(tmp_path, text))


REGION_CFG = """[net]
width=3
height=2
channels={channels}

[region]
anchors=1,1, 2,2
classes={classes}
coords=4
num=2
softmax=1
background={background}
tree=my.tree
"""


def sigmoid(v):
    return 1 / (1 + np.exp(-np.asarray(v, np.float64)))


@pytest.mark.parametrize("background", [0, 1])
def test_region_tree_matches_naive(tmp_path, background):
    classes = 10  # the tree covers 9: the last class entry stays raw
    entries = 4 + 1 + classes
    text = REGION_CFG.format(channels=2 * entries, classes=classes, background=background)
    net = darkpy.load(write(tmp_path, text))
    x = np.random.default_rng(3).standard_normal((2, 2, 3, 2 * entries)).astype(np.float32)
    y = net.forward(x)
    for n, i, j, a in np.ndindex(2, 2, 3, 2):
        v = x[n, i, j, a * entries:(a + 1) * entries]
        got = y[n, i, j, a * entries:(a + 1) * entries]
        np.testing.assert_allclose(got[:2], sigmoid(v[:2]), rtol=1e-6)
        np.testing.assert_array_equal(got[2:4], v[2:4])
        np.testing.assert_allclose(got[4], v[4] if background else sigmoid(v[4]), rtol=1e-6)
        np.testing.assert_allclose(got[5:14], naive_tree_softmax(v[5:])[:9], rtol=1e-6,
                                   atol=1e-7)
        assert got[14] == v[14]


def test_region_tree_is_refused_by_detection_and_checks_classes(tmp_path):
    text = REGION_CFG.format(channels=2 * 14, classes=9, background=0)
    net = darkpy.load(write(tmp_path, text))
    with pytest.raises(ConfigError, match="cannot decode detections from a hierarchy"):
        detection_layers(net)
    text = REGION_CFG.format(channels=2 * 13, classes=8, background=0)
    with pytest.raises(ConfigError, match="has 9 nodes but the layer has classes=8"):
        darkpy.load(write(tmp_path, text))
