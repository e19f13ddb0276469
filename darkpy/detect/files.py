"""Detection over files: `detect_files` runs a Detector on image files, folders, glob
patterns, videos and cameras, writes annotated copies and a JSON list, and reports every
input that fails (the batch goes on). `darkpy detect` is a thin shell over it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from darkpy.errors import DarkpyError, InputError
from darkpy.io.image import IMAGE_SUFFIXES, load_image
from darkpy.io.inputs import collect_inputs, full_suffix
from darkpy.reporting import Reporter

# annotated copies of these keep their format; other images are written as .png
ANNOTATED_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
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


@dataclass
class DetectReport:
    detections: list = field(default_factory=list)  # every Detection of the run, in order
    written: list = field(default_factory=list)     # annotated images and videos written
    failed: list = field(default_factory=list)      # (input, message)

    @property
    def ok(self) -> bool:
        return not self.failed


def detect_files(inputs, detector, out_dir=None, *, json_path=None, max_frames: int | None = None,
                 reporter: Reporter | None = None, on_detections=None) -> DetectReport:
    """darknet's `detector test` over image files, folders, glob patterns, videos and cameras.

    detector: a Detector (or a Network, detected with Detector's defaults). out_dir: write an
    annotated copy of every image (its own format when OpenCV writes it, else .png) and video
    there; inputs from different folders that share a name are numbered. json_path: every
    detection of the run in one JSON file. max_frames stops videos and cameras.
    on_detections(label, seconds, detections) is called after every image and frame (the
    CLI prints darknet's text from it). An input that fails is recorded in the report and the
    others still run; InputError when the inputs name nothing at all.
    """
    from darkpy.detect.api import Detector

    if not isinstance(detector, Detector):
        detector = Detector(detector)
    sources, problems = collect_sources(inputs)
    if not sources:
        raise InputError("; ".join(f"{item}: {why}" for item, why in problems) or "no inputs")
    run = _Run(detector, None if out_dir is None else Path(out_dir), max_frames, on_detections)
    reporter = reporter or Reporter()
    for index, source in enumerate(sources):
        reporter.start_file(source.label, index, len(sources))
        error = run.process(source, reporter)
        reporter.end_file(source.label, error)
    if json_path is not None:
        from darkpy.detect.output import write_json

        write_json(json_path, run.report.detections)
    run.report.failed[:0] = problems
    return run.report


class _Run:
    """One batch's state: where outputs go, the names used there, what was found and failed."""

    def __init__(self, detector, out_dir: Path | None, max_frames: int | None, on_detections):
        self.detector, self.out_dir, self.max_frames = detector, out_dir, max_frames
        self.on_detections = on_detections
        self.report = DetectReport()
        self.used_names: set[str] = set()

    def _unique(self, path: Path) -> Path:
        """Inputs from different folders may share a name: number the later ones."""
        candidate, n = path, 1
        while candidate.name in self.used_names:
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
            n += 1
        self.used_names.add(candidate.name)
        return candidate

    def _found(self, label: str, detections: list) -> None:
        self.report.detections.extend(detections)
        if self.on_detections is not None:
            self.on_detections(label, self.detector.last_forward_seconds, detections)

    def process(self, source: Source, reporter: Reporter) -> str | None:
        """Run one source; the error message when it fails, else None."""
        try:
            if source.kind == "image":
                self._image(source.location)
            else:
                self._video(source.location, reporter)
        except DarkpyError as exc:
            message = str(exc).removeprefix(f"{source.location}: ")
            self.report.failed.append((source.label, message))
            return f"{source.label}: {message}"
        return None

    def _image(self, location: str) -> None:
        from darkpy.detect.output import annotated_path, write_annotated

        image = load_image(location)
        detections = self.detector.detect_rgb(image, location)
        self._found(location, detections)
        if self.out_dir is not None:
            suffix = None if Path(location).suffix.lower() in ANNOTATED_SUFFIXES else ".png"
            path = self._unique(annotated_path(self.out_dir, location, suffix))
            write_annotated(path, image, detections, self.detector.classes)
            self.report.written.append(path)

    def _video(self, location: str, reporter: Reporter) -> None:
        from darkpy.detect.video import detect_video, video_output_path

        target = None
        if self.out_dir is not None:
            target = self._unique(video_output_path(self.out_dir, location))
        label = f"camera{location}" if location.isdigit() else location

        def on_frame(n, detections):
            self._found(f"{label}#{n}", detections)
            reporter.step(n + 1, self.max_frames)

        detect_video(self.detector, location, target, self.max_frames, on_frame)
        if target is not None:
            self.report.written.append(target)
