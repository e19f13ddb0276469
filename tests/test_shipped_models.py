"""Every shipped model loads, upscales by the factor its name says, and beats bicubic on the
held-out photos by what weights/README.md states for it.

The models are the names the library reports (`shipped_names`), so a model added to weights/
is tested without editing this file. The scoring is written out here, independently of
darkpy.metrics and darkpy.train: the README's protocol (HR cropped to a multiple of the scale,
LR by MATLAB's bicubic on the 8-bit image -- darkpy.imresize, which test_imresize.py proves
bit-exact against MATLAB's own Set5 LR images --, bicubic the same imresize upwards, PSNR on
BT.601 Y of results rounded to 8 bits, the border shaved by the scale). Whole photos, not crops: a 96x96 crop of coffee gains anywhere
from +0.2 to +7 dB over bicubic, so no crop can be held to the README's per-image figure, and
both photos take about a second at x2.
"""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from darkpy.errors import WeightsError
from darkpy.imresize import imresize
from darkpy.io.h5 import read_h5_cfg
from darkpy.upscale.models import DEFAULT_MODEL, load_model, resolve_model, shipped_names
from darkpy.upscale.pipeline import upscale_scale

HELD_OUT = ("chelsea", "coffee")  # scikit-image photos no shipped model was trained on
TOLERANCE_DB = 0.05  # the README rounds to 0.01 dB; BLAS rounding moves a result by ~0.001 dB

SHIPPED = shipped_names()


def scale_of(name: str) -> int:
    match = re.search(r"x(\d+)$", name)
    assert match, f"shipped model '{name}' should end in x<scale> (darkpy-sr-x2)"
    return int(match.group(1))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2ycbcr Y (BT.601, 16..235) of 0..255 RGB."""
    rgb = rgb.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr_y(result: np.ndarray, reference: np.ndarray, shave: int) -> float:
    result = np.rint(np.clip(result, 0, 255))
    a = luminance(result)[shave:-shave, shave:-shave]
    b = luminance(reference)[shave:-shave, shave:-shave]
    return 10.0 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))


def readme_gains(readme, name: str) -> dict[str, float]:
    """{image: gain in dB} from the tables of the model's `## name` section of weights/README.md
    (a row per image with a `gain` column; the name spelled with dashes, as users type it)."""
    spelled = {name, name.replace("_", "-")}
    gains, in_section, header = {}, False, None
    for line in readme.read_text().splitlines():
        if line.startswith("## "):
            in_section = line[3:].strip() in spelled
        if not (in_section and line.startswith("|")):
            header = None  # a table ends at the first line that is not a row
            continue
        cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
        elif "gain" in header and "image" in header and not set(cells[0]) <= set("-: "):
            gains[cells[header.index("image")]] = float(cells[header.index("gain")])
    return gains


def test_the_default_model_is_shipped():
    assert DEFAULT_MODEL.replace("-", "_") in {n.replace("-", "_") for n in SHIPPED}


def test_an_unknown_name_lists_the_shipped_models():
    with pytest.raises(WeightsError, match="darkpy-sr-x9") as error:
        resolve_model("darkpy-sr-x9")
    assert all(name in str(error.value) for name in SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_scale_and_gain_over_bicubic(name):
    from skimage import data

    scale = scale_of(name)
    network = load_model(name)
    assert upscale_scale(network) == scale
    description, weights = resolve_model(name)
    h5 = weights or description  # (cfg, h5), or (h5, None) for a model without a cfg beside it
    claimed = readme_gains(h5.parent / "README.md", name)
    missing = [photo for photo in HELD_OUT if photo not in claimed]
    assert not missing, f"{h5.parent / 'README.md'} states no gain of {name} on {missing}"
    for photo in HELD_OUT:
        hr = getattr(data, photo)()
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        lr = imresize(hr, 1 / scale)
        out = network.forward(lr[None].astype(np.float32))[0]
        assert out.shape == hr.shape, f"{name} made {out.shape} of {lr.shape}, not x{scale}"
        bicubic = imresize(lr, scale)
        gain = psnr_y(out, hr, scale) - psnr_y(bicubic, hr, scale)
        assert gain > 0, f"{name} loses to bicubic on {photo} ({gain:+.3f} dB)"
        assert gain == pytest.approx(claimed[photo], abs=TOLERANCE_DB), \
            f"{name} gains {gain:+.3f} dB on {photo}; weights/README.md states {claimed[photo]:+.2f}"


@pytest.mark.parametrize("name", SHIPPED)
def test_recorded_set5_score_is_what_the_model_scores(name, shared):
    """`darkpy models` prints the Set5 score stored in the .h5: the model must score it on the
    literature's own LR images (NAME_LR.png, made by MATLAB), scored here in plain numpy."""
    scale = scale_of(name)
    folder = shared("data", "sr", "set5", f"x{scale}")
    description, weights = resolve_model(name)
    recorded = read_h5_cfg(weights or description)[1].get("benchmark")
    assert recorded, f"{name}: no Set5 score recorded (tools/ship_sr_model.py records it)"
    network = load_model(name)
    psnrs, bicubic_psnrs = [], []
    for hr_path in sorted(folder.glob("*_HR.png")):
        hr = cv2.imread(str(hr_path))[:, :, ::-1]
        lr = cv2.imread(str(hr_path).replace("_HR", "_LR"))[:, :, ::-1]
        out = network.forward(lr[None].astype(np.float32))[0]
        psnrs.append(psnr_y(out, hr, scale))
        bicubic_psnrs.append(psnr_y(imresize(lr, scale), hr, scale))
    assert len(psnrs) == 5
    assert np.mean(psnrs) == pytest.approx(recorded["psnr"], abs=0.01)
    assert np.mean(bicubic_psnrs) == pytest.approx(recorded["bicubic_psnr"], abs=0.01)
    assert recorded["psnr"] > recorded["bicubic_psnr"] + 0.5
