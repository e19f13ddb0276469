"""A Drawing as SVG text: plain elements, no scripts, readable by browsers and by tests.

Each layer is a `<g class="layer" data-index=.. data-kind=.. data-shape=..>` holding its box
and text (a `<title>` gives its keys as a tooltip); each reference a
`<path class="edge" data-from=.. data-to=.. data-key=..>`; the input is `<g class="input">`,
repeated blocks `<rect class="repeat" ...>`, a collapsed stretch `<g class="collapsed"
data-first=.. data-last=..>`.
"""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from darkpy.draw.picture import FONT_SIZE, SMALL_FONT_SIZE, Drawing

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def _attrs(attrs: dict) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items())


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _marker(colour: str) -> str:
    return "arrow-" + colour.lstrip("#")


def to_svg(drawing: Drawing) -> str:
    w, h = drawing.width, drawing.height
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(w)}" height="{_n(h)}" '
        f'viewBox="0 0 {_n(w)} {_n(h)}" font-family={quoteattr(FONT)} '
        f'font-size="{FONT_SIZE}">',
        f"<title>{escape(drawing.title)}</title>",
        "<defs>",
        *(f'<marker id="{_marker(c)}" viewBox="0 0 10 10" refX="10" refY="5" '
          f'markerWidth="7" markerHeight="7" orient="auto">'
          f'<path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
          for c in sorted({e.colour for e in drawing.edges})),
        "</defs>",
        f'<rect width="{_n(w)}" height="{_n(h)}" fill="#ffffff"/>',
    ]
    for band in drawing.bands:
        out.append(f'<rect{_attrs(band.attrs)} x="{_n(band.x)}" y="{_n(band.y)}" '
                   f'width="{_n(band.w)}" height="{_n(band.h)}" fill="{band.fill}"/>')
        out.append(f'<text x="{_n(band.x + 4)}" y="{_n(band.y + band.h / 2 + 4)}" '
                   f'font-size="{SMALL_FONT_SIZE}" fill="#555555">{escape(band.label)}</text>')
    for edge in drawing.edges:
        d = " ".join(("M" if i == 0 else "L") + f"{_n(x)},{_n(y)}"
                     for i, (x, y) in enumerate(edge.points))
        dash = ' stroke-dasharray="4,3"' if edge.dashed else ""
        out.append(f'<path{_attrs(edge.attrs)} d="{d}" fill="none" stroke="{edge.colour}" '
                   f'stroke-width="1.3"{dash} marker-end="url(#{_marker(edge.colour)})"/>')
        if edge.label:
            x, y = edge.label_at
            out.append(f'<text x="{_n(x)}" y="{_n(y)}" font-size="{SMALL_FONT_SIZE}" '
                       f'fill="{edge.colour}">{escape(edge.label)}</text>')
    for box in drawing.boxes:
        dash = ' stroke-dasharray="5,3"' if box.dashed else ""
        out.append(f"<g{_attrs(box.attrs)}>")
        out.append(f"<title>{escape(box.tooltip)}</title>")
        out.append(f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" '
                   f'height="{_n(box.h)}" rx="4" fill="{box.fill}" stroke="{box.stroke}" '
                   f'stroke-width="{box.stroke_width}"{dash}/>')
        top = box.y + 16
        out.append(f'<text x="{_n(box.x + 6)}" y="{_n(top)}" font-weight="bold">'
                   f"{escape(box.title)}</text>")
        if box.shape:
            out.append(f'<text x="{_n(box.x + box.w - 6)}" y="{_n(top)}" text-anchor="end" '
                       f'fill="#1a4d80">{escape(box.shape)}</text>')
        if box.detail:
            out.append(f'<text x="{_n(box.x + 6)}" y="{_n(top + 16)}" '
                       f'font-size="{SMALL_FONT_SIZE + 1}" fill="#333333">'
                       f"{escape(box.detail)}</text>")
        out.append("</g>")
    for text in drawing.texts:
        out.append(f'<text x="{_n(text.x)}" y="{_n(text.y)}" font-size="{text.size}" '
                   f'fill="{text.colour}">{escape(text.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
