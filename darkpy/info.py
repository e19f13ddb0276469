"""Per-layer summary of a network: what `darkpy info` prints, usable from Python."""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.network import INPUT, Network


@dataclass
class LayerRow:
    index: int
    kind: str
    filters: str
    size: str
    input_shape: tuple
    output_shape: tuple
    params: int
    flops: int


def summarize(network: Network, height: int | None = None, width: int | None = None) -> list[LayerRow]:
    """One row per layer for an input of height x width (default: the [net] size)."""
    h0, w0, c0 = network.input_shape
    input_shape = (height or h0, width or w0, c0)
    shapes = network.infer_shapes(input_shape)
    rows = []
    for layer, sources, out in zip(network.layers, network.sources, shapes):
        in_shapes = [input_shape if s == INPUT else shapes[s] for s in sources]
        desc = layer.describe()
        rows.append(LayerRow(
            index=layer.index, kind=layer.kind, filters=str(desc.get("filters", "")),
            size=str(desc.get("size", "")), input_shape=in_shapes[0] if len(in_shapes) == 1 else tuple(in_shapes),
            output_shape=out, params=layer.num_params(), flops=int(layer.flops(in_shapes)),
        ))
    return rows


def shape_text(shape) -> str:
    if shape and isinstance(shape[0], tuple):
        return " + ".join(shape_text(s) for s in shape)
    h, w, c = shape
    return f"{w}x{h}x{c}"


def human(n: float, unit: str = "") -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"
