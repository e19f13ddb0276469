"""`darkpy detect INPUT... --cfg C --weights W --names N` (or `--model M.h5`): darknet's
`detector test` on images, folders, globs, videos and cameras."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import fail, user_errors
from darkpy.cli.progress import RichReporter


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
        from darkpy.detect.files import detect_files
        from darkpy.detect.output import darknet_text

        if model is not None and cfg is not None:
            fail("give either --model or --cfg/--weights, not both")
        if model is None and cfg is None:
            fail("no network: give --cfg C --weights W, or --model M.h5")
        if cfg is not None and weights is None:
            fail("--cfg needs --weights: darknet's trained weights for that cfg")
        network = load(model, weights) if model is not None else load(cfg, weights)
        detector = Detector(network, names, thresh=thresh, hier_thresh=hier_thresh, nms=nms,
                            agnostic=agnostic, letterbox=letterbox)

        def show(label, seconds, detections):
            if not quiet:
                typer.echo(darknet_text(label, seconds, detections))

        with RichReporter(transient=True, min_files=2) as reporter:
            report = detect_files(inputs, detector, out, json_path=json_path, max_frames=max_frames,
                                  reporter=reporter, on_detections=show)
        if report.failed:
            typer.echo(f"{len(report.failed)} input(s) failed:", err=True)
            for item, message in report.failed:
                typer.echo(f"  {item}: {message}", err=True)
            raise typer.Exit(1)
