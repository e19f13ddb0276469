"""`darkpy info MODEL`: one row per layer with shapes, parameters and FLOPs, then totals."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from darkpy.cli.common import user_errors

COLUMNS = (("#", "right"), ("layer", "left"), ("filters", "right"), ("size", "left"),
           ("input", "right"), ("output", "right"), ("params", "right"), ("FLOPs", "right"))
MIN_WIDTH = 120  # the console width the table may use at least (a pipe's 80 would squeeze it)


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
        from rich.console import Console

        from darkpy.api import load
        from darkpy.info import human, summarize

        network = load(model, params=False, fork=fork)
        rows = summarize(network, height=height, width=width)
        cells = layer_cells(rows)
        # plain cells (no markup, emoji or highlighting to look for): a path with [brackets]
        # prints as it is
        console = Console(width=max(MIN_WIDTH, Console().width), markup=False, emoji=False,
                          highlight=False)
        console.print(layer_table(str(model), cells, console.width))
        total_params = sum(r.params for r in rows)
        total_flops = sum(r.flops for r in rows)
        h, w, c = rows[0].input_shape if not isinstance(rows[0].input_shape[0], tuple) else rows[0].input_shape[0]
        console.print(f"layers: {len(rows)}   parameters: {total_params:,} ({human(total_params)})   "
                      f"FLOPs at {w}x{h}: {human(total_flops)}")


def layer_cells(rows) -> list[tuple[str, ...]]:
    """The text of each darkpy.info.LayerRow under COLUMNS."""
    from darkpy.info import human, shape_text

    return [(str(r.index), r.kind, r.filters, r.size, shape_text(r.input_shape),
             shape_text(r.output_shape), f"{r.params:,}", human(r.flops)) for r in rows]


def layer_table(title: str, cells: list[tuple[str, ...]], width: int):
    """The table of `cells` under COLUMNS' headers, as rich's Table(box=None, pad_edge=False)
    lays it out: columns two spaces apart, the title centred in italics above the bold header.

    rich's own layout measures every cell through its segment machinery, about 0.1 s for
    a hundred layers, a fifth of `darkpy info`; this one does the same sums on strings. A
    table that needs rich's judgement (wider than the console, a title longer than the
    table, wide or control characters) goes to rich's Table. tests/test_cli_info.py checks
    the two print the same."""
    from rich.text import Text

    header = tuple(name for name, _ in COLUMNS)
    widths = [max(len(row[i]) for row in (header, *cells)) for i in range(len(COLUMNS))]
    total = sum(widths) + 2 * (len(widths) - 1)
    text = f"{title}{''.join(''.join(row) for row in cells)}"
    if total > width or len(title) > total or not (text.isascii() and text.isprintable()):
        return rich_table(title, cells)

    def line(row):
        return "  ".join(cell.rjust(w) if justify == "right" else cell.ljust(w)
                         for cell, w, (_, justify) in zip(row, widths, COLUMNS))

    left = (total - len(title)) // 2
    table = Text()
    table.append(" " * left + title + " " * (total - len(title) - left), style="table.title")
    table.append("\n")
    table.append(line(header), style="table.header")
    for row in cells:
        table.append("\n" + line(row))
    return table


def rich_table(title: str, cells: list[tuple[str, ...]]):
    from rich.table import Table

    table = Table(title=title, show_lines=False, box=None, pad_edge=False)
    for column, justify in COLUMNS:
        table.add_column(column, justify=justify, no_wrap=True)
    for row in cells:
        table.add_row(*row)
    return table
