"""Score a super-resolution model against bicubic on HR images, as `darkpy train` validates.

    python tools/eval_sr.py MODEL IMAGE_OR_FOLDER... [--blur] [--ensemble] [--markdown]

Each HR image is cropped to a multiple of the model's scale, shrunk with OpenCV's bicubic
(after a 3x3 Gaussian blur, sigma 1, with --blur), upscaled by the model and by bicubic, and
both are scored against the original: PSNR and SSIM on Y (BT.601), border shaved by the
scale, results rounded to 0..255 first (darkpy.metrics). MODEL is anything `darkpy upscale
--model` takes (a shipped name, an .h5); --ensemble scores `darkpy upscale --ensemble` (the
mean of the eight flips/quarter turns). Prints one row per image and the means.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darkpy.train.data import ValidationSet, load_images  # noqa: E402
from darkpy.upscale.models import load_model  # noqa: E402
from darkpy.upscale.pipeline import upscale_float, upscale_scale  # noqa: E402


class _Tiled:
    """The network run as `darkpy upscale` runs it (tiled within the default memory)."""

    def __init__(self, network, ensemble: bool):
        self.network = network
        self.ensemble = ensemble

    def forward(self, x):
        return upscale_float(self.network, x[0], ensemble=self.ensemble)[None]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--blur", action="store_true", help="Gaussian 3x3 sigma 1 before downscaling")
    parser.add_argument("--ensemble", action="store_true", help="x8 self-ensemble, as darkpy upscale --ensemble")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    network = load_model(args.model)
    scale = upscale_scale(network)
    images = load_images(args.images, network.input_shape[2])
    valid = ValidationSet(images, scale, blur=args.blur)
    start = time.perf_counter()
    mean, rows = valid.evaluate(_Tiled(network, args.ensemble))
    seconds = time.perf_counter() - start
    rows = rows + [("mean", mean)]
    if args.markdown:
        print("| image | PSNR model | PSNR bicubic | gain | SSIM model | SSIM bicubic |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, s in rows:
            label = f"**{name}**" if name == "mean" else Path(name).name
            print(f"| {label} | {s.psnr:.2f} | {s.bicubic_psnr:.2f} | {s.psnr - s.bicubic_psnr:+.2f} | "
                  f"{s.ssim:.4f} | {s.bicubic_ssim:.4f} |")
    else:
        print(f"x{scale}, Y channel, shave {valid.shave}{', blurred' if args.blur else ''}"
              f"{', x8 self-ensemble' if args.ensemble else ''}")
        print(f"{'image':32s} {'PSNR':>7s} {'bicubic':>8s} {'gain':>6s} {'SSIM':>7s} {'bicubic':>8s}")
        for name, s in rows:
            print(f"{Path(name).name:32s} {s.psnr:7.2f} {s.bicubic_psnr:8.2f} {s.psnr - s.bicubic_psnr:+6.2f} "
                  f"{s.ssim:7.4f} {s.bicubic_ssim:8.4f}")
    if valid.skipped:
        print(f"skipped (too small to score): {', '.join(valid.skipped)}")
    print(f"({len(valid.items)} image(s) upscaled in {seconds:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
