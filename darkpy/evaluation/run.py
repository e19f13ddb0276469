"""`evaluate`: every image through bicubic and every model, scored by the benchmark protocol."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.evaluation import models as rows
from darkpy.evaluation.sources import Source


@dataclass
class Scores:
    psnr: float
    ssim: float
    psnr_rgb: float | None = None  # with rgb=True (None for the Y-only literature row)
    ssim_rgb: float | None = None

    FIELDS = ("psnr", "ssim", "psnr_rgb", "ssim_rgb")

    @staticmethod
    def mean(scores: list["Scores"]) -> "Scores":
        """Means of each score (PSNR in dB is averaged as the benchmark tables average it)."""
        values = []
        for name in Scores.FIELDS:
            column = [getattr(s, name) for s in scores]
            values.append(None if any(v is None for v in column) else float(np.mean(column)))
        return Scores(*values)


@dataclass
class SampleResult:
    name: str                  # image, volume slice, with its angle when rotated
    group: str                 # image or volume: results are averaged per group first
    angle: float
    scores: dict[str, Scores]  # row label -> scores


@dataclass
class GroupResult:
    name: str
    count: int
    scores: dict[str, Scores]


@dataclass
class Evaluation:
    """Per-sample scores of every row (bicubic first), per-group and overall means."""

    scale: int
    degradation: str
    shave: int
    labels: list[str]
    models: list[dict]
    samples: list[SampleResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)

    def groups(self) -> list[GroupResult]:
        order: dict[str, list[SampleResult]] = {}
        for sample in self.samples:
            order.setdefault(sample.group, []).append(sample)
        return [GroupResult(name, len(items), {label: Scores.mean([s.scores[label] for s in items])
                                               for label in self.labels})
                for name, items in order.items()]

    def mean(self) -> dict[str, Scores]:
        """Mean over groups of the group means: each image, or each volume, counts once."""
        groups = self.groups()
        if not groups:
            return {}
        return {label: Scores.mean([g.scores[label] for g in groups]) for label in self.labels}


def _modcrop(image, scale):
    from darkpy.train.data import modcrop

    return None if image is None else np.ascontiguousarray(modcrop(image, scale))


def _views(source: Source, scale: int, angle_list: list[float]):
    """(angle, hr, mask) of a source at each angle (the image itself when not rotating)."""
    from darkpy.evaluation.rotations import rotate_square, square_side

    hr, mask = _modcrop(source.hr, scale), _modcrop(source.mask, scale)
    if len(angle_list) == 1:
        yield angle_list[0], hr, mask
        return
    side = max(square_side(*hr.shape[:2], angle_list, scale), scale)  # too small: skipped later
    for angle in angle_list:
        turned = rotate_square(hr, angle, side)
        if source.eight_bit:
            turned = np.rint(np.clip(turned, 0.0, 255.0))
        turned_mask = None if mask is None else rotate_square(mask, angle, side, nearest=True) > 0
        yield angle, turned.astype(np.float32), turned_mask


def _sample_name(source: Source, angle: float, rotating: bool) -> str:
    return f"{source.name}@{angle:g}deg" if rotating else source.name


def _showcase_sources(sources: list[Source]) -> set[int]:
    """The source of each group whose images go into the figures: the middle slice of a
    volume, the image itself otherwise."""
    members: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        members.setdefault(source.group, []).append(i)
    return {items[len(items) // 2] for items in members.values()}


def evaluate(models=(), data=(), *, lr=None, hr=None, scale: int | None = None,
             degradation: str = "matlab", rgb: bool = False, rotations: int = 1, mask=None,
             mask_threshold: float | None = None, ensemble: bool = False, bicubic_y: bool = False,
             axis: int = 2, plots=None, reporter=None) -> Evaluation:
    """Score bicubic and `models` on `data` (or on `lr`/`hr` folders of pairs).

    Returns an Evaluation; see darkpy/evaluation/__init__.py for the protocol. `plots`: a
    folder for the figures. `reporter` (a darkpy.reporting.Reporter) hears of each image as a
    file and of its rotations as steps.
    """
    from darkpy.evaluation import rotations as turns
    from darkpy.evaluation import sources as inputs
    from darkpy.kernels.workers import blas_single_threaded
    from darkpy.reporting import Reporter
    from darkpy.train.data import check_degradation

    check_degradation(degradation)
    if mask is not None and mask_threshold is not None:
        raise InputError("give --mask or --mask-threshold, not both")
    if axis not in (0, 1, 2):
        raise InputError(f"axis must be 0, 1 or 2, got {axis}")
    if scale is not None and scale < 1:
        raise InputError(f"--scale must be at least 1, got {scale}")
    angle_list = turns.angles(rotations)
    if (lr is None) != (hr is None):
        raise InputError("--lr and --hr go together: one folder of LR images, one of HR images")
    if lr is not None and list(data):
        raise InputError("give images with --data, or LR/HR folders with --lr and --hr, not both")
    if lr is None and not list(data):
        raise InputError("nothing to evaluate on: give --data (or --lr DIR --hr DIR)")

    loaded = rows.load_all(models)
    scale = rows.common_scale(loaded, scale)
    if lr is not None:
        if mask is not None:
            raise InputError("--mask applies to NIfTI volumes, not to LR/HR image folders")
        sources, pair_scale = inputs.paired_folders(lr, hr, scale)
    else:
        sources, pair_scale = inputs.collect(data, scale, axis, mask)
    if scale is None:
        scale = pair_scale
    if scale is None:
        raise InputError("give --scale: no model or LR/HR pair tells the upscaling factor")
    rows.common_scale(loaded, scale)
    if len(angle_list) > 1 and any(s.lr is not None for s in sources):
        raise InputError("--rotations makes the LR image of each rotated HR image, so it cannot "
                         "use given LR images: pass the HR images alone")

    labels = [rows.BICUBIC] + ([rows.BICUBIC_Y] if bicubic_y else []) + [m.label for m in loaded]
    shave = scale
    result = Evaluation(scale, degradation, shave, labels, [_model_info(m) for m in loaded], options=dict(
        rgb=rgb, rotations=rotations, ensemble=ensemble, axis=axis,
        mask=str(mask) if mask is not None else None, mask_threshold=mask_threshold))
    reporter = reporter or Reporter()
    figures = None
    if plots is not None:
        from darkpy.evaluation.plots import Figures

        figures = Figures(Path(plots), [label for label in labels if label != rows.BICUBIC_Y])
    with blas_single_threaded():  # imresize's small GEMMs: BLAS threads only slow them down
        _score_all(result, sources, loaded, angle_list, figures, reporter, mask_threshold)
    if not result.samples:
        reasons = "; ".join(f"{name}: {why}" for name, why in result.skipped[:3])
        raise InputError(f"no image could be scored ({reasons})")
    if figures is not None:
        figures.summary(result)
        result.figures = figures.written
    return result


def _score_all(result: Evaluation, sources: list[Source], loaded, angle_list, figures, reporter,
               mask_threshold) -> None:
    from darkpy import metrics

    showcase = _showcase_sources(sources)
    rotating = len(angle_list) > 1
    for index, source in enumerate(sources):
        reporter.start_file(source.name, index, len(sources))
        for done, (angle, hr, mask) in enumerate(_views(source, result.scale, angle_list), 1):
            name = _sample_name(source, angle, rotating)
            if mask_threshold is not None:
                mask = metrics.luminance(hr) > mask_threshold
            why = _unscorable(hr, mask, result.shave)
            if why:
                result.skipped.append((name, why))
            else:
                scores, outputs = _score_sample(result, source, hr, mask, loaded)
                result.samples.append(SampleResult(name, source.group, angle, scores))
                if figures is not None and index in showcase and angle == angle_list[0]:
                    figures.sample(source.group, hr, outputs, scores, result.shave, mask)
            if rotating:
                reporter.step(done, len(angle_list))
        reporter.end_file(source.name, None)  # images not scored are listed in result.skipped


def _score_sample(result: Evaluation, source: Source, hr, mask, loaded) -> tuple[dict, dict]:
    """(label -> Scores, label -> 8-bit result) of every row on one HR image."""
    from darkpy.train.data import degrade

    scale, degradation, shave = result.scale, result.degradation, result.shave
    rgb, ensemble = result.options["rgb"], result.options["ensemble"]
    lr = source.lr if source.lr is not None else degrade(hr, scale, degradation, source.eight_bit)
    outputs = {rows.BICUBIC: rows.bicubic(lr, scale, degradation, source.eight_bit)}
    for model in loaded:
        outputs[model.label] = _checked(model, rows.upscale(model, lr, scale, degradation, ensemble),
                                        hr, source)
    scores = {label: _score(out, hr, shave, mask, rgb) for label, out in outputs.items()}
    if rows.BICUBIC_Y in result.labels:
        out, reference = rows.bicubic_y(hr, scale, degradation, source.eight_bit)
        scores[rows.BICUBIC_Y] = _score(out, reference, shave, mask, False)
    return {label: scores[label] for label in result.labels}, outputs


def _unscorable(hr: np.ndarray, mask, shave: int) -> str:
    from darkpy.metrics import SSIM_BORDER, SSIM_WINDOW

    h, w = hr.shape[:2]
    if min(h, w) - 2 * shave < SSIM_WINDOW:
        side = SSIM_WINDOW + 2 * shave
        return f"{w}x{h} is too small to score (at least {side}x{side} after cropping)"
    if mask is not None:
        inner = mask[shave + SSIM_BORDER: h - shave - SSIM_BORDER, shave + SSIM_BORDER: w - shave - SSIM_BORDER]
        if not inner.any():
            return "the mask is empty inside the shaved border"
    return ""


def _checked(model, out: np.ndarray, hr: np.ndarray, source: Source) -> np.ndarray:
    if out.shape != hr.shape:
        raise InputError(f"{model.label} made a {out.shape[1]}x{out.shape[0]}x{out.shape[2]} image for "
                         f"{source.name}, whose HR is {hr.shape[1]}x{hr.shape[0]}x{hr.shape[2]}")
    return out


def _score(out: np.ndarray, reference: np.ndarray, shave: int, mask, rgb: bool) -> Scores:
    from darkpy import metrics

    scores = Scores(metrics.psnr(out, reference, shave, mask=mask), metrics.ssim(out, reference, shave, mask=mask))
    if rgb:
        scores.psnr_rgb = metrics.psnr(out, reference, shave, y_channel=False, mask=mask)
        scores.ssim_rgb = metrics.ssim(out, reference, shave, y_channel=False, mask=mask)
    return scores


def _model_info(model) -> dict:
    return {"label": model.label, "model": model.source, "scale": model.scale,
            "pre_upsampled_input": model.pre_upsample, "parameters": int(model.network.num_params())}


def finite_or_none(value):
    """JSON has no inf/nan: identical images (PSNR inf) are written as null."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value
