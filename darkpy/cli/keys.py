"""`darkpy keys [SECTION]`: the section kinds darkpy reads, or one section's keys.

rich is imported when this command prints, not with the module (every command imports it)."""
from __future__ import annotations

import json
from typing import Optional

import typer

from darkpy.cli.common import user_errors


def register(app: typer.Typer) -> None:
    @app.command("keys")
    @user_errors
    def keys(
        section: Optional[str] = typer.Argument(None, help="A section kind or alias (convolutional, conv, net, yolo, ...), or 'common' for the keys every layer accepts. Without it: every section kind."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        fork: Optional[str] = typer.Option(None, "--fork", help="pjreddie or AlexeyAB: show only the keys that darknet reads."),
    ):
        """The cfg key reference: without SECTION, every section kind with its aliases, the darknet that has it and its purpose; with SECTION, a table of its keys (type, default, allowed values, which darknet reads it, inference or training, whether darkpy acts on it, and what it means). docs/cfg-reference.md holds the same tables.
        """  # noqa: E501  (one line: typer's help keeps line breaks)
        from darkpy.config import reference
        from darkpy.config.forks import normalise_fork

        fork = normalise_fork(fork) if fork is not None else None
        if section is None:
            if as_json:
                typer.echo(json.dumps(reference.listing_json(), indent=1))
                return
            _print_listing(reference)
            return
        doc = reference.find_section(section)
        if as_json:
            typer.echo(json.dumps(reference.section_json(doc, fork), indent=1))
            return
        _print_section(reference, doc, fork)


def _add_row(table, *cells: str) -> None:
    from rich.text import Text

    # Text, not str: "[conv]" in a cell is a section name, not rich markup
    table.add_row(*(Text(cell) for cell in cells))


def _console():
    from rich.console import Console

    return Console(width=max(120, Console().width))


def _print_listing(reference) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_lines=False)
    for column in ("section", "aliases", "darknet", "keys", "purpose"):
        table.add_column(column, justify="right" if column == "keys" else "left")
    for doc in reference.sections():
        name = "common" if doc.kind == reference.COMMON else f"[{doc.kind}]"
        _add_row(table, name, " ".join(f"[{a}]" for a in doc.aliases),
                 reference.fork_word(doc.fork), str(len(doc.keys)), doc.summary)
    console = _console()
    console.print(table)
    console.print("`darkpy keys SECTION` lists a section's keys; docs/cfg-reference.md has "
                  "them all.", markup=False)


def _print_section(reference, doc, fork) -> None:
    from rich.table import Table

    console = _console()
    aliases = f" (aliases: {', '.join(doc.aliases)})" if doc.aliases else ""
    console.print(f"{doc.title}{aliases}: {doc.summary}; darknet: "
                  f"{reference.fork_word(doc.fork)}", markup=False)
    rows = reference.section_rows(doc, fork)
    if not rows:
        console.print("no keys of its own (`darkpy keys common` lists those every layer "
                      "accepts)", markup=False)
        return
    groups = list(dict.fromkeys(r["group"] for r in rows))
    for group in groups:
        table = Table(title=group or None, title_justify="left", box=None, pad_edge=False)
        for column in ("key", "type", "default", "allowed", "darknet", "when", "darkpy",
                       "meaning"):
            table.add_column(column, overflow="fold")
        for r in rows:
            if r["group"] != group:
                continue
            _add_row(table, r["key"], r["type"], r["default"], r["allowed"],
                     reference.fork_word(r["fork"]), r["phase"], r["darkpy"], r["meaning"])
        console.print(table)
    if doc.kind not in (reference.NET, reference.COMMON):
        console.print("Every layer section also accepts the keys of `darkpy keys common`.",
                      markup=False)
    if any(r["allowed"] == "an activation name" for r in rows):
        from darkpy.kernels.activation_codes import ACTIVATION_NAMES

        console.print("activation names: " + ", ".join(ACTIVATION_NAMES), markup=False)
