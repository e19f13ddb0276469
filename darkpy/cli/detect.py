"""`darkpy detect INPUT... --cfg C --weights W --names N` (or `--model M.h5`): darknet's
`detector test` on images, folders, globs, videos and cameras."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import fail, progress_bar, user_errors


def register(app: typer.Typer) -> None:
    @app.command("detect")
    @user_errors
    def detect(
        inputs: List[str] = typer.Argument(..., metavar="INPUT...",
                                           help="Images, folders, glob patterns, video files, or a camera index (0)."),
        cfg: Optional[Path] = typer.Option(None, "--cfg", "-c", help="darknet .cfg (or .yaml) of a YOLO network."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="darknet .weights (or darkpy .h5) for --cfg."),
        names: Optional[Path] = typer.Option(None, "--names", "-n",
                                             help="Class names file, one a line (default: the names a converted .h5 carries)."),
        model: Optional[Path] = typer.Option(None, "--model", "-m", help="A converted darkpy .h5 (cfg, weights and names in one file)."),
        thresh: float = typer.Option(0.25, "--thresh", min=0.0, max=1.0, help="Report classes whose probability is above this."),
        hier_thresh: float = typer.Option(0.5, "--hier-thresh", min=0.0, max=1.0,
                                          help="darknet's hierarchical threshold (class trees only; accepted for compatibility)."),
        nms: float = typer.Option(0.45, "--nms", min=0.0, max=1.0, help="NMS IoU threshold (0: no suppression)."),
        agnostic: bool = typer.Option(False, "--agnostic", help="Suppress overlapping boxes across classes, not per class."),
        letterbox: bool = typer.Option(True, "--letterbox/--no-letterbox",
                                       help="Pad images to the network's aspect as darknet does, or stretch them."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for annotated copies of the images and videos."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write all detections of the run to this JSON file."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop videos and cameras after this many frames."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print darknet-style results on stdout."),
    ):
        """Detect objects with a darknet YOLO network (\\[yolo] or \\[region] heads).

        Prints darknet's text for each image, writes annotated copies to --out and every detection to --json (bbox: left, top, width, height in pixels of the original image).

        Inputs that fail are listed at the end and the exit code is 1.
        """
        from darkpy.api import load
        from darkpy.detect.api import Detector
        from darkpy.detect.inputs import collect_sources

        if model is not None and cfg is not None:
            fail("give either --model or --cfg/--weights, not both")
        if model is None and cfg is None:
            fail("no network: give --cfg C --weights W, or --model M.h5")
        if cfg is not None and weights is None:
            fail("--cfg needs --weights: darknet's trained weights for that cfg")
        sources, problems = collect_sources(inputs)
        if not sources:
            fail("; ".join(f"{item}: {why}" for item, why in problems) or "no inputs")
        network = load(model, weights) if model is not None else load(cfg, weights)
        detector = Detector(network, names, thresh=thresh, hier_thresh=hier_thresh, nms=nms,
                            agnostic=agnostic, letterbox=letterbox)
        run = _Run(detector, out, max_frames, quiet)
        with progress_bar(sum(s.kind == "image" for s in sources) > 1) as progress:
            task = progress.add_task("detect", total=len(sources))
            for source in sources:
                progress.update(task, description=Path(source.label).name)
                run.process(source)
                progress.advance(task)
        if json_path is not None:
            from darkpy.detect.output import write_json

            write_json(json_path, run.detections)
        failed = problems + run.failed
        if failed:
            typer.echo(f"{len(failed)} input(s) failed:", err=True)
            for item, message in failed:
                typer.echo(f"  {item}: {message}", err=True)
            raise typer.Exit(1)


class _Run:
    """One command's state: where outputs go, what was found, what failed."""

    def __init__(self, detector, out: Path | None, max_frames: int | None, quiet: bool):
        self.detector, self.out, self.max_frames, self.quiet = detector, out, max_frames, quiet
        self.detections: list = []
        self.failed: list[tuple[str, str]] = []
        self.used_names: set[str] = set()

    def _unique(self, path: Path) -> Path:
        """Inputs from different folders may share a name: number the later ones."""
        candidate, n = path, 1
        while candidate.name in self.used_names:
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
            n += 1
        self.used_names.add(candidate.name)
        return candidate

    def _print(self, label, seconds, detections):
        if not self.quiet:
            from darkpy.detect.output import darknet_text

            typer.echo(darknet_text(label, seconds, detections))

    def process(self, source) -> None:
        from darkpy.errors import DarkpyError

        try:
            if source.kind == "image":
                self._image(source.location)
            else:
                self._video(source.location)
        except DarkpyError as exc:
            self.failed.append((source.label, str(exc).removeprefix(f"{source.location}: ")))

    def _image(self, location: str) -> None:
        from darkpy.detect.letterbox import load_image
        from darkpy.detect.output import annotated_path, write_annotated

        image = load_image(location)
        detections = self.detector.detect_rgb(image, location)
        self._print(location, self.detector.last_forward_seconds, detections)
        self.detections.extend(detections)
        if self.out is not None:
            suffix = None if Path(location).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".png"
            path = self._unique(annotated_path(self.out, location, suffix))
            write_annotated(path, image, detections, self.detector.classes)

    def _video(self, location: str) -> None:
        from darkpy.detect.video import detect_video, video_output_path

        target = self._unique(video_output_path(self.out, location)) if self.out is not None else None
        label = f"camera{location}" if location.isdigit() else location

        def on_frame(n, detections):
            self._print(f"{label}#{n}", self.detector.last_forward_seconds, detections)
            self.detections.extend(detections)

        detect_video(self.detector, location, target, self.max_frames, on_frame)
