"""`darkpy train MODEL --data DIR --out RUN`, `darkpy train --resume RUN` (super-resolution) and
`darkpy train CFG --data X.data [--weights W]` (detectors and classifiers, darknet-style)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from darkpy.cli.common import fail, user_errors
from darkpy.cli.progress import RichReporter
from darkpy.reporting import Reporter


def register(app: typer.Typer) -> None:
    @app.command("train")
    @user_errors
    def train(
        model: Optional[str] = typer.Argument(None, metavar="[MODEL]",
                                              help="A .cfg/.yaml network, or a darkpy .h5 to fine-tune (its weights start the run)."),
        data: List[str] = typer.Option([], "--data", "-d",
                                       help="A darknet .data file (detectors, classifiers), or high-resolution training images: files, folders, globs, NIfTI volumes (repeatable)."),
        valid: List[str] = typer.Option([], "--valid", "-v",
                                        help="Validation images, scored by PSNR/SSIM against bicubic (repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (new) for the log, checkpoints and models."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w",
                                               help="Initial weights (.h5 or darknet .weights) instead of random ones."),
        resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its newest checkpoint, bit for bit: an SR run folder, or a detector's backup folder (its <cfg>_last.weights and <cfg>_last.state.npz)."),
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
        clear: bool = typer.Option(False, "--clear",
                                   help="Detectors: start the weights' `seen` count at 0 (darknet's -clear), e.g. to fine-tune released weights."),
        backup: Optional[Path] = typer.Option(None, "--backup",
                                              help="Detectors: folder for the .weights checkpoints (default: the .data file's `backup`)."),
        calc_map: bool = typer.Option(False, "--map",
                                      help="Detectors: compute mAP@0.50 on the .data file's `valid` list every max(4 epochs, 100) iterations (AlexeyAB's -map) and keep the best as <cfg>_best.weights."),
        exact: bool = typer.Option(False, "--exact",
                                   help="Detectors: compute in darknet's own float arithmetic, bit for bit (its summation order; ~15x slower), to compare weights with darknet's. Default: the same formulas in darkpy's fast arithmetic, equal up to float rounding."),
        label_rule: str = typer.Option("pjreddie", "--label-rule",
                                       help="Detectors: how label files are found from image paths: pjreddie (images/JPEGImages -> labels) or alexeyab (labels beside the images unless in .../JPEGImages/ or COCO's images/train2017/ ...)."),
    ):
        """Train a network: a detector or classifier darknet-style, or a super-resolution network.

        A cfg with a detection head (\\[yolo]) and `--data obj.data` trains as darknet's
        `detector train` does: images from the .data file's `train` list, labels beside them,
        batch/subdivisions, burn_in and the learning-rate policy, darknet's augmentation from
        the cfg (jitter, hue, saturation, exposure, flip, letter_box, mosaic, random
        multi-scale), and .weights checkpoints named <cfg>_last/_1000/_final.weights in its
        `backup` folder; `--resume BACKUP` continues such a run bit for bit. A classifier cfg
        (\\[softmax] or \\[logistic], no detection head) with `--data cls.data` trains as
        darknet's `classifier train`: `train` list, class = the `labels` name found in the
        image path, darknet's cross-entropy, the same checkpoints.

        Otherwise the network is trained for super-resolution on random patches of --data
        images: LR inputs are made by MATLAB's bicubic downscaling unless --degrade says
        otherwise; validation scores use the same degradation and its bicubic. Checkpoints are
        atomic; Ctrl-C stops after the current iteration with a checkpoint, and --resume
        continues bit for bit. The run folder gets log.csv, best.h5 (best validation PSNR) and
        model.h5 (last iteration).
        """
        from darkpy.train import loop

        if resume is None and model is not None and _is_darknet_run(model, data):
            given = [name for name, value in (
                ("--valid", valid), ("--out", out), ("--scale", scale), ("--patch", patch),
                ("--degrade", degrade != "matlab"), ("--no-augment", not augment), ("--loss", loss != "l1"),
                ("--checkpoint-every", checkpoint_every != 100), ("--valid-every", valid_every),
                ("--bicubic-skip", bicubic_skip), ("--zero-layer", zero_layers))
                if value not in (None, False, [], ())]
            if given:
                fail(f"{', '.join(given)}: super-resolution options; a detector or classifier trains "
                     "from --data X.data")
            if len(data) != 1:
                fail("a detector or classifier trains from one darknet .data file: --data X.data")
            _train_darknet(model, data[0], weights, clear, backup, label_rule, iterations,
                            batch, subdivisions, learning_rate, seed, calc_map, exact)
            return
        if resume is not None and _is_darknet_resume(resume):
            if model is not None or data or weights is not None or clear or backup is not None:
                fail("--resume BACKUP continues a detector run as it was set up; drop MODEL, "
                     "--data, --weights, --clear and --backup")
            _train_darknet_resumed(resume, iterations, learning_rate)
            return
        if clear or exact or backup is not None or label_rule != "pjreddie" or calc_map:
            fail("--clear, --exact, --backup, --map and --label-rule are for detectors and classifiers "
                 "(a cfg with [yolo] or [softmax] and --data X.data)")

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


def _is_darknet_run(model: str, data: list) -> bool:
    """A darknet-style run (detector or classifier): the cfg has a detection head or a
    classifier loss, or --data names one .data file."""
    if len(data) == 1 and str(data[0]).endswith(".data") and Path(data[0]).is_file():
        return True
    path = Path(model)
    if path.suffix.lower() not in (".cfg", ".yaml", ".yml") or not path.is_file():
        return False
    from darkpy.api import read_sections
    from darkpy.train.darknet.loop import is_classifier, is_detector

    sections = read_sections(path)
    return is_detector(sections) or is_classifier(sections)


def _is_darknet_resume(path: Path) -> bool:
    """A darknet run's backup folder (or its <cfg>_last.state.npz), not an SR run folder."""
    from darkpy.train.darknet.resume import STATE_SUFFIX
    from darkpy.train.run_folder import RUN_FILE

    path = Path(path)
    if path.is_file():
        return path.name.endswith(STATE_SUFFIX) or path.suffix == ".weights"
    return path.is_dir() and not (path / RUN_FILE).is_file() and any(path.glob(f"*{STATE_SUFFIX}"))


def _train_darknet_resumed(path, iterations, learning_rate):
    from darkpy.train.darknet.resume import resume_training

    trainer = resume_training(path, max_batches=iterations, learning_rate=learning_rate)
    _finish_darknet(trainer)


def _train_darknet(model, data, weights, clear, backup, label_rule, iterations, batch,
                    subdivisions, learning_rate, seed, calc_map=False, exact=False):
    from darkpy.train.darknet.loop import DarknetTrainer

    trainer = DarknetTrainer(model, data, weights, clear=clear, backup=backup,
                              label_rule=label_rule, calc_map=calc_map,
                              max_batches=iterations, batch=batch,
                              subdivisions=subdivisions, learning_rate=learning_rate, seed=seed,
                              exact=exact)
    _finish_darknet(trainer)


def _finish_darknet(trainer):
    result = trainer.run(_DarknetLines())
    where = f"; {result.final}" if result.final else ""
    typer.echo(f"{result.iteration}/{result.max_batches} iterations, {result.seen} images seen{where}", err=True)
    if result.interrupted:
        raise typer.Exit(130)


class _DarknetLines(Reporter):
    """darknet's own progress lines: per iteration `i: loss, avg avg, rate rate, s seconds,
    n images` (classifiers: `i, epoch: loss, ...`), after the [yolo] reports of each forward
    (darknet-style runs print these instead of the progress bar, as darknet's logs do)."""

    def start(self, iteration, total, info):
        layers = f", first {info['loaded_layers']} layers loaded" if info["loaded_layers"] else ""
        typer.echo(f"{info['cfg']}: {info['parameters']:,} parameters{layers}; {info['images']} training "
                   f"image(s); batch {info['batch']} in {info['subdivisions']}; seen {info['seen']}, "
                   f"iteration {info['iteration']}/{info['max_batches']}", err=True)

    def iteration(self, r):
        for forward in r.heads:
            for index, h in forward.items():
                if "avg_iou" not in h:
                    continue  # [softmax], [cost], [logistic]: darknet prints only their sum
                if "pos_cat" in h:  # [detection]
                    typer.echo(f"Detection Avg IOU: {h['avg_iou']:f}, Pos Cat: {h['pos_cat']:f}, "
                               f"All Cat: {h['all_cat']:f}, Pos Obj: {h['pos_obj']:f}, Any Obj: "
                               f"{h['any_obj']:f}, count: {h['count']}")
                    continue
                if "recall" in h:  # [region]
                    typer.echo(f"Region Avg IOU: {h['avg_iou']:f}, Class: {h['avg_class']:f}, "
                               f"Obj: {h['avg_obj']:f}, No Obj: {h['avg_noobj']:f}, Avg Recall: "
                               f"{h['recall']:f},  count: {h['count']}")
                    continue
                if "uc_loss" in h:  # [Gaussian_yolo]: AlexeyAB's line for it
                    typer.echo(f"Region {index} Avg IOU: {h['avg_iou']:f}, Class: {h['avg_class']:f}, "
                               f"Obj: {h['avg_obj']:f}, No Obj: {h['avg_noobj']:f}, .5R: "
                               f"{h['recall50']:f}, .75R: {h['recall75']:f},  count: {h['count']}, "
                               f"class_loss = {h['class_loss']:.2f}, iou_loss = {h['iou_loss']:.2f}, "
                               f"uc_loss = {h['uc_loss']:.2f}, total_loss = {h['total_loss']:.2f}")
                    continue
                if "class_loss" in h:  # AlexeyAB's [yolo] loss: his line (count at least 1)
                    typer.echo(f"Region {index} Avg (IOU: {h['avg_iou']:f}), count: "
                               f"{max(h['count'], 1)}, class_loss = {h['class_loss']:f}, "
                               f"iou_loss = {h['iou_loss']:f}, total_loss = {h['total_loss']:f}")
                    continue
                typer.echo(f"Region {index} Avg IOU: {h['avg_iou']:f}, Class: {h['avg_class']:f}, "
                           f"Obj: {h['avg_obj']:f}, No Obj: {h['avg_noobj']:f}, .5R: {h['recall50']:f}, "
                           f".75R: {h['recall75']:f},  count: {h['count']}")
        epoch = "" if r.epoch is None else f", {r.epoch:.3f}"
        typer.echo(f"{r.iteration}{epoch}: {r.loss:f}, {r.avg_loss:f} avg, {r.learning_rate:f} rate, "
                   f"{r.seconds:f} seconds, {r.images} images")

    def checkpoint(self, iteration, path):
        typer.echo(f"Saving weights to {path}", err=True)

    def validation(self, iteration, report, best):
        typer.echo(f"\n mean_average_precision (mAP@{report.iou_thresh:0.2f}) = {report.map:f} "
                   f"(iteration {iteration})" + ("\nNew best mAP!" if best else ""), err=True)

    def message(self, text):
        typer.echo(text, err=True)
