"""Reading and writing what `upscale` works on: images (OpenCV) and NIfTI volumes (nibabel).

Images keep their dtype and channel layout: uint8 and uint16 PNG/TIFF, 8-bit JPEG/BMP,
float32 TIFF; grayscale stays 2-D. OpenCV stores colour as BGR(A); these functions return
and take RGB(A), the order the networks were trained on. Every failure to read raises
InputError naming the file, so a batch can report it and go on.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.atomic import atomic_path, atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nii", ".nii.gz")


def full_suffix(path: Path) -> str:
    """'.nii.gz' for gzipped NIfTI, else the lower-case suffix."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def is_volume(path: Path) -> bool:
    return full_suffix(Path(path)) in VOLUME_SUFFIXES


def is_supported(path: Path) -> bool:
    return full_suffix(Path(path)) in IMAGE_SUFFIXES + VOLUME_SUFFIXES


def stem(path: Path) -> str:
    """The name without its (possibly double) suffix."""
    path = Path(path)
    return path.name[: len(path.name) - len(full_suffix(path))] if full_suffix(path) else path.name


def collect_inputs(items) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files, folders (their supported files, not recursive) and glob patterns.

    Returns (paths in order without duplicates, [(item, why it gave nothing)]).
    """
    paths: list[Path] = []
    missing: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for item in items:
        item = str(item)
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and is_supported(p)
                           and not p.name.startswith("."))
            if not found:
                missing.append((item, "folder holds no supported image or volume"))
            for p in found:
                add(p)
        elif path.is_file():
            add(path)
        elif glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item, recursive=True)
                           if Path(p).is_file() and is_supported(Path(p)))
            if not found:
                missing.append((item, "pattern matches no supported image or volume"))
            for p in found:
                add(p)
        else:
            missing.append((item, "no such file or folder"))
    return paths, missing


# --- images ------------------------------------------------------------------------------

def read_image(path) -> np.ndarray:
    """(H, W) grayscale or (H, W, 3|4) RGB(A), in the file's dtype (uint8, uint16 or float32)."""
    import cv2

    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt or unsupported format)")
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise InputError(f"{path}: unsupported pixel type {image.dtype} (expected 8 or 16 bit, or float)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        if image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        else:
            raise InputError(f"{path}: {image.shape[2]} channels (expected 1, 3 or 4)")
    return np.ascontiguousarray(image)


def write_image(path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write an (H, W) or (H, W, 3|4) RGB(A) array atomically; the format follows the suffix."""
    import cv2

    path = Path(path)
    suffix = full_suffix(path)
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: cannot write images as '{suffix}'")
    if image.dtype == np.uint16 and suffix in (".jpg", ".jpeg", ".bmp"):
        raise InputError(f"{path}: {suffix} cannot hold 16-bit pixels; write .png or .tiff")
    out = image
    if image.ndim == 3 and image.shape[2] == 3:
        out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        out = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, out, params)
    if not ok:
        raise InputError(f"{path}: OpenCV could not encode a {image.dtype} {image.shape} image")
    atomic_write_bytes(path, encoded.tobytes())


# --- volumes -----------------------------------------------------------------------------

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
