"""`darkpy draw MODEL OUT.svg|png|pdf`: a picture of the network, one box per layer."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from darkpy.cli.common import user_errors


def register(app: typer.Typer) -> None:
    @app.command("draw")
    @user_errors
    def draw(
        model: Path = typer.Argument(..., help="Model description: a darknet .cfg, a .yaml, or a darkpy .h5."),
        out: Path = typer.Argument(..., help="The picture to write: .svg (needs nothing), .png or .pdf (drawn with Pillow)."),
        first: Optional[int] = typer.Option(None, "--from", help="First layer to draw (default 0; negative counts from the end). References from layers before it end in a labelled stub."),
        last: Optional[int] = typer.Option(None, "--to", help="Last layer to draw, inclusive (default the last; negative counts from the end)."),
        collapse: bool = typer.Option(False, "--collapse", help="Draw a run of identical consecutive blocks as its first and last block and one dashed box for the rest (default: every block, on alternating shaded bands)."),
        fork: Optional[str] = typer.Option(None, "--fork", help="pjreddie or AlexeyAB: the darknet the cfg is for; a section kind or key that darknet would not read is then an error."),
    ):
        """Draw a network: one box per layer with its index, kind, the keys that matter (filters, size/stride, activation, references) and its output shape (width x height x channels, for the input size the cfg sets); an arrow for every reference, with route and shortcut references on tracks to the right; the input, heads and outputs marked; identical consecutive blocks on shaded bands.
        """  # noqa: E501  (one line: typer's help keeps line breaks)
        from darkpy.draw import draw as draw_network

        path = draw_network(model, out, first=first, last=last, collapse=collapse, fork=fork)
        typer.echo(f"wrote {path}")
