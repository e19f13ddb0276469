"""The theses' MRI study with darkpy: photo models vs MRI-trained models vs bicubic on held-out slices.

    python tools/mri_study.py OUT [--volume ../shared/data/mri/mni152_t1_1mm.nii.gz]
                              [--iterations 2000] [--scales 2 4] [--skip-train]

1. Splits the T1 volume along z into a held-out slab of axial slices (HELD_OUT, every second
   slice) and training slices that keep a gap of GAP slices from it (neighbouring slices are
   near copies: without the gap the held-out score would measure memory, not generalisation).
2. Fine-tunes darkpy's photo model of each scale (darkpy-sr-x2, darkpy-sr-x4) on the training
   slices with the theses' degradation (`--degrade blur`: 3x3 Gaussian of sigma 1, then MATLAB's
   bicubic) with `darkpy train`.
3. Scores bicubic, the photo model and the MRI model on the held-out slices with
   `darkpy evaluate --degrade blur --rotations 20 --mask-threshold 10` (20 rotations of each
   slice as the theses do; only the head, not the black background, is scored), writing the
   scores as JSON and the figures (PSNR per slice, zoomed crops, error maps) into OUT/plots_xS.
4. Prints a Markdown table. Every step is a darkpy command, echoed before it runs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOLUME = REPO.parent / "shared" / "data" / "mri" / "mni152_t1_1mm.nii.gz"
HELD_OUT = range(70, 90, 2)   # axial slices scored, never trained on
GAP = 8                       # slices on each side of the held-out slab left out of training
MASK_THRESHOLD = 10           # on the 0..255 scale of the volume's range: the head, not the air
ROTATIONS = 20


def split_volume(volume: Path, out: Path) -> tuple[Path, Path]:
    """train.nii.gz (axial slices away from the slab) and heldout.nii.gz (the slab)."""
    import nibabel as nib
    import numpy as np

    image = nib.load(str(volume))
    data = np.asanyarray(image.dataobj)
    held = list(HELD_OUT)
    lo, hi = held[0] - GAP, held[-1] + GAP
    train = [z for z in range(data.shape[2]) if z < lo or z > hi]
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.nii.gz", out / "heldout.nii.gz"
    for path, slices in zip(paths, (train, held)):
        nib.save(nib.Nifti1Image(data[:, :, slices], image.affine, image.header), str(path))
    return paths


def darkpy(*args) -> None:
    command = [sys.executable, "-m", "darkpy", *map(str, args)]
    print("$ darkpy " + " ".join(map(str, args)), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the data split, runs, models, scores and plots")
    parser.add_argument("--volume", type=Path, default=VOLUME, help="a T1 NIfTI volume")
    parser.add_argument("--iterations", type=int, default=2000, help="fine-tuning iterations per scale")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--skip-train", action="store_true", help="score the models already in OUT")
    args = parser.parse_args(argv)

    from darkpy.upscale.models import models_root

    train, heldout = split_volume(args.volume, args.out / "data")
    rows = []
    for scale in args.scales:
        photo = f"darkpy-sr-x{scale}"
        run = args.out / f"run_x{scale}"
        model = args.out / f"darkpy_mri_x{scale}.h5"
        if not args.skip_train:
            photo_h5 = models_root() / "weights" / f"darkpy_sr_x{scale}.h5"
            darkpy("train", photo_h5, "--data", train, "--out", run, "--degrade", "blur",
                   "--iterations", args.iterations, "--lr", "0.0002", "--checkpoint-every", 500)
            (run / "model.h5").replace(model)
        scores = args.out / f"scores_x{scale}.json"
        darkpy("evaluate", f"{photo}={photo}", f"mri-x{scale}={model}", "--data", heldout,
               "--degrade", "blur", "--rotations", ROTATIONS, "--mask-threshold", MASK_THRESHOLD,
               "--json", scores, "--plots", args.out / f"plots_x{scale}")
        rows.append((scale, json.loads(scores.read_text())))
    print("\n| scale | model | PSNR (dB) | SSIM |\n| --- | --- | ---: | ---: |")
    for scale, report in rows:
        for name, score in report["mean"].items():
            print(f"| x{scale} | {name} | {score['psnr']:.2f} | {score['ssim']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
