"""`darkpy train MODEL --data DIR --out RUN` and `darkpy train --resume RUN`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import fail, user_errors
from darkpy.cli.progress import RichReporter


def register(app: typer.Typer) -> None:
    @app.command("train")
    @user_errors
    def train(
        model: Optional[str] = typer.Argument(None, metavar="[MODEL]",
                                              help="A .cfg/.yaml network, or a darkpy .h5 to fine-tune (its weights start the run)."),
        data: List[str] = typer.Option([], "--data", "-d",
                                       help="High-resolution training images: files, folders, globs, NIfTI volumes (repeatable)."),
        valid: List[str] = typer.Option([], "--valid", "-v",
                                        help="Validation images, scored by PSNR/SSIM against bicubic (repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (new) for the log, checkpoints and models."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w",
                                               help="Initial weights (.h5 or darknet .weights) instead of random ones."),
        resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its newest checkpoint."),
        iterations: Optional[int] = typer.Option(None, "--iterations", "-n", min=1,
                                                 help="Updates to train in all (default: \\[net] max_batches); with --resume, extends the run."),
        batch: Optional[int] = typer.Option(None, "--batch", min=1, help="Images per update (default: \\[net] batch)."),
        subdivisions: Optional[int] = typer.Option(None, "--subdivisions", min=1, help="Minibatches per update (default: \\[net] subdivisions)."),
        learning_rate: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default: \\[net] learning_rate)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the initialisation and data order (default: \\[net] seed)."),
        scale: Optional[int] = typer.Option(None, "--scale", min=1,
                                            help="Upscaling factor of a network that keeps the size (SRCNN-style; default 2)."),
        patch: Optional[int] = typer.Option(None, "--patch", min=1, help="Input patch side in pixels (default: \\[net] width/height)."),
        degrade: str = typer.Option("matlab", "--degrade",
                                    help="How LR inputs are made from HR patches: matlab (MATLAB's bicubic imresize, as the "
                                         "benchmarks make them), blur (3x3 Gaussian, sigma 1, then matlab: the MRI protocol) "
                                         "or opencv (cv2 INTER_CUBIC)."),
        augment: bool = typer.Option(True, "--augment/--no-augment", help="Random flips and quarter turns of the patches."),
        loss: str = typer.Option("l1", "--loss", help="Loss when the cfg ends without a [cost]: l1 or sse (MSE)."),
        bicubic_skip: Optional[int] = typer.Option(None, "--bicubic-skip", metavar="LAYER",
                                                   help="Start this convolution (it must feed a \\[shuffler]) as OpenCV's bicubic upscaling (WDSR-style skip)."),
        zero_layers: List[int] = typer.Option([], "--zero-layer", metavar="LAYER",
                                              help="Start this convolution at zero, e.g. the deep branch's last (repeatable)."),
        checkpoint_every: int = typer.Option(100, "--checkpoint-every", min=1, help="Iterations between checkpoints."),
        valid_every: Optional[int] = typer.Option(None, "--valid-every", min=1, help="Iterations between validations (default: --checkpoint-every)."),
    ):
        """Train a super-resolution network on random patches of high-resolution images.

        LR inputs are made by MATLAB's bicubic downscaling unless --degrade says otherwise;
        validation scores use the same degradation and its bicubic. Checkpoints are atomic; Ctrl-C stops after the current iteration with a
        checkpoint, and --resume continues bit for bit. The run folder gets log.csv,
        best.h5 (best validation PSNR) and model.h5 (last iteration).
        """
        from darkpy.train import loop

        if resume is not None:
            given = [name for name, value in (
                ("MODEL", model), ("--data", data), ("--valid", valid), ("--out", out),
                ("--weights", weights), ("--batch", batch), ("--subdivisions", subdivisions),
                ("--lr", learning_rate), ("--seed", seed), ("--scale", scale), ("--patch", patch),
                ("--degrade", degrade != "matlab"), ("--no-augment", not augment), ("--loss", loss != "l1"),
                ("--checkpoint-every", checkpoint_every != 100), ("--valid-every", valid_every),
                ("--bicubic-skip", bicubic_skip), ("--zero-layer", zero_layers))
                if value not in (None, False, [], ())]
            if given:
                fail(f"--resume continues a run as it was set up; drop {', '.join(given)}")
            trainer = loop.open_run(resume, max_batches=iterations)
        else:
            if model is None:
                fail("give a MODEL (.cfg, .yaml or .h5) to train, or --resume RUN_DIR")
            if not data:
                fail("give training images with --data DIR")
            if out is None:
                fail("give a run folder with --out RUN_DIR")
            trainer = loop.start(model, data, out, valid=valid, weights=weights, scale=scale, patch=patch,
                                 degradation=degrade, augment=augment, loss=loss, checkpoint_every=checkpoint_every,
                                 valid_every=valid_every, bicubic_skip=bicubic_skip,
                                 zero_layers=list(zero_layers), batch=batch, subdivisions=subdivisions,
                                 max_batches=iterations, learning_rate=learning_rate, seed=seed)
        with RichReporter() as reporter:
            result = trainer.run(reporter)
        summary = f"{result.iteration}/{result.total} iterations in {trainer.run_dir}"
        if result.best_psnr is not None:
            summary += f"; best validation PSNR {result.best_psnr:.3f} dB at iteration {result.best_iteration}"
        typer.echo(summary, err=True)
        if result.interrupted:
            raise typer.Exit(130)
