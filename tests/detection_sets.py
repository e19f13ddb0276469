"""A tiny labelled detection set for the training tests: noise images in images/, YOLO labels
in labels/ (darknet's rule finds them), train.txt and obj.data, written into a folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_detection_set(folder: Path, labels: dict[str, str], classes: int,
                        shape: tuple[int, int] = (32, 32)) -> None:
    """images/NAME.png (uniform noise of (height, width) `shape`, seeded), labels/NAME.txt
    (the text of `labels[NAME]`), train.txt listing the images relative to `folder`, and
    obj.data with `classes` and backup/."""
    import cv2

    (folder / "images").mkdir()
    (folder / "labels").mkdir()
    rng = np.random.default_rng(0)
    for name, text in labels.items():
        cv2.imwrite(str(folder / "images" / f"{name}.png"),
                    rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
        (folder / "labels" / f"{name}.txt").write_text(text)
    (folder / "train.txt").write_text("".join(f"images/{n}.png\n" for n in labels))
    (folder / "obj.data").write_text(f"classes = {classes}\ntrain = train.txt\nbackup = backup\n")
