"""darkpy's own `.h5` model files: one self-describing file holds the cfg and all weights.

Root attributes: `format="darkpy"`, `format_version`, `cfg` (full cfg text), `source` (where the
weights came from) and optional extras (e.g. `names` for detectors, as JSON). Parameters live
at `layers/<index>_<kind>/<param>` in darknet layout ((Cout, Cin, K, K) for convolutions) so
the file reads the same to anyone who knows darknet. Writes are atomic.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import WeightsError
from darkpy.io.atomic import atomic_path

FORMAT = "darkpy"
FORMAT_VERSION = 1


def _group_name(layer) -> str:
    return f"{layer.index:03d}_{layer.kind}"


def save_h5(network, path, source: str = "", extras: dict | None = None) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["cfg"] = network.cfg_text()
            f.attrs["source"] = source
            for key, value in (extras or {}).items():
                f.attrs[key] = json.dumps(value)
            layers = f.create_group("layers")
            for layer in network.layers:
                layout = layer.param_layout()
                if not layout:
                    continue
                group = layers.create_group(_group_name(layer))
                for name, shape in layout:
                    group.create_dataset(name, data=np.asarray(layer.get_param(name), np.float32).reshape(shape))


@contextmanager
def _reading(path: Path):
    """h5py reports damage inside a file (bad object headers, heaps, B-trees) as an OSError,
    RuntimeError or KeyError from whichever read meets it: name the file instead."""
    try:
        yield
    except (OSError, RuntimeError, KeyError) as exc:
        detail = exc.args[0] if exc.args else type(exc).__name__
        raise WeightsError(f"{path}: damaged HDF5 file ({detail})") from None


def _open(path: Path) -> h5py.File:
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        with _reading(path):
            if f.attrs.get("format") != FORMAT:
                raise WeightsError(f"{path}: HDF5 file is not a darkpy model (missing format='darkpy')")
            raw_version = f.attrs.get("format_version", 0)
        try:
            version = int(raw_version)
        except (TypeError, ValueError):
            raise WeightsError(f"{path}: format_version {raw_version!r} is not an integer") from None
        if version > FORMAT_VERSION:
            raise WeightsError(f"{path}: format_version {version} is newer than this darkpy reads "
                               f"({FORMAT_VERSION}): upgrade darkpy")
    except WeightsError:
        f.close()
        raise
    return f


def read_h5_cfg(path) -> tuple[list, dict]:
    """The sections embedded in an h5 and its extra attributes (decoded)."""
    path = Path(path)
    with _open(path) as f, _reading(path):
        if "cfg" not in f.attrs:
            raise WeightsError(f"{path}: darkpy model without its network description (root attribute `cfg`)")
        text = str(f.attrs["cfg"])
        extras = {}
        for key, value in f.attrs.items():
            if key in ("format", "format_version", "cfg"):
                continue
            if key == "source":
                extras[key] = str(value)
                continue
            try:
                extras[key] = json.loads(value)
            except (TypeError, ValueError):
                extras[key] = value
    return parse_cfg_text(text, f"{path}[cfg]"), extras


def load_h5_params(network, path) -> None:
    """Fill `network`'s parameters from an h5 (every parameter must be present, nothing extra)."""
    path = Path(path)
    with _open(path) as f, _reading(path):
        stored = f.get("layers")
        names_in_file = set(stored.keys()) if stored is not None else set()
        expected = set()
        for layer in network.layers:
            layout = layer.param_layout()
            if not layout:
                continue
            gname = _group_name(layer)
            expected.add(gname)
            if stored is None:  # darkpy.save always writes it; h5py's get() also gives None
                # when the root group's links are damaged
                raise WeightsError(f"{path}: no `layers` group, so no weights (damaged, or not "
                                   "written by darkpy.save?)")
            if gname not in names_in_file:
                raise WeightsError(f"{path}: no weights for layer {layer.index} [{layer.kind}] (group layers/{gname})")
            group = stored[gname]
            for name, shape in layout:
                if name not in group:
                    raise WeightsError(f"{path}: layers/{gname} lacks `{name}`")
                data = group[name][()]
                if tuple(data.shape) != tuple(shape):
                    raise WeightsError(
                        f"{path}: layers/{gname}/{name} has shape {data.shape}, the network needs {tuple(shape)}"
                    )
                layer.set_param(name, data.astype(np.float32))
        extra = names_in_file - expected
        if extra:
            raise WeightsError(f"{path}: weights for layers the network does not have: {sorted(extra)}")
