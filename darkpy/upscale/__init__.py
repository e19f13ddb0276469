"""Super-resolution of images and NIfTI volumes: tiled, optionally self-ensembled.

    from darkpy.upscale import load_model, upscale_array, upscale_files
    net = load_model("edsr-baseline-x2")            # or a .h5, or a .cfg with weights=
    big = upscale_array(net, image)                 # uint8/uint16/float, gray or RGB(A)
    report = upscale_files(["photos/"], net, "upscaled")

Modules: `halo` (receptive field -> tile halo), `tiling` (bounded-memory tiled forward),
`ensemble` (x8 flips/rotations), `models` (shipped model names), `pipeline` (the entry
points). Images and volumes are read and written by darkpy.io.image / darkpy.io.volume.
"""
from darkpy.upscale.halo import Geometry, NotTileable, analyse, infer_scale
from darkpy.upscale.models import DEFAULT_MODEL, load_model, resolve_model, shipped_names
from darkpy.upscale.pipeline import (
    UpscaleReport,
    upscale_array,
    upscale_file,
    upscale_files,
    upscale_float,
    upscale_scale,
    upscale_volume,
)
from darkpy.upscale.tiling import DEFAULT_MEMORY

__all__ = [
    "DEFAULT_MEMORY", "DEFAULT_MODEL", "Geometry", "NotTileable", "UpscaleReport", "analyse",
    "infer_scale", "load_model", "resolve_model", "shipped_names", "upscale_array", "upscale_file",
    "upscale_files", "upscale_float", "upscale_scale", "upscale_volume",
]
