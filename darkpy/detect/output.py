"""Writing results: annotated images, the run's JSON list, darknet-style text."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from darkpy.detect.draw import draw_detections
from darkpy.errors import InputError
from darkpy.io.atomic import atomic_path, atomic_write_text


def to_bgr8(image_rgb: np.ndarray) -> np.ndarray:
    """float RGB 0..1 -> 8-bit BGR for OpenCV (darknet's save_image rounds down the same way)."""
    return (np.clip(image_rgb[:, :, ::-1], 0, 1) * 255).astype(np.uint8)


def annotated_path(out_dir: Path, source: str, suffix: str | None = None) -> Path:
    """out_dir / <name of the input>; the input's own suffix unless one is given."""
    name = Path(source).name or "image"
    if suffix is not None:
        name = Path(name).stem + suffix
    return Path(out_dir) / name


def write_annotated(path: Path, image_rgb: np.ndarray, detections, classes: int) -> None:
    image = draw_detections(to_bgr8(image_rgb), detections, classes)
    path = Path(path)
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(path.suffix or ".jpg", image)
        if not ok:
            raise InputError(f"{path}: OpenCV cannot write this image format")
        tmp.write_bytes(data.tobytes())


def write_json(path: Path, detections) -> None:
    """One JSON list for the run: a record per detection (image, class, confidence, bbox)."""
    lines = [json.dumps(d.to_json()) for d in detections]  # one record a line: easy to diff
    text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    atomic_write_text(Path(path), text)


def darknet_text(label: str, seconds: float, detections) -> str:
    """What darknet's `detector test` prints for one image."""
    lines = [f"{label}: Predicted in {seconds:f} seconds."]
    lines += [d.darknet_line() for d in detections]
    return "\n".join(lines)
