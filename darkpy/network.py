"""The network graph: sections -> layers, index routing, shape inference, forward.

Routing follows darknet: a layer reference is negative = relative to the referring layer,
non-negative = absolute. Index -1 as a resolved source means the network input. Shapes are
inferred for the [net] size at build time and again for every input size at forward time,
so fully convolutional networks run on any image size.

Training: `forward(x, train=True)` keeps every layer's output, `backward(delta)` walks the
layers in reverse, summing the gradients that reach an output from several consumers (routes,
shortcuts), and `train_step(x, truth)` does both around the trailing [cost] layer. Parameter
gradients accumulate in each layer's `grads` until `zero_grads()` (the optimiser in
darkpy.train.optim zeroes them after each update, so subdivisions simply accumulate).
"""
from __future__ import annotations

from contextlib import nullcontext
import warnings

import numpy as np

from darkpy.config.cfg import format_cfg
from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.net_keys import NET_KEYS
from darkpy.config.schema import Options, closest_key, parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError, InputError, ShapeMismatchError
from darkpy.kernels import recycle
from darkpy.kernels.activation_codes import LINEAR
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, Shape, deferred_params
from darkpy.layers.registry import KINDS, layer_class  # imports a layer module per kind used

INPUT = -1  # resolved source index meaning "the network input"


def resolve_reference(ref: int, index: int, key: str | None, section: Section) -> int:
    absolute = index + ref if ref < 0 else ref
    if key is None and absolute == INPUT:
        return INPUT
    if absolute < 0 or absolute >= index:
        direction = "before the first layer" if absolute < 0 else "forward or to itself"
        raise ConfigError(
            f"{section.where(key)}: [{section.kind}] layer {index}: `{key}` refers to layer "
            f"{ref} (= {absolute}), which points {direction}; only layers 0..{index - 1} can be used"
        )
    return absolute


def _check_forks(sections: list[Section], fork: str | None) -> None:
    from darkpy.config import forks

    if fork is not None:
        forks.check_fork(sections, fork)
        return
    mixed = forks.mixed_forks(sections)
    if mixed:
        warnings.warn(f"{sections[0].origin}: {mixed}", stacklevel=3)


def shape_mismatch_message(section: Section, index: int, keys, sources, shapes,
                           reason: str) -> str:
    """Name the layer, the keys that chose its inputs, every input layer with its shape, and
    what is wrong: "t.cfg:30: layer 23 [route] layers=-1,8: layer 8 is 26x26x256, layer 22 is
    13x13x128: spatial sizes differ" (shapes width x height x channels, as `darkpy info`)."""
    from darkpy.info import shape_text

    named = [k for k in dict.fromkeys(keys) if k is not None and k in section.options]
    chosen = "".join(f" {k}={section.options[k]}" for k in named)
    shape_of = dict(zip(sources, shapes))
    parts = [f"the network input is {shape_text(shape_of[s])}" if s == INPUT else
             f"layer {s} is {shape_text(shape_of[s])}" for s in sorted(shape_of)]
    where = section.where(named[0]) if named else section.origin
    return f"{where}: layer {index} [{section.kind}]{chosen}: {', '.join(parts)}: {reason}"


elementwise = kernels("elementwise")


def _add_gradients(a, b, out=None):
    """a + b (into `out`, which may be a), on darkpy's workers for same-shaped NHWC arrays
    (the shortcut kernel with alpha = beta = 1: the same bits as numpy's sum)."""
    if a.ndim == 4 and a.shape == b.shape and a.dtype == b.dtype and a.flags.c_contiguous \
            and b.flags.c_contiguous:
        one = a.dtype.type(1)
        return elementwise.shortcut(a, b, one, one, LINEAR, out=out)
    return np.add(a, b, out=out)


class Network:
    """Layers built from sections, with their resolved sources and inferred shapes.

    init=False allocates no parameters: for a network whose weights come from a file next
    (darkpy.load does this), or whose shapes and sizes alone are wanted (`darkpy info`).
    `init_params` gives the layers still without values darknet's initial ones. `fork` =
    "pjreddie" or "AlexeyAB": the darknet this cfg is for; anything in it that darknet would
    not read (config/forks.py) is then an error. Without it, a cfg that needs both darknets
    at once gets a warning.
    """

    def __init__(self, sections: list[Section], source: str = "<memory>", init: bool = True,
                 fork: str | None = None):
        if not sections:
            raise ConfigError(f"{source}: empty network description")
        _check_forks(sections, fork)
        self.source = source
        self.sections = sections
        self.net: Options = parse_options(sections[0], NET_KEYS)
        self.input_shape: Shape = self._net_input_shape()
        self.layers: list[Layer] = []
        self.sources: list[list[int]] = []
        self.source_keys: list[list[str | None]] = []  # the key each source came from
        self.shapes: list[Shape] = []
        with nullcontext() if init else deferred_params():
            self._build(sections[1:])
        if not self.layers:
            raise ConfigError(f"{source}: the network has no layers after [net]")
        self._last_use = self._compute_last_use()
        self._residual_fusions = self._find_residual_fusions()
        self.dtype = np.dtype(np.float32)
        self._train_cache: tuple[np.ndarray, list[np.ndarray]] | None = None
        # freed layer outputs kept for the next inference pass of the same input shape
        self._buffers = recycle.PassPools()
        self._params_ready = init
        # what a model file carries besides the cfg and the weights (an .h5's attributes:
        # `source`, a detector's class `names`, `converted`, `training`); darkpy.load fills
        # it, darkpy.save writes it back
        self.metadata: dict = {}

    def _build(self, sections: list[Section]) -> None:
        for index, section in enumerate(sections):
            cls = layer_class(section.kind)
            if cls is None:
                hint = closest_key(section.kind, KINDS)
                tip = f" (did you mean [{hint}]?)" if hint else ""
                raise ConfigError(f"{section.origin}: unsupported layer kind [{section.kind}]{tip}")
            opts = parse_options(section, {**COMMON_KEYS, **cls.keys})
            for name in cls.net_options:  # [net] values the layer needs (time_steps...)
                opts[name] = self.net[name]
            try:
                refs = cls.references(opts)
            except ConfigError as exc:
                raise ConfigError(f"{section.origin}: [{section.kind}] layer {index}: {exc}") from None
            sources = [resolve_reference(ref, index, key, section) for ref, key in refs]
            keys = [key for _, key in refs]
            in_shapes = [self.input_shape if s == INPUT else self.shapes[s] for s in sources]
            try:
                layer = cls(opts, in_shapes, index, section.origin)
            except ShapeMismatchError as exc:
                raise ConfigError(shape_mismatch_message(section, index, keys, sources,
                                                         in_shapes, exc.reason)) from None
            layer.link(self.layers)
            self.layers.append(layer)
            self.sources.append(sources)
            self.source_keys.append(list(keys))
            self.shapes.append(tuple(int(v) for v in layer.output_shape(in_shapes)))

    def init_params(self, seed=None, only_missing: bool = False) -> None:
        """darknet's initial values for every layer's parameters, each layer seeded by its
        index (with seed given: by (seed, index), as `darkpy train` seeds). only_missing: just
        the layers without values yet (those a partial darknet .weights file, such as a
        backbone's darknet53.conv.74, did not reach)."""
        for layer in self.layers:
            names = layer.missing_params() if only_missing else None
            if names != []:
                layer.init_params(layer.index if seed is None
                                  else [int(seed) & 0xFFFFFFFF, layer.index], names)
        self._params_ready = True

    def _net_input_shape(self) -> Shape:
        h, w, c = self.net.height, self.net.width, self.net.channels
        if h == 0 and w == 0 and c == 0 and self.net.inputs > 0:
            return (1, 1, self.net.inputs)
        if min(h, w, c) <= 0:
            raise ConfigError(
                f"{self.sections[0].origin}: [net] needs positive width, height and channels "
                f"(got width={w}, height={h}, channels={c})"
            )
        return (h, w, c)

    def _compute_last_use(self) -> list[int]:
        last = list(range(len(self.layers)))
        for consumer, sources in enumerate(self.sources):
            for s in sources:
                if s >= 0:
                    last[s] = max(last[s], consumer)
        return last

    def _find_residual_fusions(self) -> dict[int, int]:
        """conv index -> shortcut index, for every [shortcut] that adds an earlier output to a
        convolution's output that nothing else reads: inference runs the two as one pass
        (Convolutional.forward_residual), the sum written while the convolution's blocks are
        in cache, and the convolution's own output never kept."""
        consumers: dict[int, list[int]] = {}
        for consumer, sources in enumerate(self.sources):
            for s in set(sources):
                consumers.setdefault(s, []).append(consumer)
        fusions = {}
        for i, (layer, sources) in enumerate(zip(self.layers, self.sources)):
            if layer.kind != "shortcut" or len(sources) != 2:
                continue
            conv, other = sources
            if (conv >= 0 and self.layers[conv].kind == "convolutional"
                    and consumers.get(conv) == [i] and other < conv):
                fusions[conv] = i
        return fusions

    # --- shapes --------------------------------------------------------------------------
    def infer_shapes(self, input_shape: Shape) -> list[Shape]:
        """Output shape of every layer for an input of `input_shape` (h, w, c)."""
        if tuple(input_shape) == tuple(self.input_shape):
            return list(self.shapes)
        shapes: list[Shape] = []
        for layer, sources in zip(self.layers, self.sources):
            in_shapes = [tuple(input_shape) if s == INPUT else shapes[s] for s in sources]
            try:
                shapes.append(tuple(int(v) for v in layer.output_shape(in_shapes)))
            except ShapeMismatchError as exc:
                message = shape_mismatch_message(self.sections[layer.index + 1], layer.index,
                                                 self.source_keys[layer.index], sources, in_shapes,
                                                 exc.reason)
                raise InputError(f"input {input_shape[1]}x{input_shape[0]} does not fit this "
                                 f"network: {message}") from None
            except ConfigError as exc:
                raise InputError(
                    f"input {input_shape[1]}x{input_shape[0]} is too small or the wrong size "
                    f"for this network: {exc}"
                ) from None
            if min(shapes[-1]) <= 0:
                raise InputError(
                    f"input {input_shape[1]}x{input_shape[0]} is too small: layer "
                    f"{layer.index} [{layer.kind}] ({layer.origin}) would output {shapes[-1]}"
                )
        return shapes

    # --- compute -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, outputs=None, train: bool = False):
        """Run NHWC float32 `x` (N, H, W, C) through the network.

        Returns the last layer's output, or, when `outputs` lists layer indices, a dict
        index -> that layer's output. Intermediate outputs are freed after their last consumer
        and their memory is reused, by later layers and by the next forward of an input of the
        same shape (kernels/recycle.py; `release_buffers()` frees it), except with train=True:
        then layers run in training mode (batch statistics, dropout) and every output is kept
        for `backward`.
        """
        x = self._check_input(x)
        wanted = self._normalise_outputs(outputs)
        if train:
            return self._forward_train(x, outputs, wanted)
        self._train_cache = None
        keep = set(wanted) | {len(self.layers) - 1}
        live: dict[int, np.ndarray] = {}

        def release(sources, i):
            for s in set(sources):
                if s >= 0 and self._last_use[s] <= i and s not in keep and s in live:
                    recycle.give_back(live.pop(s))  # reused by a later layer when unshared

        with recycle.recycling(self._buffers.for_input(x.shape)):
            for i, (layer, sources) in enumerate(zip(self.layers, self.sources)):
                if i in live:  # a shortcut its convolution already computed
                    continue
                inputs = [x if s == INPUT else live[s] for s in sources]
                fused = self._residual_fusions.get(i)
                out = None
                if fused is not None and i not in keep:
                    out = self._forward_fused(layer, inputs, fused, x, live, train=False)
                if out is None:
                    live[i] = layer.forward(inputs)
                else:
                    live[fused] = out
                inputs = out = None  # so that release sees which inputs nothing else holds
                release(sources, i)
                if fused in live:
                    release(self.sources[fused], fused)
        if outputs is None:
            return live[len(self.layers) - 1]
        return {i: live[i] for i in wanted}

    def _forward_fused(self, layer, inputs, fused, x, outputs, train: bool):
        """The convolution `layer` and the [shortcut] `fused` after it as one pass
        (Convolutional.forward_residual), or None where the layer declines; outputs: the
        earlier layers' outputs by index (x the network's input)."""
        shortcut = self.layers[fused]
        other = self.sources[fused][1]
        return layer.forward_residual(inputs, x if other == INPUT else outputs[other],
                                      shortcut.alpha, shortcut.beta, shortcut.code, train=train)

    def release_buffers(self) -> None:
        """Free the layer outputs kept for the next forward pass (memory back to the system)."""
        self._buffers.clear()

    def _check_input(self, x) -> np.ndarray:
        if not self._params_ready:
            missing = [layer for layer in self.layers if layer.missing_params()]
            if missing:
                layer = missing[0]
                raise InputError(f"{layer.origin}: [{layer.kind}] layer {layer.index} has no "
                                 "parameter values: the network was built without them (load "
                                 "weights into it, or call init_params())")
            self._params_ready = True
        x = np.asarray(x)
        if x.ndim != 4:
            raise InputError(f"forward expects an NHWC array (N, H, W, C), got shape {x.shape}")
        if x.shape[3] != self.input_shape[2]:
            raise InputError(
                f"the network takes {self.input_shape[2]} channels, the input has {x.shape[3]}"
            )
        x = np.ascontiguousarray(x, dtype=self.dtype)
        self.infer_shapes(x.shape[1:])  # raises a clear error for unusable sizes
        return x

    def _forward_train(self, x, outputs, wanted):
        self._train_cache = None
        outs: list[np.ndarray] = []
        fused_outputs: dict[int, np.ndarray] = {}  # shortcut index -> its convolution's sum
        for i, (layer, sources) in enumerate(zip(self.layers, self.sources)):
            if i in fused_outputs:
                outs.append(fused_outputs.pop(i))
                continue
            inputs = [x if s == INPUT else outs[s] for s in sources]
            fused = self._residual_fusions.get(i)
            if fused is not None and i not in wanted:
                # as inference does; backward then hands the convolution the sum as its
                # output, which a linear activation's gradient never reads
                out = self._forward_fused(layer, inputs, fused, x, outs, train=True)
                if out is not None:
                    outs.append(out)
                    fused_outputs[fused] = out
                    continue
            outs.append(layer.forward(inputs, train=True))
        self._train_cache = (x, outs)
        if outputs is None:
            return outs[-1]
        return {i: outs[i] for i in wanted}

    def backward(self, delta: np.ndarray | None, input_gradient: bool = True,
                 rule=None) -> np.ndarray | None:
        """Backpropagate dL/d(last output) through the last `forward(train=True)`.

        Adds parameter gradients to every layer's `grads` and returns dL/d(network input)
        (None when no gradient reaches the input, e.g. below a `stopbackward` layer, or when
        `input_gradient` is False: then the layers reading only the input skip computing it).
        Layers with a loss of their own (`has_loss()`, e.g. [yolo] heads given truth) add
        its gradient wherever they are; `delta` may then be None (nothing from outside).
        `rule` replaces how the gradients a layer's consumers send it are combined (their
        sum): an object with begin(deltas), received(i, delta) -> delta and
        combine(target, consumer, existing, g) -> delta, used to reproduce a darknet build
        that does not sum them (darkpy.train.darknet.cpu_build).
        """
        if self._train_cache is None:
            raise InputError("backward needs a forward(x, train=True) first")
        x, outs = self._train_cache
        last = len(self.layers) - 1
        deltas: list[np.ndarray | None] = [None] * len(self.layers)
        if delta is not None:
            delta = np.asarray(delta, dtype=self.dtype)
            if delta.shape != outs[last].shape:
                raise InputError(f"delta has shape {delta.shape}, the network output "
                                 f"{outs[last].shape}")
            deltas[last] = np.ascontiguousarray(delta)
        input_delta = None
        # ids of the sums made below: arrays only deltas[] holds, so adding into them in place
        # is safe (what a layer returns may be shared: a shortcut hands one array to both)
        own_sums: set[int] = set()
        if rule is not None:
            rule.begin(deltas)
        for i in range(last, -1, -1):
            d, deltas[i] = deltas[i], None
            if d is not None:
                own_sums.discard(id(d))
            if rule is not None:
                d = rule.received(i, d)
            layer = self.layers[i]
            if layer.opts.get("stopbackward"):
                break  # darknet: no backward for this layer nor any before it
            if d is None and not layer.has_loss():
                continue  # nothing downstream depends on this output
            sources = self.sources[i]
            inputs = [x if s == INPUT else outs[s] for s in sources]
            if not input_gradient and all(s == INPUT for s in sources):
                layer.backward_params(d, inputs, outs[i])
                continue
            for s, g in zip(sources, layer.backward(d, inputs, outs[i])):
                if g is None:
                    continue
                if s == INPUT:
                    input_delta = g if input_delta is None else input_delta + g
                elif deltas[s] is None:
                    deltas[s] = g
                elif rule is not None:
                    deltas[s] = rule.combine(s, i, deltas[s], g)
                elif id(deltas[s]) in own_sums:
                    _add_gradients(deltas[s], g, out=deltas[s])
                else:
                    deltas[s] = _add_gradients(deltas[s], g)
                    own_sums.add(id(deltas[s]))
        return input_delta

    def release_training_outputs(self) -> None:
        """Forget the outputs the last forward(train=True) kept for backward, so that a
        training loop does not hold them until its next forward (backward needs a new
        forward after this)."""
        self._train_cache = None

    def train_step(self, x: np.ndarray, truth: np.ndarray) -> float:
        """Forward in training mode, the trailing [cost] layer's loss against `truth` (the
        shape of the network output), backward. Returns darknet's cost for this batch (the
        sum over its images); gradients accumulate until the optimiser's step."""
        from darkpy.layers.cost import Cost

        cost = self.layers[-1]
        if not isinstance(cost, Cost):
            raise ConfigError(f"{cost.origin}: train_step needs a [cost] layer last; the last "
                              f"layer is [{cost.kind}]")
        out = self.forward(x, train=True)
        loss, delta = cost.loss(out, truth)
        self.backward(delta)
        return loss

    def zero_grads(self) -> None:
        for layer in self.layers:
            layer.zero_grads()

    def parameters(self):
        """(layer, name, param, grad) for every trainable parameter, layers in order."""
        for layer in self.layers:
            for name in layer.trainable():
                yield layer, name, layer.params[name], layer.grad(name)

    def astype(self, dtype) -> "Network":
        """Compute in `dtype` from now on (float64 for gradient checks; float32 is the fast
        path): converts every layer's parameters and drops cached derived tensors."""
        self.dtype = np.dtype(dtype)
        for layer in self.layers:
            layer.astype(self.dtype)
        self._train_cache = None
        return self

    def _normalise_outputs(self, outputs) -> list[int]:
        if outputs is None:
            return []
        n = len(self.layers)
        out = []
        for i in outputs:
            j = int(i) + n if int(i) < 0 else int(i)
            if not 0 <= j < n:
                raise InputError(f"output layer {i} does not exist (the network has {n} layers)")
            out.append(j)
        return out

    # --- description ----------------------------------------------------------------------
    def cfg_text(self) -> str:
        return format_cfg(self.sections)

    def num_params(self) -> int:
        return sum(layer.num_params() for layer in self.layers)

    def __repr__(self) -> str:
        return f"<Network {self.source}: {len(self.layers)} layers, {self.num_params():,} parameters>"

