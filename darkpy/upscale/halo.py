"""How far an output pixel of a network can see: the halo a tile needs to be computed exactly.

Every layer output is a pixel grid at `scale` pixels per network-input pixel (a fraction:
2 after a x2 pixel shuffle, 1/2 after a stride-2 convolution). A pixel of that grid covers a
*footprint* of 1/scale input pixels. `reach` is how far beyond its footprint (in input pixels)
an output pixel's value can depend on the input. Walking the layers in order:

    convolution k, dilation d, stride st, padding p, at input scale s:
        reads input pixels j*st - p .. j*st - p + (k-1)*d of its input, so
        reach += max(p, (k-1)*d - p + 1 - st, 0) / s        and scale /= st
    maxpool: the same with padding/2 in front and (k-1) = size-1
    upsample / pixel shuffle by f:  output j reads input j // f, whose footprint sticks out of
        the output's by up to (f-1)/(f*s):  reach += (f-1)/(f*s)   and scale *= f
    per-pixel layers (activation, mean shift, shortcut, route, ...): the largest reach of
        their inputs; they must all be on the same grid.

A tile whose context reaches `halo = ceil(reach)` input pixels past its kept core computes the
core exactly as the whole image would (zero padding at the tile edge only corrupts pixels
within the halo). With downsampling inside, tile origins must also sit on every layer's grid:
they are multiples of `align` (the least common multiple of the scale denominators) and the
halo is rounded up to one. Anything the walk does not understand (global pooling, fully
connected layers, detection heads, an unknown kind) makes the network untileable; callers
then run the image whole.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from darkpy.errors import ConfigError
from darkpy.layers.activation import Activation
from darkpy.layers.batchnorm import BatchNorm
from darkpy.layers.convolutional import Convolutional
from darkpy.layers.cost import Cost
from darkpy.layers.dropout import Dropout
from darkpy.layers.maxpool import MaxPool
from darkpy.layers.mean_shift import MeanShift
from darkpy.layers.reorg import Reorg
from darkpy.layers.route import Route
from darkpy.layers.shortcut import Shortcut
from darkpy.layers.shuffler import Shuffler
from darkpy.layers.softmax import Softmax
from darkpy.layers.upsample import Upsample
from darkpy.network import INPUT, Network

class NotTileable(ConfigError):
    """The network cannot be split into tiles; the message says which layer and why (the
    pipelines then run images whole)."""


@dataclass(frozen=True)
class Geometry:
    """What tiling needs to know about a network."""

    scale: int      # output pixels per input pixel (the super-resolution factor)
    halo: int       # input pixels of context on each side of a tile's core
    align: int      # tile origins (and core sizes) are multiples of this
    reach: Fraction  # the exact reach the halo was rounded up from


def _conv_window(layer) -> tuple[int, int, int]:
    """(extent (k-1)*d, padding in front, stride) of a darknet convolution.

    AlexeyAB pads a dilated convolution by padding*d in front (darkpy does too)."""
    if layer.stride_x != layer.stride_y:
        raise NotTileable(f"layer {layer.index} [{layer.kind}] has different x and y strides")
    return (layer.size - 1) * layer.dilation, layer.padding * layer.dilation, layer.stride_x


def _maxpool_window(layer) -> tuple[int, int, int]:
    if layer.depth:  # maxpool_depth: across channels, pixel by pixel
        return 0, 0, 1
    if layer.stride_x != layer.stride_y:
        raise NotTileable(f"layer {layer.index} [maxpool] has different x and y strides")
    return layer.size - 1, layer.padding // 2, layer.stride_x


def _window_step(extent: int, pad: int, stride: int, scale: Fraction) -> tuple[Fraction, Fraction]:
    """(added reach, new scale) of a sliding window over a grid at `scale`."""
    grow = max(pad, extent - pad + 1 - stride, 0)
    return Fraction(grow) / scale, scale / stride


def _enlarge_step(factor: int, scale: Fraction) -> tuple[Fraction, Fraction]:
    return Fraction(factor - 1, factor) / scale, scale * factor


def _not_local(layer, scale):
    raise NotTileable(f"layer {layer.index} [{layer.kind}] ({layer.origin}) mixes pixels across "
                      "the image or is not known to be local")


def _per_pixel(layer, scale):
    return Fraction(0), scale


def _upsample_step(layer, scale):
    if layer.reverse:  # block sum: the output's footprint covers exactly what it reads
        return Fraction(0), scale / layer.stride
    return _enlarge_step(int(layer.stride), scale)


def _reorg_step(layer, scale):
    if layer.reverse and not layer.flatten and not layer.extra:  # depth to space
        return _enlarge_step(int(layer.stride), scale)
    return _not_local(layer, scale)


# layer class -> (added reach, output scale) for an input grid at `scale`; a class not here
# (global pooling, fully connected layers, detection heads...) makes the network untileable
STEPS = {
    Convolutional: lambda layer, scale: _window_step(*_conv_window(layer), scale),
    MaxPool: lambda layer, scale: _window_step(*_maxpool_window(layer), scale),
    Shuffler: lambda layer, scale: _enlarge_step(int(layer.scale), scale),
    Upsample: _upsample_step,
    Reorg: _reorg_step,
    Softmax: lambda layer, scale: (_per_pixel if layer.opts.spatial else _not_local)(layer, scale),
    # each output pixel from the same pixel of the inputs only
    Activation: _per_pixel, BatchNorm: _per_pixel, Dropout: _per_pixel, MeanShift: _per_pixel,
    Cost: _per_pixel, Shortcut: _per_pixel, Route: _per_pixel,
}


def _layer_step(layer, scale: Fraction) -> tuple[Fraction, Fraction]:
    return STEPS.get(type(layer), _not_local)(layer, scale)


def _probe_size(align: int) -> int:
    return align * max(2, math.ceil(24 / align))


def analyse(network: Network) -> Geometry:
    """The scale, halo and alignment of `network`; NotTileable if it has none.

    The walk is checked against the network's own shape inference at a probe size: every
    layer must have exactly probe*scale pixels (padding that shrinks or grows the image, or
    shortcuts between different grids, fail the check and make the network untileable).
    """
    scales: list[Fraction] = []
    reaches: list[Fraction] = []
    for layer, sources in zip(network.layers, network.sources):
        in_scales = {Fraction(1) if s == INPUT else scales[s] for s in sources}
        if len(in_scales) != 1:
            raise NotTileable(f"layer {layer.index} [{layer.kind}] combines grids of different scales")
        in_scale = in_scales.pop()
        in_reach = max(Fraction(0) if s == INPUT else reaches[s] for s in sources)
        added, out_scale = _layer_step(layer, in_scale)
        scales.append(out_scale)
        reaches.append(in_reach + added)

    align = 1
    for s in scales:
        align = math.lcm(align, s.denominator)
    probe = _probe_size(align)
    try:
        shapes = network.infer_shapes((probe, probe + align, network.input_shape[2]))
    except Exception as exc:  # a shape rule the walk did not anticipate
        raise NotTileable(f"shape check at {probe}x{probe + align} failed: {exc}") from None
    for layer, s, shape in zip(network.layers, scales, shapes):
        if (shape[0], shape[1]) != (probe * s, (probe + align) * s):
            raise NotTileable(
                f"layer {layer.index} [{layer.kind}] outputs {shape[0]}x{shape[1]} for a "
                f"{probe}x{probe + align} input, not the {probe * s}x{(probe + align) * s} a "
                "same-padded layer would"
            )
    final = scales[-1]
    if final.denominator != 1 or final < 1:
        raise ConfigError(f"{network.source}: the output is {final} x the input; not an upscaling network")
    halo = math.ceil(reaches[-1])
    halo = -(-halo // align) * align
    return Geometry(scale=int(final), halo=halo, align=align, reach=reaches[-1])



def infer_scale(network: Network) -> int:
    """Output size / input size from shape inference alone (works for untileable networks)."""
    for probe in (48, 64, 96, 128, 256):
        try:
            shape = network.infer_shapes((probe, probe + 8, network.input_shape[2]))[-1]
        except Exception:
            continue
        sy, sx = Fraction(shape[0], probe), Fraction(shape[1], probe + 8)
        if sy == sx and sy.denominator == 1 and sy >= 1:
            return int(sy)
        raise ConfigError(
            f"{network.source}: a {probe + 8}x{probe} input gives a {shape[1]}x{shape[0]} output; "
            "not an upscaling network (the output must be an integer multiple of the input)"
        )
    raise ConfigError(f"{network.source}: could not infer the output size for any probe input size")
