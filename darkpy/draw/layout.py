"""Place a network's layers and references on a page.

One column of boxes, one row per layer in index order (darknet's own order, the order a cfg
is read in), the input on top; routing.py draws the references between them. Runs of
identical blocks get alternating shaded bands with "k/n" in the left margin, or with
`collapse` keep their first and last repetition and one dashed box for the rest.
`first`/`last` draw a slice: references across its ends become labelled stubs.

The result is a Drawing (picture.py): plain shapes in pixels that svg.py and raster.py render.
"""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.draw.graph import Link, Node
from darkpy.draw.picture import (
    BAND_FILLS,
    BOX_H,
    BOX_W,
    CHAR_W,
    EDGE_COLOURS,
    FILL,
    HEAD_FILL,
    INPUT_FILL,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    OTHER_EDGE,
    OUTPUT_STROKE,
    ROW_GAP,
    SMALL_FONT_SIZE,
    Band,
    Box,
    Drawing,
    Text,
)
from darkpy.draw.repeats import Repeat
from darkpy.draw.routing import Routes
from darkpy.network import INPUT


def _fit(text: str, width: float, char_w: float = CHAR_W) -> str:
    """`text` shortened (ending in ~) to what fits in `width` pixels."""
    limit = max(4, int(width / char_w))
    return text if len(text) <= limit else text[:limit - 1] + "~"


@dataclass
class _Row:
    nodes: list[Node]  # one node, or the hidden nodes of a collapsed stretch
    collapsed: bool = False


def _rows(nodes: list[Node], source: Node, show_input: bool, runs: list[Repeat],
          collapse: bool) -> list[_Row]:
    rows = [_Row([source])] if show_input else []
    hidden = set()
    if collapse:
        for run in runs:
            if run.count >= 3:
                for k in range(1, run.count - 1):
                    hidden.update(run.repetition(k))
    pending: list[Node] = []
    for node in nodes:
        if node.index in hidden:
            pending.append(node)
            continue
        if pending:
            rows.append(_Row(pending, collapsed=True))
            pending = []
        rows.append(_Row([node]))
    if pending:
        rows.append(_Row(pending, collapsed=True))
    return rows


def _bands(runs: list[Repeat], row_of: dict[int, int], row_top, collapse: bool,
           width: float) -> list[Band]:
    bands = []
    for run in runs:
        shade = 0  # alternate by what is drawn, so a collapsed stretch stands out too
        for k in range(run.count):
            label = f"{k + 1}/{run.count}"
            if collapse and run.count >= 3 and 0 < k < run.count - 1:
                if k != 1:
                    continue  # the collapsed stretch: one band for all hidden repetitions
                label = f"2-{run.count - 1}/{run.count}"
            members = [row_of[i] for i in run.repetition(k)]
            top = row_top(min(members)) - ROW_GAP / 2 + 1
            bottom = row_top(max(members)) + BOX_H + ROW_GAP / 2 - 1
            bands.append(Band(
                x=8, y=top, w=width, h=bottom - top, fill=BAND_FILLS[shade % 2], label=label,
                attrs={"class": "repeat", "data-start": run.start, "data-period": run.period,
                       "data-count": run.count, "data-repetition": k + 1}))
            shade += 1
    return bands


def _collapsed_box(row: _Row, y: float, runs: list[Repeat]) -> Box:
    lo, hi = row.nodes[0].index, row.nodes[-1].index
    run = next(r for r in runs if r.start <= lo < r.stop)
    blocks = len(row.nodes) // run.period
    return Box(x=MARGIN_LEFT, y=y, w=BOX_W, h=BOX_H, title=f"layers {lo}-{hi}", shape="",
               detail=_fit(f"{blocks} more identical blocks of {run.period} layers",
                           BOX_W - 12),
               tooltip="\n".join(f"{n.index} {n.kind} {n.shape}" for n in row.nodes),
               fill="#ffffff", stroke="#777777", stroke_width=1, dashed=True,
               attrs={"class": "collapsed", "data-first": lo, "data-last": hi})


def _layer_box(node: Node, y: float) -> Box:
    is_input = node.index == INPUT
    name = "input" if is_input else f"{node.index} {node.kind}"
    tags = [t for t, on in (("head", node.head), ("output", node.output)) if on]
    if tags:
        name += f" ({', '.join(tags)})"
    shape_room = len(node.shape) * CHAR_W + 16
    if is_input:
        attrs = {"class": "input", "data-shape": node.shape}
    else:
        attrs = {"class": "layer", "data-index": node.index, "data-kind": node.kind,
                 "data-shape": node.shape, "data-head": int(node.head),
                 "data-output": int(node.output)}
    return Box(x=MARGIN_LEFT, y=y, w=BOX_W, h=BOX_H, title=_fit(name, BOX_W - 12 - shape_room),
               shape=node.shape, detail=_fit(node.detail, BOX_W - 12), tooltip=node.options,
               fill=INPUT_FILL if is_input else HEAD_FILL if node.head else FILL,
               stroke=OUTPUT_STROKE if node.output else "#555555",
               stroke_width=2.2 if node.output or is_input else 1, dashed=False, attrs=attrs)


def _legend(title: str, width: float, with_bands: bool) -> list[Text]:
    texts = [Text(8, 22, _fit(title, width - 16, 0.62 * 13), 13, "#111111")]
    x = 8
    for name, hue in (("route", EDGE_COLOURS["route"]), ("shortcut", EDGE_COLOURS["shortcut"]),
                      ("scale_channels/sam", EDGE_COLOURS["sam"]), ("other", OTHER_EDGE)):
        texts.append(Text(x, 42, f"-- {name}", SMALL_FONT_SIZE, hue))
        x += (len(name) + 5) * 0.6 * SMALL_FONT_SIZE
    if with_bands:
        texts.append(Text(8, 56, "bands: identical consecutive blocks (k/n)", SMALL_FONT_SIZE,
                          "#555555"))
    return texts


def layout(source: Node, nodes: list[Node], links: list[Link], repeats: list[Repeat],
           title: str, first: int, last: int, collapse: bool = False) -> Drawing:
    """Lay out layers first..last (inclusive) of a network given by graph.nodes_and_links."""
    show_input = first == 0 or any(link.source == INPUT and first <= link.target <= last
                                   for link in links)
    runs = [r for r in repeats if r.start >= first and r.stop - 1 <= last]
    rows = _rows([n for n in nodes if first <= n.index <= last], source, show_input, runs,
                 collapse)
    row_of = {node.index: r for r, row in enumerate(rows) for node in row.nodes}

    def row_top(r: int) -> float:
        return MARGIN_TOP + r * (BOX_H + ROW_GAP)

    def shown(index: int) -> bool:
        return index in row_of

    routes = Routes(links, row_of, shown, [n.kind for n in nodes])
    tracks_right = MARGIN_LEFT + BOX_W + routes.width()
    drawing = Drawing(width=tracks_right + MARGIN_RIGHT,
                      height=row_top(len(rows)) + MARGIN_BOTTOM, title=title)
    drawing.bands = _bands(runs, row_of, row_top, collapse, tracks_right + 4)
    drawing.boxes = [_collapsed_box(row, row_top(r), runs) if row.collapsed
                     else _layer_box(row.nodes[0], row_top(r)) for r, row in enumerate(rows)]
    drawing.edges = routes.edges(row_top, MARGIN_LEFT, BOX_W)
    drawing.texts = _legend(title, drawing.width, bool(runs))
    return drawing
