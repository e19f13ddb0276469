"""The training loop: `train(...)` starts a run in a folder, `resume(folder)` continues it.

A run trains a super-resolution network on random patches of HR images (darkpy.train.data)
with darknet's update rule (darkpy.train.optim) and learning-rate policies (schedule), all
configured by the [net] section: batch and subdivisions (an update every `batch` images, fed
as `subdivisions` minibatches), max_batches (iterations), learning_rate, policy, adam, ...

The loss is the network's last layer when that is a [cost]; otherwise an implicit
`[cost] type=L1` (EDSR's and WDSR's loss; `loss="sse"` for MSE) is appended for training only.
Models are saved without it, so the saved cfg is the one the user wrote.

The run folder:

    run.json          what the run is: the cfg text, data, options (resume reads it)
    log.csv           one row per iteration: loss, learning rate, images/s, validation scores
    checkpoint.json   the newest complete checkpoint (written last, atomically)
    checkpoints/NNNNNNNN/model.h5 + state.npz
                      the network, and optimiser state + iteration + RNG states + best score
    best.h5           the model with the best validation PSNR so far
    model.h5          the model after the last iteration

A checkpoint folder is written under a temporary name and renamed into place, then
checkpoint.json is replaced: a kill at any moment leaves the previous checkpoint usable, so
at most `checkpoint_every` iterations are lost. Ctrl-C (SIGINT) or SIGTERM stops after the
current iteration and writes a checkpoint there, losing nothing. Resuming loads the
weights, optimiser state and RNG states, and the data pipeline draws batch i from (seed, i)
alone, so a resumed run computes exactly the weights of an uninterrupted one.

Random initialisation is darknet's: weights uniform in +-sqrt(2 / fan_in), biases 0,
batch-norm scales 1, drawn from a generator seeded by ([net] seed, layer index); dropout's
generators are seeded from the same seed. `darkpy train` seeds with [net] seed (default 0).
`bicubic_skip`/`zero_layers` then start a WDSR-style skip convolution as OpenCV's bicubic and
the deep branch's last convolution at zero (darkpy.train.bicubic); initial weights (`weights`,
or an .h5 given as the model) replace all of this.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from darkpy.config.cfg import format_cfg
from darkpy.config.section import Section
from darkpy.errors import ConfigError, DarkpyError, InputError
from darkpy.io.atomic import atomic_path, atomic_write_text
from darkpy.train.data import check_degradation

RUN_FILE = "run.json"
LOG_FILE = "log.csv"
POINTER_FILE = "checkpoint.json"
CHECKPOINTS = "checkpoints"
BEST_FILE = "best.h5"
FINAL_FILE = "model.h5"
LOSSES = {"l1": "L1", "sse": "sse", "l2": "sse", "mse": "sse"}
LOG_COLUMNS = ["iteration", "loss", "learning_rate", "images_per_s", "elapsed_s",
               "valid_psnr", "valid_ssim", "bicubic_psnr", "bicubic_ssim"]
NET_OVERRIDES = ("batch", "subdivisions", "max_batches", "learning_rate", "seed")


@dataclass
class TrainOptions:
    """Everything about a run besides the cfg; stored in run.json."""

    data: list = field(default_factory=list)      # training files / folders / globs
    valid: list = field(default_factory=list)     # validation files (may be empty)
    weights: str | None = None                    # initial weights (.h5 or .weights)
    scale: int | None = None                      # for pre-upsampling networks (default 2)
    patch: int | None = None                      # input patch side (default [net] width/height)
    degradation: str = "matlab"                   # how LR is made: data.DEGRADATIONS
    augment: bool = True                          # random flips and quarter turns
    loss: str = "l1"                              # implicit [cost] when the cfg has none
    checkpoint_every: int = 100
    valid_every: int | None = None                # default: checkpoint_every
    keep_checkpoints: int = 2
    volume_axis: int = 2                          # NIfTI volumes are sliced across this axis
    bicubic_skip: int | None = None               # a conv feeding a [shuffler]: start as bicubic
    zero_layers: list = field(default_factory=list)  # convs to start at zero (the deep branch's last)
    # [net] overrides (None: the cfg's value)
    batch: int | None = None
    subdivisions: int | None = None
    max_batches: int | None = None
    learning_rate: float | None = None
    seed: int | None = None


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


class Reporter:
    """Hooks the CLI draws progress from; every method is optional."""

    def start(self, iteration: int, total: int, info: dict) -> None: ...

    def iteration(self, progress: Progress) -> None: ...

    def validation(self, iteration: int, score, best: bool) -> None: ...

    def checkpoint(self, iteration: int, path: Path) -> None: ...

    def message(self, text: str) -> None: ...


# --- building the network -----------------------------------------------------------------------

def _read_model(model) -> tuple[list[Section], Path | None]:
    """Sections of a cfg/yaml/h5 model; for an h5 also the file (its weights start the run)."""
    from darkpy.api import H5_SUFFIXES, read_sections

    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.suffix.lower() in H5_SUFFIXES:
        from darkpy.io.h5 import read_h5_cfg

        sections, _ = read_h5_cfg(path)
        return sections, path
    return read_sections(path), None


def training_sections(sections: list[Section], options: TrainOptions) -> tuple[list[Section], bool]:
    """The sections to train: [net] overrides applied, an implicit [cost] appended if none.

    Returns (sections, whether a cost was appended)."""
    net = Section(sections[0].kind, dict(sections[0].options), sections[0].origin,
                  dict(sections[0].key_origins))
    for key in NET_OVERRIDES:
        value = getattr(options, key)
        if value is not None:
            net.options[key] = repr(value) if isinstance(value, float) else str(value)
            net.key_origins[key] = f"<darkpy train --{key.replace('_', '-')}>"
    out = [net, *sections[1:]]
    if out[-1].kind == "cost":
        return out, False
    loss = LOSSES.get(str(options.loss).lower())
    if loss is None:
        raise ConfigError(f"unknown loss '{options.loss}' (choose {', '.join(sorted(LOSSES))})")
    out.append(Section("cost", {"type": loss}, "<darkpy train: implicit loss>"))
    return out, True


def initialise(network, seed: int) -> None:
    """darknet's random initialisation, reproducibly: every `weights` parameter uniform in
    +-sqrt(2 / fan_in) (fan_in = the weights feeding one output: Cin/groups*K*K for a
    convolution, the inputs of a connected layer); other parameters keep their defaults.
    Layers that draw random numbers in training (dropout) are reseeded from the same seed."""
    for layer in network.layers:
        if hasattr(layer, "reseed"):
            layer.reseed([int(seed) & 0xFFFFFFFF, layer.index, 1])
        for name, shape in layer.param_layout():
            if name != "weights":
                continue
            fan_in = int(np.prod(shape[1:])) or 1
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, layer.index])
            scale = np.sqrt(2.0 / fan_in)
            layer.set_param(name, (scale * rng.uniform(-1.0, 1.0, size=shape)).astype(np.float32))


class _ModelView:
    """The trained network as the user described it (without an implicit cost), for saving."""

    def __init__(self, network, sections: list[Section]):
        self.layers = network.layers[: len(sections) - 1]
        self._text = format_cfg(sections)

    def cfg_text(self) -> str:
        return self._text


def network_scale(network, patch: tuple[int, int], scale: int | None) -> tuple[int, bool]:
    """(scale, pre_upsample) of an SR network: its output / input size on a patch, or, for a
    network that keeps the size (SRCNN-style), `scale` (default 2) with pre-upsampled inputs."""
    ph, pw = patch
    channels = network.input_shape[2]
    out = network.infer_shapes((ph, pw, channels))[-1]
    if out[2] != channels:
        raise ConfigError(f"{network.source}: the network outputs {out[2]} channels from {channels}; "
                          "a super-resolution network must keep the channels")
    if out[0] % ph or out[1] % pw or out[0] // ph != out[1] // pw:
        raise ConfigError(f"{network.source}: a {pw}x{ph} input gives {out[1]}x{out[0]}: not an "
                          "integer upscaling")
    net_scale = out[0] // ph
    if net_scale == 1:
        return (scale or 2), True
    if scale is not None and scale != net_scale:
        raise ConfigError(f"--scale {scale} does not match the network, which upscales x{net_scale}")
    return net_scale, False


# --- the run folder ------------------------------------------------------------------------------

def _write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _rng_states(network) -> dict:
    return {str(layer.index): layer.rng_state() for layer in network.layers if hasattr(layer, "rng_state")}


def _set_rng_states(network, states: dict) -> None:
    for layer in network.layers:
        if hasattr(layer, "set_rng_state") and str(layer.index) in states:
            layer.set_rng_state(states[str(layer.index)])


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def save_checkpoint(run_dir: Path, state: "_State", network, model_view, optimizer, keep: int) -> Path:
    """Write checkpoints/<iteration>/ (model.h5, state.npz) atomically and point to it."""
    from darkpy.io.h5 import save_h5

    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{state.iteration:08d}"
    final = folder / name
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_h5(model_view, tmp / "model.h5", source=f"darkpy train, iteration {state.iteration}",
            extras={"training": {"iteration": state.iteration}})
    meta = {"iteration": state.iteration, "elapsed_s": state.elapsed_s, "best_psnr": state.best_psnr,
            "best_iteration": state.best_iteration, "rng": _rng_states(network)}
    arrays = {f"optimizer/{k}": v for k, v in optimizer.state_dict().items()}
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    with open(tmp / "state.npz", "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    if final.exists():  # a checkpoint of this iteration from an earlier, interrupted attempt
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_json(Path(run_dir) / POINTER_FILE, {"iteration": state.iteration,
                                                "path": f"{CHECKPOINTS}/{name}"})
    _prune(folder, keep, final)
    return final


def _prune(folder: Path, keep: int, newest: Path) -> None:
    done = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    for old in done[: max(len(done) - max(keep, 1), 0)]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)
    for stale in folder.glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def load_checkpoint(run_dir: Path, network, optimizer) -> "_State":
    from darkpy.io.h5 import load_h5_params

    pointer = Path(run_dir) / POINTER_FILE
    if not pointer.is_file():
        return _State()
    try:
        where = json.loads(pointer.read_text())
        folder = Path(run_dir) / where["path"]
        load_h5_params(network, folder / "model.h5")
        with np.load(folder / "state.npz", allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            optimizer.load_state_dict({k[len("optimizer/"):]: npz[k] for k in npz.files
                                       if k.startswith("optimizer/")})
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{run_dir}: the checkpoint cannot be read ({exc})") from None
    for layer in network.layers:
        if hasattr(layer, "invalidate"):
            layer.invalidate()
    _set_rng_states(network, meta.get("rng", {}))
    return _State(iteration=int(meta["iteration"]), elapsed_s=float(meta["elapsed_s"]),
                  best_psnr=meta.get("best_psnr"), best_iteration=meta.get("best_iteration"))


@dataclass
class _State:
    iteration: int = 0          # updates completed
    elapsed_s: float = 0.0      # training time over all sessions
    best_psnr: float | None = None
    best_iteration: int | None = None


class _Log:
    """log.csv: rows after the checkpoint a run resumes from are dropped first."""

    def __init__(self, path: Path, keep_until: int):
        self.path = Path(path)
        rows = []
        if self.path.is_file() and keep_until > 0:
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= keep_until]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        self.file = open(self.path, "a", newline="", buffering=1)  # a line per iteration, visible at once
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS, lineterminator="\n")

    def write(self, row: dict) -> None:
        self.writer.writerow({k: _fmt(row.get(k)) for k in LOG_COLUMNS})

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.6e}"
    return str(value)


@contextmanager
def _stop_on_signals(flag: dict):
    """SIGINT/SIGTERM set flag['stop'] (the loop finishes the iteration and checkpoints);
    a second SIGINT interrupts at once. Only in the main thread (signals live there)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.get("stop") and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["stop"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# --- the loop ---------------------------------------------------------------------------------

class Trainer:
    """One run: the network, data, optimiser and run folder, ready to `run()`."""

    def __init__(self, run_dir, cfg_text: str, source: str, options: TrainOptions,
                 init_weights: str | None = None):
        from darkpy.config.cfg import parse_cfg_text
        from darkpy.network import Network
        from darkpy.train import data
        from darkpy.train.optim import Optimizer

        self.run_dir = Path(run_dir)
        self.options = options
        user_sections = parse_cfg_text(cfg_text, source)
        sections, self.implicit_cost = training_sections(user_sections, options)
        self.user_sections = sections[:-1] if self.implicit_cost else sections
        self.network = Network(sections, source=source)
        self.network.extras = {}
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
        self.model_view = _ModelView(self.network, self.user_sections)
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

    def validate(self, state: _State, reporter: Reporter):
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
        log = _Log(self.run_dir / LOG_FILE, state.iteration)
        reporter.start(state.iteration, self.total, self.info)
        flag: dict = {}
        score = None
        try:
            with _stop_on_signals(flag):
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
    sections, h5_weights = _read_model(model)
    init = weights or h5_weights
    opts.weights = str(Path(init).resolve()) if init else None
    cfg_text = format_cfg(sections)
    trainer = Trainer(out, cfg_text, str(model), opts, opts.weights)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / RUN_FILE, {"model": str(model), "cfg": cfg_text, "options": asdict(opts)})
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
        _write_json(path, spec)
    # the initial weights are in the checkpoint once there is one
    has_checkpoint = (run_dir / POINTER_FILE).is_file()
    return Trainer(run_dir, spec["cfg"], spec["model"], opts, None if has_checkpoint else opts.weights)


def train(model, data, out, valid=None, weights=None, reporter=None, **options) -> RunResult:
    """Start a run and train it to the end (or until interrupted). See TrainOptions."""
    return start(model, data, out, valid, weights, **options).run(reporter)


def resume(run_dir, reporter=None, max_batches: int | None = None) -> RunResult:
    """Continue a run from its newest checkpoint, bit for bit as if never interrupted."""
    return open_run(run_dir, max_batches).run(reporter)
