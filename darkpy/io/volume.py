"""Reading and writing NIfTI volumes (nibabel): the voxels after the header's scaling, and
files written with the header kept and the affine and voxel sizes updated for upscaling."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.atomic import atomic_path
from darkpy.io.inputs import full_suffix

VOLUME_SUFFIXES = (".nii", ".nii.gz")


def is_volume(path) -> bool:
    return full_suffix(path) in VOLUME_SUFFIXES


@dataclass
class Volume:
    data: np.ndarray          # the voxel values after the header's scaling (float or int)
    affine: np.ndarray        # 4x4 voxel -> world
    header: object            # nibabel header (copied), for everything else
    disk_dtype: np.dtype      # the dtype stored in the file
    scaled: bool              # the file applies scl_slope/scl_inter


def read_volume(path) -> Volume:
    import nibabel as nib

    path = Path(path)
    try:
        image = nib.load(str(path))
        if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
            raise InputError(f"{path}: not a NIfTI image")
        header = image.header.copy()
        slope, inter = header.get_slope_inter()
        scaled = not ((slope is None or slope == 1) and (inter is None or inter == 0))
        data = np.asanyarray(image.dataobj)
        data = np.asarray(data)
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many kinds (ImageFileError, EOFError, zlib.error)
        raise InputError(f"{path}: not a readable NIfTI volume ({type(exc).__name__}: {exc})") from None
    if data.ndim < 2:
        raise InputError(f"{path}: volume has {data.ndim} dimension(s); need at least 2")
    return Volume(data=data, affine=np.array(image.affine, dtype=np.float64), header=header,
                  disk_dtype=header.get_data_dtype(), scaled=scaled)


def upscaled_affine(affine: np.ndarray, axes: tuple[int, ...], scale: int) -> np.ndarray:
    """The affine of a volume upscaled by `scale` along `axes`.

    New voxel i covers old voxel coordinates [i/scale - 1/2, (i+1)/scale - 1/2): its centre is
    old coordinate (i + 1/2)/scale - 1/2, so each axis is scaled by 1/scale and shifted by
    (1/scale - 1)/2 (the new grid spans the same field of view).
    """
    to_old = np.eye(4)
    for axis in axes:
        to_old[axis, axis] = 1.0 / scale
        to_old[axis, 3] = (1.0 / scale - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ to_old


def write_volume(path, data: np.ndarray, like: Volume, axes: tuple[int, ...], scale: int) -> None:
    """Write `data` with `like`'s header, the affine and voxel sizes updated for `axes`."""
    import nibabel as nib

    path = Path(path)
    header = like.header.copy()
    affine = upscaled_affine(like.affine, axes, scale)
    cls = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    header.set_data_dtype(data.dtype)
    zooms = list(header.get_zooms())
    for axis in axes:
        zooms[axis] = zooms[axis] / scale
    image = cls(data, affine, header=header)
    # keep the file's coordinate-system codes; the constructor may have changed them
    image.set_qform(affine, code=int(like.header["qform_code"]))
    image.set_sform(affine, code=int(like.header["sform_code"]))
    image.header.set_zooms(zooms[: data.ndim])
    suffix = ".nii.gz" if full_suffix(path) == ".nii.gz" else ".nii"
    with atomic_path(path) as tmp:
        target = tmp.with_name(tmp.name + suffix)
        try:
            nib.save(image, str(target))
            target.replace(tmp)
        finally:
            target.unlink(missing_ok=True)


def volume_value_range(data: np.ndarray) -> tuple[float, float]:
    """min..max of the finite voxels: the whole volume shares one mapping to 0..255."""
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())
