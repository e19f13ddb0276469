"""Convert an official EDSR PyTorch checkpoint to a darkpy .h5 (numpy only, torch not needed).

    python tools/convert_edsr.py CHECKPOINT OUT.h5 [options]      (--help lists them)

The result runs through darkpy.load(OUT.h5).forward: NHWC RGB on 0..255 in, the
super-resolved NHWC RGB on 0..255 out, like the official model. See darkpy.convert.edsr.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darkpy.convert.cli import edsr_main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(edsr_main())
