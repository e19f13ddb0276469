"""Start a super-resolution network at bicubic quality instead of at noise.

A WDSR-style network adds two branches: a deep one (many convolutions) and a shallow skip
(one convolution of the input followed by a pixel shuffle). With the skip's filters set to
MATLAB's (or OpenCV's) bicubic kernel and the deep branch's last convolution set to zero, the untrained
network *is* bicubic upscaling (up to the image border, where the convolution pads with
zeros and OpenCV replicates edge pixels), and training only has to learn the difference.

OpenCV's INTER_CUBIC uses Keys' cubic with a = -0.75 and half-pixel centres: output pixel
o = scale*i + p lies at input coordinate i + (p + 1/2)/scale - 1/2, and weighs the input
pixels around it by cubic(distance). For scale 2 and a 5x5 filter the two phases are

    p = 0:  (-0.03515625, 0.26171875, 0.87890625, -0.10546875, 0)
    p = 1:  (0, -0.10546875, 0.87890625, 0.26171875, -0.03515625)

and output channel c*scale^2 + py*scale + px of the convolution (the pixel shuffle's order)
holds outer(phase py, phase px) on input channel c.
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ConfigError

CUBIC_A = -0.75  # OpenCV's (MATLAB uses -0.5)


def cubic(x: float, a: float = CUBIC_A) -> float:
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    if x < 2:
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return 0.0


def phase_taps(phase: int, scale: int, size: int, a: float = CUBIC_A) -> np.ndarray:
    """1-D weights over input offsets -size//2..size//2 for output phase `phase`."""
    position = (phase + 0.5) / scale - 0.5
    radius = size // 2
    return np.array([cubic(position - k, a) for k in range(-radius, radius + 1)])


def bicubic_filters(channels: int, scale: int, size: int, a: float = CUBIC_A) -> np.ndarray:
    """Convolution weights (darknet layout: channels*scale^2, channels, size, size) that,
    followed by [shuffler] scale, upscale each channel as OpenCV's INTER_CUBIC does (a =
    -0.75), or MATLAB's imresize (a = -0.5: same sample positions, another kernel)."""
    if size % 2 == 0 or size < 3:
        raise ConfigError(f"a bicubic skip needs an odd filter size >= 3, got {size}")
    taps = [phase_taps(p, scale, size, a) for p in range(scale)]
    # the kernel spans 4 input pixels; a window that cuts part of it off loses weight
    if any(abs(t.sum() - 1.0) > 1e-9 for t in taps):
        raise ConfigError(f"a {size}x{size} filter cannot hold the bicubic kernel for x{scale}")
    out = np.zeros((channels * scale * scale, channels, size, size))
    for c in range(channels):
        for py in range(scale):
            for px in range(scale):
                out[c * scale * scale + py * scale + px, c] = np.outer(taps[py], taps[px])
    return out


def bicubic_skip(network, skip: int | None, zero: list[int] | tuple[int, ...] = (),
                 cubic_a: float = CUBIC_A) -> None:
    """Set convolution `skip` (which must feed a [shuffler]) to bicubic filters with zero
    biases, and the weights and biases of the convolutions in `zero` to zero."""
    layers = network.layers
    for index in ((skip,) if skip is not None else ()) + tuple(zero):
        if not 0 <= index < len(layers) or layers[index].kind != "convolutional":
            raise ConfigError(f"layer {index} is not a [convolutional] layer of {network.source}")
    for index in zero:
        for name, param_shape in layers[index].param_layout():
            if name in ("weights", "biases"):
                layers[index].set_param(name, np.zeros(param_shape, np.float32))
    if skip is None:
        return
    conv = layers[skip]
    consumers = [i for i, sources in enumerate(network.sources) if skip in sources]
    if len(consumers) != 1 or layers[consumers[0]].kind != "shuffler":
        raise ConfigError(f"layer {skip} must feed exactly one [shuffler] to be a bicubic skip")
    scale = layers[consumers[0]].scale
    shape = dict(conv.param_layout())["weights"]
    channels = shape[1]
    if conv.groups != 1 or conv.batch_normalize or shape[0] != channels * scale * scale:
        raise ConfigError(f"layer {skip} needs {channels * scale * scale} filters, groups=1 and no "
                          f"batch norm for a x{scale} bicubic skip on {channels} channels")
    if conv.stride_x != 1 or conv.stride_y != 1 or conv.padding != conv.size // 2:
        raise ConfigError(f"layer {skip} needs stride 1 and pad=1 for a bicubic skip")
    conv.set_param("weights", bicubic_filters(channels, scale, conv.size, cubic_a).astype(np.float32))
    conv.set_param("biases", np.zeros(shape[0], np.float32))
