"""Shared CLI plumbing: turn darkpy errors into one line on stderr and exit code 2."""
from __future__ import annotations

import functools
import sys

import typer

from darkpy.errors import DarkpyError


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
