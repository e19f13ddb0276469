"""Shared CLI plumbing: turn darkpy errors into one line on stderr and exit code 2."""
from __future__ import annotations

import functools
import sys

import typer

from darkpy.errors import DarkpyError


def _flags_show_no_type() -> None:
    """Typer's rich help prints a type beside every option, `<bool>` for flags (--help and
    --version included) that take no value; show nothing there instead. Typer makes the help
    option itself, so no per-option setting can reach it: wrap the one method that renders
    the column (present in the typer versions that print it)."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "darkpy_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else original(self, ctx)

    display_type_rich.darkpy_flags = True
    TyperOption.display_type_rich = display_type_rich


_flags_show_no_type()


def fail(message: str, code: int = 2):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(func):
    """Decorator: a DarkpyError becomes 'error: message' on stderr and exit 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DarkpyError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper

