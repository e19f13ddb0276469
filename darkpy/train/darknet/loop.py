"""darknet's training loop: `darkpy train CFG --data X.data [--weights W]` for detectors (a
[yolo] head: darknet's `detector train`) and classifiers ([softmax], [logistic] or [cost] and
no detection head: darknet's `classifier train`). One trainer; what differs is the batch
source (detection_batch.DetectionLoader: images and boxes; classifier_batch.ClassifierLoader:
images and one-hot rows) and the checkpoint period.

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
- batch norm computes its statistics and backward with darknet's formulas (the exact
  gradient differs by O(1/m)), in darkpy's fast arithmetic by default, in darknet's own bit
  for bit with `exact` (darkpy.train.darknet.step), and the loss layers' deltas are darknet's (layers/yolo.py, softmax.py,
  logistic.py, cost.py: every layer darknet gives an l.cost gets the minibatch's truth);
- the loss of a minibatch is darknet's network cost: the mean over those loss layers of
  their cost (for [yolo] the sum of squared deltas, for [softmax] its cross-entropy, for
  [cost] its error sum); an iteration's loss is the sum over its minibatches divided by B,
  and avg loss starts at the first loss and then moves by avg = .9 avg + .1 loss;
- checkpoints go to the `.data` file's `backup` folder as darknet .weights named after the
  cfg (AlexeyAB's scheme): <cfg>_last.weights every 100 iterations, <cfg>_<i>.weights every
  10000 iterations for a detector (every 1000 when max_batches < 10000) and every 1000 for a
  classifier, and <cfg>_final.weights at the end. Ctrl-C or SIGTERM stops after the
  iteration with a _last checkpoint;
- with `calc_map` (darknet's -map, AlexeyAB; detectors), mAP@iou_thresh (area under the
  curve) on the `valid` list (else `train`) is computed by darkpy.evaluation.detection_map
  after iteration max(last + max(map_epochs * images / B, 100), burn_in) and at max_batches,
  and <cfg>_best.weights is written whenever it is >= the best so far.

Whose darknet: the heads' `flavor` (layers/yolo.py; AlexeyAB's when a [yolo] section sets a
key only his darknet reads) picks the loss and the batch-norm arithmetic for the whole network
(AlexeyAB's sqrt(var + eps) placements). His CPU build departs from his GPU build (and from
the math) in ways that change what yolov4-tiny learns: batch norm's rolling values move by
.9/.1, batch-normalised convolutions' biases get no gradient, a convolution's backward
overwrites the gradient its input collected from [route] layers, and [route]/[upsample]
gradients are never cleared (darkpy/train/darknet/cpu_build.py). `darknet_build=
"alexeyab-cpu"` reproduces those, and his loader built without OpenCV (darknet's HSV round
trip on every image: Augmentation.hsv_round_trip); the comparison with a CPU-built darknet
uses it. By
default darkpy sums the gradients, trains those biases and moves rolling values by .99/.01,
as his GPU build does.

The images of an iteration are drawn at random with replacement from the `train` list by a
generator seeded by ([net] seed, iteration) (darkpy.train.darknet.detection_batch), so a run is
repeatable; `image_order` replaces the draw (the comparison with darknet uses it). They are
augmented as the cfg asks, in its lineage (darkpy.train.darknet.augment: jitter, hue,
saturation, exposure, flip, letter_box, mosaic, resize, and `random` multi-scale input sizes;
classifiers: angle, aspect, min_crop/max_crop or min_ratio/max_ratio, center, hue, saturation,
exposure, flip and [net] random, darkpy.train.darknet.classifier_batch).
Every _last and _final checkpoint gets a <cfg>_last.state.npz (_final.state.npz) beside it
with what darknet's file lacks (momentum, random states), so that `--resume` continues bit
for bit (darkpy.train.darknet.resume).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from darkpy.config.section import Section
from darkpy.errors import ConfigError, DarkpyError, WeightsError
from darkpy.kernels.heap import keep_freed_memory
from darkpy.reporting import Reporter
from darkpy.train.darknet.augment import (
    ALEXEYAB,
    PJREDDIE,
    Augmentation,
    classifier_input_size,
    input_size,
    lineage_of,
    not_applied,
)
from darkpy.train.darknet.data import DataWarning, load_detection_list, read_data_file
from darkpy.train.darknet.step import set_arithmetic, train_minibatch
from darkpy.train.log import stop_on_signals
from darkpy.train.model import initialise

HEAD_KINDS = ("yolo", "region", "detection", "Gaussian_yolo")
# the layers darknet gives an l.cost: each gets the truth, the network cost is their mean
LOSS_KINDS = HEAD_KINDS + ("softmax", "logistic", "cost", "iseg")
CLASSIFIER_LOSSES = ("softmax", "logistic", "cost")
TRAINABLE_LOSSES = HEAD_KINDS + CLASSIFIER_LOSSES
NET_OVERRIDES = ("batch", "subdivisions", "max_batches", "learning_rate", "seed")
LAST_EVERY = 100


def is_detector(sections: list[Section]) -> bool:
    """Whether a network ends in (or holds) a detection head darknet trains as a detector."""
    return any(s.kind in HEAD_KINDS for s in sections[1:])


def is_classifier(sections: list[Section]) -> bool:
    """Whether darknet would train the network as a classifier: a [softmax] or [logistic]
    loss and no detection head ([cost] alone also ends super-resolution networks)."""
    kinds = {s.kind for s in sections[1:]}
    return not kinds & set(HEAD_KINDS) and bool(kinds & {"softmax", "soft", "logistic"})


@dataclass
class IterationReport:
    """What darknet prints after an iteration, plus the [yolo] reports of each forward."""

    iteration: int          # get_current_batch after the update
    loss: float
    avg_loss: float
    learning_rate: float
    seconds: float
    images: int             # iteration * B, as darknet prints
    heads: list = field(default_factory=list)  # per forward: {layer index: its loss report}
    epoch: float | None = None  # classifiers: seen / training images, as darknet prints


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


class DarknetTrainer:
    """A detector or classifier, its data and darknet's optimiser, ready to `run()`. `exact`
    trains in darknet's own float arithmetic, bit for bit (slow; see darkpy.train.darknet.step)."""

    task = "detector"  # or "classifier" (set from the network's loss layers)

    def __init__(self, cfg, data, weights=None, clear: bool = False, backup=None,
                 label_rule: str = "pjreddie", image_order: list | None = None,
                 cfg_name: str | None = None, calc_map: bool = False, map_iou: float = 0.5,
                 map_thresh: float = 0.25, map_epochs: int = 4, exact: bool = False,
                 darknet_build: str | None = None,
                 **overrides):
        from darkpy.api import read_sections
        from darkpy.network import Network
        from darkpy.train.optim import Optimizer

        keep_freed_memory(large_blocks=True)  # every iteration frees what the next allocates
        cfg = Path(cfg)
        if not cfg.is_file():
            raise ConfigError(f"{cfg}: no such file")
        sections = _with_overrides(read_sections(cfg), overrides)
        self.network = Network(sections, source=str(cfg), init=False)  # initialise() gives them
        layers = self.network.layers
        self.task = "detector" if any(x.kind in HEAD_KINDS for x in layers) else "classifier"
        heads = [layer for layer in layers if layer.kind in LOSS_KINDS]
        if not any(h.kind in HEAD_KINDS + CLASSIFIER_LOSSES for h in heads):
            raise ConfigError(f"{cfg}: nothing to train: no detection head ([yolo], [region], "
                              "[detection]) and no classifier loss ([softmax], [logistic], "
                              "[cost])")
        untrained = sorted({h.kind for h in heads if h.kind not in TRAINABLE_LOSSES})
        if untrained:
            raise ConfigError(f"{cfg}: training [{'], ['.join(untrained)}] layers is not "
                              "supported yet (only [yolo], [Gaussian_yolo], [region], [detection], "
                              "[softmax], [logistic], [cost])")
        self.heads = heads
        self.flavor = _training_flavor(heads)
        # darknet_build="alexeyab-cpu": reproduce AlexeyAB's CPU build where it departs from
        # his GPU build (train/darknet/cpu_build.py, kernels/batchnorm_darknet.py)
        if darknet_build not in (None, "alexeyab-cpu"):
            raise ConfigError(f"darknet_build={darknet_build!r}: only 'alexeyab-cpu' is known")
        if darknet_build and self.flavor != "alexeyab":
            raise ConfigError(f"{cfg}: darknet_build={darknet_build} needs AlexeyAB's [yolo] "
                              "loss (flavor=alexeyab)")
        self.darknet_build = darknet_build
        self.delta_rule = None
        if darknet_build == "alexeyab-cpu":
            from darkpy.train.darknet.cpu_build import AlexeyabCpuDeltas

            self.delta_rule = AlexeyabCpuDeltas(self.network)
        set_arithmetic(self.network, exact)
        for layer in self.network.layers:
            layer.darknet_flavor = darknet_build or self.flavor
        net = self.network.net
        self.net_origin = sections[0].origin
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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            if self.task == "detector":
                self._detector_data(net, label_rule)
            else:
                self._classifier_data(net)
        self.load_warnings = [str(w.message) for w in caught]
        self.setup = {"cfg": str(cfg.resolve()), "data": str(Path(data).resolve()),
                      "label_rule": label_rule, "cfg_name": cfg_name or cfg.stem,
                      "options": {"calc_map": calc_map, "map_iou": map_iou,
                                  "map_thresh": map_thresh, "map_epochs": map_epochs,
                                  "exact": exact, "darknet_build": darknet_build},
                      "overrides": {k: v for k, v in overrides.items() if v is not None}}
        self.backup = Path(backup) if backup else self.data_file.file("backup", "backup",
                                                                      must_exist=False)
        self.base = cfg_name or cfg.stem
        self.image_order = image_order
        self.avg_loss = -1.0
        self.label_rule = label_rule
        if calc_map and self.task != "detector":
            raise ConfigError(f"{cfg}: --map scores detectors; a classifier is scored by "
                              "`darkpy map CFG WEIGHTS --data X.data` (top-1/top-k)")
        self.calc_map, self.map_iou, self.map_thresh = calc_map, map_iou, map_thresh
        self.map_epochs, self.best_map = map_epochs, -1.0

    def _detector_data(self, net, label_rule: str) -> None:
        from darkpy.train.darknet.detection_batch import DetectionLoader

        classes = self.data_file.classes
        for head in self.heads:
            if head.classes != classes:
                raise ConfigError(f"{head.origin}: [{head.kind}] classes={head.classes} but "
                                  f"{self.data_file.where('classes')} says classes = {classes}")
        train_list = self.data_file.file("train", "data/train.list")
        lineage = ALEXEYAB if label_rule == ALEXEYAB else lineage_of(self.network)
        # pjreddie keeps labels centred at (0, 0) as classification-only truths, which only a
        # [region] with a tree reads (AlexeyAB's loader drops them)
        class_only = lineage != ALEXEYAB and any(
            h.kind == "region" and h.tree is not None for h in self.heads)
        self.dataset = load_detection_list(train_list, classes, label_rule,
                                           class_only=class_only)
        last = self.heads[-1]  # darknet takes jitter, classes and max boxes from the last layer
        self.max_boxes = int(getattr(last, "max_boxes", None) or last.opts.max)
        self.aug = Augmentation.from_cfg(net, last, lineage)
        if self.darknet_build == "alexeyab-cpu":  # built as the oracle is: OPENCV=0 too
            self.aug = replace(self.aug, opencv=False)
        self.loader = DetectionLoader(self.dataset, self.net_w, self.net_h, self.max_boxes,
                                      flip=self.aug.flip, seed=int(net.seed or 0),
                                      flavor=label_rule, aug=self.aug)
        self.unapplied = not_applied(net, "detector")

    def _classifier_data(self, net) -> None:
        """darknet's train_classifier: `classes` (default 2), `train`, `labels`; the crop
        sides [net] min_crop..max_crop (width..2 width) or min_ratio/max_ratio x width."""
        from darkpy.train.darknet.classifier_batch import ClassifierLoader
        from darkpy.train.darknet.data import load_classifier_set

        classes = self.data_file.integer("classes", 2, minimum=1)
        outputs = int(np.prod(self.network.shapes[-1]))
        if outputs != classes:
            raise ConfigError(f"{self.network.layers[-1].origin}: the network gives {outputs} "
                              f"outputs but {self.data_file.where('classes')} says classes = "
                              f"{classes}")
        if self.net_w != self.net_h:
            raise ConfigError(f"{self.net_origin}: darknet trains classifiers on "
                              f"square crops (width = height), got {self.net_w}x{self.net_h}")
        train_list = self.data_file.file("train", "data/train.list")
        labels = self.data_file.file("labels", "data/labels.list")
        self.dataset = load_classifier_set(train_list, labels, classes,
                                           self.data_file.where("classes"))
        self.aug = Augmentation.from_cfg(net, lineage=PJREDDIE)
        if self.darknet_build == "alexeyab-cpu":  # OPENCV=0: no classifier blur either
            self.aug = replace(self.aug, opencv=False)
        if self.aug.blur > 1 and self.aug.blur % 2 == 0:
            raise ConfigError(f"{self.net_origin}: blur={self.aug.blur} is a classifier's "
                              "Gaussian kernel size and must be odd (OpenCV refuses an even "
                              "one; darknet stops there)")
        if self.aug.max_crop < self.aug.min_crop:
            raise ConfigError(f"{self.net_origin}: the largest crop side {self.aug.max_crop} is "
                              f"below the smallest {self.aug.min_crop} (min_crop/max_crop or "
                              "*_ratio)")
        tree = None
        if self.data_file.text("tree"):
            from darkpy.layers.tree import load_tree

            tree = load_tree(self.data_file.text("tree"), str(self.data_file.path),
                             self.data_file.where("tree"))
        self.loader = ClassifierLoader(self.dataset, self.net_w, classes, int(net.seed or 0),
                                       self.aug, smooth=float(net.get("label_smooth_eps") or 0),
                                       tree=tree)
        self.unapplied = not_applied(net, "classifier")

    @property
    def iteration(self) -> int:
        """darknet's get_current_batch: updates done."""
        return self.seen // self.optimizer.batch

    # --- one iteration ---------------------------------------------------------------------
    def train_minibatch(self, x: np.ndarray, truth: np.ndarray) -> tuple[float, dict]:
        """Forward, head deltas, backward for one minibatch; returns (darknet's network cost,
        {head index: its report}). Gradients accumulate until the update."""
        for head in self.heads:
            head.images_seen = self.seen  # [region]'s prior term reads darknet's seen
        # the truth is relative to this batch's size (multi-scale changes it)
        return train_minibatch(self.network, self.heads, x, truth, x.shape[2], x.shape[1],
                               rule=self.delta_rule)

    def step(self, indices: list | None = None) -> IterationReport:
        """One iteration: B images as S minibatches, then the update."""
        opt = self.optimizer
        t0 = time.perf_counter()
        iteration = self.iteration
        if self.task == "detector":
            size = input_size(self.aug, iteration, self.max_batches, self.net_w, self.net_h,
                              self.loader.seed)
            x, truth, _ = self.loader.batch(iteration, opt.batch, indices, size=size)
        else:
            side = classifier_input_size(self.aug, iteration, self.net_w, self.loader.seed)
            x, truth, _ = self.loader.batch(iteration, opt.batch, indices, size=side)
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
        epoch = self.seen / len(self.dataset.items) if self.task == "classifier" else None
        return IterationReport(self.iteration, loss, self.avg_loss, rate,
                               time.perf_counter() - t0, self.iteration * opt.batch, heads,
                               epoch)

    # --- checkpoints ----------------------------------------------------------------------
    def save(self, name: str) -> Path:
        from darkpy.io.darknet_weights import WeightsHeader, save_darknet_weights
        from darkpy.train.darknet.resume import save_state

        self.backup.mkdir(parents=True, exist_ok=True)
        path = self.backup / f"{self.base}_{name}.weights"
        save_darknet_weights(self.network, path, WeightsHeader(0, 2, 0, self.seen))
        if name in ("last", "final"):  # what --resume needs besides the weights (resume.py)
            save_state(self, path)
        return path

    def _periodic(self, iteration: int) -> list[str]:
        names = []
        every = 1000 if self.max_batches < 10000 or self.task == "classifier" else 10000
        if iteration % every == 0:
            names.append(str(iteration))
        if iteration % LAST_EVERY == 0:
            names.append("last")
        return names

    def _next_map(self, last: int) -> int:
        """AlexeyAB's next_map_calc after a calculation at iteration `last`."""
        every = max(self.map_epochs * len(self.dataset.items) // self.optimizer.batch, 100)
        return max(last + every, int(self.network.net.get("burn_in", 0) or 0))

    def validate_map(self, iteration: int, reporter: Reporter):
        """mAP on the `valid` list now; <cfg>_best.weights when it is the best so far."""
        from darkpy.evaluation.detection_map import map_network

        report = map_network(self.network, self.data_file, iou_thresh=self.map_iou, points=0,
                             thresh=self.map_thresh, coco=False, label_rule=self.label_rule)
        best = report.map >= self.best_map
        reporter.validation(iteration, report, best)
        if best:
            self.best_map = report.map
            reporter.checkpoint(iteration, self.save("best"))
        return report

    def run(self, reporter: Reporter | None = None, iterations: int | None = None) -> TrainResult:
        """Train until max_batches (or `iterations` more updates), SIGINT or SIGTERM."""
        reporter = reporter or Reporter()
        for text in self.load_warnings:
            reporter.message(f"warning: {text}")
        if self.unapplied:
            reporter.message(f"warning: ignored for a {self.task}, as darknet ignores it: "
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
        next_map = self._next_map(self.iteration)
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
                if self.calc_map and (report.iteration >= next_map
                                      or report.iteration == self.max_batches):
                    self.validate_map(report.iteration, reporter)
                    next_map = self._next_map(report.iteration)
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




def train_darknet(cfg, data, weights=None, reporter=None, **options) -> TrainResult:
    """Train a detector or classifier as darknet's `detector train` / `classifier train` do
    (see the module docstring)."""
    return DarknetTrainer(cfg, data, weights, **options).run(reporter)


train_detector = train_darknet
