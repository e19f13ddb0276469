"""darknet's training loop for detectors: `darkpy train CFG --data obj.data [--weights W]`.

What darknet's train_detector and train_network do, step for step:

- [net] batch B and subdivisions S: every iteration takes B images (B // S * S) and trains
  them as S minibatches of B // S images; each minibatch is a forward in training mode (batch
  statistics, rolling statistics updated), the heads' deltas against its truth, and a
  backward whose parameter gradients add up over the S minibatches;
- `seen` (images trained, stored in the .weights header) grows by B // S per minibatch, and
  after the S-th the update runs with darknet's learning rate for batch_num = seen / B
  (burn_in with power, then the policy: darkpy.train.schedule) and darknet's SGD with
  momentum and decay, decay on weights only, scaled by B (darkpy.train.optim). Training goes
  on while seen / B < max_batches; weights whose header already says more (the official
  release files) train nothing unless `clear` resets seen to 0 (darknet's `-clear`);
- batch norm computes its statistics and backward in darknet's own float arithmetic and
  formulas (Layer.darknet_training, kernels/batchnorm_darknet.py; the exact gradient differs
  by O(1/m)), and the heads' deltas are darknet's (layers/yolo.py);
- the loss of a minibatch is darknet's network cost: the mean over the loss heads of their
  cost (sum of squared deltas); an iteration's loss is the sum over its minibatches divided
  by B, and avg loss starts at the first loss and then moves by avg = .9 avg + .1 loss;
- checkpoints go to the `.data` file's `backup` folder as darknet .weights named after the
  cfg (AlexeyAB's scheme): <cfg>_last.weights every 100 iterations, <cfg>_<i>.weights every
  10000 (every 1000 when max_batches < 10000) and <cfg>_final.weights at the end. Ctrl-C or
  SIGTERM stops after the iteration with a _last checkpoint.

Whose darknet: the heads' `flavor` (layers/yolo.py; AlexeyAB's when a [yolo] section sets a
key only his darknet reads) picks the loss and the batch-norm arithmetic for the whole network
(AlexeyAB's sqrt(var + eps) placements). His CPU build departs from his GPU build (and from
the math) in ways that change what yolov4-tiny learns: batch norm's rolling values move by
.9/.1, batch-normalised convolutions' biases get no gradient, a convolution's backward
overwrites the gradient its input collected from [route] layers, and [route]/[upsample]
gradients are never cleared (darkpy/train/darknet/cpu_build.py). `darknet_build=
"alexeyab-cpu"` reproduces those (the comparison with a CPU-built darknet uses it); by
default darkpy sums the gradients, trains those biases and moves rolling values by .99/.01,
as his GPU build does.

The images of an iteration are drawn at random with replacement from the `train` list by a
generator seeded by ([net] seed, iteration) (darkpy.train.darknet.detection_batch), so a run is
repeatable; `image_order` replaces the draw (the comparison with darknet uses it).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.config.section import Section
from darkpy.errors import ConfigError, DarkpyError, WeightsError
from darkpy.reporting import Reporter
from darkpy.train.darknet.data import DataWarning, load_detection_list, read_data_file
from darkpy.train.log import stop_on_signals
from darkpy.train.model import initialise

HEAD_KINDS = ("yolo", "region", "detection", "Gaussian_yolo")
TRAINABLE_HEADS = ("yolo",)
NET_OVERRIDES = ("batch", "subdivisions", "max_batches", "learning_rate", "seed")
LAST_EVERY = 100


def is_detector(sections: list[Section]) -> bool:
    """Whether a network ends in (or holds) a detection head darknet trains as a detector."""
    return any(s.kind in HEAD_KINDS for s in sections[1:])


@dataclass
class IterationReport:
    """What darknet prints after an iteration, plus the [yolo] reports of each forward."""

    iteration: int          # get_current_batch after the update
    loss: float
    avg_loss: float
    learning_rate: float
    seconds: float
    images: int             # iteration * B, as darknet prints
    heads: list = field(default_factory=list)  # per forward: {layer index: layers/yolo report}


@dataclass
class TrainResult:
    iteration: int
    max_batches: int
    seen: int
    final: Path | None
    interrupted: bool
    problems: str | None


def _with_overrides(sections: list[Section], overrides: dict) -> list[Section]:
    net = Section(sections[0].kind, dict(sections[0].options), sections[0].origin,
                  dict(sections[0].key_origins))
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in NET_OVERRIDES:
            raise ConfigError(f"cannot override [net] {key} from the command line")
        net.options[key] = repr(value) if isinstance(value, float) else str(value)
        net.key_origins[key] = f"<darkpy train --{key.replace('_', '-')}>"
    return [net, *sections[1:]]


def load_initial_weights(network, path) -> tuple[int, int | None]:
    """Load darknet .weights (or a darkpy .h5) into `network`; returns (seen, layers loaded
    or None for all). A .weights file that holds exactly the first k layers (a backbone such
    as darknet53.conv.74) loads those k, as darknet loads what a file has."""
    from darkpy.io.darknet_weights import _read_header, expected_floats, load_darknet_weights

    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        from darkpy.io.h5 import load_h5_params

        load_h5_params(network, path)
        return 0, None
    try:
        return load_darknet_weights(network, path).seen, None
    except WeightsError as exc:
        if "truncated" not in str(exc):
            raise
        data = path.read_bytes()
        header = _read_header(data, path)
        floats = (len(data) - header.nbytes) // 4
        for k in range(len(network.layers), 0, -1):
            if expected_floats(network, k) == floats:
                return load_darknet_weights(network, path, max_layers=k).seen, k
        raise


def _training_flavor(heads) -> str:
    """Whose darknet the whole network trains as: the heads' `flavor` (layers/yolo.py), which
    must agree (batch norm and the update follow the same darknet)."""
    flavors = {getattr(h, "flavor", "pjreddie") for h in heads}
    if len(flavors) > 1:
        raise ConfigError(f"{heads[0].origin}: the detection heads mix pjreddie's and "
                          "AlexeyAB's [yolo] loss; set flavor= the same in every head")
    return flavors.pop()


class DetectorTrainer:
    """A detector, its data and darknet's optimiser, ready to `run()`."""

    def __init__(self, cfg, data, weights=None, clear: bool = False, backup=None,
                 label_rule: str = "pjreddie", image_order: list | None = None,
                 cfg_name: str | None = None, darknet_build: str | None = None,
                 **overrides):
        from darkpy.api import read_sections
        from darkpy.network import Network
        from darkpy.train.darknet.detection_batch import DetectionLoader
        from darkpy.train.optim import Optimizer

        cfg = Path(cfg)
        if not cfg.is_file():
            raise ConfigError(f"{cfg}: no such file")
        sections = _with_overrides(read_sections(cfg), overrides)
        self.network = Network(sections, source=str(cfg), init=False)  # initialise() gives them
        heads = [layer for layer in self.network.layers if layer.kind in HEAD_KINDS]
        if not heads:
            raise ConfigError(f"{cfg}: no detection head ([yolo], [region], [detection]) to train")
        untrained = sorted({h.kind for h in heads if h.kind not in TRAINABLE_HEADS})
        if untrained:
            raise ConfigError(f"{cfg}: training [{'], ['.join(untrained)}] heads is not "
                              "supported yet (only [yolo])")
        self.heads = heads
        self.flavor = _training_flavor(heads)
        # darknet_build="alexeyab-cpu": reproduce AlexeyAB's CPU build where it departs from
        # his GPU build (train/darknet/cpu_build.py, kernels/batchnorm_darknet.py)
        if darknet_build not in (None, "alexeyab-cpu"):
            raise ConfigError(f"darknet_build={darknet_build!r}: only 'alexeyab-cpu' is known")
        if darknet_build and self.flavor != "alexeyab":
            raise ConfigError(f"{cfg}: darknet_build={darknet_build} needs AlexeyAB's [yolo] "
                              "loss (flavor=alexeyab)")
        self.delta_rule = None
        if darknet_build == "alexeyab-cpu":
            from darkpy.train.darknet.cpu_build import AlexeyabCpuDeltas

            self.delta_rule = AlexeyabCpuDeltas(self.network)
        for layer in self.network.layers:
            layer.darknet_training = True
            layer.darknet_flavor = darknet_build or self.flavor
        net = self.network.net
        self.net_h, self.net_w = self.network.input_shape[:2]
        self.optimizer = Optimizer.for_network(self.network)
        self.max_batches = int(net.max_batches)
        if self.max_batches < 1:
            raise ConfigError(f"{sections[0].origin}: [net] max_batches must be >= 1 (or pass "
                              "--iterations)")
        self.seen = 0
        self.loaded_layers = None
        initialise(self.network, int(net.seed or 0))  # darknet's random start, before any file
        if weights is not None:
            seen, self.loaded_layers = load_initial_weights(self.network, weights)
            self.seen = 0 if clear else int(seen)
        self.data_file = read_data_file(data)
        classes = self.data_file.classes
        for head in heads:
            if head.classes != classes:
                raise ConfigError(f"{head.origin}: [{head.kind}] classes={head.classes} but "
                                  f"{self.data_file.where('classes')} says classes = {classes}")
        train_list = self.data_file.file("train", "data/train.list")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            self.dataset = load_detection_list(train_list, classes, label_rule)
        self.load_warnings = [str(w.message) for w in caught]
        last = heads[-1]  # darknet takes jitter, classes and max boxes from the last layer
        self.max_boxes = int(getattr(last, "max_boxes", None) or last.opts.max)
        flip = bool(net.get("flip", 1))
        self.loader = DetectionLoader(self.dataset, self.net_w, self.net_h, self.max_boxes,
                                      flip=flip, seed=int(net.seed or 0),
                                      flavor=self.flavor)
        self.unapplied = self._unapplied_augmentation(net, last)
        self.backup = Path(backup) if backup else self.data_file.file("backup", "backup",
                                                                      must_exist=False)
        self.base = cfg_name or cfg.stem
        self.image_order = image_order
        self.avg_loss = -1.0

    @staticmethod
    def _unapplied_augmentation(net, last) -> list[str]:
        """[net]/head keys asking for augmentation this trainer does not apply yet."""
        wanted = []
        for key, off in (("hue", 0.0), ("saturation", 1.0), ("exposure", 1.0), ("angle", 0.0),
                         ("mosaic", 0), ("letter_box", 0), ("blur", 0), ("mixup", 0),
                         ("cutmix", 0)):
            value = net.get(key, off)
            if value not in (None, off):
                wanted.append(f"{key}={value}")
        for key, off in (("jitter", 0.0), ("random", 0.0)):
            value = last.opts.get(key, off)
            if value not in (None, off):
                wanted.append(f"{key}={value}")
        return wanted

    @property
    def iteration(self) -> int:
        """darknet's get_current_batch: updates done."""
        return self.seen // self.optimizer.batch

    # --- one iteration ---------------------------------------------------------------------
    def train_minibatch(self, x: np.ndarray, truth: np.ndarray) -> tuple[float, dict]:
        """Forward, head deltas, backward for one minibatch; returns (darknet's network cost,
        {head index: its report}). Gradients accumulate until the update."""
        for head in self.heads:
            head.set_truth(truth, self.net_w, self.net_h)
        try:
            self.network.forward(x, train=True)
            self.network.backward(None, rule=self.delta_rule)
        finally:
            for head in self.heads:
                head.set_truth(None, 0, 0)
        reports = {head.index: head.loss for head in self.heads}
        cost = float(np.float32(sum(r["cost"] for r in reports.values()) / len(reports)))
        return cost, reports

    def step(self, indices: list | None = None) -> IterationReport:
        """One iteration: B images as S minibatches, then the update."""
        opt = self.optimizer
        t0 = time.perf_counter()
        iteration = self.iteration
        x, truth, _ = self.loader.batch(iteration, opt.batch, indices)
        total = 0.0
        heads = []
        for k in range(opt.subdivisions):
            part = slice(k * opt.minibatch, (k + 1) * opt.minibatch)
            self.seen += opt.minibatch
            cost, reports = self.train_minibatch(x[part], truth[part])
            total += cost
            heads.append(reports)
        rate = opt.step(self.network, self.iteration)
        loss = total / opt.batch
        self.avg_loss = loss if self.avg_loss < 0 else self.avg_loss * 0.9 + loss * 0.1
        return IterationReport(self.iteration, loss, self.avg_loss, rate,
                               time.perf_counter() - t0, self.iteration * opt.batch, heads)

    # --- checkpoints ----------------------------------------------------------------------
    def save(self, name: str) -> Path:
        from darkpy.io.darknet_weights import WeightsHeader, save_darknet_weights

        self.backup.mkdir(parents=True, exist_ok=True)
        path = self.backup / f"{self.base}_{name}.weights"
        save_darknet_weights(self.network, path, WeightsHeader(0, 2, 0, self.seen))
        return path

    def _periodic(self, iteration: int) -> list[str]:
        names = []
        every = 1000 if self.max_batches < 10000 else 10000
        if iteration % every == 0:
            names.append(str(iteration))
        if iteration % LAST_EVERY == 0:
            names.append("last")
        return names

    def run(self, reporter: Reporter | None = None, iterations: int | None = None) -> TrainResult:
        """Train until max_batches (or `iterations` more updates), SIGINT or SIGTERM."""
        reporter = reporter or Reporter()
        for text in self.load_warnings:
            reporter.message(f"warning: {text}")
        if self.unapplied:
            reporter.message("warning: augmentation not applied yet by darkpy: "
                             + ", ".join(self.unapplied))
        reporter.start(self.iteration, self.max_batches, {
            "cfg": self.base, "images": len(self.dataset.items),
            "batch": self.optimizer.batch,
            "subdivisions": self.optimizer.subdivisions, "seen": self.seen,
            "iteration": self.iteration, "max_batches": self.max_batches,
            "loaded_layers": self.loaded_layers,
            "parameters": self.network.num_params()})
        if self.iteration >= self.max_batches:
            reporter.message(f"the weights have seen {self.seen} images = {self.iteration} "
                             f"iterations >= max_batches={self.max_batches}: nothing to train "
                             "(--clear starts the count at 0, as darknet's -clear)")
        stop_at = self.max_batches if iterations is None else min(self.max_batches,
                                                                 self.iteration + iterations)
        flag: dict = {}
        final = None
        with stop_on_signals(flag):
            while self.iteration < stop_at:
                order = None
                if self.image_order is not None:
                    order = self.image_order[self.iteration]
                report = self.step(order)
                if not np.isfinite(report.loss):
                    self.save("last")
                    raise DarkpyError(f"the loss became {report.loss} at iteration "
                                      f"{report.iteration}; lower the learning rate")
                reporter.iteration(report)
                for name in self._periodic(report.iteration):
                    reporter.checkpoint(report.iteration, self.save(name))
                if flag.get("stop"):
                    reporter.checkpoint(report.iteration, self.save("last"))
                    reporter.message(f"stopped by {flag['stop']} after iteration "
                                     f"{report.iteration}")
                    break
        finished = self.iteration >= self.max_batches
        if finished:
            final = self.save("final")
            reporter.checkpoint(self.iteration, final)
        elif not flag.get("stop") and self.iteration % LAST_EVERY:
            reporter.checkpoint(self.iteration, self.save("last"))
        summary = self.dataset.problems.summary()
        if summary:
            reporter.message(summary)
        return TrainResult(self.iteration, self.max_batches, self.seen, final,
                           bool(flag.get("stop")), summary)


def train_detector(cfg, data, weights=None, reporter=None, **options) -> TrainResult:
    """Train a detector as darknet's `detector train` does (see the module docstring)."""
    return DetectorTrainer(cfg, data, weights, **options).run(reporter)

