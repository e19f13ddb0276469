"""Setting a network up for training: the sections to train (overrides, implicit loss), the
random initialisation, the scale of an SR network, and the view of the network that is saved.

The loss is the network's last layer when that is a [cost]; otherwise an implicit
`[cost] type=L1` (EDSR's and WDSR's loss; `loss="sse"` for MSE) is appended for training only.
Models are saved without it (`ModelView`), so the saved cfg is the one the user wrote.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.config.cfg import format_cfg
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.train.options import LOSSES, NET_OVERRIDES, TrainOptions


def read_model(model) -> tuple[list[Section], Path | None]:
    """Sections of a cfg/yaml/h5 model; for an h5 also the file (its weights start the run)."""
    from darkpy.api import H5_SUFFIXES, read_sections

    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.suffix.lower() in H5_SUFFIXES:
        from darkpy.io.h5 import read_h5_cfg

        sections, _ = read_h5_cfg(path)
        return sections, path
    return read_sections(path), None


def training_sections(sections: list[Section], options: TrainOptions) -> tuple[list[Section], bool]:
    """The sections to train: [net] overrides applied, an implicit [cost] appended if none.

    Returns (sections, whether a cost was appended)."""
    net = Section(sections[0].kind, dict(sections[0].options), sections[0].origin,
                  dict(sections[0].key_origins))
    for key in NET_OVERRIDES:
        value = getattr(options, key)
        if value is not None:
            net.options[key] = repr(value) if isinstance(value, float) else str(value)
            net.key_origins[key] = f"<darkpy train --{key.replace('_', '-')}>"
    out = [net, *sections[1:]]
    if out[-1].kind == "cost":
        return out, False
    loss = LOSSES.get(str(options.loss).lower())
    if loss is None:
        raise ConfigError(f"unknown loss '{options.loss}' (choose {', '.join(sorted(LOSSES))})")
    out.append(Section("cost", {"type": loss}, "<darkpy train: implicit loss>"))
    return out, True


def initialise(network, seed: int) -> None:
    """darknet's random initialisation, reproducibly: every layer's Layer.init_params (weights
    uniform in +-sqrt(2 / fan_in), fan_in = the weights feeding one output: Cin/groups*K*K for
    a convolution, the inputs of a connected layer; biases 0, batch-norm scales 1) seeded by
    ([net] seed, layer index). Layers that draw random numbers in training (dropout) are
    reseeded from the same seed."""
    network.init_params(seed)
    for layer in network.layers:
        layer.reseed([int(seed) & 0xFFFFFFFF, layer.index, 1])


class ModelView:
    """The trained network as the user described it (without an implicit cost), for saving."""

    def __init__(self, network, sections: list[Section]):
        self.layers = network.layers[: len(sections) - 1]
        self._text = format_cfg(sections)

    def cfg_text(self) -> str:
        return self._text


def network_scale(network, patch: tuple[int, int], scale: int | None) -> tuple[int, bool]:
    """(scale, pre_upsample) of an SR network: its output / input size on a patch, or, for a
    network that keeps the size (SRCNN-style), `scale` (default 2) with pre-upsampled inputs."""
    ph, pw = patch
    channels = network.input_shape[2]
    out = network.infer_shapes((ph, pw, channels))[-1]
    if out[2] != channels:
        raise ConfigError(f"{network.source}: the network outputs {out[2]} channels from {channels}; "
                          "a super-resolution network must keep the channels")
    if out[0] % ph or out[1] % pw or out[0] // ph != out[1] // pw:
        raise ConfigError(f"{network.source}: a {pw}x{ph} input gives {out[1]}x{out[0]}: not an "
                          "integer upscaling")
    net_scale = out[0] // ph
    if net_scale == 1:
        return (scale or 2), True
    if scale is not None and scale != net_scale:
        raise ConfigError(f"--scale {scale} does not match the network, which upscales x{net_scale}")
    return net_scale, False
