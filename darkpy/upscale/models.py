"""`--model`: a shipped model name, a darkpy .h5, or a cfg/yaml with its weights.

A shipped name `NAME` (dashes and underscores alike) means weights/NAME.h5 (the complete model) in the repository, with
cfg/NAME.cfg (or .yaml) as its description when that exists. Names whose weights are missing
are an error that lists the names that are available.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.errors import ConfigError, WeightsError

DEFAULT_MODEL = "darkpy-sr-x2"
REPO_ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION_SUFFIXES = (".cfg", ".yaml", ".yml")


def shipped_names(root: Path = REPO_ROOT) -> list[str]:
    """Names with weights in weights/ (usable as --model NAME)."""
    folder = Path(root) / "weights"
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


def resolve_model(model: str = DEFAULT_MODEL, weights=None, root: Path = REPO_ROOT):
    """(description or h5 path, weights path or None) for `model`, checking that both exist."""
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


def load_model(model: str = DEFAULT_MODEL, weights=None, root: Path = REPO_ROOT):
    """The Network for `model` (see resolve_model)."""
    from darkpy.api import load

    description, weights_path = resolve_model(model, weights, root)
    return load(description, weights=weights_path)
