"""Run a network over an image in overlapping tiles so memory stays bounded for any size.

The image is cut into a grid of cores (multiples of the network's alignment). Each core is
run with `halo` extra input pixels on every side that has image there, and only the core's
part of the output is kept, so the stitched result equals the whole-image result (see
darkpy.upscale.halo for why the halo suffices). A core that spans the whole width or height
needs no halo on that axis.

Memory: the network frees every activation after its last consumer, so the peak is the
largest live set of activations; `peak_bytes` simulates that schedule from the shapes alone
and `plan_tiles` picks the largest cores whose peak fits the budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from darkpy.network import INPUT, Network

if TYPE_CHECKING:  # annotations only: halo imports a dozen layer modules, and the CLI imports
    from darkpy.upscale.halo import Geometry  # this module at start-up (DEFAULT_MEMORY)

# Bytes of live activations one tile may take. 1 GiB keeps the whole process under 3 GiB
# for the largest network we run, full EDSR x2 on a 2040x1356 image: about 1.2 GiB stays
# resident whatever the tiling (parameters, their cached Winograd transforms, numba's code),
# 0.3 GiB is the image in and out, and kernel scratch adds at most a quarter of the tile's
# activations (benchmarks/bench_sr.py --memory measures each term).
DEFAULT_MEMORY = 1 << 30


def peak_bytes(network: Network, height: int, width: int) -> int:
    """Bytes of activations alive at once when `network` runs one (height x width) image."""
    shapes = network.infer_shapes((height, width, network.input_shape[2]))
    last_use = list(range(len(shapes)))
    for consumer, sources in enumerate(network.sources):
        for s in sources:
            if s != INPUT:
                last_use[s] = max(last_use[s], consumer)
    size = [int(np.prod(s)) * 4 for s in shapes]
    live = {INPUT: height * width * network.input_shape[2] * 4}
    peak = 0
    for i, sources in enumerate(network.sources):
        live[i] = size[i]
        peak = max(peak, sum(live.values()))
        for s in sources:
            if s != INPUT and last_use[s] <= i:
                live.pop(s, None)
    return peak


@dataclass(frozen=True)
class TilePlan:
    tile_h: int   # core height in input pixels (== image height: no split)
    tile_w: int

    def spans(self, height: int, width: int):
        """(y0, y1, x0, x1) cores covering the image in row-major order."""
        for y0 in range(0, height, self.tile_h):
            for x0 in range(0, width, self.tile_w):
                yield y0, min(y0 + self.tile_h, height), x0, min(x0 + self.tile_w, width)

    def count(self, height: int, width: int) -> int:
        return -(-height // self.tile_h) * -(-width // self.tile_w)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def plan_tiles(network: Network, geometry: Geometry | None, height: int, width: int,
               tile: int | None = None, memory: int = DEFAULT_MEMORY) -> TilePlan:
    """Tile cores for an image: `tile` pixels square if given (0 = whole image), else the
    largest that fit `memory` bytes of activations (the whole image when it fits)."""
    whole = TilePlan(height, width)
    if tile == 0 or geometry is None:
        return whole
    align, halo = geometry.align, geometry.halo
    if tile is not None:
        core = _round_up(max(int(tile), 1), align)
        return TilePlan(min(core, height), min(core, width))
    if peak_bytes(network, height, width) <= memory:
        return whole
    # activations per pixel, measured on an aligned probe, then sized to the budget
    probe = _round_up(64, align)
    per_pixel = peak_bytes(network, probe, probe) / (probe * probe)
    pixels = memory / per_pixel
    candidates = []
    strip_h = int(pixels // width) - 2 * halo
    if strip_h >= align:
        candidates.append(TilePlan(min(height, strip_h // align * align), width))
    side = int(pixels ** 0.5) - 2 * halo
    core = max(side // align * align, align)  # the budget wins over efficiency
    candidates.append(TilePlan(min(core, height), min(core, width)))
    return min(candidates, key=lambda plan: _work(plan, height, width, halo))


def _work(plan: TilePlan, height: int, width: int, halo: int) -> int:
    """Input pixels the network processes for the whole image under `plan` (halos included)."""
    total = 0
    for y0, y1, x0, x1 in plan.spans(height, width):
        total += (min(height, y1 + halo) - max(0, y0 - halo)) * (min(width, x1 + halo) - max(0, x0 - halo))
    return total


def run_cores(network: Network, image: np.ndarray, geometry: Geometry, cores, on_tile=None):
    """Yield ((y0, y1, x0, x1), output) for each core of `image`, run with its halo (clipped
    at the image's edges); the output is the core's part, (y1-y0)*s x (x1-x0)*s."""
    height, width = image.shape[:2]
    scale, halo = geometry.scale, geometry.halo
    for y0, y1, x0, x1 in cores:
        py0, py1 = max(0, y0 - halo), min(height, y1 + halo)
        px0, px1 = max(0, x0 - halo), min(width, x1 + halo)
        result = network.forward(np.ascontiguousarray(image[None, py0:py1, px0:px1]))[0]
        if result.shape[:2] != ((py1 - py0) * scale, (px1 - px0) * scale):
            raise AssertionError(f"tile {py1 - py0}x{px1 - px0} gave {result.shape}, expected x{scale}")
        oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
        yield (y0, y1, x0, x1), result[oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
        if on_tile:
            on_tile()


def run_band(network: Network, band: np.ndarray, geometry: Geometry, plan: TilePlan,
             y0: int, y1: int) -> np.ndarray:
    """The output rows of one row of tiles: `band` holds the image rows y0-halo..y1+halo
    (clipped), so every tile sees what it would see in the whole image and the result equals
    those rows of run_tiled's (how a cluster splits a large image)."""
    top = y0 - max(0, y0 - geometry.halo)
    width = band.shape[1]
    cores = [(top, top + y1 - y0, x0, min(x0 + plan.tile_w, width)) for x0 in range(0, width, plan.tile_w)]
    parts = list(run_cores(network, band, geometry, cores))
    return np.concatenate([part for _, part in parts], axis=1)


def run_tiled(network: Network, image: np.ndarray, geometry: Geometry | None, plan: TilePlan,
              on_tile=None) -> np.ndarray:
    """Upscale an (H, W, C) float32 image tile by tile; returns (H*s, W*s, C_out) float32."""
    height, width = image.shape[:2]
    if plan.tile_h >= height and plan.tile_w >= width:
        out = network.forward(image[None])[0]
        if on_tile:
            on_tile()
        return out
    scale = geometry.scale
    out = None
    for (y0, y1, x0, x1), part in run_cores(network, image, geometry, plan.spans(height, width), on_tile):
        if out is None:
            out = np.empty((height * scale, width * scale, part.shape[2]), dtype=np.float32)
        out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = part
    return out
