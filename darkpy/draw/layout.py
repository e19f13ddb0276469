"""Place a network's layers and references on a page.

One column of boxes, one row per layer in index order (darknet's own order, the order a cfg
is read in), the input on top. A reference to the layer just above is a short arrow down; any
other (route, shortcut, scale_channels, sam, ...) leaves the source box on its right, runs
down a vertical track of its own and enters the target box from the right. Tracks are given
out shortest edge first, each to the innermost track free over its rows, so short skips stay
close to the column and nest inside long ones without crossing them. Runs of identical
blocks get alternating shaded bands with "k/n" in the left margin, or with `collapse` keep
their first and last repetition and one dashed box for the rest. `first`/`last` draw a
slice: references from outside it end in a labelled stub.

The result is a Drawing: plain shapes in pixels that svg.py and raster.py render.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from darkpy.draw.graph import Link, Node
from darkpy.draw.repeats import Repeat
from darkpy.network import INPUT

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


def _fit(text: str, width: float, char_w: float = CHAR_W) -> str:
    limit = max(4, int(width / char_w))
    return text if len(text) <= limit else text[:limit - 1] + "~"


@dataclass
class _Row:
    nodes: list[Node]  # one node, or the hidden nodes of a collapsed stretch
    collapsed: bool = False


def _rows(nodes: list[Node], source: Node, show_input: bool, repeats: list[Repeat],
          collapse: bool) -> tuple[list[_Row], dict[int, int]]:
    rows = [_Row([source])] if show_input else []
    hidden: dict[int, Repeat] = {}
    if collapse:
        for run in repeats:
            if run.count >= 3:
                for k in range(1, run.count - 1):
                    for i in run.repetition(k):
                        hidden[i] = run
    by_index = {}
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
    for r, row in enumerate(rows):
        for node in row.nodes:
            by_index[node.index] = r
    return rows, by_index


def layout(source: Node, nodes: list[Node], links: list[Link], repeats: list[Repeat],
           title: str, first: int, last: int, collapse: bool = False) -> Drawing:
    """Lay out layers first..last (inclusive) of a network given by graph.nodes_and_links."""
    shown = [n for n in nodes if first <= n.index <= last]
    show_input = first == 0 or any(link.source == INPUT and first <= link.target <= last
                                   for link in links)
    runs = [r for r in repeats if r.start >= first and r.stop - 1 <= last]
    rows, row_of = _rows(shown, source, show_input, runs, collapse)
    pitch = BOX_H + ROW_GAP
    box_x = MARGIN_LEFT

    def row_top(r: int) -> float:
        return MARGIN_TOP + r * pitch

    drawing = Drawing(width=0, height=MARGIN_TOP + len(rows) * pitch + MARGIN_BOTTOM,
                      title=title)

    # --- edges: which are plain arrows down, which need a track, which are stubs -------------
    chain, tracked, stubs_in, stubs_out = [], [], [], []
    for link in links:
        src_in = link.source == INPUT and show_input or first <= link.source <= last
        dst_in = first <= link.target <= last
        if not dst_in and not src_in:
            continue
        if not dst_in:
            stubs_out.append(link)
            continue
        if not src_in:
            stubs_in.append(link)
            continue
        a, b = row_of[link.source], row_of[link.target]
        if a == b:
            continue  # inside one collapsed stretch
        if b == a + 1:
            chain.append((link, a, b))
        else:
            tracked.append((link, a, b))
    # one arrow per pair of rows, one track per (source row, target row) pair
    chain = list({(a, b, link.key): (link, a, b) for link, a, b in chain}.values())
    tracked = list({(a, b, link.key): (link, a, b) for link, a, b in tracked}.values())

    # ports: edges leave a box in its lower half and enter it in its upper half
    outs: dict[int, list] = {}
    ins: dict[int, list] = {}
    for item in tracked:
        outs.setdefault(item[1], []).append(item)
        ins.setdefault(item[2], []).append(item)
    for link in stubs_in:
        ins.setdefault(row_of[link.target], []).append((link, None, row_of[link.target]))
    for link in stubs_out:
        outs.setdefault(row_of[link.source], []).append((link, row_of[link.source], None))

    def port_y(r: int, item, table, lower: bool) -> float:
        """Where `item` meets row r's box: spread over the box's right side, edges in above
        edges out when the box has both."""
        items = table[r]
        k = items.index(item)
        top, bottom = row_top(r) + 3, row_top(r) + BOX_H - 3
        if r in ins and r in outs:
            top, bottom = (row_top(r) + BOX_H / 2 + 1, bottom) if lower else \
                (top, row_top(r) + BOX_H / 2 - 1)
        return top + (bottom - top) * (k + 0.5) / len(items)

    # tracks: shortest first, innermost free track
    tracks: list[list[tuple[int, int]]] = []
    track_of = {}
    for item in sorted(tracked, key=lambda it: (it[2] - it[1], it[1])):
        _, a, b = item
        for t, used in enumerate(tracks):
            if all(b <= c or d <= a for c, d in used):
                used.append((a, b))
                track_of[id(item)] = t
                break
        else:
            tracks.append([(a, b)])
            track_of[id(item)] = len(tracks) - 1
    # port order that avoids crossings at a box: an edge on an outer track enters below and
    # leaves above the edges on inner tracks (stubs come from beyond every track)
    outside = len(tracks) + 1
    for items in ins.values():
        items.sort(key=lambda it: track_of.get(id(it), outside))
    for items in outs.values():
        items.sort(key=lambda it: -track_of.get(id(it), outside))
    box_right = box_x + BOX_W
    tracks_right = box_right + TRACK_GAP + TRACK_STEP * max(len(tracks) - 1, 0)
    drawing.width = tracks_right + MARGIN_RIGHT

    # --- repeat bands (behind everything) --------------------------------------------------
    for run in runs:
        shade = 0  # alternate by what is drawn, so a collapsed stretch stands out too
        for k in range(run.count):
            members = [row_of[i] for i in run.repetition(k) if i in row_of]
            label = f"{k + 1}/{run.count}"
            if collapse and run.count >= 3 and 0 < k < run.count - 1:
                if k != 1:
                    continue  # the collapsed stretch: one band for all hidden repetitions
                label = f"2-{run.count - 1}/{run.count}"
            top = row_top(min(members)) - ROW_GAP / 2 + 1
            bottom = row_top(max(members)) + BOX_H + ROW_GAP / 2 - 1
            drawing.bands.append(Band(
                x=8, y=top, w=tracks_right - 8 + 12, h=bottom - top,
                fill=BAND_FILLS[shade % 2], label=label,
                attrs={"class": "repeat", "data-start": run.start, "data-period": run.period,
                       "data-count": run.count, "data-repetition": k + 1}))
            shade += 1

    # --- boxes -------------------------------------------------------------------------------
    for r, row in enumerate(rows):
        y = row_top(r)
        if row.collapsed:
            lo, hi = row.nodes[0].index, row.nodes[-1].index
            run = next(r for r in runs if r.start <= lo < r.stop)
            blocks = len(row.nodes) // run.period
            drawing.boxes.append(Box(
                x=box_x, y=y, w=BOX_W, h=BOX_H, title=f"layers {lo}-{hi}",
                shape="", detail=_fit(f"{blocks} more identical blocks of {run.period} layers",
                                      BOX_W - 12),
                tooltip="\n".join(f"{n.index} {n.kind} {n.shape}" for n in row.nodes),
                fill="#ffffff", stroke="#777777", stroke_width=1, dashed=True,
                attrs={"class": "collapsed", "data-first": lo, "data-last": hi}))
            continue
        node = row.nodes[0]
        is_input = node.index == INPUT
        name = "input" if is_input else f"{node.index} {node.kind}"
        tags = [t for t, on in (("head", node.head), ("output", node.output)) if on]
        if tags:
            name += f" ({', '.join(tags)})"
        shape_room = len(node.shape) * CHAR_W + 16
        drawing.boxes.append(Box(
            x=box_x, y=y, w=BOX_W, h=BOX_H, title=_fit(name, BOX_W - 12 - shape_room),
            shape=node.shape, detail=_fit(node.detail, BOX_W - 12), tooltip=node.options,
            fill=INPUT_FILL if is_input else HEAD_FILL if node.head else FILL,
            stroke=OUTPUT_STROKE if node.output else "#555555",
            stroke_width=2.2 if node.output or is_input else 1, dashed=False,
            attrs=({"class": "input", "data-shape": node.shape} if is_input else
                   {"class": "layer", "data-index": node.index, "data-kind": node.kind,
                    "data-shape": node.shape, "data-head": int(node.head),
                    "data-output": int(node.output)})))

    # --- edges -------------------------------------------------------------------------------
    def attrs(link: Link, **extra) -> dict:
        out = {"class": "edge", "data-from": "input" if link.source == INPUT else link.source,
               "data-to": link.target, "data-key": link.key or ""}
        out.update(extra)
        return out

    def colour(link: Link) -> str:
        if link.key is None:
            return CHAIN_EDGE
        return EDGE_COLOURS.get(nodes[link.target].kind, OTHER_EDGE)

    cx = box_x + BOX_W / 2
    for link, a, b in chain:
        drawing.edges.append(Edge([(cx, row_top(a) + BOX_H), (cx, row_top(b))], colour(link),
                                  attrs(link)))
    for item in tracked:
        link, a, b = item
        x = box_right + TRACK_GAP + TRACK_STEP * track_of[id(item)]
        y0, y1 = port_y(a, item, outs, True), port_y(b, item, ins, False)
        drawing.edges.append(Edge([(box_right, y0), (x, y0), (x, y1), (box_right, y1)],
                                  colour(link), attrs(link)))
    for link in stubs_in:
        item = next(it for it in ins[row_of[link.target]] if it[0] is link)
        y = port_y(row_of[link.target], item, ins, False)
        name = "input" if link.source == INPUT else f"from {link.source}"
        drawing.edges.append(Edge([(tracks_right + 10, y), (box_right, y)], colour(link),
                                  attrs(link, **{"data-outside": 1}), label=name,
                                  label_at=(tracks_right + 13, y + 3), dashed=True))
    for link in stubs_out:
        item = next(it for it in outs[row_of[link.source]] if it[0] is link)
        y = port_y(row_of[link.source], item, outs, True)
        drawing.edges.append(Edge([(box_right, y), (tracks_right + 10, y)], colour(link),
                                  attrs(link, **{"data-outside": 1}), label=f"to {link.target}",
                                  label_at=(tracks_right + 13, y + 3), dashed=True))

    # --- title and legend --------------------------------------------------------------------
    drawing.texts.append(Text(8, 22, _fit(title, drawing.width - 16, 0.62 * 13), 13,
                              "#111111"))
    legend = ("route", "shortcut", "scale_channels/sam", "other")
    x = 8
    for name, hue in zip(legend, (EDGE_COLOURS["route"], EDGE_COLOURS["shortcut"],
                                  EDGE_COLOURS["sam"], OTHER_EDGE)):
        drawing.texts.append(Text(x, 42, f"-- {name}", SMALL_FONT_SIZE, hue))
        x += (len(name) + 5) * 0.6 * SMALL_FONT_SIZE
    if runs:
        drawing.texts.append(Text(8, 56, "bands: identical consecutive blocks (k/n)",
                                  SMALL_FONT_SIZE, "#555555"))
    return drawing
