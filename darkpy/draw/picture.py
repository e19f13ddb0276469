"""The shapes of a picture, in pixels: what layout.py produces and svg.py / raster.py draw."""
from __future__ import annotations

from dataclasses import dataclass, field

BOX_W, BOX_H, ROW_GAP = 300, 40, 18
MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 70, 64, 96, 24
TRACK_GAP, TRACK_STEP = 16, 9
FONT_SIZE, SMALL_FONT_SIZE = 12, 10
CHAR_W = 0.6 * FONT_SIZE  # monospace advance, used to shorten lines that would not fit

# edge colours by the kind of the layer that reads the reference
EDGE_COLOURS = {"route": "#1f5fbf", "shortcut": "#2a9d3a", "scale_channels": "#8a3fc0",
                "sam": "#8a3fc0"}
OTHER_EDGE, CHAIN_EDGE = "#b0651a", "#444444"
FILL, HEAD_FILL, INPUT_FILL, OUTPUT_STROKE = "#f4f6fa", "#fde9d4", "#e2f0e2", "#c0392b"
BAND_FILLS = ("#eef3fb", "#fbf6e8")


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str  # "23 route"
    shape: str  # "26x26x384", right-aligned on the first line
    detail: str  # second line
    tooltip: str
    fill: str
    stroke: str
    stroke_width: float
    dashed: bool
    attrs: dict  # data-* attributes for the SVG (layer index, kind, ...)


@dataclass
class Edge:
    points: list[tuple[float, float]]
    colour: str
    attrs: dict
    label: str = ""  # for stubs: which layer outside the slice
    label_at: tuple[float, float] = (0.0, 0.0)
    dashed: bool = False


@dataclass
class Band:
    x: float
    y: float
    w: float
    h: float
    fill: str
    label: str
    attrs: dict


@dataclass
class Text:
    x: float
    y: float
    text: str
    size: int = SMALL_FONT_SIZE
    colour: str = "#333333"


@dataclass
class Drawing:
    width: float
    height: float
    title: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
