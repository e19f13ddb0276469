"""The rows of an evaluation: bicubic, and the models named on the command line.

A MODEL is
- a shipped model name (`darkpy-sr-x2`), or a darkpy `.h5` (a trained model, or an official
  EDSR/WDSR checkpoint converted by `darkpy convert`);
- `CFG,WEIGHTS`: a `.cfg`/`.yaml` description and its weights (`.h5` or darknet `.weights`);
- either of these after `LABEL=`, which names the row (`edsr=models/edsr_x2.h5`).
From Python, a `Network` or a `(label, Network)` pair is a model too.

Networks run as `darkpy upscale` runs them (darkpy.upscale.pipeline, tiled within the default
memory, optionally the x8 self-ensemble), and their output is rounded to 8 bits
(darkpy.metrics.quantize) as the published scores are. A network that keeps the image size
(SRCNN-style) gets the bicubic upscaling of the LR image as input.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import InputError

BICUBIC = "bicubic"
BICUBIC_Y = "bicubic-y"


@dataclass(eq=False)
class Model:
    label: str
    network: object  # darkpy.Network
    source: str      # what the user named
    scale: int       # the network's own upscaling; 1: it takes a bicubic-upscaled image

    @property
    def pre_upsample(self) -> bool:
        return self.scale == 1


def parse_spec(spec: str) -> tuple[str | None, str, str | None]:
    """(label or None, model, weights or None) of a MODEL argument."""
    label = None
    if not Path(spec).exists() and "=" in spec:
        head, tail = spec.split("=", 1)
        if head and "/" not in head and "\\" not in head:
            label, spec = head, tail
    weights = None
    if not Path(spec).exists() and "," in spec:
        spec, weights = spec.split(",", 1)
        if not weights:
            raise InputError(f"'{spec},': name the weights after the comma (CFG,WEIGHTS)")
    return label, spec, weights


def _default_label(model: str, weights: str | None) -> str:
    from darkpy.io.inputs import stem

    if weights is not None:
        return stem(Path(weights))
    path = Path(model)
    return stem(path) if path.suffix else model


def load(spec) -> Model:
    """A Model from a MODEL argument, a Network or a (label, Network) pair."""
    from darkpy.network import Network
    from darkpy.upscale.models import DESCRIPTION_SUFFIXES, load_model
    from darkpy.upscale.pipeline import upscale_scale

    if isinstance(spec, Network):
        spec = (Path(str(spec.source)).stem or "network", spec)
    if isinstance(spec, tuple):
        label, network = spec
        return Model(str(label), network, str(network.source), upscale_scale(network))
    label, model, weights = parse_spec(str(spec))
    if weights is None and Path(model).suffix.lower() in DESCRIPTION_SUFFIXES:
        raise InputError(f"{model}: a network description needs its weights: write {model},WEIGHTS")
    network = load_model(model, weights)
    return Model(label or _default_label(model, weights), network, str(spec), upscale_scale(network))


def load_all(specs) -> list[Model]:
    """Models with distinct labels, none of them named like the bicubic rows."""
    models = [load(spec) for spec in specs if str(spec) != BICUBIC]
    seen: dict[str, int] = {}
    for model in models:
        if model.label in (BICUBIC, BICUBIC_Y):
            raise InputError(f"'{model.label}' names a bicubic row; give the model another LABEL=")
        count = seen.get(model.label, 0) + 1
        seen[model.label] = count
        if count > 1:
            model.label = f"{model.label} ({count})"
    return models


def common_scale(models: list[Model], scale: int | None) -> int | None:
    """The evaluation's scale: `scale` if given, else the models'; a clear error on a mismatch."""
    own = [m for m in models if not m.pre_upsample]
    if scale is not None:
        wrong = [f"{m.label} upscales x{m.scale}" for m in own if m.scale != scale]
        if wrong:
            raise InputError(f"{'; '.join(wrong)}, but the evaluation is x{scale} (--scale or "
                             "the LR/HR pairs' sizes)")
        return scale
    scales = sorted({m.scale for m in own})
    if len(scales) > 1:
        detail = ", ".join(f"{m.label} x{m.scale}" for m in own)
        raise InputError(f"the models upscale by different factors ({detail}); evaluate each "
                         "scale separately")
    return scales[0] if scales else None


def upscale(model: Model, lr: np.ndarray, scale: int, degradation: str, ensemble: bool) -> np.ndarray:
    """The model's 8-bit result (float64 0..255 integers, (H, W, C)) for an (h, w, C) LR image."""
    from darkpy import metrics
    from darkpy.train.data import upscale_bicubic
    from darkpy.upscale.pipeline import upscale_float

    x = upscale_bicubic(lr, scale, degradation) if model.pre_upsample else lr
    channels = model.network.input_shape[2]
    if x.shape[2] == 1 and channels == 3:  # grayscale through an RGB network, as upscale does
        x = np.repeat(x, 3, axis=2)
    elif x.shape[2] != channels:
        raise InputError(f"{model.label} takes {channels}-channel images; these have {x.shape[2]}")
    out = upscale_float(model.network, x, ensemble=ensemble)
    if lr.shape[2] == 1 and out.shape[2] == 3:
        out = out.mean(axis=2, keepdims=True)
    return metrics.quantize(out)


def bicubic(lr: np.ndarray, scale: int, degradation: str, eight_bit: bool) -> np.ndarray:
    """The baseline row: the LR image upscaled by its degradation's bicubic (MATLAB's on the
    8-bit image, rounding after each axis, for 8-bit sources), rounded to 8 bits."""
    from darkpy import metrics
    from darkpy.train.data import upscale_bicubic

    return metrics.quantize(upscale_bicubic(lr, scale, degradation, eight_bit))


def bicubic_y(hr: np.ndarray, scale: int, degradation: str, eight_bit: bool) -> tuple[np.ndarray, np.ndarray]:
    """The SR literature's bicubic row (SRCNN/VDSR scripts): (result, reference) on Y.

    The HR's luminance (rounded to 8 bits for 8-bit images, as MATLAB's rgb2ycbcr on uint8
    does) is shrunk and enlarged in floating point on Y alone, then rounded; it is scored
    against that rounded Y. The published Set5 bicubic numbers (33.66 / 30.39 / 28.42 dB,
    SSIM 0.9299 / 0.8682 / 0.8104) are this row; the RGB `bicubic` row, which upscales the
    same 8-bit RGB LR image the models get, scores about 0.01 dB higher.
    """
    from darkpy import metrics
    from darkpy.train.data import degrade, upscale_bicubic

    y = metrics.luminance(hr)
    if eight_bit:
        y = np.floor(y + 0.5)  # MATLAB rounds half away from zero
    y = y[:, :, None].astype(np.float32)
    small = degrade(y, scale, degradation, eight_bit=False)
    return metrics.quantize(upscale_bicubic(small, scale, degradation, eight_bit=False))[:, :, 0], y[:, :, 0]
