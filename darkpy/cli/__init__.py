"""The `darkpy` command: a thin typer shell over the library. Each command lives in its own
module with a `register(app)` function; expected failures print one line and exit 2."""
from __future__ import annotations

import typer

from darkpy import __version__

app = typer.Typer(
    name="darkpy",
    help="darknet-style networks in Python: inspect, convert, upscale images and MRI, evaluate super-resolution, detect objects, score detectors (mAP).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"darkpy {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print darkpy's version and exit."),
):
    """darknet-style networks in Python."""


from darkpy.cli import (  # noqa: E402
    convert, convert_cfg, detect, draw, evaluate, export, info, keys, map, models, train, upscale,
)

for _command in (info, convert_cfg, convert, detect, upscale, evaluate, map, models, train, export, keys, draw):
    _command.register(app)
