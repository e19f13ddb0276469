"""`darkpy convert`: a cfg/yaml plus darknet weights (or an h5) into another weights format."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from darkpy.cli.common import fail, user_errors


def register(app: typer.Typer) -> None:
    @app.command("convert")
    @user_errors
    def convert(
        model: Path = typer.Argument(..., help="Network description (.cfg or .yaml), or a darkpy .h5."),
        weights: Optional[Path] = typer.Argument(None, help="darknet .weights (or .h5) holding the parameters; omit when MODEL is an .h5."),
        output: Path = typer.Argument(..., help="File to write: .h5 (darkpy, cfg embedded) or .weights (darknet)."),
        names: Optional[Path] = typer.Option(None, "--names", help="Class names file (one per line) to carry inside the h5, for `darkpy detect --model`."),
        max_layers: Optional[int] = typer.Option(None, "--max-layers", help="Load only the first N layers of a partial darknet weights file (e.g. darknet53.conv.74)."),
    ):
        """Convert a model: `darkpy convert yolov3-tiny.cfg yolov3-tiny.weights yolov3-tiny.h5`.

        The h5 embeds the cfg, so one file is a complete model. Writing is atomic: an
        interrupted conversion never leaves a broken file."""
        from darkpy.api import load, save

        sources = {model.resolve()} | ({weights.resolve()} if weights else set())
        if output.resolve() in sources:
            fail(f"{output}: refusing to overwrite an input file")
        network = load(model, weights, max_layers=max_layers)
        extras = {}
        if names is not None:
            from darkpy.detect.names import read_names

            extras["names"] = read_names(names)
        source = f"{weights.name}" if weights else f"{model.name}"
        save(network, output, source=source, extras=extras)
        typer.echo(f"wrote {output} ({len(network.layers)} layers, {network.num_params():,} parameters)")
