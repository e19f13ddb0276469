"""The `darkpy` command: a thin typer shell over the library. Each command lives in its own
module with a `register(app)` function; expected failures print one line and exit 2."""
from __future__ import annotations

import typer

from darkpy import __version__

app = typer.Typer(
    name="darkpy",
    help="darknet-style networks in Python: inspect, convert, upscale images and MRI, detect objects.",
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


from darkpy.cli import convert, convert_cfg, detect, info, train, upscale  # noqa: E402

for _command in (info, convert_cfg, convert, detect, upscale, train):
    _command.register(app)
