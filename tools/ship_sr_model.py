"""Ship a trained super-resolution model: copy it into weights/ with its Set5 scores recorded.

    python tools/ship_sr_model.py RUN_DIR/model.h5 darkpy-sr-x4 --set5 ../shared/data/sr/set5
    python tools/ship_sr_model.py OUT/darkpy_mri_x2.h5 darkpy-mri-x2 --scores OUT/scores_x2.json --label mri-x2

Scores the model on Set5 at its own scale by the benchmark protocol (HR images, LR made by
MATLAB's bicubic, Y-PSNR/SSIM with shave = scale, bicubic = MATLAB's upscaling of the 8-bit LR)
and writes weights/NAME.h5 (atomically) with a `benchmark` attribute that `darkpy models`
prints. The training run's own figures stay in its log; these are the ones users compare.
`--scores` records instead the mean of row LABEL of a `darkpy evaluate --json` file (the MRI
models: tools/mri_study.py's held-out slab).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def set5_score(network, set5: Path, scale: int) -> dict:
    """Mean Set5 scores of `network` by the benchmark protocol, and the bicubic baseline's,
    measured by `darkpy evaluate` (the given NAME_LR/NAME_HR pairs)."""
    import darkpy

    result = darkpy.evaluate([("model", network)], [set5 / f"x{scale}"], degradation="matlab")
    mean = result.mean()
    return {"set": "Set5", "scale": scale, "protocol": "MATLAB bicubic LR, Y-PSNR/SSIM, shave = scale",
            "psnr": round(mean["model"].psnr, 3), "ssim": round(mean["model"].ssim, 4),
            "bicubic_psnr": round(mean["bicubic"].psnr, 3), "bicubic_ssim": round(mean["bicubic"].ssim, 4),
            "images": {g.name: round(g.scores["model"].psnr, 3) for g in result.groups()}}


def evaluated_score(path: Path, label: str, set_name: str) -> dict:
    """The mean of row `label` and of bicubic in a `darkpy evaluate --json` report."""
    import json

    report = json.loads(Path(path).read_text())
    mean, protocol = report["mean"], report["protocol"]
    return {"set": set_name, "scale": protocol["scale"],
            "protocol": f"{protocol['degradation']} degradation, {protocol['rotations']} rotations, "
                        f"mask threshold {protocol['mask_threshold']}",
            "psnr": round(mean[label]["psnr"], 3), "ssim": round(mean[label]["ssim"], 4),
            "bicubic_psnr": round(mean["bicubic"]["psnr"], 3), "bicubic_ssim": round(mean["bicubic"]["ssim"], 4)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the trained darkpy .h5 (a run's model.h5 or best.h5)")
    parser.add_argument("name", help="the shipped name, e.g. darkpy-sr-x4")
    parser.add_argument("--set5", type=Path, default=REPO.parent / "shared" / "data" / "sr" / "set5",
                        help="Set5 folder with x2/x3/x4 subfolders of NAME_HR.png")
    parser.add_argument("--scores", type=Path, help="a `darkpy evaluate --json` file to record instead of Set5")
    parser.add_argument("--label", help="with --scores: the row of this model")
    parser.add_argument("--set-name", default="MRI slab", help="with --scores: what the scores are on")
    parser.add_argument("--source", default="", help="where the weights came from (default: the model's path)")
    args = parser.parse_args(argv)

    import darkpy
    from darkpy.upscale.models import BENCHMARK_KEY
    from darkpy.upscale.pipeline import upscale_scale

    network = darkpy.load(args.model)
    scale = upscale_scale(network)
    score = evaluated_score(args.scores, args.label, args.set_name) if args.scores else \
        set5_score(network, args.set5, scale)
    out = REPO / "weights" / f"{args.name.replace('-', '_')}.h5"
    # the model's metadata (darkpy.save keeps it) with the Set5 score added
    darkpy.save(network, out, source=args.source or str(args.model), extras={BENCHMARK_KEY: score})
    print(f"{out}: x{scale}, {score['set']} {score['psnr']:.2f} dB / {score['ssim']:.4f} "
          f"(bicubic {score['bicubic_psnr']:.2f} / {score['bicubic_ssim']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
