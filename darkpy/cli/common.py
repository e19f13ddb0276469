"""Shared CLI plumbing: turn darkpy errors into one line on stderr and exit code 2."""
from __future__ import annotations

import functools
import sys

import typer

from darkpy.cli import plain_values
from darkpy.errors import DarkpyError
from darkpy.kernels.heap import keep_freed_memory


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
plain_values.install()


def fail(message: str, code: int = 2):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(func):
    """Decorator: a DarkpyError becomes 'error: message' on stderr and exit 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        keep_freed_memory()  # the command owns the process (kernels/heap.py)
        try:
            return func(*args, **kwargs)
        except DarkpyError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper



CLUSTER_HELP = ("Run on the Dask scheduler at this address (tcp://host:8786); inputs, outputs and "
                "the model must be on storage every worker sees. Needs darkpy[cluster].")
WORKERS_HELP = ("Run on a Dask LocalCluster of N worker processes on this machine (each with its "
                "share of the cores). Needs darkpy[cluster].")


def cluster_from_options(address: str | None, workers: int | None):
    """The context manager --cluster / --workers ask for: darkpy.cluster.connect, or nothing
    (None: run in this process)."""
    import contextlib

    if address is None and workers is None:
        return contextlib.nullcontext(None)
    from darkpy.cluster import connect

    return connect(address, workers)
