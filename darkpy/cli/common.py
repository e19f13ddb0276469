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


def progress_bar(show: bool = True):
    """A rich progress bar on stderr (stdout keeps the command's results); a silent stand-in
    with the same methods when `show` is false."""
    if not show:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                    redirect_stdout=False, redirect_stderr=False)


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        pass

    def advance(self, *args, **kwargs):
        pass
