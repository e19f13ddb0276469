"""`--plots DIR`: figures of an evaluation (matplotlib, PNG, written atomically).

- `psnr.png`: PSNR of every image (or volume) and the mean, one bar per row (a line per row
  when there are many images).
- `crop_<image>.png`: the HR image with a marked window, then the window zoomed in the HR, the
  bicubic and every model, side by side. The window (a quarter of the image's shorter side,
  16 to 96 pixels) is where the results disagree most: the largest mean, over the window, of
  the per-pixel standard deviation of their luminance (with bicubic alone: of its error).
- `error_<image>.png`: |result - HR| on luminance for bicubic and every model, one colour scale.
A volume's figures show its middle scored slice; rotated images show their first angle.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from darkpy.errors import DarkpyError
from darkpy.io.atomic import atomic_path

MANY_IMAGES = 24  # more than this: lines instead of bars
PANEL_INCHES = 2.6


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise DarkpyError("--plots needs matplotlib: pip install matplotlib") from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def _display(image: np.ndarray) -> tuple[np.ndarray, dict]:
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[:, :, 0], {"cmap": "gray", "vmin": 0, "vmax": 255}
    return pixels, {}


def disagreement_window(hr: np.ndarray, results: list[np.ndarray], shave: int, mask=None) -> tuple[int, int, int]:
    """(top, left, side) of the window where `results` differ most (see the module notes)."""
    from darkpy.metrics import luminance

    h, w = hr.shape[:2]
    lum = [luminance(r) for r in results]
    spread = np.std(lum, axis=0) if len(lum) > 1 else np.abs(lum[0] - luminance(hr))
    if mask is not None:
        spread = spread * mask
    side = int(np.clip(min(h, w) // 4, 16, 96))
    side = min(side, h - 2 * shave, w - 2 * shave)
    inner = spread[shave:h - shave, shave:w - shave]
    table = np.pad(np.cumsum(np.cumsum(inner, axis=0), axis=1), ((1, 0), (1, 0)))
    sums = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top) + shave, int(left) + shave, side


class Figures:
    """Collects the figures of one evaluation into `folder`."""

    def __init__(self, folder: Path, labels: list[str]):
        self.folder = Path(folder)
        self.labels = labels  # rows that have images (bicubic first)
        self.written: list[Path] = []
        self._names: set[str] = set()

    def _save(self, figure, name: str) -> None:
        path = self.folder / name
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png")
        self.written.append(path)

    def _stem(self, group: str) -> str:
        stem, n = _safe(group), 1
        while stem in self._names:
            n += 1
            stem = f"{_safe(group)}_{n}"
        self._names.add(stem)
        return stem

    def sample(self, group: str, hr, outputs: dict, scores: dict, shave: int, mask=None) -> None:
        """The crop and error figures of one image (`outputs`: label -> 8-bit result)."""
        stem = self._stem(group)
        results = [outputs[label] for label in self.labels]
        top, left, side = disagreement_window(hr, results, shave, mask)
        self._save(self._crops(group, hr, results, scores, (top, left, side)), f"crop_{stem}.png")
        self._save(self._errors(group, hr, results, scores), f"error_{stem}.png")

    def _crops(self, group, hr, results, scores, window):
        from matplotlib.patches import Rectangle

        top, left, side = window
        panels = 2 + len(results)
        figure = _figure(PANEL_INCHES * panels, PANEL_INCHES + 0.6)
        axes = figure.subplots(1, panels)
        pixels, style = _display(hr)
        axes[0].imshow(pixels, **style)
        axes[0].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="red",
                                    linewidth=1.5))
        axes[0].set_title(f"{group}\n{hr.shape[1]}x{hr.shape[0]}", fontsize=9)
        crop = (slice(top, top + side), slice(left, left + side))
        images = [("HR\nreference", hr, None)]
        images += [(label, r, scores[label].psnr) for label, r in zip(self.labels, results)]
        for ax, (label, image, psnr) in zip(axes[1:], images):
            pixels, style = _display(image[crop])
            ax.imshow(pixels, interpolation="nearest", **style)
            ax.set_title(label if psnr is None else f"{label}\n{psnr:.2f} dB", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        where = "the results differ most" if len(results) > 1 else "bicubic errs most"
        figure.suptitle(f"{side}x{side} window where {where}", fontsize=10)
        return figure

    def _errors(self, group, hr, results, scores):
        from darkpy.metrics import luminance

        errors = [np.abs(luminance(r) - luminance(hr)) for r in results]
        top = max(1.0, float(np.percentile(np.concatenate([e.ravel() for e in errors]), 99.5)))
        figure = _figure(PANEL_INCHES * len(errors) + 0.8, PANEL_INCHES + 0.6)
        axes = np.atleast_1d(figure.subplots(1, len(errors)))
        shown = None
        for ax, label, error in zip(axes, self.labels, errors):
            shown = ax.imshow(error, cmap="magma", vmin=0.0, vmax=top, interpolation="nearest")
            ax.set_title(f"{label}\n{scores[label].psnr:.2f} dB", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        figure.colorbar(shown, ax=list(axes), shrink=0.8, label="|result - HR| (luminance, 0..255)")
        figure.suptitle(f"{group}: error maps", fontsize=10)
        return figure

    def summary(self, result) -> None:
        """psnr.png: each image's (or volume's) PSNR per row, and the mean."""
        groups = result.groups()
        names = [g.name for g in groups] + ["mean"]
        mean = result.mean()
        values = {label: [g.scores[label].psnr for g in groups] + [mean[label].psnr] for label in result.labels}
        figure = _figure(max(6.0, 0.5 * len(names) * max(1, len(result.labels)) ** 0.5 + 2), 4.2)
        ax = figure.subplots()
        positions = np.arange(len(names))
        if len(names) > MANY_IMAGES:
            for label in result.labels:
                ax.plot(positions, values[label], marker="o", markersize=3, label=label)
        else:
            width = 0.8 / len(result.labels)
            for i, label in enumerate(result.labels):
                ax.bar(positions + (i - (len(result.labels) - 1) / 2) * width, values[label], width, label=label)
        finite = [v for column in values.values() for v in column if np.isfinite(v)]
        if finite:
            ax.set_ylim(min(finite) - 1.0, max(finite) + 0.5)
        slanted = len(names) > 6
        ax.set_xticks(positions, names, rotation=45 if slanted else 0, ha="right" if slanted else "center",
                      fontsize=8)
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"x{result.scale}, {result.degradation} degradation, Y-PSNR with shave {result.shave}",
                     fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        self._save(figure, "psnr.png")
