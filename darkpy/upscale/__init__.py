"""Super-resolution of images and NIfTI volumes: tiled, optionally self-ensembled.

    from darkpy.upscale import load_model, upscale_array, upscale_files
    net = load_model("edsr-baseline-x2")            # or a .h5, or a .cfg with weights=
    big = upscale_array(net, image)                 # uint8/uint16/float, gray or RGB(A)
    report = upscale_files(["photos/"], net, "upscaled")

Modules: `halo` (receptive field -> tile halo), `tiling` (bounded-memory tiled forward),
`ensemble` (x8 flips/rotations), `models` (shipped model names), `pipeline` (the entry
points). Images and volumes are read and written by darkpy.io.image / darkpy.io.volume.
"""
import importlib

# each name from its module, imported on first use: the CLI reads DEFAULT_MODEL from
# darkpy.upscale.models at start-up without loading the pipeline
_HOME = {
    "Geometry": "halo", "NotTileable": "halo", "analyse": "halo", "infer_scale": "halo",
    "DEFAULT_MODEL": "models", "load_model": "models", "resolve_model": "models",
    "shipped_names": "models",
    "UpscaleReport": "pipeline", "upscale_array": "pipeline", "upscale_file": "pipeline",
    "upscale_files": "pipeline", "upscale_float": "pipeline", "upscale_scale": "pipeline",
    "upscale_volume": "pipeline",
    "DEFAULT_MEMORY": "tiling",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'darkpy.upscale' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"darkpy.upscale.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
