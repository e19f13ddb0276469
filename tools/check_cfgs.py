"""Describe every darknet .cfg under a folder with darkpy, one line per file.

    python tools/check_cfgs.py /tmp/darknet_cfgs [--verbose]

Each cfg is built with darkpy.load and summarised with darkpy.info.summarize (what
`darkpy info` prints). A line says OK with the layer count, parameters and FLOPs; REFUSED with
darkpy's message (an expected error: the reason a user would see); or BUG with the exception
for anything else (a traceback from darkpy is always a bug). Exit status 1 if any BUG.
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import darkpy  # noqa: E402
from darkpy.errors import DarkpyError  # noqa: E402
from darkpy.info import human, summarize  # noqa: E402


def check(path: Path) -> tuple[str, str]:
    try:
        network = darkpy.load(path)
        rows = summarize(network)
    except DarkpyError as exc:
        return "REFUSED", str(exc).replace(str(path), path.name)
    except Exception as exc:  # noqa: BLE001 - reported as a bug, with where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "BUG", f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
    params = sum(r.params for r in rows)
    flops = sum(r.flops for r in rows)
    return "OK", f"{len(rows)} layers, {human(params)} params, {human(flops, 'FLOPs')}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    paths = sorted(args.folder.rglob("*.cfg"))
    if not paths:
        print(f"no .cfg files under {args.folder}", file=sys.stderr)
        return 2
    counts: dict[str, int] = {}
    width = max(len(str(p.relative_to(args.folder))) for p in paths)
    for path in paths:
        start = time.perf_counter()
        status, text = check(path)
        counts[status] = counts.get(status, 0) + 1
        name = str(path.relative_to(args.folder))
        print(f"{name:<{width}}  {status:<7} {time.perf_counter() - start:5.1f}s  {text}", flush=True)
    print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 1 if counts.get("BUG") else 0


if __name__ == "__main__":
    sys.exit(main())
