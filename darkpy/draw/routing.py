"""Where the reference arrows run: straight down, on a side track, or as a stub.

A reference from the row just above is a short arrow down the middle. Any other leaves the
source box on its right, runs down a vertical track of its own and enters the target box from
the right. Tracks are given out shortest edge first, each to the innermost track free over
its rows, so short skips stay close to the column and nest inside long ones without crossing
them. A reference that crosses the edge of a drawn slice ends in a stub labelled with the
layer outside. Where several edges meet one box side, an edge on an outer track enters below
and leaves above those on inner tracks, which is the order that does not cross them.
"""
from __future__ import annotations

from darkpy.draw.graph import Link
from darkpy.draw.picture import (
    BOX_H,
    CHAIN_EDGE,
    EDGE_COLOURS,
    OTHER_EDGE,
    TRACK_GAP,
    TRACK_STEP,
    Edge,
)
from darkpy.network import INPUT


class Routes:
    """The edges of one drawing: `row_of` maps layer index (INPUT too) to its row,
    `shown(index)` says whether a layer is in the drawing, `kinds` gives each layer's kind."""

    def __init__(self, links: list[Link], row_of: dict[int, int], shown, kinds: list[str]):
        self.kinds = kinds
        self.chain, self.tracked, self.stubs_in, self.stubs_out = [], [], [], []
        for link in links:
            src, dst = shown(link.source), shown(link.target)
            if not src and not dst:
                continue
            if not dst:
                self.stubs_out.append((link, row_of[link.source], None))
            elif not src:
                self.stubs_in.append((link, None, row_of[link.target]))
            else:
                a, b = row_of[link.source], row_of[link.target]
                if a == b:
                    continue  # inside one collapsed stretch
                (self.chain if b == a + 1 else self.tracked).append((link, a, b))
        # collapsed stretches map many links onto one pair of rows: draw each pair once
        self.chain = list({(a, b, k.key): (k, a, b) for k, a, b in self.chain}.values())
        self.tracked = list({(a, b, k.key): (k, a, b) for k, a, b in self.tracked}.values())
        self.track_of = self._assign_tracks()
        self.tracks = max(self.track_of.values(), default=-1) + 1
        self.ins: dict[int, list] = {}
        self.outs: dict[int, list] = {}
        for item in self.tracked + self.stubs_out:
            self.outs.setdefault(item[1], []).append(item)
        for item in self.tracked + self.stubs_in:
            self.ins.setdefault(item[2], []).append(item)
        outside = self.tracks + 1  # stubs come from beyond every track
        for items in self.ins.values():
            items.sort(key=lambda it: self.track_of.get(id(it), outside))
        for items in self.outs.values():
            items.sort(key=lambda it: -self.track_of.get(id(it), outside))

    def _assign_tracks(self) -> dict[int, int]:
        used: list[list[tuple[int, int]]] = []
        track_of = {}
        for item in sorted(self.tracked, key=lambda it: (it[2] - it[1], it[1])):
            _, a, b = item
            for t, spans in enumerate(used):
                if all(b <= c or d <= a for c, d in spans):
                    spans.append((a, b))
                    track_of[id(item)] = t
                    break
            else:
                used.append([(a, b)])
                track_of[id(item)] = len(used) - 1
        return track_of

    def width(self) -> float:
        """How far right of the boxes the tracks reach."""
        return TRACK_GAP + TRACK_STEP * max(self.tracks - 1, 0)

    def _port_y(self, top: float, r: int, item, leaving: bool) -> float:
        """Where `item` meets the box of row r (top edge at `top`): spread over the box's
        right side; edges in above edges out when the box has both."""
        items = (self.outs if leaving else self.ins)[r]
        lo, hi = top + 3, top + BOX_H - 3
        if r in self.ins and r in self.outs:
            lo, hi = (top + BOX_H / 2 + 1, hi) if leaving else (lo, top + BOX_H / 2 - 1)
        return lo + (hi - lo) * (items.index(item) + 0.5) / len(items)

    def _colour(self, link: Link) -> str:
        if link.key is None:
            return CHAIN_EDGE
        return EDGE_COLOURS.get(self.kinds[link.target], OTHER_EDGE)

    @staticmethod
    def _attrs(link: Link, **extra) -> dict:
        out = {"class": "edge", "data-from": "input" if link.source == INPUT else link.source,
               "data-to": link.target, "data-key": link.key or ""}
        out.update(extra)
        return out

    def edges(self, row_top, box_x: float, box_w: float) -> list[Edge]:
        """Every edge as a polyline; `row_top(r)` is the top of row r's box."""
        right, centre = box_x + box_w, box_x + box_w / 2
        far = right + self.width() + 10
        out = []
        for link, a, b in self.chain:
            out.append(Edge([(centre, row_top(a) + BOX_H), (centre, row_top(b))],
                            self._colour(link), self._attrs(link)))
        for item in self.tracked:
            link, a, b = item
            x = right + TRACK_GAP + TRACK_STEP * self.track_of[id(item)]
            y0 = self._port_y(row_top(a), a, item, leaving=True)
            y1 = self._port_y(row_top(b), b, item, leaving=False)
            out.append(Edge([(right, y0), (x, y0), (x, y1), (right, y1)], self._colour(link),
                            self._attrs(link)))
        for item in self.stubs_in:
            link, _, b = item
            y = self._port_y(row_top(b), b, item, leaving=False)
            name = "input" if link.source == INPUT else f"from {link.source}"
            out.append(Edge([(far, y), (right, y)], self._colour(link),
                            self._attrs(link, **{"data-outside": 1}), label=name,
                            label_at=(far + 3, y + 3), dashed=True))
        for item in self.stubs_out:
            link, a, _ = item
            y = self._port_y(row_top(a), a, item, leaving=True)
            out.append(Edge([(right, y), (far, y)], self._colour(link),
                            self._attrs(link, **{"data-outside": 1}),
                            label=f"to {link.target}", label_at=(far + 3, y + 3), dashed=True))
        return out
