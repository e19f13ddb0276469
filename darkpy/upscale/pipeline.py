"""Upscaling arrays, images and NIfTI volumes with a super-resolution network.

Networks take RGB on 0..255 (NHWC float32) and return the upscaled RGB on 0..255. Around
that: pixel values are mapped from their dtype's range (uint8 0..255, uint16 0..65535, or a
given range) to 0..255 and back; grayscale goes in as three equal channels and comes out as
one (`channel`: the mean of the three outputs, one of them, or "all" three); an alpha channel
is resized bicubically beside the network; the result has the input's dtype.
"""
from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.errors import DarkpyError, InputError
from darkpy.io.image import (WRITE_SUFFIXES, default_value_range, image_value_range, read_image,
                             to_255, write_image)
from darkpy.io.inputs import collect_inputs, full_suffix, stem
from darkpy.io.volume import (VOLUME_SUFFIXES, is_volume, read_volume, volume_value_range,
                              write_volume)
from darkpy.network import Network
from darkpy.reporting import Reporter
from darkpy.upscale.ensemble import TRANSFORMS, self_ensemble
from darkpy.upscale.halo import Geometry, NotTileable, analyse, infer_scale
from darkpy.upscale.tiling import DEFAULT_MEMORY, peak_bytes, plan_tiles, run_tiled

CHANNEL_CHOICES = ("mean", "0", "1", "2", "all")

_geometry_cache: "weakref.WeakKeyDictionary[Network, tuple]" = weakref.WeakKeyDictionary()


def network_geometry(network: Network) -> tuple[int, Geometry | None, str]:
    """(scale, geometry or None when untileable, why untileable) of `network`, cached."""
    cached = _geometry_cache.get(network)
    if cached is None:
        try:
            geometry = analyse(network)
            cached = (geometry.scale, geometry, "")
        except NotTileable as exc:
            cached = (infer_scale(network), None, str(exc))
        _geometry_cache[network] = cached
    return cached


def upscale_scale(network: Network) -> int:
    """The network's upscaling factor (output size / input size)."""
    return network_geometry(network)[0]


# --- the core: float images on the network's 0..255 scale -----------------------------------

def upscale_float(network: Network, image: np.ndarray, tile: int | None = None,
                  ensemble: bool = False, memory: int = DEFAULT_MEMORY, progress=None) -> np.ndarray:
    """(H, W, C) float on 0..255 with C = the network's input channels -> (H*s, W*s, C_out),
    unclipped. `tile`: core size in pixels, None = as large as `memory` allows, 0 = whole image.
    `progress(done, total)` is called after every tile."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != network.input_shape[2]:
        raise InputError(f"the network takes (H, W, {network.input_shape[2]}) images, got {image.shape}")
    scale, geometry, why = network_geometry(network)
    h, w = image.shape[:2]
    out_shape = network.infer_shapes(image.shape)[-1]
    if tuple(out_shape[:2]) != (h * scale, w * scale):
        step = f" (use sizes that are multiples of {geometry.align})" if geometry and geometry.align > 1 else ""
        raise InputError(f"a {w}x{h} input gives a {out_shape[1]}x{out_shape[0]} output, not x{scale}{step}")
    if geometry is None:
        if tile:
            warnings.warn(f"running the image whole: the network cannot be tiled ({why})", stacklevel=2)
        elif tile is None and peak_bytes(network, *image.shape[:2]) > memory:
            warnings.warn(f"the image needs more than {memory >> 20} MiB of activations and the "
                          f"network cannot be tiled ({why})", stacklevel=2)
    plans = {}

    def plan_for(h, w):
        if (h, w) not in plans:
            plans[(h, w)] = plan_tiles(network, geometry, h, w, tile=tile, memory=memory)
        return plans[(h, w)]

    if ensemble:  # odd quarter turns swap height and width
        total = sum(plan_for(w, h).count(w, h) if k % 2 else plan_for(h, w).count(h, w)
                    for k, _ in TRANSFORMS)
    else:
        total = plan_for(h, w).count(h, w)
    done = [0]

    def tick():
        done[0] += 1
        if progress:
            progress(done[0], total)

    def run(x):
        return run_tiled(network, x, geometry, plan_for(*x.shape[:2]), on_tile=tick)

    return self_ensemble(run, image) if ensemble else run(image)


# --- arrays with a dtype ----------------------------------------------------------------------

def _from_network(values: np.ndarray, lo: float, hi: float, dtype) -> np.ndarray:
    span = (hi - lo) or 1.0
    out = np.clip(values, 0.0, 255.0) * np.float32(span / 255.0) + np.float32(lo)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype)


def _select_channel(rgb: np.ndarray, channel) -> np.ndarray:
    channel = str(channel)
    if channel == "mean":
        return rgb.mean(axis=2, dtype=np.float32)
    if channel == "all":
        return rgb
    if channel in ("0", "1", "2"):
        return rgb[:, :, int(channel)]
    raise InputError(f"channel must be one of {', '.join(CHANNEL_CHOICES)}; got '{channel}'")


def upscale_array(network: Network, image: np.ndarray, *, tile: int | None = None,
                  ensemble: bool = False, channel="mean", value_range=None,
                  memory: int = DEFAULT_MEMORY, progress=None) -> np.ndarray:
    """Upscale an (H, W) grayscale or (H, W, 3|4) RGB(A) array; the result keeps its dtype.

    `value_range` (lo, hi) is mapped to the network's 0..255; by default uint8 0..255, uint16
    0..65535, and floats are taken as already on 0..255. Grayscale runs as three equal channels
    through an RGB network and comes back as `channel` ("mean", 0, 1, 2, or "all" for an RGB
    result). Output values are clipped to the range. See upscale_float for tile/memory.
    """
    image = np.asarray(image)
    lo, hi = value_range if value_range is not None else default_value_range(image.dtype)
    in_channels = network.input_shape[2]
    scale = upscale_scale(network)
    gray = image.ndim == 2
    alpha = None
    if image.ndim == 3 and image.shape[2] == 4:
        image, alpha = image[:, :, :3], image[:, :, 3]
    if image.ndim == 3 and image.shape[2] == 1:
        image, gray = image[:, :, 0], True
    if not gray and (image.ndim != 3 or image.shape[2] != 3):
        raise InputError(f"expected an (H, W) or (H, W, 3|4) image, got shape {image.shape}")
    x = to_255(image, lo, hi)
    if gray:
        x = np.repeat(x[:, :, None], in_channels, axis=2) if in_channels != 1 else x[:, :, None]
    elif in_channels != 3:
        raise InputError(f"the network takes {in_channels} channel(s); the image is RGB")
    y = upscale_float(network, x, tile=tile, ensemble=ensemble, memory=memory, progress=progress)
    if gray and y.shape[2] == 3:
        y = _select_channel(y, channel)
    elif gray and y.shape[2] == 1:
        y = y[:, :, 0]
    out = _from_network(y, lo, hi, image.dtype)
    if alpha is not None:
        import cv2

        h, w = alpha.shape
        big = cv2.resize(alpha.astype(np.float32), (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        big = _from_network(to_255(big, lo, hi), lo, hi, alpha.dtype)
        out = np.concatenate([out, big[:, :, None]], axis=2)
    return out


# --- volumes ------------------------------------------------------------------------------

def upscale_volume(network: Network, data: np.ndarray, axis: int = 2, *, tile: int | None = None,
                   ensemble: bool = False, channel="mean", value_range=None,
                   memory: int = DEFAULT_MEMORY, progress=None) -> np.ndarray:
    """Upscale every slice of a volume across `axis` (0, 1 or 2): the two other spatial axes
    grow by the network's scale. Dimensions after the third (time, ...) are looped over.
    Voxel values map from `value_range` (default: the volume's min..max) to 0..255 and back;
    integer volumes stay integer. Returns an array of the volume's dtype (floats as float32)."""
    if str(channel) == "all":
        raise InputError("channel 'all' does not apply to volumes (choose mean, 0, 1 or 2)")
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[:, :, None]
    if axis not in (0, 1, 2):
        raise InputError(f"axis must be 0, 1 or 2, got {axis}")
    lo, hi = value_range if value_range is not None else volume_value_range(data)
    out_dtype = data.dtype if data.dtype.kind in "iu" else np.dtype(np.float32)
    work = data
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        work = np.where(np.isfinite(data), data, lo)
    scale = upscale_scale(network)
    slices = np.moveaxis(work, axis, 0)
    n, a, b = slices.shape[:3]
    rest = slices.shape[3:]
    flat = slices.reshape(n, a, b, -1)
    count = flat.shape[0] * flat.shape[3]
    result = np.empty((n, a * scale, b * scale, flat.shape[3]), dtype=out_dtype)
    done = 0
    for t in range(flat.shape[3]):
        for i in range(n):
            plane = flat[i, :, :, t].astype(np.float32)
            up = upscale_array(network, plane, tile=tile, ensemble=ensemble, channel=channel,
                               value_range=(lo, hi), memory=memory)
            result[i, :, :, t] = up.astype(out_dtype) if out_dtype.kind == "f" else \
                np.clip(np.rint(up), np.iinfo(out_dtype).min, np.iinfo(out_dtype).max)
            done += 1
            if progress:
                progress(done, count)
    result = result.reshape(n, a * scale, b * scale, *rest)
    return np.moveaxis(result, 0, axis)


# --- files --------------------------------------------------------------------------------

@dataclass
class UpscaleReport:
    done: list = field(default_factory=list)     # (input, output)
    failed: list = field(default_factory=list)   # (input, message)

    @property
    def ok(self) -> bool:
        return not self.failed


def output_path(path: Path, out_dir: Path, suffix: str) -> Path:
    return Path(out_dir) / f"{stem(path)}{suffix}{full_suffix(path)}"


def plan_outputs(inputs: list[Path], out_dir: Path, suffix: str) -> list[Path]:
    """Output path of every input; DarkpyError if one would land on an input or on another output."""
    resolved_inputs = {Path(p).resolve(): p for p in inputs}
    outputs, owners = [], {}
    for path in inputs:
        target = output_path(path, out_dir, suffix)
        key = target.resolve()
        if key in resolved_inputs:
            raise InputError(f"{target} would overwrite the input {resolved_inputs[key]}; choose "
                             "another --out folder or a --suffix")
        if key in owners:
            raise InputError(f"{owners[key]} and {path} would both be written to {target}; "
                             "upscale them into different --out folders")
        owners[key] = path
        outputs.append(target)
    return outputs


def upscale_file(network: Network, path: Path, target: Path, *, axis: int = 2, progress=None,
                 **options) -> Path:
    """Upscale one image or NIfTI volume file into `target`."""
    path, target = Path(path), Path(target)
    scale = upscale_scale(network)
    if is_volume(path):
        volume = read_volume(path)
        flat = volume.data.ndim == 2
        if flat:  # a single slice: its two axes are the plane
            axis = 2
        out = upscale_volume(network, volume.data, axis=axis, progress=progress, **options)
        if flat:
            out = out[:, :, 0]
        plane_axes = tuple(d for d in range(3) if d != axis)
        write_volume(target, out, volume, plane_axes, scale)
        return target
    image = read_image(path)
    out = upscale_array(network, image, value_range=image_value_range(image), progress=progress, **options)
    write_image(target, out)
    return target


def upscale_files(inputs, network: Network, out_dir, *, suffix: str | None = None,
                  tile: int | None = None, ensemble: bool = False, channel="mean", axis: int = 2,
                  memory: int = DEFAULT_MEMORY, reporter: Reporter | None = None) -> UpscaleReport:
    """Upscale image/volume files, folders and glob patterns into `out_dir`.

    Outputs are named `<stem><suffix><ext>` (suffix default `_x<scale>`). Refuses up front
    (DarkpyError) when an output would overwrite an input. A file that fails is recorded in the
    report's `failed` list and the others still run.
    """
    reporter = reporter or Reporter()
    scale = upscale_scale(network)
    suffix = f"_x{scale}" if suffix is None else suffix
    paths, missing = collect_inputs(inputs, WRITE_SUFFIXES + VOLUME_SUFFIXES,
                                    "supported image or volume")
    report = UpscaleReport(failed=[(item, why) for item, why in missing])
    targets = plan_outputs(paths, Path(out_dir), suffix)
    options = dict(tile=tile, ensemble=ensemble, channel=channel, memory=memory)
    for index, (path, target) in enumerate(zip(paths, targets)):
        reporter.start_file(path, index, len(paths))
        error = None
        try:
            upscale_file(network, path, target, axis=axis, progress=reporter.step, **options)
            report.done.append((path, target))
        except DarkpyError as exc:
            error = str(exc)
        except MemoryError:
            error = f"{path}: out of memory (try a smaller --tile)"
        except Exception as exc:  # a bug or an odd file; report it and finish the others
            error = f"{path}: {type(exc).__name__}: {exc}"
        if error is not None:
            report.failed.append((path, error))
        reporter.end_file(path, error)
    return report
