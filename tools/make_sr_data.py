"""Write the images the shipped super-resolution model was trained and scored on.

    python tools/make_sr_data.py OUT_DIR [--mri PATH/mni152_t1_1mm.nii.gz]
                                         [--photos ../shared/images]

OUT_DIR/train/        scikit-image's bundled photos (public domain or CC0, see PHOTOS); with
                      --mri, the axial slices z = 56, 72, 88, 104 of the volume; with
                      --photos, every JPEG/PNG of that folder (darknet's sample photos)
OUT_DIR/valid/        held-out photos: chelsea (CC0, Stefan van der Walt) and coffee (CC0,
                      Rachel Michetti)
OUT_DIR/valid_mri/    with --mri, held-out sagittal slices x = 60, 80, 100, 120, 140 (the
                      network sees axial slices only)

Everything is written as 8-bit PNG (RGB photos stay RGB, grayscale stays grayscale); the
volume is mapped from its min..max to 0..255 (the MNI152 template is uint8 already).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darkpy.io.image import read_image, write_image  # noqa: E402
from darkpy.io.volume import read_volume  # noqa: E402

# name in skimage.data -> licence as skimage's docstrings give it
PHOTOS = {
    "astronaut": "public domain (NASA)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "camera": "CC0 (Lav Varshney)",
    "brick": "CC0 (CC0Textures)",
    "grass": "CC0 (DeviantArt, linolafett)",
    "gravel": "CC0 (CC0Textures)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
    "immunohistochemistry": "no known copyright restrictions (CMMI)",
    "text": "public domain (Wikipedia)",
    "page": "scikit-image sample (scanned page)",
    "clock": "public domain (Stefan van der Walt)",
    "cell": "CC0 (Stefan van der Walt)",
    "retina": "CC0 (Mikael Häggström)",
}
HELD_OUT = {"chelsea": "CC0 (Stefan van der Walt)", "coffee": "CC0 (Rachel Michetti)"}
MRI_TRAIN_AXIAL = (56, 72, 88, 104)
MRI_VALID_SAGITTAL = (60, 80, 100, 120, 140)


def _to_uint8(plane: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (plane.astype(np.float64) - lo) * (255.0 / ((hi - lo) or 1.0))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def main(argv=None) -> int:
    import skimage.data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--mri", type=Path, help="a NIfTI T1 volume (e.g. ../shared/data/mri/mni152_t1_1mm.nii.gz)")
    parser.add_argument("--photos", type=Path, help="a folder of extra training photos (e.g. ../shared/images)")
    args = parser.parse_args(argv)
    for folder, table in (("train", PHOTOS), ("valid", HELD_OUT)):
        for name in table:
            image = getattr(skimage.data, name)()
            write_image(args.out / folder / f"{name}.png", image)
    if args.photos:
        for path in sorted(args.photos.iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                # decoded and rewritten losslessly: training reads PNGs only, like the rest
                write_image(args.out / "train" / f"{path.stem}.png", read_image(path))
    if args.mri:
        data = np.asarray(read_volume(args.mri).data)
        lo, hi = float(data.min()), float(data.max())
        for z in MRI_TRAIN_AXIAL:
            # voxel axes are (x, y, z); a slice shows y down the rows after a transpose and flip
            plane = np.flipud(data[:, :, z].T)
            write_image(args.out / "train" / f"mri_axial_{z:03d}.png", _to_uint8(plane, lo, hi))
        for x in MRI_VALID_SAGITTAL:
            plane = np.flipud(data[x, :, :].T)
            write_image(args.out / "valid_mri" / f"mri_sagittal_{x:03d}.png", _to_uint8(plane, lo, hi))
    for folder in ("train", "valid", "valid_mri"):
        if (args.out / folder).is_dir():
            print(f"{args.out / folder}: {len(list((args.out / folder).glob('*.png')))} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
