"""What `detect` runs on: image files, folders, glob patterns, videos and cameras."""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.io.image import IMAGE_SUFFIXES
from darkpy.io.inputs import collect_inputs, full_suffix

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class Source:
    kind: str              # "image", "video" or "camera"
    location: str          # the path, or the camera index as text

    @property
    def label(self) -> str:
        return f"camera {self.location}" if self.kind == "camera" else self.location


def collect_sources(items) -> tuple[list[Source], list[tuple[str, str]]]:
    """The inputs expanded (io.inputs.collect_inputs, cameras allowed) and sorted into images,
    videos and cameras: a file of another suffix is tried as an image. Returns (sources,
    [(item, why it gave nothing)])."""
    found, problems = collect_inputs(items, IMAGE_SUFFIXES + VIDEO_SUFFIXES, "image or video",
                                     cameras=True)
    sources = []
    for entry in found:
        if isinstance(entry, int):
            sources.append(Source("camera", str(entry)))
        else:
            kind = "video" if full_suffix(entry) in VIDEO_SUFFIXES else "image"
            sources.append(Source(kind, str(entry)))
    return sources, problems
