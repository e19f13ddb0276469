"""The CLI's one progress display: darkpy.reporting.Reporter drawn with rich on stderr, so
stdout stays free for results (darknet's detection text).

A batch of files gets a bar over the files, named after the current one, and under it a bar
over that file's steps (tiles, slices) while it has any; a failed file is printed above the
bars. Training gets a bar over the iterations with the loss, learning rate and speed, and
the validations printed above it.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.reporting import Reporter


class RichReporter(Reporter):
    """Use as a context manager. transient=True clears the bars at the end; min_files: a
    batch of fewer files draws no bars (one image needs no progress display)."""

    def __init__(self, transient: bool = False, min_files: int = 1):
        self.transient = transient
        self.min_files = min_files
        self.progress = None
        self.files = self.steps = self.training = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=self.transient,
                                 redirect_stdout=False, redirect_stderr=False)
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def print(self, text: str, markup: bool = False) -> None:
        self.progress.console.print(text, highlight=False, markup=markup)

    # --- batches of files ------------------------------------------------------------------
    def start_file(self, path, index, total):
        if total < self.min_files:
            return
        if self.files is None:
            self.files = self.progress.add_task("files", total=total, status="")
        self.progress.update(self.files, description=Path(str(path)).name)

    def step(self, done, total):
        if self.files is None:
            return
        if self.steps is None:
            self.steps = self.progress.add_task("", total=None, status="")
        self.progress.update(self.steps, completed=done, total=total)

    def end_file(self, path, error):
        if self.files is None:
            return
        if self.steps is not None:
            self.progress.remove_task(self.steps)
            self.steps = None
        self.progress.advance(self.files)
        if error:
            from rich.markup import escape

            self.print(f"[red]failed[/red] {escape(error)}", markup=True)

    # --- training --------------------------------------------------------------------------
    def start(self, iteration, total, info):
        scale = f"x{info['scale']}" + (" (pre-upsampled input)" if info["pre_upsample"] else "")
        text = (f"{info['parameters']:,} parameters, {scale}, patches {info['patch'][1]}x{info['patch'][0]}, "
                f"batch {info['batch']} in {info['subdivisions']}, {info['train_images']} training and "
                f"{info['valid_images']} validation image(s)")
        if info["implicit_cost"]:
            text += "; loss: implicit [cost] appended"
        if info["skipped"]:
            text += f"; {len(info['skipped'])} image(s) smaller than a patch skipped"
        self.print(text)
        if iteration:
            self.print(f"resuming after iteration {iteration}")
        self.training = self.progress.add_task("train", total=total, completed=iteration,
                                               status="loss -  lr -  - img/s")

    def iteration(self, p):
        self.progress.update(self.training, completed=p.iteration,
                             status=f"loss {p.loss:.4g}  lr {p.learning_rate:.3g}  "
                                    f"{p.images_per_s:.1f} img/s")

    def validation(self, iteration, score, best):
        mark = "  (best)" if best else ""
        self.print(f"iteration {iteration}: PSNR {score.psnr:.3f} dB (bicubic {score.bicubic_psnr:.3f}, "
                   f"{score.psnr - score.bicubic_psnr:+.3f}), SSIM {score.ssim:.4f} (bicubic "
                   f"{score.bicubic_ssim:.4f}){mark}")

    def message(self, text):
        self.print(text)
