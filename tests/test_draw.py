"""`darkpy draw`: the SVG holds every layer and every reference edge, checked by parsing it.

The expected references come from a small reader of the cfg text written here (darknet's
rules: `layers=` of a route, `from=` of shortcut/scale_channels/sam, the previous layer for
everything but a route, negative = relative), not from darkpy's Network.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

import darkpy
from darkpy.cli import app
from darkpy.draw import drawing, render
from darkpy.draw.repeats import Repeat, find_repeats
from tests.conftest import REPO, shared_path

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"


def cfg_sections(path: Path) -> list[tuple[str, dict]]:
    """(kind, options) of every section after [net], read naively from the cfg text."""
    sections = []
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
        elif "=" in line:
            key, value = line.split("=", 1)
            sections[-1][1].setdefault(key.strip(), value.strip())
    return sections[1:]


def expected_edges(path: Path) -> set[tuple[str, str, str]]:
    """(from, to, key) for every reference darknet would make; from is 'input' for layer -1."""
    edges = set()
    for i, (kind, opts) in enumerate(cfg_sections(path)):
        def absolute(v):
            v = int(v)
            return i + v if v < 0 else v
        refs = []
        if kind == "route":
            refs = [(absolute(v), "layers") for v in opts["layers"].split(",")]
        else:
            refs = [(i - 1, "")]
            if kind in ("shortcut", "scale_channels", "sam"):
                refs += [(absolute(v), "from") for v in opts["from"].split(",")]
        for source, key in refs:
            edges.add(("input" if source == -1 else str(source), str(i), key))
    return edges


def parse_svg(text: str):
    root = ET.fromstring(text)
    layers = {g.get("data-index"): g for g in root.iter(f"{SVG}g") if g.get("class") == "layer"}
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    return root, layers, edges


@pytest.fixture(scope="module")
def yolov4():
    path = shared_path("darknet-cfg", "yolov4.cfg")
    return path, darkpy.load(path)


def test_yolov4_svg_has_every_layer_and_every_reference(yolov4):
    path, network = yolov4
    text = render(drawing(network), ".svg").decode()
    root, layers, edges = parse_svg(text)
    sections = cfg_sections(path)
    assert len(sections) == 162
    assert sorted(layers, key=int) == [str(i) for i in range(162)]
    for i, (kind, _) in enumerate(sections):
        assert layers[str(i)].get("data-kind") == kind
    got = {(e.get("data-from"), e.get("data-to"), e.get("data-key")) for e in edges}
    assert got == expected_edges(path)
    assert len(edges) == len(got)  # one path per reference
    # shapes (width x height x channels) worked out from the cfg: 608 input, /2 five times
    assert layers["0"].get("data-shape") == "608x608x32"
    assert layers["139"].get("data-shape") == "76x76x255"
    assert layers["161"].get("data-shape") == "19x19x255"
    heads = {i for i, g in layers.items() if g.get("data-head") == "1"}
    assert heads == {"139", "150", "161"}  # the three [yolo] layers
    inputs = [g for g in root.iter(f"{SVG}g") if g.get("class") == "input"]
    assert len(inputs) == 1 and inputs[0].get("data-shape") == "608x608x3"
    # every box's text is in the picture: index and kind, shape, the detail line
    box_text = " ".join("".join(t.itertext()) for t in layers["113"].iter(f"{SVG}text"))
    assert "113 route" in box_text and "19x19x2048" in box_text
    assert "layers=-1,-3,-5,-6 -> 112,110,108,107" in box_text


def test_yolov4_layout_stays_narrow_and_edges_are_orthogonal(yolov4):
    _, network = yolov4
    picture = drawing(network)
    assert picture.width < 700  # one column plus a handful of tracks, readable when printed
    for edge in picture.edges:
        for (x0, y0), (x1, y1) in zip(edge.points, edge.points[1:]):
            assert x0 == x1 or y0 == y1


def test_edsr_repeated_blocks_are_marked():
    path = REPO / "cfg" / "edsr_x2.cfg"
    network = darkpy.load(path)
    root, layers, edges = parse_svg(render(drawing(network), ".svg").decode())
    assert len(layers) == len(cfg_sections(path))
    got = {(e.get("data-from"), e.get("data-to"), e.get("data-key")) for e in edges}
    assert got == expected_edges(path)
    bands = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "repeat"]
    # the cfg's comments say it: residual blocks 1..32 of three layers each, from layer 2
    assert len(bands) == 32
    assert {(b.get("data-start"), b.get("data-period"), b.get("data-count")) for b in bands} \
        == {("2", "3", "32")}


def test_edsr_collapsed_keeps_first_and_last_block():
    network = darkpy.load(REPO / "cfg" / "edsr_x2.cfg")
    root, layers, edges = parse_svg(render(drawing(network, collapse=True), ".svg").decode())
    collapsed = [g for g in root.iter(f"{SVG}g") if g.get("class") == "collapsed"]
    assert [(g.get("data-first"), g.get("data-last")) for g in collapsed] == [("5", "94")]
    shown = {int(i) for i in layers}
    assert shown == set(range(0, 5)) | set(range(95, len(network.layers)))
    # the global skip of EDSR (layer 1 -> the shortcut after the blocks) is still drawn
    assert any(e.get("data-from") == "1" and e.get("data-to") == "99" for e in edges)


def test_find_repeats_on_hand_made_signatures():
    a, b, c = "conv", "relu", "sum"
    assert find_repeats([c, a, b, a, b, a, b, c]) == [Repeat(1, 2, 3)]
    assert find_repeats([c, c, a, b, c, a, b, c, a, b, a]) == [Repeat(1, 3, 3)]
    assert find_repeats([a, a]) == []  # two identical layers are not a block
    assert find_repeats([a, a, a, a, b]) == [Repeat(0, 1, 4)]
    assert find_repeats([a, b, a, b, c, c, a, b, a, b]) == [Repeat(0, 2, 2), Repeat(6, 2, 2)]


SMALL = """[net]
width=16
height=16
channels=3

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[convolutional]
filters=8
size=3
stride=2
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers=-1,0

[convolutional]
filters=4
size=1
activation=linear

[shortcut]
from=-5
"""


def test_slice_draws_stubs_for_references_from_outside(tmp_path):
    path = tmp_path / "small.cfg"
    path.write_text(SMALL)
    network = darkpy.load(path)
    root, layers, edges = parse_svg(render(drawing(network, first=2, last=4), ".svg").decode())
    assert sorted(layers) == ["2", "3", "4"]
    outside = {(e.get("data-from"), e.get("data-to")) for e in edges
               if e.get("data-outside") == "1"}
    # into the slice from 0 (route) and 1 (upsample), out of it to the shortcut at 5 (whose
    # other source, layer 0, is outside the slice too: not drawn)
    assert outside == {("0", "3"), ("1", "2"), ("4", "5")}
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "from 0" in texts and "from 1" in texts and "to 5" in texts


def test_cli_draw_svg_png_pdf(tmp_path):
    path = tmp_path / "small.cfg"
    path.write_text(SMALL)
    for name, magic in (("net.svg", b"<?xml"), ("net.png", b"\x89PNG"), ("net.pdf", b"%PDF")):
        result = runner.invoke(app, ["draw", str(path), str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes().startswith(magic)
    svg = (tmp_path / "net.svg").read_text()
    _, layers, edges = parse_svg(svg)
    assert len(layers) == 6
    assert {(e.get("data-from"), e.get("data-to"), e.get("data-key")) for e in edges} == \
        expected_edges(path)
    from PIL import Image

    with Image.open(tmp_path / "net.png") as image:
        width, height = image.size
    assert height > width > 300  # one column of six boxes plus the input


def test_cli_draw_errors_are_one_line(tmp_path):
    path = tmp_path / "small.cfg"
    path.write_text(SMALL)
    for args, message in (([str(tmp_path / "net.jpg")], r"\.svg, \.png or \.pdf"),
                          ([str(tmp_path / "n.svg"), "--from", "4", "--to", "2"], "--from/--to"),
                          ([str(tmp_path / "n.svg"), "--to", "9"], "within 0..5")):
        result = runner.invoke(app, ["draw", str(path), *args])
        assert result.exit_code == 2, result.output
        assert re.search(message, result.output) and "Traceback" not in result.output
    assert not (tmp_path / "net.jpg").exists()
