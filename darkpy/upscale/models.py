"""`--model`: a shipped model name, a darkpy .h5, or a cfg/yaml with its weights.

A shipped name `NAME` (dashes and underscores alike) means weights/NAME.h5 (the complete model),
with cfg/NAME.cfg (or .yaml) as its description when that exists. Names whose weights are
missing are an error that lists the names that are available.

Where weights/ and cfg/ are: an installed darkpy (a wheel, `pip install .`) carries them inside
the package as darkpy/weights and darkpy/cfg (pyproject maps the repository's top-level folders
there); a source checkout (`pip install -e .`) reads them at the repository's top level.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from darkpy.errors import ConfigError, WeightsError

DEFAULT_MODEL = "darkpy-sr-x2"
SCALE_MODEL = "darkpy-sr-x{scale}"  # the shipped model `darkpy upscale --scale N` picks
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
DESCRIPTION_SUFFIXES = (".cfg", ".yaml", ".yml")
BENCHMARK_KEY = "benchmark"  # h5 attribute: the model's scores as measured when it shipped


def models_root() -> Path:
    """The folder holding weights/ and cfg/: inside the package once installed, else the checkout."""
    return PACKAGE_ROOT if (PACKAGE_ROOT / "weights").is_dir() else REPO_ROOT


def shipped_names(root: Path | None = None) -> list[str]:
    """Names with weights in weights/ (usable as --model NAME)."""
    folder = Path(root or models_root()) / "weights"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.h5"))


def _description(root: Path, name: str) -> Path | None:
    for suffix in DESCRIPTION_SUFFIXES:
        path = Path(root) / "cfg" / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _spellings(name: str) -> list[str]:
    """`edsr-baseline-x2` and `edsr_baseline_x2` name the same model."""
    out = [name, name.replace("-", "_"), name.replace("_", "-")]
    return list(dict.fromkeys(out))


def _looks_like_path(model: str) -> bool:
    return "/" in model or "\\" in model or Path(model).suffix.lower() in (
        ".h5", ".hdf5", *DESCRIPTION_SUFFIXES)


def resolve_model(model: str = DEFAULT_MODEL, weights=None, root: Path | None = None):
    """(description or h5 path, weights path or None) for `model`, checking that both exist."""
    root = Path(root or models_root())
    path = Path(model)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in DESCRIPTION_SUFFIXES and weights is None:
            raise WeightsError(f"{path}: a network description needs weights: pass --weights FILE "
                               "(.h5 or darknet .weights), or give a darkpy .h5 as --model")
        return path, (Path(weights) if weights is not None else None)
    if _looks_like_path(model):
        raise ConfigError(f"{model}: no such model file")
    for name in _spellings(model):
        h5 = Path(root) / "weights" / f"{name}.h5"
        if h5.is_file():
            if weights is not None:
                raise ConfigError(f"--weights goes with a cfg file, not with the shipped model '{model}'")
            description = _description(root, name)
            return (description, h5) if description is not None else (h5, None)
    names = shipped_names(root)
    available = ", ".join(names) if names else "none yet (weights/ holds no .h5 models)"
    cfg_names = [n for n in _spellings(model) if _description(root, n) is not None]
    detail = (f"cfg/{cfg_names[0]}.cfg is there but weights/{cfg_names[0]}.h5 is not" if cfg_names
              else f"no weights/{model}.h5")
    raise WeightsError(f"unknown or missing model '{model}' ({detail}); available models: {available}. "
                       "Or pass a .h5, or a .cfg with --weights.")


def load_model(model: str = DEFAULT_MODEL, weights=None, root: Path | None = None):
    """The Network for `model` (see resolve_model)."""
    from darkpy.api import load

    description, weights_path = resolve_model(model, weights, root)
    return load(description, weights=weights_path)


def model_for_scale(scale: int, root: Path | None = None) -> str:
    """The shipped model name for an upscaling factor (`darkpy upscale --scale N`)."""
    name = SCALE_MODEL.format(scale=scale)
    names = shipped_names(root)
    if name.replace("-", "_") not in names:
        scales = sorted(info.scale for info in shipped_models(root) if info.name.startswith("darkpy_sr_x"))
        raise ConfigError(f"no shipped model for x{scale}; darkpy ships "
                          f"{', '.join(f'x{s}' for s in scales) or 'none'} (or pass --model)")
    return name


@dataclass
class ShippedModel:
    """One model of weights/: what `darkpy models` lists."""

    name: str
    path: Path
    scale: int
    parameters: int
    benchmark: dict | None  # scores recorded when it shipped (tools/ship_sr_model.py)


def shipped_models(root: Path | None = None) -> list[ShippedModel]:
    """Every shipped model with its scale, size and recorded benchmark scores."""
    from darkpy.api import load
    from darkpy.upscale.pipeline import upscale_scale

    out = []
    for name in shipped_names(root):
        path = Path(root or models_root()) / "weights" / f"{name}.h5"
        network = load(path)  # the .h5's attributes arrive decoded in its metadata
        out.append(ShippedModel(name, path, upscale_scale(network), network.num_params(),
                                network.metadata.get(BENCHMARK_KEY)))
    return out
