"""Pictures of networks: `darkpy draw MODEL OUT.svg|png|pdf` and `darkpy.draw.draw(...)`.

graph.py turns a Network into nodes and reference links, repeats.py finds runs of identical
blocks, layout.py places the layers in one column and routing.py the arrows between them
(picture.py holds the resulting shapes); svg.py and raster.py write them. Pure Python: SVG
needs nothing, PNG and PDF need Pillow.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.draw.graph import nodes_and_links, signature
from darkpy.draw.layout import layout
from darkpy.draw.picture import Drawing
from darkpy.draw.repeats import find_repeats
from darkpy.errors import InputError

FORMATS = (".svg", ".png", ".pdf")


def drawing(network, first: int | None = None, last: int | None = None,
            collapse: bool = False, title: str | None = None) -> Drawing:
    """The picture of layers first..last (inclusive; default all) of `network`."""
    n = len(network.layers)
    first = 0 if first is None else first + n if first < 0 else first
    last = n - 1 if last is None else last + n if last < 0 else last
    if not 0 <= first <= last < n:
        raise InputError(f"--from/--to must pick layers within 0..{n - 1} with from <= to; "
                         f"got {first}..{last}")
    source, nodes, links = nodes_and_links(network)
    repeats = find_repeats([signature(network, i) for i in range(n)])
    if title is None:
        title = str(network.source)
        if (first, last) != (0, n - 1):
            title += f": layers {first}-{last} of {n}"
        else:
            title += f": {n} layers"
    return layout(source, nodes, links, repeats, title, first, last, collapse)


def render(picture: Drawing, suffix: str) -> bytes:
    """The picture in the format of a file suffix (.svg, .png or .pdf)."""
    suffix = suffix.lower()
    if suffix == ".svg":
        from darkpy.draw.svg import to_svg

        return to_svg(picture).encode("utf-8")
    if suffix in (".png", ".pdf"):
        from darkpy.draw import raster

        return raster.to_png(picture) if suffix == ".png" else raster.to_pdf(picture)
    raise InputError(f"cannot draw to '{suffix or 'no suffix'}': use .svg, .png or .pdf")


def draw(model, out, first: int | None = None, last: int | None = None,
         collapse: bool = False, fork: str | None = None) -> Path:
    """Draw `model` (a Network, or a .cfg/.yaml/.h5 path) into `out` (.svg, .png or .pdf);
    the file is written atomically. Returns its path."""
    from darkpy.io.atomic import atomic_write_bytes

    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"{out}: the picture's name must end in .svg, .png or .pdf")
    if isinstance(model, (str, Path)):
        from darkpy.api import load

        model = load(model, fork=fork)
    data = render(drawing(model, first, last, collapse), out.suffix)
    atomic_write_bytes(out, data)
    return out
