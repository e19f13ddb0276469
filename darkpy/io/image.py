"""Reading and writing images: the one image reader of every pipeline (OpenCV, and darknet's
own JPEG arithmetic where detection needs darknet's pixels).

`read_image` returns the file's pixels as stored: dtype kept (uint8 and uint16 PNG/TIFF,
8-bit JPEG/BMP, float32 TIFF), grayscale 2-D, colour as RGB(A) (OpenCV's BGR is turned
around: RGB is the order the networks were trained on). With darknet=True it reads as
darknet's load_image_color does instead: 8-bit RGB, JPEGs decoded with stb_image's arithmetic
(io/jpeg.py), so the network input is bit-identical to darknet's. `load_image` is that as
float32 0..1, detection's input. Every failure raises InputError naming the file, so a batch
can report it and go on; writes are atomic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.atomic import atomic_write_bytes
from darkpy.io.inputs import full_suffix

# what darkpy reads as images (anything OpenCV decodes is tried when named directly)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".pgm",
                  ".pnm")
# what write_image writes: upscale keeps each input's format, so it collects only these
WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _read_bytes(path: Path) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"{path}: no such image file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc.strerror or exc})") from None


def read_image(path, *, darknet: bool = False) -> np.ndarray:
    """(H, W) grayscale or (H, W, 3|4) RGB(A) in the file's dtype (uint8, uint16 or float32).

    darknet=True: darknet's load_image_color instead: (H, W, 3) uint8 RGB, JPEGs decoded as
    stb_image decodes them (other formats, and JPEG kinds stb_image does not cover, through
    OpenCV: lossless formats decode identically anyway), gray repeated to three channels,
    alpha dropped, 16 bits reduced to 8, EXIF orientation ignored as darknet ignores it.
    """
    import cv2

    from darkpy.io.jpeg import decode_jpeg

    path = Path(path)
    data = _read_bytes(path)
    if darknet:
        rgb = decode_jpeg(data)
        if rgb is not None:
            return rgb
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION if darknet else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise InputError(f"{path}: cannot decode it as an image (corrupt, or not a format "
                         "OpenCV reads: JPEG, PNG, BMP, TIFF, ...)")
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


def load_image(path) -> np.ndarray:
    """darknet's load_image_color: 8-bit RGB divided by 255, as (H, W, 3) float32."""
    return to_float_rgb(read_image(path, darknet=True))


def to_float_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB as float32 0..1: uint8 is divided by 255, floats are taken as they are."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"expected an (H, W, 3) RGB image, got an array of shape {image.shape}")
    image = image[:, :, :3]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(image, dtype=np.float32)


def image_value_range(image: np.ndarray) -> tuple[float, float]:
    """The range a file's pixels are read in: the dtype's for integers; for floats 0..1 when
    the values fit in it, else their own min..max."""
    if image.dtype.kind != "f":
        return default_value_range(image.dtype)
    finite = image[np.isfinite(image)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)


def default_value_range(dtype) -> tuple[float, float]:
    """uint8 0..255, uint16 0..65535; floats are taken as already on 0..255."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 0.0, 255.0
    if dtype == np.uint16:
        return 0.0, 65535.0
    if dtype.kind == "f":
        return 0.0, 255.0
    raise InputError(f"unsupported pixel type {dtype} (expected uint8, uint16 or float)")


def to_255(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """values on lo..hi mapped linearly to float32 0..255 (the networks' scale)."""
    span = (hi - lo) or 1.0
    return ((values.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / span)).astype(np.float32)


def write_image(path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write an (H, W) or (H, W, 3|4) RGB(A) array atomically; the format follows the suffix."""
    import cv2

    path = Path(path)
    suffix = full_suffix(path)
    if suffix not in WRITE_SUFFIXES:
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
