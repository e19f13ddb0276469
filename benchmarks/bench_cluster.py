"""Cluster throughput: a folder of images upscaled by 2 Dask worker processes x 1 thread
against one process x 2 threads, on the same machine, model and images.

    python benchmarks/bench_cluster.py [--images 20] [--size 128] [--model darkpy-sr-x2]

Both runs are warmed up first (the model loaded, numba's cache read) on a few images, then
timed on the whole folder; the outputs of the two runs are compared byte for byte. Prints
images/s of each and their ratio (cluster / in-process). Pause other work while it runs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from darkpy.cluster import connect  # noqa: E402
from darkpy.io.image import write_image  # noqa: E402
from darkpy.kernels.workers import set_num_threads  # noqa: E402
from darkpy.upscale.models import load_model  # noqa: E402
from darkpy.upscale.pipeline import upscale_files  # noqa: E402


def timed(function) -> float:
    start = time.perf_counter()
    report = function()
    seconds = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"failed: {report.failed}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=128, help="side of the square test images")
    parser.add_argument("--model", default="darkpy-sr-x2")
    args = parser.parse_args()
    network = load_model(args.model)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, warm = tmp / "images", tmp / "warm"
        folder.mkdir()
        warm.mkdir()
        for k in range(args.images):
            write_image(folder / f"img{k:03d}.png", rng.integers(0, 256, (args.size, args.size, 3), np.uint8))
        for k in range(4):
            write_image(warm / f"w{k}.png", rng.integers(0, 256, (args.size, args.size, 3), np.uint8))

        set_num_threads(2)
        upscale_files([warm], network, tmp / "warm_here")
        here = timed(lambda: upscale_files([folder], network, tmp / "here"))
        with connect(workers=2) as cluster:  # each worker: 1 Dask thread, its share of darkpy's
            upscale_files([warm], network, tmp / "warm_there", cluster=cluster)
            there = timed(lambda: upscale_files([folder], network, tmp / "there", cluster=cluster))
        same = all((tmp / "here" / p.name).read_bytes() == p.read_bytes() for p in (tmp / "there").iterdir())
    print(f"{args.images} images {args.size}x{args.size}, model {args.model}")
    print(f"1 process x 2 threads:   {args.images / here:7.2f} images/s ({here:.2f} s)")
    print(f"2 processes x 1 thread:  {args.images / there:7.2f} images/s ({there:.2f} s)")
    print(f"ratio (cluster / in-process): {here / there:.2f}; outputs identical: {same}")


if __name__ == "__main__":
    main()
