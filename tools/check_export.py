"""Export every darknet .cfg under a folder to ONNX and check it with ONNX Runtime.

    python tools/check_export.py /tmp/darknet_cfgs [--size 96]

Each cfg is built with darkpy (REFUSED: darkpy cannot describe it, as tools/check_cfgs.py
reports), given random weights (batch-norm values away from the identity), exported at a
small size (the smallest multiple of the network's stride from --size up; its own [net] size
when it only runs at that size) and run by ONNX Runtime next to darkpy's forward on a random
input. A line says OK with the largest difference relative to the output's scale, DIFFERS
when that exceeds 1e-4, NO-ONNX with the reason a layer has no ONNX equivalent, or BUG.
Exit status 1 if any DIFFERS or BUG.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import darkpy  # noqa: E402
from darkpy.errors import DarkpyError, ExportError  # noqa: E402
from darkpy.export.sizes import size_multiple  # noqa: E402
from darkpy.export.verify import compare_with_onnxruntime, random_parameters  # noqa: E402

TOLERANCE = 1e-4


def export_size(network, smallest: int):
    h, w, _ = network.input_shape
    m = size_multiple(network, h, w)
    if m is None or h == 1 or w == 1:
        return None  # only its own size (or a flat input)
    side = -(-smallest // m) * m
    try:
        network.infer_shapes((side, side, network.input_shape[2]))
    except DarkpyError:
        return None
    return (side, side)


def check(path: Path, smallest: int) -> tuple[str, str]:
    try:
        network = darkpy.load(path)
    except DarkpyError as exc:
        return "REFUSED", str(exc).replace(str(path), path.name)
    try:
        random_parameters(network)
        size = export_size(network, smallest)
        model = darkpy.export_onnx(network, size=size, batch=1)
        errors = compare_with_onnxruntime(network, model)
    except ExportError as exc:
        return "NO-ONNX", str(exc).replace(str(path), path.name)
    except Exception as exc:  # noqa: BLE001 - reported as a bug, with where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "BUG", f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
    worst = max(errors.values())
    h, w = size if size else network.input_shape[:2]
    text = f"{w}x{h}, {len(model.graph.node)} nodes, max difference {worst:.1e}"
    return ("OK" if worst <= TOLERANCE else "DIFFERS"), text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, default=96, help="smallest side to export at")
    args = parser.parse_args(argv)
    paths = sorted(args.folder.rglob("*.cfg"))
    if not paths:
        print(f"no .cfg files under {args.folder}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    width = max(len(str(p.relative_to(args.folder))) for p in paths)
    for path in paths:
        start = time.perf_counter()
        status, text = check(path, args.size)
        counts[status] = counts.get(status, 0) + 1
        name = str(path.relative_to(args.folder))
        seconds = time.perf_counter() - start
        print(f"{name:<{width}}  {status:<8} {seconds:5.1f}s  {text}", flush=True)
    print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 1 if counts.get("BUG") or counts.get("DIFFERS") else 0


if __name__ == "__main__":
    sys.exit(main())
