"""`darkpy upscale INPUT... --model M`: super-resolve images and NIfTI volumes into a folder."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import CLUSTER_HELP, WORKERS_HELP, cluster_from_options, fail, user_errors
from darkpy.cli.progress import RichReporter


def _memory_bytes(megabytes: int) -> int:
    return int(megabytes) << 20


def register(app: typer.Typer) -> None:
    from darkpy.upscale.models import DEFAULT_MODEL
    from darkpy.upscale.tiling import DEFAULT_MEMORY

    @app.command("upscale")
    @user_errors
    def upscale(
        inputs: List[str] = typer.Argument(..., metavar="INPUT...",
                                           help="Image files (PNG, JPEG, TIFF, BMP), NIfTI volumes (.nii, .nii.gz), folders or glob patterns."),
        model: Optional[str] = typer.Option(None, "--model", "-m",
                                            help=f"A shipped model name (`darkpy models` lists them), a darkpy .h5, or a .cfg/.yaml with --weights (default: {DEFAULT_MODEL}, or the shipped model of --scale)."),
        scale: Optional[int] = typer.Option(None, "--scale", "-s", min=2,
                                            help="Upscaling factor: picks the shipped darkpy-sr-x<N> model; with --model, checks that the model upscales by N."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights for a .cfg/.yaml model (.h5 or darknet .weights)."),
        out: Path = typer.Option(Path("upscaled"), "--out", "-o", help="Folder for the results (created if needed); inputs are never overwritten."),
        suffix: Optional[str] = typer.Option(None, "--suffix", help="Added to each output's name (default: _x<scale>)."),
        tile: Optional[int] = typer.Option(None, "--tile", min=0,
                                           help="Tile size in input pixels (default: as large as --memory allows; 0: whole image)."),
        memory: int = typer.Option(DEFAULT_MEMORY >> 20, "--memory", min=16, help="MiB of activations one tile may use when --tile is not given."),
        ensemble: bool = typer.Option(False, "--ensemble", help="x8 self-ensemble: average the 8 flips/rotations (8x slower)."),
        channel: str = typer.Option("mean", "--channel",
                                    help="Grayscale inputs run as 3 equal channels: keep the 'mean' of the 3 outputs, channel 0, 1 or 2, or 'all' (RGB result)."),
        axis: int = typer.Option(2, "--axis", min=0, max=2, help="NIfTI: upscale the slices across this axis (the other two grow)."),
        cluster: Optional[str] = typer.Option(None, "--cluster", metavar="ADDRESS", help=CLUSTER_HELP),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N", help=WORKERS_HELP),
    ):
        """Upscale images and MRI volumes with a super-resolution network.

        Large images run in overlapping tiles (the result equals the untiled one); grayscale runs as three equal channels; volumes are upscaled slice by slice with the voxel size updated. Files that fail are listed at the end and the exit code is 1.
        """  # noqa: E501  (one line per paragraph: typer's help keeps line breaks)
        from darkpy.upscale.models import load_model, model_for_scale
        from darkpy.upscale.pipeline import CHANNEL_CHOICES, upscale_files, upscale_scale

        if channel not in CHANNEL_CHOICES:
            fail(f"--channel must be one of {', '.join(CHANNEL_CHOICES)}; got '{channel}'")
        if model is None:
            model = model_for_scale(scale) if scale is not None else DEFAULT_MODEL
        network = load_model(model, weights)
        model_scale = upscale_scale(network)
        if scale is not None and scale != model_scale:
            fail(f"--scale {scale}: the model {model} upscales x{model_scale}")
        scale = model_scale
        with cluster_from_options(cluster, workers) as on, RichReporter() as reporter:
            report = upscale_files(inputs, network, out, suffix=suffix, tile=tile, ensemble=ensemble,
                                   channel=channel, axis=axis, memory=_memory_bytes(memory), reporter=reporter,
                                   cluster=on)
        typer.echo(f"upscaled x{scale}: {len(report.done)} file(s) written to {out}", err=True)
        if report.failed:
            typer.echo(f"{len(report.failed)} input(s) failed:", err=True)
            for item, message in report.failed:
                typer.echo(f"  {message if str(item) in message else f'{item}: {message}'}", err=True)
            raise typer.Exit(1)
