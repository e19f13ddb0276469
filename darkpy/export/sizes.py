"""Which input sizes a network runs at: the reference shapes of an export and what varies.

darkpy infers every layer's shape for any input size (Network.infer_shapes), refusing sizes a
layer cannot take (a route of two grids that no longer match, a [connected] layer's fixed
input). An export with a dynamic size needs to know which sizes of which tensors change with
the image: it infers the shapes at the reference size and at a second size, and a dimension
that differs between the two is left to run time.
"""
from __future__ import annotations

from darkpy.errors import DarkpyError, ExportError

MULTIPLES = (1, 2, 4, 8, 16, 32, 64, 128)


def _accepts(network, h: int, w: int) -> bool:
    try:
        network.infer_shapes((h, w, network.input_shape[2]))
    except DarkpyError:
        return False
    return True


def size_multiple(network, h: int, w: int) -> int | None:
    """The smallest m in 1, 2, 4, ... 128 such that the network takes sizes that are multiples
    of m near h x w (tried at three of them); None when it takes only its own size."""
    for m in MULTIPLES:
        bh, bw = -(-h // m) * m, -(-w // m) * m
        if all(_accepts(network, bh + dh * m, bw + dw * m) for dh, dw in ((1, 2), (2, 1), (3, 3))):
            return m
    return None


def dynamic_shapes(network, h: int, w: int) -> tuple[list, list, int]:
    """(reference shapes, shapes with None where they follow the image size, size multiple)
    for a dynamic-size export around h x w; shapes are darkpy's (h, w, c) per layer."""
    multiple = size_multiple(network, h, w)
    if multiple is None:
        raise ExportError(f"{network.source}: this network only runs at its own input size "
                          f"({_fixed_reason(network, h, w)}); export it with a fixed --size")
    c = network.input_shape[2]
    reference = network.infer_shapes((h, w, c))
    # a size size_multiple tried, different from h x w in both directions
    other_h, other_w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    other = network.infer_shapes((other_h + 2 * multiple, other_w + multiple, c))
    varying = [tuple(None if a != b else a for a, b in zip(ra, rb))
               for ra, rb in zip(reference, other)]
    return reference, varying, multiple


def _fixed_reason(network, h: int, w: int) -> str:
    try:
        network.infer_shapes((h + 32, w + 32, network.input_shape[2]))
    except DarkpyError as exc:
        return str(exc)
    return "no nearby size is accepted"
