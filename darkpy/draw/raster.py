"""A Drawing as PNG or PDF through Pillow (installed with scikit-image; no system tools).

The PDF is the same picture as the PNG, embedded as an image at 2x resolution. Text uses
DejaVu Sans Mono where the system has it, else Pillow's own scalable font.
"""
from __future__ import annotations

import io

from darkpy.draw.picture import FONT_SIZE, SMALL_FONT_SIZE, Drawing
from darkpy.errors import InputError

SCALE = 2  # pixels per layout unit: sharp text at the sizes the layout uses
_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
_FONT_FILES = {False: ("DejaVuSansMono.ttf", _DEJAVU + "DejaVuSansMono.ttf"),
               True: ("DejaVuSansMono-Bold.ttf", _DEJAVU + "DejaVuSansMono-Bold.ttf")}
_MAX_SIDE = 65000  # PNG and Pillow limits are far above; this keeps memory sane


def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    for name in _FONT_FILES[bold]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _dashed_line(draw, points, fill, width, dash=8, gap=6):
    """A polyline drawn as dashes (Pillow has no dash pattern)."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = max(abs(x1 - x0), abs(y1 - y0))
        if length == 0:
            continue
        start = 0.0
        while start < length:
            a, b = start / length, min(start + dash, length) / length
            draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a),
                       (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)], fill=fill, width=width)
            start += dash + gap


def _arrow_head(draw, tip, before, fill):
    (x1, y1), (x0, y0) = tip, before
    dx, dy = x1 - x0, y1 - y0
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-6)
    ux, uy = dx / norm, dy / norm
    size = 6 * SCALE
    back = (x1 - ux * size, y1 - uy * size)
    left = (back[0] - uy * size * 0.45, back[1] + ux * size * 0.45)
    right = (back[0] + uy * size * 0.45, back[1] - ux * size * 0.45)
    draw.polygon([tip, left, right], fill=fill)


def render(drawing: Drawing):
    """The drawing as a Pillow image."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # pragma: no cover - Pillow comes with scikit-image
        raise InputError("PNG and PDF pictures need Pillow (pip install pillow); "
                         "SVG needs nothing") from None
    width, height = int(drawing.width * SCALE), int(drawing.height * SCALE)
    if max(width, height) > _MAX_SIDE:
        raise InputError(f"the picture would be {width}x{height} pixels; draw a slice with "
                         "--from/--to, or write SVG")
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    s = SCALE
    font, bold = _font(FONT_SIZE * s), _font(FONT_SIZE * s, bold=True)
    small, detail = _font(SMALL_FONT_SIZE * s), _font((SMALL_FONT_SIZE + 1) * s)
    for band in drawing.bands:
        draw.rectangle([band.x * s, band.y * s, (band.x + band.w) * s, (band.y + band.h) * s],
                       fill=_rgb(band.fill))
        draw.text(((band.x + 4) * s, (band.y + band.h / 2 + 4) * s), band.label,
                  fill=_rgb("#555555"), font=small, anchor="ls")
    for edge in drawing.edges:
        points = [(x * s, y * s) for x, y in edge.points]
        fill = _rgb(edge.colour)
        if edge.dashed:
            _dashed_line(draw, points, fill, int(1.3 * s))
        else:
            draw.line(points, fill=fill, width=int(1.3 * s), joint="curve")
        _arrow_head(draw, points[-1], points[-2], fill)
        if edge.label:
            x, y = edge.label_at
            draw.text((x * s, y * s), edge.label, fill=fill, font=small,
                      anchor="ls")
    for box in drawing.boxes:
        rect = [box.x * s, box.y * s, (box.x + box.w) * s, (box.y + box.h) * s]
        draw.rounded_rectangle(rect, radius=4 * s, fill=_rgb(box.fill))
        outline = _rgb(box.stroke)
        if box.dashed:
            x0, y0, x1, y1 = rect
            _dashed_line(draw, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], outline,
                         max(1, int(box.stroke_width * s)))
        else:
            draw.rounded_rectangle(rect, radius=4 * s, outline=outline,
                                   width=max(1, int(box.stroke_width * s)))
        top = (box.y + 16) * s
        draw.text(((box.x + 6) * s, top), box.title, fill=(0, 0, 0), font=bold, anchor="ls")
        if box.shape:
            draw.text(((box.x + box.w - 6) * s, top), box.shape, fill=_rgb("#1a4d80"),
                      font=font, anchor="rs")
        if box.detail:
            draw.text(((box.x + 6) * s, top + 16 * s), box.detail, fill=_rgb("#333333"),
                      font=detail, anchor="ls")
    for text in drawing.texts:
        draw.text((text.x * s, text.y * s), text.text, fill=_rgb(text.colour),
                  font=_font(text.size * s), anchor="ls")
    return image


def to_png(drawing: Drawing) -> bytes:
    buffer = io.BytesIO()
    render(drawing).save(buffer, format="PNG")
    return buffer.getvalue()


def to_pdf(drawing: Drawing) -> bytes:
    buffer = io.BytesIO()
    # 72 points per layout unit: the page has the picture's size in points
    render(drawing).save(buffer, format="PDF", resolution=72.0 * SCALE)
    return buffer.getvalue()
