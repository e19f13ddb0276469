"""An Evaluation as CSV and JSON (written atomically).

CSV: one row per (level, image, model) with the columns `CSV_COLUMNS`; `level` is `sample`
(one image, slice or rotation), `group` (the mean of an image's rotations or of a volume's
slices) or `mean` (the mean over groups). Scores not computed are empty.

JSON: {"protocol": ..., "models": [...], "labels": [...], "samples": [...], "groups": [...],
"mean": {label: scores}, "skipped": [...]}; PSNR of identical images (infinite) is null.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

from darkpy.evaluation.run import Evaluation, Scores, finite_or_none
from darkpy.io.atomic import atomic_write_text

CSV_COLUMNS = ("level", "group", "image", "angle", "model") + Scores.FIELDS


def _cells(scores: Scores) -> list:
    return ["" if finite_or_none(v) is None else repr(float(v)) for v in
            (getattr(scores, name) for name in Scores.FIELDS)]


def csv_text(result: Evaluation) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for sample in result.samples:
        for label in result.labels:
            writer.writerow(["sample", sample.group, sample.name, f"{sample.angle:g}", label,
                             *_cells(sample.scores[label])])
    for group in result.groups():
        for label in result.labels:
            writer.writerow(["group", group.name, "", "", label, *_cells(group.scores[label])])
    for label, scores in result.mean().items():
        writer.writerow(["mean", "", "", "", label, *_cells(scores)])
    return out.getvalue()


def _scores_dict(scores: Scores) -> dict:
    return {k: finite_or_none(v) for k, v in asdict(scores).items()}


def protocol(result: Evaluation) -> dict:
    return {"scale": result.scale, "degradation": result.degradation, "shave": result.shave,
            "luminance": "Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (grayscale: its values)",
            "psnr_peak": 255, "ssim": "Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03",
            "rounding": "every result rounded to 8 bits", **result.options}


def json_text(result: Evaluation) -> str:
    data = {
        "protocol": protocol(result),
        "models": result.models,
        "labels": result.labels,
        "samples": [{"group": s.group, "image": s.name, "angle": s.angle,
                     "scores": {k: _scores_dict(v) for k, v in s.scores.items()}} for s in result.samples],
        "groups": [{"group": g.name, "count": g.count,
                    "scores": {k: _scores_dict(v) for k, v in g.scores.items()}} for g in result.groups()],
        "mean": {k: _scores_dict(v) for k, v in result.mean().items()},
        "skipped": [{"image": name, "why": why} for name, why in result.skipped],
    }
    return json.dumps(data, indent=2) + "\n"


def write_csv(result: Evaluation, path) -> None:
    atomic_write_text(Path(path), csv_text(result))


def write_json(result: Evaluation, path) -> None:
    atomic_write_text(Path(path), json_text(result))
