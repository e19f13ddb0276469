"""Seeded mutations of cfg, YAML and weights files, and the check that darkpy meets every one
of them with a result or a darkpy error, never another exception.

tests/test_fuzz.py runs a few thousand cases in seconds (most of them shallow: parsed, built
and described) and a few hundred deep ones; tools/fuzz.py runs as many as asked. A case is a
pure function of (seed, index, deep): `make_case` builds it, `run_case` feeds it to darkpy
and returns None or the unexpected exception's traceback, so any failure reruns alone from
its numbers.

Each case starts from one of the small valid networks below (or the extra cfgs given) and
applies one to three mutations: a value replaced by a hostile one (0, negative, huge, NaN,
text, lists), a line dropped or repeated, a section renamed, reordered or cut short, keys
added from the layer's own schema, bytes flipped. A network that builds is then described,
round-tripped through YAML, initialised and run on a small input when it is small enough,
and its darknet .weights and .h5 files are written, mutated and loaded back.
"""
from __future__ import annotations

import functools
import random
import tempfile
import traceback
from pathlib import Path

import numpy as np

SEEDS = {
    "yolo": """[net]
width=16
height=16
channels=3

[convolutional]
filters=8
size=3
stride=1
pad=1
batch_normalize=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=mish

[route]
layers=-1,-2

[convolutional]
filters=18
size=1
stride=1
activation=linear

[yolo]
mask=0,1,2
anchors=2,3, 4,5, 6,7
classes=1
num=3
""",
    "sr": """[net]
width=8
height=8
channels=3

[mean_shift]
scale=127.5

[convolutional]
filters=8
size=3
pad=1
activation=relu

[convolutional]
filters=8
size=3
pad=1
groups=2
activation=linear

[shortcut]
from=-2
activation=linear

[convolutional]
filters=12
size=3
pad=1
activation=linear

[shuffler]
scale=2

[upsample]
stride=1
""",
    "classifier": """[net]
width=6
height=6
channels=1
batch=2

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu
dilation=2

[avgpool]

[dropout]
probability=0.5

[connected]
output=3
activation=linear

[softmax]
groups=1

[cost]
type=sse
""",
    "zoo": """[net]
width=8
height=8
channels=4

[reorg]
stride=2

[local_avgpool]
size=2
stride=1

[crop]
crop_width=2
crop_height=2

[deconvolutional]
filters=2
size=2
stride=2

[batchnorm]

[sam]
from=-2

[avgpool]

[scale_channels]
from=-2

[upsample]
stride=-2

[reorg3d]
stride=2
""",
    "recurrent": """[net]
width=4
height=4
channels=2
batch=1
time_steps=2

[crnn]
output=3
hidden=2
size=3
pad=1
activation=leaky

[conv_lstm]
output=2
size=3
pad=1

[connected]
output=4
activation=leaky

[rnn]
output=4
hidden=3
activation=leaky

[gru]
output=3

[lstm]
output=2
""",
    "heads": """[net]
width=8
height=8
channels=3

[normalization]
size=3

[l2norm]

[activation]
activation=swish

[implicit]
filters=3
atoms=8

[empty]

[convolutional]
filters=22
size=1
activation=logistic

[Gaussian_yolo]
mask=0,1
anchors=2,2, 4,4
classes=2
num=2

[route]
layers=-3

[connected]
output=12
activation=linear

[detection]
classes=2
coords=4
side=1
num=2
""",
    "region": """[net]
width=12
height=12
channels=3

[convolutional]
filters=14
size=3
stride=3
pad=1
activation=leaky
xnor=1

[region]
anchors=1,1, 2,2
classes=2
coords=4
num=2
softmax=1
""",
}

HOSTILE = ["0", "-1", "1", "2", "3", "-3", "7", "64", "1000000", "99999999999999999999",
           "-99999999999", "0.5", "-0.5", "1e30", "nan", "inf", "-inf", "", "abc", "1,2", ",",
           "1,,2", "-1,-2", "0,0,0", "leaky", "linear", "logistic", "0x10", "1e3", " ",
           "=", "#", "[", "]", "1 2", "2.5,3.5", "\u00e9", "\x00", "-0", "+1"]
SECTIONS = ["convolutional", "maxpool", "route", "shortcut", "upsample", "yolo", "region",
            "connected", "softmax", "dropout", "avgpool", "batchnorm", "reorg", "shuffler",
            "cost", "net", "crop", "sam", "scale_channels", "local", "deconvolutional", "rnn",
            "gru", "lstm", "crnn", "conv_lstm", "detection", "Gaussian_yolo", "implicit",
            "empty", "activation", "l2norm", "logistic", "iseg", "contrastive", "normalization",
            "reorg3d", "local_avgpool", "mean_shift", "history", "unknown_kind"]
# values a cfg could plausibly hold: they get past the parser and reach the layers' own checks
PLAUSIBLE = ["0", "1", "2", "3", "4", "5", "6", "8", "-1", "-2", "-3", "-4", "1,2", "0,1", "-1,-2"]
# what a case may compute: networks bigger than this are built and described, not run
MAX_PARAMS = 200_000
MAX_VALUES = 200_000


def _schema_keys(kind: str) -> list[str]:
    from darkpy.config.common_keys import COMMON_KEYS
    from darkpy.layers.registry import REGISTRY

    cls = REGISTRY.get(kind)
    return sorted(set(COMMON_KEYS) | set(cls.keys)) if cls is not None else []


def _value(rng: random.Random) -> str:
    return rng.choice(PLAUSIBLE if rng.random() < 0.6 else HOSTILE)


def _mutate_cfg(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    what = rng.randrange(10)
    i = rng.randrange(len(lines)) if lines else 0
    if what == 0 and lines:  # a value replaced
        candidates = [k for k, line in enumerate(lines) if "=" in line]
        if candidates:
            k = rng.choice(candidates)
            key = lines[k].split("=", 1)[0]
            lines[k] = f"{key}={_value(rng)}"
    elif what == 1 and lines:
        del lines[i]
    elif what == 2 and lines:
        lines.insert(i, lines[i])
    elif what == 3:  # a key of some section's schema, with a hostile value
        headers = [k for k, line in enumerate(lines) if line.startswith("[")]
        if headers:
            k = rng.choice(headers)
            keys = _schema_keys(lines[k].strip("[]")) or ["filters"]
            lines.insert(k + 1, f"{rng.choice(keys)}={_value(rng)}")
    elif what == 4:  # a section renamed or added
        headers = [k for k, line in enumerate(lines) if line.startswith("[")]
        if headers and rng.random() < 0.5:
            lines[rng.choice(headers)] = f"[{rng.choice(SECTIONS)}]"
        else:
            lines.insert(i, f"[{rng.choice(SECTIONS)}]")
    elif what == 5:  # cut short
        lines = lines[:i]
    elif what == 6:  # two sections swapped
        starts = [k for k, line in enumerate(lines) if line.startswith("[")] + [len(lines)]
        blocks = [lines[a:b] for a, b in zip(starts, starts[1:])]
        if len(blocks) > 2:
            a, b = rng.sample(range(1, len(blocks)), 2)
            blocks[a], blocks[b] = blocks[b], blocks[a]
            lines = lines[:starts[0]] + [line for block in blocks for line in block]
    elif what == 7:  # a character changed
        raw = list("\n".join(lines))
        if raw:
            raw[rng.randrange(len(raw))] = rng.choice("=[],#;-.0123456789 \t\x00\u00e9az")
        return "".join(raw)
    elif what == 8:  # a key without value, or a value without key
        lines.insert(i, rng.choice(["filters", "=3", "size=", "layers=", "from=", "==", "a=b=c"]))
    else:  # a number scaled up or down
        candidates = [k for k, line in enumerate(lines) if "=" in line]
        if candidates:
            k = rng.choice(candidates)
            key, value = lines[k].split("=", 1)
            first = value.split(",")[0].strip()
            try:
                number = float(first)
            except ValueError:
                number = 1.0
            lines[k] = f"{key}={rng.choice([int(number * 1000), int(-number), 0, int(number) + 1])}"
    return "\n".join(lines) + "\n"


def _mutate_yaml(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    what = rng.randrange(6)
    if not lines:
        return text
    i = rng.randrange(len(lines))
    if what == 0:
        del lines[i]
    elif what == 1:
        lines.insert(i, lines[i])
    elif what == 2 and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {rng.choice([_value(rng), '[1, 2]', '{a: 1}', 'null', '-', '~', '[]'])}"
    elif what == 3:  # indentation broken
        lines[i] = rng.choice(["", " ", "   ", "\t"]) + lines[i].lstrip()
    elif what == 4:  # a repeat block or a name
        lines.insert(i, rng.choice(["- repeat: 3", "  repeat: 1000000000", "- repeat: -1",
                                    "  name: a", "  from: nowhere", "  layers: [a, -1]",
                                    "- {convolutional: {filters: 2}}", "- [1, 2]", "- 7",
                                    "layers:", "net: {}", "- repeat: {n: 2}"]))
    else:
        lines = lines[:i]
    return "\n".join(lines) + "\n"


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    what = rng.randrange(5)
    if what == 0 and data:
        del data[rng.randrange(len(data)):]
    elif what == 1:
        data += bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 4, 16])))
    elif what == 2 and data:
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif what == 3 and len(data) >= 16:  # the header's version and seen count
        k = rng.randrange(4)
        data[4 * k:4 * k + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                            b"\xe9\x03\x00\x00", b"\x02\x00\x00\x00"])
    else:
        data = data[:rng.randrange(0, 24)]
    return bytes(data)


def make_case(seed: int, index: int, deep: bool = True, extra_seeds: dict | None = None) -> dict:
    """The case (seed, index): {'kind': 'cfg'|'yaml'|'weights'|'h5', 'base': name, 'text': ...,
    'deep': whether to run what builds, 'rng': a seed for the case's own random choices}.
    Shallow cases are cfg and YAML texts only, parsed, built and described."""
    rng = random.Random(f"{seed}:{index}:{int(deep)}")
    seeds = {**SEEDS, **(extra_seeds or {})}
    base = rng.choice(sorted(seeds))
    kinds = ["cfg", "cfg", "cfg", "yaml", "weights", "h5"] if deep else ["cfg", "cfg", "cfg", "yaml"]
    kind = rng.choice(kinds)
    text = seeds[base]
    if kind in ("cfg", "yaml"):
        if kind == "yaml":
            text = _to_yaml(text)
        mutate = _mutate_cfg if kind == "cfg" else _mutate_yaml
        for _ in range(rng.choice([1, 1, 2, 3])):
            text = mutate(text, rng)
    return {"kind": kind, "base": base, "text": text, "deep": deep, "rng": rng.randrange(1 << 30)}


@functools.lru_cache(maxsize=None)
def _to_yaml(cfg_text: str) -> str:
    from darkpy.config.cfg import parse_cfg_text
    from darkpy.config.yaml import format_yaml

    return format_yaml(parse_cfg_text(cfg_text, "seed.cfg"))


def _exercise(network, rng: random.Random, deep: bool) -> None:
    """Describe the network; when deep and small, initialise it and run it: inference at
    its size and at another, a training step's forward and backward, detection when it has
    heads, the tiling analysis of super-resolution."""
    from darkpy.config.yaml import format_yaml, parse_yaml_text
    from darkpy.info import summarize
    from darkpy.upscale.halo import analyse

    summarize(network)
    if not deep:
        return
    parse_yaml_text(format_yaml(network.sections), "roundtrip.yaml")
    values = sum(int(np.prod(shape)) for shape in network.shapes) + int(np.prod(network.input_shape))
    if network.num_params() > MAX_PARAMS or values > MAX_VALUES:
        return
    network.init_params()
    rows = min(4, max(1, int(network.net.get("time_steps") or 1)))  # recurrent: time-major rows
    h, w, c = network.input_shape
    x = np.random.default_rng(0).uniform(0, 1, (rows, h, w, c)).astype(np.float32)
    step = rng.randrange(4)
    if step == 0:
        network.forward(x)
        other = (rows, h + rng.choice([-1, 1, 4]), w + rng.choice([-2, 0, 3]), c)
        if min(other) > 0:
            network.forward(np.ones(other, np.float32))
    elif step == 1:
        out = network.forward(x, train=True)
        network.backward(np.ones_like(out))
    elif step == 2:
        from darkpy.detect import Detector

        detector = Detector(network, thresh=rng.choice([0.0, 0.25, 0.9]), nms=rng.choice([0, 0.45]))
        detector(np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8))
    else:
        analyse(network)


def run_case(case: dict, workdir: Path) -> str | None:
    """None when darkpy answered the case with a result or a DarkpyError; else the traceback
    of the exception it raised instead."""
    from darkpy.errors import DarkpyError

    try:
        _run(case, Path(workdir))
    except DarkpyError:
        return None
    except Exception:  # noqa: BLE001 - the point: anything else is a finding
        return traceback.format_exc()
    return None


def _run(case: dict, workdir: Path) -> None:
    import darkpy
    from darkpy.config.cfg import parse_cfg_text
    from darkpy.config.yaml import parse_yaml_text
    from darkpy.network import Network

    rng = random.Random(case["rng"])
    if case["kind"] in ("cfg", "yaml"):
        parse = parse_cfg_text if case["kind"] == "cfg" else parse_yaml_text
        sections = parse(case["text"], f"fuzz.{case['kind']}")
        _exercise(Network(sections, source="fuzz", init=False), rng, case["deep"])
        return
    cfg = workdir / "fuzz.cfg"
    cfg.write_text(case["text"])
    if darkpy.load(cfg, params=False).num_params() > MAX_PARAMS:  # a big extra seed
        _exercise(darkpy.load(cfg, params=False), rng, deep=False)
        return
    network = darkpy.load(cfg)
    if case["kind"] == "weights":
        path = workdir / "fuzz.weights"
        darkpy.save(network, path)
        path.write_bytes(_mutate_bytes(path.read_bytes(), rng))
        max_layers = rng.choice([None, None, 0, 1, len(network.layers), len(network.layers) + 1, -1])
        darkpy.load(cfg, path, max_layers=max_layers)
    else:
        path = workdir / "fuzz.h5"
        darkpy.save(network, path, source="fuzz")
        _mutate_h5(path, rng)
        darkpy.load(path)
        darkpy.load(cfg, path)


def _mutate_h5(path: Path, rng: random.Random) -> None:
    """Structured damage an .h5 meets in practice: a parameter missing, resized or added, the
    embedded cfg or the format attributes changed."""
    import h5py

    with h5py.File(path, "r+") as f:
        what = rng.randrange(7)
        groups = sorted(f["layers"]) if "layers" in f else []
        if what == 0 and groups:
            group = f["layers"][rng.choice(groups)]
            del group[rng.choice(sorted(group))]
        elif what == 1 and groups:
            group = f["layers"][rng.choice(groups)]
            name = rng.choice(sorted(group))
            shape = group[name].shape
            del group[name]
            group[name] = np.zeros(tuple(s + 1 for s in shape) or (2,), np.float32)
        elif what == 2:
            f.require_group(f"layers/{rng.randrange(1000):03d}_convolutional")
        elif what == 3:
            f.attrs["cfg"] = _mutate_cfg(str(f.attrs["cfg"]), rng).replace("\x00", "")
        elif what == 4:
            f.attrs[rng.choice(["format", "format_version", "names", "source"])] = rng.choice(
                ["darkpy", "x", 99, -1, "[1, 2", "null"])
        elif what == 5 and "layers" in f:
            del f["layers"]
        else:
            name = rng.choice(sorted(f.attrs))
            del f.attrs[name]


def run_cases(seed: int, count: int, start: int = 0, deep: bool = True,
              extra_seeds: dict | None = None, on_failure=None) -> list[tuple[int, str]]:
    """Run cases start .. start+count-1; [(index, traceback)] of the failures."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(start, start + count):
            case = make_case(seed, index, deep, extra_seeds)
            error = run_case(case, Path(tmp))
            if error is not None:
                failures.append((index, error))
                if on_failure is not None:
                    on_failure(index, case, error)
    return failures
