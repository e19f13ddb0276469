"""The training loop: `train(...)` starts a run in a folder, `resume(folder)` continues it.

A run trains a super-resolution network on random patches of HR images (darkpy.train.data)
with darknet's update rule (darkpy.train.optim) and learning-rate policies (schedule), all
configured by the [net] section: batch and subdivisions (an update every `batch` images, fed
as `subdivisions` minibatches), max_batches (iterations), learning_rate, policy, adam, ...

The pieces: TrainOptions (options.py), the network set up for training (model.py: sections,
initialisation, scale), the run folder with its checkpoints (run_folder.py), log.csv and the
signals (log.py). Ctrl-C (SIGINT) or SIGTERM stops after the current iteration and writes a
checkpoint there, losing nothing. The data pipeline draws batch i from (seed, i) alone, so a
resumed run computes exactly the weights of an uninterrupted one.

Random initialisation is darknet's: weights uniform in +-sqrt(2 / fan_in), biases 0,
batch-norm scales 1, drawn from a generator seeded by ([net] seed, layer index); dropout's
generators are seeded from the same seed. `darkpy train` seeds with [net] seed (default 0).
`bicubic_skip`/`zero_layers` then start a WDSR-style skip convolution as the bicubic of the
degradation (MATLAB's, or OpenCV's for --degrade opencv) and the deep branch's last convolution
at zero (darkpy.train.bicubic); initial weights (`weights`,
or an .h5 given as the model) replace all of this.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from darkpy.config.cfg import format_cfg
from darkpy.errors import ConfigError, DarkpyError, InputError
from darkpy.kernels.heap import keep_freed_memory
from darkpy.reporting import Reporter
from darkpy.train.data import check_degradation
from darkpy.train.log import TrainingLog, stop_on_signals
from darkpy.train.model import ModelView, initialise, network_scale, read_model, training_sections
from darkpy.train.options import TrainOptions
from darkpy.train.run_folder import (BEST_FILE, FINAL_FILE, LOG_FILE, POINTER_FILE, RUN_FILE, State,
                                     load_checkpoint, save_checkpoint, write_json)


@dataclass
class Progress:
    """What the loop reports after each iteration."""

    iteration: int
    total: int
    loss: float
    learning_rate: float
    images_per_s: float
    elapsed_s: float


@dataclass
class RunResult:
    run_dir: Path
    iteration: int
    total: int
    interrupted: bool
    best_psnr: float | None
    best_iteration: int | None
    last_score: object = None  # data.Score of the last validation, if any


# --- the loop ---------------------------------------------------------------------------------

class Trainer:
    """One run: the network, data, optimiser and run folder, ready to `run()`."""

    def __init__(self, run_dir, cfg_text: str, source: str, options: TrainOptions,
                 init_weights: str | None = None):
        from darkpy.config.cfg import parse_cfg_text
        from darkpy.network import Network
        from darkpy.train import data
        from darkpy.train.optim import Optimizer

        keep_freed_memory(large_blocks=True)  # every iteration frees what the next allocates
        self.run_dir = Path(run_dir)
        self.options = options
        user_sections = parse_cfg_text(cfg_text, source)
        sections, self.implicit_cost = training_sections(user_sections, options)
        self.user_sections = sections[:-1] if self.implicit_cost else sections
        self.network = Network(sections, source=source, init=False)  # initialise() gives them
        net = self.network.net
        self.seed = int(net.seed)
        self.total = int(net.max_batches)
        if self.total < 1:
            raise ConfigError(f"{source}: [net] max_batches must be >= 1 (or pass --iterations)")
        initialise(self.network, self.seed)
        if options.bicubic_skip is not None or options.zero_layers:
            from darkpy.train.bicubic import bicubic_skip

            bicubic_skip(self.network, options.bicubic_skip, options.zero_layers,
                         cubic_a=data.CUBIC_A[options.degradation])
        if init_weights:
            from darkpy.api import load_weights

            load_weights(self.network, init_weights)
        self.optimizer = Optimizer.for_network(self.network)
        self.model_view = ModelView(self.network, self.user_sections)
        side = options.patch
        patch = (side, side) if side else (int(net.height), int(net.width))
        self.scale, pre_upsample = network_scale(self.network, patch, options.scale)
        channels = self.network.input_shape[2]
        train_images = data.load_images(options.data, channels, options.volume_axis)
        self.sampler = data.PatchSampler(train_images, self.scale, patch, degradation=options.degradation,
                                         augment=options.augment, pre_upsample=pre_upsample,
                                         seed=self.seed)
        self.validation = None
        if options.valid:
            valid_images = data.load_images(options.valid, channels, options.volume_axis)
            self.validation = data.ValidationSet(valid_images, self.scale, degradation=options.degradation,
                                                 pre_upsample=pre_upsample)
        self.info = {"scale": self.scale, "pre_upsample": pre_upsample, "patch": patch,
                     "batch": self.optimizer.batch, "subdivisions": self.optimizer.subdivisions,
                     "train_images": len(self.sampler.images), "skipped": self.sampler.skipped,
                     "valid_images": len(self.validation.items) if self.validation else 0,
                     "implicit_cost": self.implicit_cost, "parameters": self.network.num_params()}

    # -- one update --------------------------------------------------------------------------
    def step(self, iteration: int) -> tuple[float, float]:
        """Train update number `iteration` (0-based); returns (loss, learning rate). The loss
        is the cost per output value (L1: mean absolute error, sse: mean squared error, in
        0..255 units), i.e. darknet's summed cost divided by the values of the batch."""
        opt = self.optimizer
        x, y = self.sampler.batch(iteration, opt.batch)
        total = 0.0
        for k in range(opt.subdivisions):
            part = slice(k * opt.minibatch, (k + 1) * opt.minibatch)
            total += float(self.network.train_step(x[part], y[part]))
        rate = opt.step(self.network, iteration + 1)
        return total / y.size, rate

    def validate(self, state: State, reporter: Reporter):
        from darkpy.io.h5 import save_h5

        score, _ = self.validation.evaluate(self.network)
        best = state.best_psnr is None or score.psnr > state.best_psnr
        if best:
            state.best_psnr, state.best_iteration = float(score.psnr), state.iteration
            save_h5(self.model_view, self.run_dir / BEST_FILE,
                    source=f"darkpy train, best validation PSNR at iteration {state.iteration}",
                    extras={"training": {"iteration": state.iteration, "psnr": score.psnr,
                                         "ssim": score.ssim, "bicubic_psnr": score.bicubic_psnr,
                                         "bicubic_ssim": score.bicubic_ssim}})
        reporter.validation(state.iteration, score, best)
        return score

    def run(self, reporter: Reporter | None = None) -> RunResult:
        """Train from the newest checkpoint (or the start) to max_batches, or until SIGINT or
        SIGTERM (then with a checkpoint at the iteration reached)."""
        from darkpy.io.h5 import save_h5

        reporter = reporter or Reporter()
        state = load_checkpoint(self.run_dir, self.network, self.optimizer)
        valid_every = self.options.valid_every or self.options.checkpoint_every
        log = TrainingLog(self.run_dir / LOG_FILE, state.iteration)
        reporter.start(state.iteration, self.total, self.info)
        flag: dict = {}
        score = None
        try:
            with stop_on_signals(flag):
                while state.iteration < self.total:
                    t0 = time.perf_counter()
                    loss, rate = self.step(state.iteration)
                    state.iteration += 1
                    seconds = time.perf_counter() - t0
                    state.elapsed_s += seconds
                    row = {"iteration": state.iteration, "loss": loss, "learning_rate": rate,
                           "images_per_s": self.optimizer.batch / max(seconds, 1e-9),
                           "elapsed_s": state.elapsed_s}
                    if not np.isfinite(loss):
                        log.write(row)
                        raise DarkpyError(f"the loss became {loss} at iteration {state.iteration}; "
                                          "lower the learning rate (the last checkpoint is kept)")
                    if self.validation is not None and (state.iteration % valid_every == 0
                                                        or state.iteration == self.total):
                        score = self.validate(state, reporter)
                        row.update(valid_psnr=score.psnr, valid_ssim=score.ssim,
                                   bicubic_psnr=score.bicubic_psnr, bicubic_ssim=score.bicubic_ssim)
                    log.write(row)
                    reporter.iteration(Progress(state.iteration, self.total, loss, rate,
                                                row["images_per_s"], state.elapsed_s))
                    if (state.iteration % self.options.checkpoint_every == 0 or flag.get("stop")
                            or state.iteration == self.total):
                        log.flush()
                        path = save_checkpoint(self.run_dir, state, self.network, self.model_view,
                                               self.optimizer, self.options.keep_checkpoints)
                        reporter.checkpoint(state.iteration, path)
                    if flag.get("stop"):
                        break
        finally:
            log.close()
        finished = state.iteration >= self.total
        if finished:
            save_h5(self.model_view, self.run_dir / FINAL_FILE,
                    source=f"darkpy train, {state.iteration} iterations",
                    extras={"training": {"iteration": state.iteration, "elapsed_s": state.elapsed_s}})
        if flag.get("stop"):
            reporter.message(f"stopped by {flag['stop']} after iteration {state.iteration}; "
                             f"continue with: darkpy train --resume {self.run_dir}")
        return RunResult(self.run_dir, state.iteration, self.total, not finished,
                         state.best_psnr, state.best_iteration, score)


# --- entry points -------------------------------------------------------------------------------

def _absolute(items) -> list:
    out = []
    for item in items or []:
        path = Path(str(item))
        out.append(str(path.resolve()) if path.exists() else str(item))
    return out


def start(model, data, out, valid=None, weights=None, **options) -> Trainer:
    """A new run in folder `out` (which must not hold a run already) for `model` (.cfg,
    .yaml, or .h5 whose weights start the training); `options` are TrainOptions fields."""
    out = Path(out)
    if (out / RUN_FILE).exists():
        raise InputError(f"{out} already holds a run; continue it with --resume {out}, or "
                         "choose another --out")
    opts = TrainOptions(data=_absolute(data), valid=_absolute(valid), **options)
    if not opts.data:
        raise InputError("no training data given (--data)")
    check_degradation(opts.degradation)
    if opts.checkpoint_every < 1:
        raise InputError("checkpoint interval must be >= 1")
    sections, h5_weights = read_model(model)
    init = weights or h5_weights
    opts.weights = str(Path(init).resolve()) if init else None
    cfg_text = format_cfg(sections)
    trainer = Trainer(out, cfg_text, str(model), opts, opts.weights)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN_FILE, {"model": str(model), "cfg": cfg_text, "options": asdict(opts)})
    return trainer


def open_run(run_dir, max_batches: int | None = None) -> Trainer:
    """The Trainer of an existing run folder (to resume it). `max_batches` extends or
    shortens the run (a poly policy then follows the new length)."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise InputError(f"{run_dir}: not a darkpy training run (no {RUN_FILE})")
    try:
        spec = json.loads(path.read_text())
        options = dict(spec["options"])
        if "blur" in options:  # runs made before --degrade used OpenCV's bicubic
            if options.pop("blur"):
                raise InputError(f"{path}: this run blurred before OpenCV's bicubic, which darkpy no "
                                 "longer offers (--degrade blur uses MATLAB's); start a new run")
            options["degradation"] = "opencv"
        opts = TrainOptions(**options)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable run description ({exc})") from None
    if max_batches is not None and max_batches != opts.max_batches:
        opts.max_batches = max_batches
        spec["options"] = asdict(opts)
        write_json(path, spec)
    # the initial weights are in the checkpoint once there is one
    has_checkpoint = (run_dir / POINTER_FILE).is_file()
    return Trainer(run_dir, spec["cfg"], spec["model"], opts, None if has_checkpoint else opts.weights)


def train(model, data, out, valid=None, weights=None, reporter=None, **options) -> RunResult:
    """Start a run and train it to the end (or until interrupted). See TrainOptions."""
    return start(model, data, out, valid, weights, **options).run(reporter)


def resume(run_dir, reporter=None, max_batches: int | None = None) -> RunResult:
    """Continue a run from its newest checkpoint, bit for bit as if never interrupted."""
    return open_run(run_dir, max_batches).run(reporter)
