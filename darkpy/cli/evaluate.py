"""`darkpy evaluate MODEL... --data DIR`: models beside bicubic, by the SR benchmark protocol."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import user_errors
from darkpy.cli.progress import RichReporter


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    @user_errors
    def evaluate(
        models: Optional[List[str]] = typer.Argument(
            None, metavar="MODEL",
            help="Models to score beside bicubic: a shipped name (darkpy-sr-x2), a darkpy .h5 (also a "
                 "converted EDSR/WDSR checkpoint), or CFG,WEIGHTS (a .cfg/.yaml and its .h5 or darknet "
                 ".weights, comma-separated); prefix LABEL= to name the row (edsr=edsr_x2.h5)."),
        data: Optional[List[str]] = typer.Option(
            None, "--data", "-d", metavar="PATH",
            help="HR images, NIfTI volumes, folders or glob patterns (repeatable). Files named NAME_LR.* "
                 "and NAME_HR.* are used as given LR/HR pairs; other images are HR images whose LR "
                 "image --degrade makes; volumes are scored slice by slice."),
        scale: Optional[int] = typer.Option(
            None, "--scale", "-s", min=1,
            help="Upscaling factor (default: the models', or the LR/HR pairs'). Every model must match."),
        lr: Optional[Path] = typer.Option(None, "--lr", help="A folder of LR images, with --hr: pairs matched by name."),
        hr: Optional[Path] = typer.Option(None, "--hr", help="The folder of HR images for --lr."),
        degrade: str = typer.Option(
            "matlab", "--degrade",
            help="How LR images are made from HR ones: matlab (MATLAB's bicubic imresize, the benchmark "
                 "tables'), blur (3x3 Gaussian of sigma 1, then matlab: the MRI theses'), opencv "
                 "(cv2 INTER_CUBIC). The bicubic row upscales with the same family."),
        rgb: bool = typer.Option(False, "--rgb", help="Also score PSNR and SSIM on the RGB channels."),
        csv: Optional[Path] = typer.Option(None, "--csv", help="Write every score to this CSV file."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the protocol and every score to this JSON file."),
        plots: Optional[Path] = typer.Option(
            None, "--plots",
            help="Write figures into this folder: PSNR per image, a zoomed crop where the models differ "
                 "most, and error maps, per image (per volume: its middle slice)."),
        rotations: int = typer.Option(
            1, "--rotations", min=1, metavar="N",
            help="Score N rotations of every image, by 360*k/N degrees, on the central square that "
                 "stays inside the image at every angle (the theses use 20)."),
        mask: Optional[Path] = typer.Option(
            None, "--mask",
            help="Score only inside a mask: a NIfTI file of the volume's shape (nonzero = scored), or a "
                 "folder holding NAME*.nii[.gz] for each volume NAME."),
        mask_threshold: Optional[float] = typer.Option(
            None, "--mask-threshold", metavar="T",
            help="Score only pixels whose HR luminance is above T (on the 0..255 scale scored; a "
                 "volume's min..max maps to 0..255)."),
        ensemble: bool = typer.Option(False, "--ensemble", help="Run the models as x8 self-ensembles (as darkpy upscale --ensemble)."),
        bicubic_y: bool = typer.Option(
            False, "--bicubic-y",
            help="Add the SR literature's bicubic row: the HR's 8-bit luminance shrunk and enlarged on "
                 "its own in floating point (the published Set5 bicubic numbers are this row)."),
        axis: int = typer.Option(2, "--axis", min=0, max=2, help="NIfTI: score the slices across this axis (2: axial)."),
    ):
        """Score super-resolution models side by side with bicubic: Y-PSNR and SSIM.

        The benchmark protocol: LR images made by MATLAB's bicubic (or given), every result rounded to 8 bits, PSNR and SSIM on the BT.601 luminance (MATLAB's rgb2ycbcr Y; grayscale on its values) with the scale's width of border shaved. Means are per image (a volume: over its slices and rotations), then over images. Prints a table; --csv, --json and --plots write files.
        """  # noqa: E501  (one line per paragraph: typer's help keeps line breaks)
        from darkpy.evaluation import evaluate as run
        from darkpy.evaluation.report import write_csv, write_json

        with RichReporter(transient=True) as reporter:
            result = run(models or [], data or [], lr=lr, hr=hr, scale=scale, degradation=degrade, rgb=rgb,
                         rotations=rotations, mask=mask, mask_threshold=mask_threshold, ensemble=ensemble,
                         bicubic_y=bicubic_y, axis=axis, plots=plots,
                         reporter=reporter)
        _print_table(result)
        if csv is not None:
            write_csv(result, csv)
        if json_path is not None:
            write_json(result, json_path)
        written = [str(p) for p in (csv, json_path) if p is not None]
        if result.figures:
            written.append(f"{len(result.figures)} figure(s) in {plots}")
        if written:
            typer.echo(f"wrote {', '.join(written)}", err=True)
        if result.skipped:
            typer.echo(f"{len(result.skipped)} image(s) not scored:", err=True)
            for name, why in result.skipped:
                typer.echo(f"  {name}: {why}", err=True)


def _number(value, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _print_table(result) -> None:
    from rich.console import Console
    from rich.table import Table

    options = result.options
    details = [f"x{result.scale}", f"{result.degradation} degradation", f"shave {result.shave}"]
    if options.get("rotations", 1) > 1:
        details.append(f"{options['rotations']} rotations")
    if options.get("mask"):
        details.append(f"mask {options['mask']}")
    if options.get("mask_threshold") is not None:
        details.append(f"mask: luminance > {options['mask_threshold']:g}")
    if options.get("ensemble"):
        details.append("x8 self-ensemble")
    rgb = options.get("rgb")
    heading = f"{'Y' if not rgb else 'Y and RGB'} PSNR (dB) / SSIM: {', '.join(details)}"
    table = Table()
    table.add_column("image")
    mean = result.mean()
    with_rgb = {label for label in result.labels if rgb and mean[label].psnr_rgb is not None}
    for label in result.labels:
        table.add_column(label, justify="right")
        if label in with_rgb:
            table.add_column(f"{label} RGB", justify="right")

    def cells(scores):
        out = []
        for label in result.labels:
            s = scores[label]
            out.append(f"{_number(s.psnr, 2)} / {_number(s.ssim, 4)}")
            if label in with_rgb:
                out.append(f"{_number(s.psnr_rgb, 2)} / {_number(s.ssim_rgb, 4)}")
        return out

    groups = result.groups()
    for group in groups:
        name = group.name if group.count == 1 else f"{group.name} ({group.count})"
        table.add_row(name, *cells(group.scores))
    table.add_section()
    table.add_row("mean", *cells(mean), style="bold")
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a file or a pipe: never squeeze the numbers
        console.width = 1000
    console.print(heading, highlight=False, markup=False, soft_wrap=True)
    console.print(table)
