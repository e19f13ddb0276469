"""What long-running library calls tell about their progress: one `Reporter`, whose methods
do nothing unless overridden. `upscale_files` and `detect_files` report files and their steps
(tiles, slices, frames), training reports iterations, validations and checkpoints. The CLI
draws all of it with one rich implementation (darkpy/cli/progress.py); Python callers pass
their own subclass, or nothing."""
from __future__ import annotations

from pathlib import Path


class Reporter:
    # --- batches of files ------------------------------------------------------------------
    def start_file(self, path: Path | str, index: int, total: int) -> None:
        """File `index` (0-based) of `total` starts."""

    def step(self, done: int, total: int | None) -> None:
        """`done` of `total` steps of the current file (total None: not known ahead)."""

    def end_file(self, path: Path | str, error: str | None) -> None:
        """The current file is finished; `error` is why it failed, or None."""

    # --- training --------------------------------------------------------------------------
    def start(self, iteration: int, total: int, info: dict) -> None:
        """Training starts after `iteration` of `total` updates; `info` describes the run."""

    def iteration(self, progress) -> None:
        """An update is done (darkpy.train.loop.Progress)."""

    def validation(self, iteration: int, score, best: bool) -> None:
        """The validation score after `iteration`; `best` when it is the best so far."""

    def checkpoint(self, iteration: int, path: Path) -> None:
        """A checkpoint of `iteration` was written to `path`."""

    # --- anything else -----------------------------------------------------------------------
    def message(self, text: str) -> None:
        """A line for the user."""
