"""What `darkpy detect` was given: image files, folders, glob patterns, videos, a camera index."""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class Source:
    kind: str              # "image", "video" or "camera"
    location: str          # the path, or the camera index as text

    @property
    def label(self) -> str:
        return f"camera {self.location}" if self.kind == "camera" else self.location


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def collect_sources(items) -> tuple[list[Source], list[tuple[str, str]]]:
    """Expand the command line's inputs, in order, without duplicates.

    A file is taken whatever its suffix (an unknown one is tried as an image); folders give
    their images and videos (not recursive), patterns their matching images and videos; an
    argument of digits only that names no file is a camera index. Returns (sources,
    [(item, why it gave nothing)]).
    """
    sources: list[Source] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: Path, kind: str):
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            sources.append(Source(kind, str(path)))

    for item in items:
        item = str(item)
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and _kind(p) and not p.name.startswith("."))
            if not found:
                problems.append((item, "folder holds no image or video"))
            for p in found:
                add(p, _kind(p))
        elif path.is_file():
            add(path, _kind(path) or "image")
        elif item.isdigit():
            sources.append(Source("camera", item))
        elif glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item, recursive=True)
                           if Path(p).is_file() and _kind(Path(p)))
            if not found:
                problems.append((item, "pattern matches no image or video"))
            for p in found:
                add(p, _kind(p))
        else:
            problems.append((item, "no such file or folder"))
    return sources, problems
