"""The Python entry points: `darkpy.load` and friends. The CLI is a thin shell over these."""
from __future__ import annotations

from pathlib import Path

from darkpy.errors import ConfigError, WeightsError
from darkpy.network import Network

CFG_SUFFIXES = (".cfg",)
YAML_SUFFIXES = (".yaml", ".yml")
H5_SUFFIXES = (".h5", ".hdf5")


def read_sections(path) -> list:
    """Sections of a cfg or yaml file (chosen by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        from darkpy.config.yaml import read_yaml

        return read_yaml(path)
    if suffix in CFG_SUFFIXES or suffix == "":
        from darkpy.config.cfg import read_cfg

        return read_cfg(path)
    raise ConfigError(f"{path}: unknown model description type '{suffix}' (expected .cfg, .yaml or .h5)")


def load(model, weights=None, max_layers: int | None = None, params: bool = True,
         fork: str | None = None) -> Network:
    """A `Network` from an `.h5`, or from a cfg/yaml plus optional weights.

    `weights` may be a darknet `.weights` file or a darkpy `.h5` (its parameters are used, its
    cfg is ignored). `max_layers` loads only the first N layers of a darknet weights file; the
    layers after them start from darknet's initial values. Nothing is allocated for
    parameters a file is about to give. params=False: no parameter values at all (shapes,
    layouts and counts only, as `darkpy info` needs). `fork` ("pjreddie" or "AlexeyAB") makes
    anything that darknet would not read an error.
    """
    model = Path(model)
    if not model.exists():
        raise ConfigError(f"{model}: no such file")
    if model.suffix.lower() in H5_SUFFIXES:
        from darkpy.io.h5 import load_h5_params, read_h5_cfg

        sections, metadata = read_h5_cfg(model)
        network = Network(sections, source=str(model), init=False, fork=fork)
        network.metadata.update(metadata)
        if params:
            load_h5_params(network, model)
    else:
        network = Network(read_sections(model), source=str(model), init=False, fork=fork)
    if not params:
        return network
    if weights is not None:
        load_weights(network, weights, max_layers=max_layers)
    network.init_params(only_missing=True)
    return network


def load_weights(network: Network, weights, max_layers: int | None = None) -> None:
    weights = Path(weights)
    if not weights.exists():
        raise WeightsError(f"{weights}: no such file")
    if weights.suffix.lower() in H5_SUFFIXES:
        from darkpy.io.h5 import load_h5_params

        load_h5_params(network, weights)
    else:
        from darkpy.io.darknet_weights import load_darknet_weights

        load_darknet_weights(network, weights, max_layers=max_layers)


def save(network: Network, path, source: str = "", extras: dict | None = None) -> None:
    """Write `network` (cfg and weights) as a darkpy .h5, or darknet .weights by suffix.

    An .h5 also keeps the network's metadata, updated by `extras`, and `source` (default:
    the metadata's)."""
    path = Path(path)
    if path.suffix.lower() == ".weights":
        from darkpy.io.darknet_weights import save_darknet_weights

        save_darknet_weights(network, path)
        return
    from darkpy.io.h5 import save_h5

    metadata = dict(getattr(network, "metadata", {}))  # a Network, or a view of one
    previous_source = str(metadata.pop("source", ""))
    metadata.update(extras or {})
    save_h5(network, path, source=source or previous_source, extras=metadata)
