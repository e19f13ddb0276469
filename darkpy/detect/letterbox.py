"""Network inputs made as darknet makes them: load_image_color, resize_image, letterbox_image.

Images are (H, W, 3) float32 RGB in 0..1, HWC (darknet keeps CHW; the values are the same).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from darkpy.io.jpeg import decode_jpeg
from darkpy.errors import InputError
from darkpy.kernels.resize import darknet_resize

LETTERBOX_FILL = np.float32(0.5)


def load_image(path: str | Path) -> np.ndarray:
    """darknet's load_image_color: 8-bit RGB divided by 255, as (H, W, 3) float32.

    JPEGs are decoded with stb_image's arithmetic (darknet's decoder), so the pixels are
    darknet's own; other formats, and JPEG kinds that decoder does not cover, go through
    OpenCV (lossless formats decode identically anyway). Gray images are repeated to three
    channels and alpha is dropped, as darknet does; EXIF orientation is ignored, as darknet
    ignores it.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise InputError(f"{path}: no such image file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    rgb = decode_jpeg(data)
    if rgb is None:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
        if bgr is None:
            raise InputError(f"{path}: cannot decode it as an image (JPEG, PNG, BMP, TIFF, ...)")
        rgb = bgr[:, :, ::-1]
    return to_float_rgb(rgb)


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


def letterbox_size(image_w: int, image_h: int, net_w: int, net_h: int) -> tuple[int, int]:
    """The size darknet resizes an image to before padding it to the network size."""
    if np.float32(net_w) / np.float32(image_w) < np.float32(net_h) / np.float32(image_h):
        return net_w, (image_h * net_w) // image_w
    return (image_w * net_h) // image_h, net_h


def letterbox_image(image: np.ndarray, net_w: int, net_h: int) -> np.ndarray:
    """darknet's letterbox_image: aspect-preserving resize, centred on a 0.5 gray canvas."""
    image_h, image_w = image.shape[:2]
    new_w, new_h = letterbox_size(image_w, image_h, net_w, net_h)
    canvas = np.full((net_h, net_w, image.shape[2]), LETTERBOX_FILL, dtype=np.float32)
    top, left = (net_h - new_h) // 2, (net_w - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = darknet_resize(image, new_w, new_h)
    return canvas


def network_input(image: np.ndarray, net_w: int, net_h: int, letterbox: bool = True) -> np.ndarray:
    """The (net_h, net_w, 3) input for one image: letterboxed, or plainly resized (stretched)."""
    if letterbox:
        return letterbox_image(image, net_w, net_h)
    return darknet_resize(image, net_w, net_h)
