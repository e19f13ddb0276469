"""`darkpy map CFG WEIGHTS --data obj.data`: AlexeyAB darknet's `detector map` report for a
detector, `classifier valid`'s top-1/top-k for a classifier."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from darkpy.cli.common import fail, user_errors
from darkpy.cli.progress import RichReporter


def register(app: typer.Typer) -> None:
    @app.command("map")
    @user_errors
    def map_command(
        cfg: Path = typer.Argument(..., help="darknet .cfg (or .yaml, or a darkpy .h5) of a detector or classifier."),
        weights: Optional[Path] = typer.Argument(None, help="darknet .weights (or darkpy .h5) for CFG."),
        data: Path = typer.Option(..., "--data", "-d",
                                  help="darknet .data file: `valid` image list (else `train`) and `names`; classifiers: `labels`, `classes`, `top`."),
        thresh: float = typer.Option(0.25, "--thresh", min=0.0, max=1.0,
                                     help="Confidence threshold of the precision, recall, F1, TP/FP/FN and average IoU lines (AP uses every detection)."),
        iou_thresh: float = typer.Option(0.5, "--iou-thresh", min=0.0, max=1.0,
                                         help="IoU a detection must exceed to match a labelled object (mAP@IOU)."),
        points: int = typer.Option(0, "--points", min=0,
                                   help="AP rule: 0 = area under the precision-recall curve (AlexeyAB's default, VOC 2010+), 11 = VOC 2007, 101 = COCO."),
        coco: bool = typer.Option(True, "--coco/--no-coco", help="Also report mAP@[.50:.95] (mean over IoU .50, .55, ..., .95)."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report (every number, per class) to this JSON file ('-': stdout)."),
        crop: str = typer.Option("alexeyab", "--crop",
                                 help="Classifiers: alexeyab (shorter side to the network width, centre window) or pjreddie (centre square, resized)."),
        label_rule: str = typer.Option("alexeyab", "--label-rule",
                                       help="Detectors: how label files are found from image paths: alexeyab (darknet's map) or pjreddie."),
    ):
        """Score a detector by darknet's `detector map`, or a classifier by `classifier valid`.

        Detectors: per-class AP, then precision, recall, F1, TP/FP/FN and average IoU at
        --thresh, and mAP at --iou-thresh by the --points rule, exactly as AlexeyAB darknet
        prints them (images stretched to the network, letterboxed with \\[net] letter_box=1;
        candidates at 0.005, NMS 0.45). Classifiers (last layer \\[softmax]): top-1 and top-k
        accuracy (k = the .data file's `top`).
        """
        from darkpy.evaluation.validate import validate

        if points == 1:
            fail("--points must be 0 (area under the curve) or at least 2 (11: VOC 2007, 101: COCO)")
        if weights is None and cfg.suffix.lower() not in (".h5", ".hdf5"):
            fail("give WEIGHTS after the cfg (darknet .weights or a darkpy .h5)")
        with RichReporter(transient=True, min_files=2) as reporter:
            report = validate(cfg, weights, data, thresh=thresh, iou_thresh=iou_thresh,
                              points=points, coco=coco, crop=crop, label_rule=label_rule,
                              reporter=reporter)
        if json_path is not None and str(json_path) == "-":
            typer.echo(json.dumps(report.to_json(), indent=1))
            return
        typer.echo(report.darknet_text())
        if json_path is not None:
            from darkpy.io.atomic import atomic_write_text

            atomic_write_text(json_path, json.dumps(report.to_json(), indent=1) + "\n")
