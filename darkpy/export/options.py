"""The export options and their parsing, apart from the exporter so the CLI can read them
without importing every layer."""
from __future__ import annotations

import re

from darkpy.errors import ExportError

DEFAULT_OPSET = 17
MIN_OPSET = 13  # single-axis Softmax, ReduceSum/Split/Unsqueeze taking axes as inputs
HEADS = ("raw", "decoded")
DYNAMIC = "dynamic"


def parse_batch(value) -> int | None:
    """--batch: a positive int, or 'dynamic' (None)."""
    if value is None or str(value).strip().lower() == DYNAMIC:
        return None
    try:
        batch = int(value)
    except (TypeError, ValueError):
        batch = 0
    if batch < 1:
        raise ExportError(f"batch {value!r}: expected a positive number or 'dynamic'")
    return batch


def parse_size(value):
    """--size: None (the [net] size), 'dynamic', or width x height ('416x416', (w, h), 416)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == DYNAMIC:
            return DYNAMIC
        match = re.fullmatch(r"(\d+)\s*(?:x\s*(\d+))?", text)
        if not match:
            raise ExportError(f"size {value!r}: expected WIDTHxHEIGHT (e.g. 416x416), one "
                              "number for a square, or 'dynamic'")
        w = int(match.group(1))
        return (w, int(match.group(2) or w))
    if isinstance(value, int):
        return (value, value)
    w, h = (int(v) for v in value)
    return (w, h)
