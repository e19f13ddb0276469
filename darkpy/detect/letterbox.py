"""Network inputs made as darknet makes them: resize_image, letterbox_image (images read by
darkpy.io.image.load_image, darknet's load_image_color).

Images are (H, W, 3) float32 RGB in 0..1, HWC (darknet keeps CHW; the values are the same).
"""
from __future__ import annotations

import numpy as np

from darkpy.kernels.resize import darknet_resize

LETTERBOX_FILL = np.float32(0.5)


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
