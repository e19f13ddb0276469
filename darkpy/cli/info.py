"""`darkpy info MODEL`: one row per layer with shapes, parameters and FLOPs, then totals."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from darkpy.cli.common import user_errors


def register(app: typer.Typer) -> None:
    @app.command("info")
    @user_errors
    def info(
        model: Path = typer.Argument(..., help="Model description: a darknet .cfg, a .yaml, or a darkpy .h5."),
        width: Optional[int] = typer.Option(None, "--width", "-W", help="Input width to describe (default: the \\[net] width)."),
        height: Optional[int] = typer.Option(None, "--height", "-H", help="Input height to describe (default: the \\[net] height)."),
        fork: Optional[str] = typer.Option(None, "--fork", help="pjreddie or AlexeyAB: the darknet the cfg is for; a section kind or key that darknet would not read is then an error."),
    ):
        """Describe a network: per-layer kind, filters, size/stride, input and output shape
        (width x height x channels), parameters and FLOPs, with totals at the end."""
        from darkpy.api import load
        from darkpy.info import human, shape_text, summarize

        network = load(model, params=False, fork=fork)
        rows = summarize(network, height=height, width=width)
        table = Table(title=str(model), show_lines=False, box=None, pad_edge=False)
        for column, justify in (("#", "right"), ("layer", "left"), ("filters", "right"),
                                ("size", "left"), ("input", "right"), ("output", "right"),
                                ("params", "right"), ("FLOPs", "right")):
            table.add_column(column, justify=justify, no_wrap=True)
        for r in rows:
            table.add_row(str(r.index), r.kind, r.filters, r.size, shape_text(r.input_shape),
                          shape_text(r.output_shape), f"{r.params:,}", human(r.flops))
        # plain cells (no markup, emoji or highlighting to look for): rich lays out a table of
        # a hundred layers about twice as fast, and a path with [brackets] prints as it is
        console = Console(width=max(120, Console().width), markup=False, emoji=False,
                          highlight=False)
        console.print(table)
        total_params = sum(r.params for r in rows)
        total_flops = sum(r.flops for r in rows)
        h, w, c = rows[0].input_shape if not isinstance(rows[0].input_shape[0], tuple) else rows[0].input_shape[0]
        console.print(f"layers: {len(rows)}   parameters: {total_params:,} ({human(total_params)})   "
                      f"FLOPs at {w}x{h}: {human(total_flops)}")
