"""What `darkpy evaluate` scores: HR images, LR/HR pairs, NIfTI volumes (slice by slice), masks.

- HR images: the LR input is made from each (cropped to a multiple of the scale) by the
  chosen degradation (darkpy.train.data.degrade, MATLAB bicubic by default).
- Pairs: `NAME_LR.ext` beside `NAME_HR.ext` (the benchmark folders' naming), or `--lr DIR
  --hr DIR` with files matched by name (an `_LR`/`_HR` or `x<scale>` ending is ignored when
  matching: `baby_LR.png` / `baby_HR.png`, `0801x2.png` / `0801.png`). The HR must be the LR
  times the scale, up to scale - 1 extra pixels that are cropped (as modcrop does).
- NIfTI volumes: the slices across `axis` that hold enough foreground (as darkpy.train.data
  picks them), each one image, grouped under its volume so that results come per volume.
  Volumes are scored as one channel (an MRI slice is its own luminance), on the volume's
  min..max mapped to 0..255.
- Masks: `mask` is a NIfTI mask of the volume's shape (one file for every volume, or a folder
  holding `NAME*` for volume `NAME`); nonzero voxels are scored.

Images keep their colour: RGB is scored on Y, grayscale (one channel) on its values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.image import IMAGE_SUFFIXES, read_image
from darkpy.io.inputs import collect_inputs, stem
from darkpy.io.volume import VOLUME_SUFFIXES, is_volume, read_volume


@dataclass(eq=False)
class Source:
    """One HR image (an image file or a volume slice) and what belongs to it."""

    name: str
    group: str                      # the image, or the volume the slice is from
    hr: np.ndarray                  # (H, W, C) float32 on 0..255, C = 1 or 3
    eight_bit: bool
    lr: np.ndarray | None = None    # a given LR image (pairs); None: made by the degradation
    mask: np.ndarray | None = None  # (H, W) bool from a NIfTI mask
    path: str = ""                  # the HR file


_PAIR_TAG = re.compile(r"^(?P<name>.+)[_\-.](?P<tag>LR|HR)$", re.IGNORECASE)


def pair_tag(path: Path) -> tuple[str, str | None]:
    """('baby', 'LR') for baby_LR.png; (stem, None) when the name has no LR/HR ending."""
    match = _PAIR_TAG.match(stem(path))
    if match is None:
        return stem(path), None
    return match.group("name"), match.group("tag").upper()


def _channels_of(array: np.ndarray) -> int:
    return 3 if array.ndim == 3 and array.shape[2] in (3, 4) else 1


def _image(array: np.ndarray, name: str):
    from darkpy.train.data import image_from_array

    return image_from_array(array, name, channels=_channels_of(array))


def _read(path: Path) -> np.ndarray:

    if is_volume(path):
        raise InputError(f"{path}: LR/HR pairs of NIfTI volumes are not supported; give the HR "
                         "volume alone and let --degrade make its LR slices")
    return read_image(path)


def _pair(lr_path: Path, hr_path: Path, name: str, scale: int | None) -> tuple[Source, int]:
    """A Source from an LR and an HR file; the scale is checked (or found) from their sizes."""
    lr = _image(_read(lr_path), str(lr_path))
    hr = _image(_read(hr_path), str(hr_path))
    if lr.pixels.shape[2] != hr.pixels.shape[2]:
        raise InputError(f"{lr_path} and {hr_path}: one is grayscale, the other colour")
    (h, w), (hh, hw) = lr.pixels.shape[:2], hr.pixels.shape[:2]
    found = scale if scale is not None else hh // h
    if found < 1 or not (h * found <= hh < (h + 1) * found and w * found <= hw < (w + 1) * found):
        expect = f"x{scale} would need {w * found}x{h * found}" if scale is not None else \
            "not an integer multiple"
        raise InputError(f"{hr_path} is {hw}x{hh} and {lr_path} {w}x{h}: {expect}")
    pixels = np.ascontiguousarray(hr.pixels[: h * found, : w * found])
    return Source(name, name, pixels, hr.eight_bit and lr.eight_bit, lr=lr.pixels, path=str(hr_path)), found


def _match_key(path: Path, scale: int | None) -> str:
    name, _ = pair_tag(path)
    factor = str(scale) if scale is not None else r"\d+"
    return re.sub(rf"(?<=.)[_\-]?x{factor}$", "", name, flags=re.IGNORECASE)


def _check_scales(found: list[tuple[str, int]], scale: int | None) -> int | None:
    scales = sorted({s for _, s in found})
    if len(scales) > 1:
        detail = ", ".join(f"{name} x{s}" for name, s in found)
        raise InputError(f"the LR/HR pairs have different scales ({detail}); give --scale or "
                         "evaluate them separately")
    return scales[0] if scales else scale


def paired_folders(lr_dir, hr_dir, scale: int | None) -> tuple[list[Source], int | None]:
    """Sources from `--lr DIR --hr DIR`, matched by name."""

    lists = {}
    for label, folder in (("--lr", lr_dir), ("--hr", hr_dir)):
        if not Path(folder).is_dir():
            raise InputError(f"{label} {folder}: no such folder")
        paths, _ = collect_inputs([folder], IMAGE_SUFFIXES + VOLUME_SUFFIXES,
                                  "supported image or volume")
        if not paths:
            raise InputError(f"{label} {folder}: the folder holds no supported image")
        keys = {}
        for path in paths:
            key = _match_key(path, scale)
            if key in keys:
                raise InputError(f"{keys[key]} and {path} in {label} {folder} have the same name")
            keys[key] = path
        lists[label] = keys
    lrs, hrs = lists["--lr"], lists["--hr"]
    unmatched = [f"{lrs[k]} (no HR)" for k in lrs if k not in hrs] + \
                [f"{hrs[k]} (no LR)" for k in hrs if k not in lrs]
    if unmatched:
        raise InputError(f"unmatched LR/HR files: {', '.join(unmatched)}")
    sources, found = [], []
    for key in sorted(lrs):
        source, s = _pair(lrs[key], hrs[key], key, scale)
        sources.append(source)
        found.append((key, s))
    return sources, _check_scales(found, scale)


def collect(data, scale: int | None = None, axis: int = 2, mask=None) -> tuple[list[Source], int | None]:
    """Sources from files, folders and glob patterns; (sources, scale the pairs imply or None).

    Files named NAME_LR / NAME_HR pair up; every other file is an HR image or a volume.
    """

    paths, missing = collect_inputs(data, IMAGE_SUFFIXES + VOLUME_SUFFIXES,
                                     "supported image or volume")
    if missing:
        item, why = missing[0]
        raise InputError(f"{item}: {why}")
    tagged: dict[str, dict[str, Path]] = {}
    for path in paths:
        name, tag = pair_tag(path)
        if tag is not None:
            if tag in tagged.setdefault(name, {}):
                raise InputError(f"{tagged[name][tag]} and {path} are both the {tag} image of '{name}'")
            tagged[name][tag] = path
    with_lr = any("LR" in tags for tags in tagged.values())
    unmatched = [str(next(iter(tags.values()))) for tags in tagged.values() if len(tags) == 1]
    if with_lr and unmatched:
        raise InputError(f"unmatched LR/HR files (each NAME_LR needs a NAME_HR beside it): "
                         f"{', '.join(unmatched)}")
    sources: list[Source] = []
    found: list[tuple[str, int]] = []
    masks = MaskFinder(mask, axis) if mask is not None else None
    for path in paths:
        name, tag = pair_tag(path)
        if with_lr and tag == "LR":
            continue
        if with_lr and tag == "HR":
            source, s = _pair(tagged[name]["LR"], path, name, scale)
            sources.append(source)
            found.append((name, s))
        elif is_volume(path):
            sources.extend(volume_sources(path, axis, masks))
        else:
            image = _image(read_image(path), str(path))
            sources.append(Source(name, name, image.pixels, image.eight_bit, path=str(path)))
    if masks is not None and not masks.used:
        raise InputError("--mask applies to NIfTI volumes, and none was given (for images, "
                         "use --mask-threshold)")
    if not sources:
        raise InputError("no image to evaluate on")
    _distinct_groups(sources)
    return sources, _check_scales(found, scale)


def _distinct_groups(sources: list[Source]) -> None:
    """Files of the same name from different folders are told apart by their paths."""
    paths: dict[str, set[str]] = {}
    for source in sources:
        paths.setdefault(source.group, set()).add(source.path)
    for source in sources:
        if len(paths[source.group]) > 1:
            source.name = source.path + source.name[len(source.group):]
            source.group = source.path


def volume_sources(path: Path, axis: int, masks: "MaskFinder | None") -> list[Source]:
    from darkpy.train.data import volume_slices

    group = stem(path)
    mask = masks.for_volume(path) if masks is not None else None
    out = []
    for image in volume_slices(path, axis, channels=1):
        plane = None if mask is None else np.ascontiguousarray(mask[(slice(None),) * axis + (image.index,)])
        name = f"{group}[{'xyz'[axis]}={image.index}]"
        out.append(Source(name, group, image.pixels, image.eight_bit, mask=plane, path=str(path)))
    if not out:
        raise InputError(f"{path}: no slice across axis {axis} holds enough foreground to score")
    return out


class MaskFinder:
    """The mask of each volume: one NIfTI file for all, or NAME* in a folder for volume NAME."""

    def __init__(self, mask, axis: int):
        self.path = Path(mask)
        self.axis = axis
        self.used = False
        if not self.path.exists():
            raise InputError(f"--mask {mask}: no such file or folder")

    def _file_for(self, volume: Path) -> Path:

        if self.path.is_file():
            return self.path
        name = stem(volume)
        candidates = sorted(p for p in self.path.iterdir() if p.is_file() and is_volume(p)
                            and (stem(p) == name or stem(p).startswith(name + "_")))
        if len(candidates) != 1:
            found = ", ".join(p.name for p in candidates) if candidates else "none"
            raise InputError(f"--mask {self.path}: expected one NIfTI mask named {name}.nii[.gz] or "
                             f"{name}_*.nii[.gz] for {volume}, found {found}")
        return candidates[0]

    def for_volume(self, volume: Path) -> np.ndarray:
        """The (X, Y, Z) boolean mask of `volume`, checked against its shape."""
        import nibabel as nib


        self.used = True
        path = self._file_for(volume)
        data = read_volume(path).data
        shape = tuple(nib.load(str(volume)).shape)
        if data.ndim == 2:
            data = data[:, :, None]
        if data.ndim > 3:
            data = data.reshape(*data.shape[:3], -1)[..., 0]
        spatial = shape[:3] if len(shape) >= 3 else (*shape, 1)
        if data.shape != spatial:
            raise InputError(f"--mask {path} is {'x'.join(map(str, data.shape))}, but {volume} is "
                             f"{'x'.join(map(str, spatial))}")
        return np.asarray(data != 0)
