"""Write docs/cfg-reference.md from darkpy's schemas (the same tables as `darkpy keys`).

    python tools/make_cfg_reference.py [--check]

Run it after changing any section's keys; tests/test_cfg_reference.py fails while the
committed file differs from what the schemas generate. --check only compares (exit 1 if stale).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from darkpy.config.reference import markdown  # noqa: E402
from darkpy.io.atomic import atomic_write_text  # noqa: E402

REFERENCE = ROOT / "docs" / "cfg-reference.md"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    text = markdown()
    if args.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
        if current != text:
            print(f"{REFERENCE.relative_to(ROOT)} is out of date: run tools/make_cfg_reference.py")
            return 1
        return 0
    atomic_write_text(REFERENCE, text)
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
