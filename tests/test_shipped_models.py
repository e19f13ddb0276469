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
PHOTO_MODELS = [n for n in SHIPPED if n.startswith("darkpy_sr_")]  # trained on photos
MRI_MODELS = [n for n in SHIPPED if n.startswith("darkpy_mri_")]   # fine-tuned on MRI slices
HELD_OUT_SLICES = (70, 78, 88)  # axial slices of tools/mri_study.py's held-out slab


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
def test_shipped_model_scale(name):
    network = load_model(name)
    assert upscale_scale(network) == scale_of(name)
    out = network.forward(np.zeros((1, 9, 7, 3), np.float32))
    assert out.shape == (1, 9 * scale_of(name), 7 * scale_of(name), 3)


@pytest.mark.parametrize("name", PHOTO_MODELS)
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


@pytest.mark.parametrize("name", PHOTO_MODELS)
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


def test_every_scale_of_the_mri_study_ships_an_mri_model():
    assert sorted(scale_of(n) for n in MRI_MODELS) == [2, 4]


@pytest.mark.parametrize("name", MRI_MODELS)
def test_mri_model_beats_the_photo_model_on_held_out_mri(name, shared):
    """Shipped because it beats the photo model of its scale on MRI it never saw: slices of
    the held-out slab, degraded by the theses' protocol (3x3 Gaussian of sigma 1, then MATLAB's
    bicubic), scored on the values of the whole slice (no mask, no rotations: simpler than the
    study's protocol, and independent of darkpy.evaluation)."""
    import nibabel as nib

    scale = scale_of(name)
    volume = np.asanyarray(nib.load(str(shared("data", "mri", "mni152_t1_1mm.nii.gz"))).dataobj)
    volume = volume.astype(np.float64) * (255.0 / volume.max())
    mri, photo = load_model(name), load_model(f"darkpy-sr-x{scale}")
    scores = {"mri": [], "photo": [], "bicubic": []}
    for z in HELD_OUT_SLICES:
        hr = np.rint(volume[:, :, z])
        hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale].astype(np.uint8)
        blurred = np.clip(np.rint(cv2.GaussianBlur(hr.astype(np.float32), (3, 3), 1.0)), 0, 255)
        lr = imresize(blurred.astype(np.uint8), 1 / scale)
        x = np.repeat(lr[None, :, :, None], 3, axis=3).astype(np.float32)
        for key, net in (("mri", mri), ("photo", photo)):
            out = np.rint(np.clip(net.forward(x)[0].mean(axis=2), 0, 255))
            scores[key].append(_psnr_values(out, hr, scale))
        scores["bicubic"].append(_psnr_values(imresize(lr, scale).astype(np.float64), hr, scale))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["mri"] > mean["photo"] + 0.3 and mean["photo"] > mean["bicubic"], mean
    description, weights = resolve_model(name)
    recorded = read_h5_cfg(weights or description)[1].get("benchmark")
    assert recorded and recorded["psnr"] > recorded["bicubic_psnr"]


def _psnr_values(result, reference, shave):
    a = result[shave:-shave, shave:-shave].astype(np.float64)
    b = reference[shave:-shave, shave:-shave].astype(np.float64)
    return 10.0 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))
