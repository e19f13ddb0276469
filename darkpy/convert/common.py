"""What the checkpoint converters share: state-dict clean-up, weight norm, cfg writing, saving.

A converter reads a PyTorch state dict (numpy arrays, see darkpy.io.torch_checkpoint), infers
the architecture from the tensor shapes, writes cfg text with `CfgBuilder` and hands back a
`Converted` (cfg text plus parameters per layer index, in darknet layout). PyTorch's
convolution weights are (Cout, Cin, K, K), darknet's layout too, so they pass through as is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.errors import CheckpointError

# ---------------------------------------------------------------- state dicts -----------

_WN_OLD = re.compile(r"^(?P<base>.+)\.weight_(?P<part>[gv])$")
_WN_NEW = re.compile(r"^(?P<base>.+)\.parametrizations\.weight\.original(?P<part>[01])$")


def strip_prefix(state: dict, prefixes=("module.",)) -> dict:
    """Drop a wrapper prefix (DataParallel's `module.`) when every key carries it."""
    for prefix in prefixes:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def fold_weight_norm(state: dict) -> dict:
    """Replace weight-normalised pairs by the plain `<layer>.weight` they stand for.

    torch.nn.utils.weight_norm stores `weight_g` and `weight_v` (newer torch's parametrization:
    `parametrizations.weight.original0` and `original1`); the weight is g * v / ||v||, the norm
    taken over every axis on which g has size 1 (all but the output channel for dim=0, the
    default, or everything for dim=None).
    """
    out: dict = {}
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        match = _WN_OLD.match(key) or _WN_NEW.match(key)
        if match is None:
            out[key] = value
            continue
        part = {"g": "g", "v": "v", "0": "g", "1": "v"}[match["part"]]
        pairs.setdefault(match["base"], {})[part] = value
    for base, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            missing = "magnitude (g)" if "g" not in pair else "direction (v)"
            raise CheckpointError(f"weight-normalised `{base}` lacks its {missing}")
        v = np.asarray(pair["v"], dtype=np.float64)
        g = np.asarray(pair["g"], dtype=np.float64)
        if g.ndim < v.ndim:  # dim=None stores a scalar magnitude
            g = g.reshape((1,) * (v.ndim - g.ndim) + g.shape) if g.size == 1 else g
        if g.ndim != v.ndim or any(gs not in (1, vs) for gs, vs in zip(g.shape, v.shape)):
            raise CheckpointError(f"`{base}`: weight-norm magnitude {pair['g'].shape} does not fit {v.shape}")
        axes = tuple(a for a in range(v.ndim) if g.shape[a] == 1)
        norm = np.sqrt(np.sum(v * v, axis=axes, keepdims=True))
        out[f"{base}.weight"] = (g * v / norm).astype(np.float32)
    return out


def clean_state_dict(state: dict) -> dict:
    """Prefix stripped, weight norm folded, every value a float32 numpy array."""
    state = fold_weight_norm(strip_prefix(dict(state)))
    return {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}


def conv(state: dict, name: str, where: str = "checkpoint") -> tuple[np.ndarray, np.ndarray]:
    """(weight (Cout, Cin, K, K), bias (Cout,)) of convolution `name`; a bias-less conv gets zeros."""
    weight = state.get(f"{name}.weight")
    if weight is None:
        raise CheckpointError(f"{where}: no `{name}.weight` (not the expected layout?)")
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3] or weight.shape[2] % 2 == 0:
        raise CheckpointError(f"{where}: `{name}.weight` has shape {weight.shape}, expected (Cout, Cin, K, K), K odd")
    bias = state.get(f"{name}.bias")
    if bias is None:
        bias = np.zeros(weight.shape[0], np.float32)
    if bias.shape != (weight.shape[0],):
        raise CheckpointError(f"{where}: `{name}.bias` has shape {bias.shape}, expected ({weight.shape[0]},)")
    return weight, bias


def count_indices(state: dict, prefix: str, suffix: str) -> int:
    """How many consecutive `prefix{i}suffix` keys exist, from i = 0."""
    n = 0
    while f"{prefix}{n}{suffix}" in state:
        n += 1
    return n


def square_root(n: int) -> int | None:
    r = int(round(n ** 0.5))
    return r if r * r == n else None


def check_used(state: dict, used: set, where: str) -> None:
    """Refuse tensors the converter did not place: they would mean a different architecture."""
    left = sorted(k for k in state if k not in used)
    if left:
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        raise CheckpointError(f"{where}: unexpected tensors {', '.join(left[:5])}{more} (not the expected architecture?)")


# ---------------------------------------------------------------- cfg text ---------------

def number(value: float) -> str:
    """Shortest text that reads back as the same float32 (114.444, not 114.44400024414062)."""
    text = np.format_float_positional(np.float32(value), trim="-")
    return text


def numbers(values) -> str:
    return ",".join(number(v) for v in values)


@dataclass(frozen=True)
class Ref:
    """A reference to a named layer: a relative index in cfg text, the name in YAML."""

    name: str


@dataclass
class Entry:
    kind: str
    options: dict
    comment: str = ""
    name: str | None = None


@dataclass
class Repeat:
    count: int
    entries: list[Entry]
    comment: str = ""


@dataclass
class CfgBuilder:
    """Sections in order, with comments, names and runs of identical sections (repeats).

    `text()` writes darknet cfg (repeats unrolled, `Ref`s as relative indices);
    `yaml_text()` writes the YAML twin with `repeat:` blocks and `name:`s. Both read back as
    the same sections. References inside a repeat must be plain relative ints (from=-3) so
    every copy is the same text.
    """

    title: list[str]
    net: dict
    items: list = field(default_factory=list)
    count: int = 0  # layers so far: the index the next section gets

    def add(self, kind: str, comment: str = "", name: str | None = None, **options) -> int:
        self.items.append(Entry(kind, options, comment, name))
        self.count += 1
        return self.count - 1

    def repeat(self, count: int, entries: list[tuple[str, dict]], comment: str = "") -> int:
        """Append `count` copies of `entries` ((kind, options) pairs); returns the last index."""
        if count > 0:
            self.items.append(Repeat(count, [Entry(kind, dict(opts)) for kind, opts in entries], comment))
            self.count += count * len(entries)
        return self.count - 1

    def _flat(self):
        """(index, entry, comment line or None) for every section after [net], repeats unrolled."""
        index = 0
        for item in self.items:
            if isinstance(item, Repeat):
                for copy in range(item.count):
                    for k, entry in enumerate(item.entries):
                        note = f"{item.comment} {copy + 1} of {item.count}" if k == 0 and item.comment else None
                        yield index, entry, note
                        index += 1
            else:
                yield index, item, f"{index}: {item.comment}" if item.comment else None
                index += 1

    def _names(self) -> dict[str, int]:
        return {entry.name: index for index, entry, _ in self._flat() if entry.name}

    @staticmethod
    def _cfg_value(value, index: int, names: dict[str, int]) -> str:
        if isinstance(value, Ref):
            return str(names[value.name] - index)
        return str(value)

    def sections(self) -> list[tuple[str, dict[str, str]]]:
        """(kind, options as cfg text) for [net] and every layer: what both texts describe."""
        names = self._names()
        out = [("net", {k: str(v) for k, v in self.net.items()})]
        for index, entry, _ in self._flat():
            out.append((entry.kind, {k: self._cfg_value(v, index, names) for k, v in entry.options.items()}))
        return out

    def text(self) -> str:
        names = self._names()
        lines = [f"# {t}" for t in self.title]
        lines += ["", "[net]"] + [f"{k}={v}" for k, v in self.net.items()]
        for index, entry, note in self._flat():
            lines.append("")
            if note:
                lines.append(f"# {note}")
            lines.append(f"[{entry.kind}]")
            lines += [f"{k}={self._cfg_value(v, index, names)}" for k, v in entry.options.items()]
        return "\n".join(lines) + "\n"

    def yaml_text(self) -> str:
        """The YAML twin: a `repeat:` block per run of residual blocks, names for long skips."""
        lines = [f"# {t}" for t in self.title]
        lines.append(f"net: {_yaml_map(self.net)}")
        lines.append("layers:")
        for item in self.items:
            if item.comment:
                lines.append(f"  # {item.comment}")
            if isinstance(item, Repeat):
                lines.append(f"  - repeat: {item.count}")
                lines.append("    layers:")
                lines += [f"      - {entry.kind}: {_yaml_map(entry.options)}" for entry in item.entries]
            else:
                options = dict(item.options)
                if item.name:
                    options["name"] = item.name
                lines.append(f"  - {item.kind}: {_yaml_map(options)}")
        return "\n".join(lines) + "\n"


def _yaml_scalar(value) -> str:
    if isinstance(value, Ref):
        return value.name
    text = str(value)
    if "," in text:
        return "[" + ", ".join(text.split(",")) + "]"
    return text


def _yaml_map(options: dict) -> str:
    return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in options.items()) + "}"


# ---------------------------------------------------------------- results ----------------

@dataclass
class Converted:
    """A converted model: cfg text and parameters (darknet layout) keyed by layer index."""

    cfg: str
    params: dict[int, dict[str, np.ndarray]]
    info: dict = field(default_factory=dict)

    def network(self, source: str = "<converted>"):
        """The darkpy Network with the converted parameters in place."""
        from darkpy.config.cfg import parse_cfg_text
        from darkpy.network import Network

        network = Network(parse_cfg_text(self.cfg, source), source=source, init=False)
        for index, params in self.params.items():
            layer = network.layers[index]
            for name, value in params.items():
                layer.set_param(name, value)
        network.init_params(only_missing=True)  # layers the checkpoint has no values for
        return network


def conv_params(builder: CfgBuilder, convs: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, dict]:
    """Parameters per layer index: the (weight, bias) pairs given in the order the
    [convolutional] sections appear in the builder's cfg."""
    indices = [i for i, (kind, _) in enumerate(builder.sections()[1:]) if kind == "convolutional"]
    if len(indices) != len(convs):
        raise AssertionError(f"{len(convs)} convolutions for {len(indices)} [convolutional] sections")
    return {i: {"biases": bias, "weights": weight} for i, (weight, bias) in zip(indices, convs)}


def save_converted(converted: Converted, out, source: str, cfg_path=None):
    """Write `out` (.h5 with the cfg embedded) and the cfg beside it (or at `cfg_path`)."""
    from darkpy.api import save
    from darkpy.io.atomic import atomic_write_text

    out = Path(out)
    network = converted.network(source=str(out))
    save(network, out, source=source, extras={"converted": converted.info})
    cfg_path = Path(cfg_path) if cfg_path is not None else out.with_suffix(".cfg")
    atomic_write_text(cfg_path, converted.cfg)
    return network, cfg_path
