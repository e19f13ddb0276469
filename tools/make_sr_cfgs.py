"""Write the shipped super-resolution cfgs (cfg/<name>.cfg) and their YAML twins (.yaml).

    python tools/make_sr_cfgs.py [OUT_DIR]      (default: cfg/ of this checkout)

The table lives in darkpy.convert.sr_models; the cfg text comes from the same functions the
checkpoint converters use (darkpy.convert.edsr.edsr_cfg, darkpy.convert.wdsr.wdsr_cfg).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darkpy.convert.sr_models import shipped_builders  # noqa: E402
from darkpy.io.atomic import atomic_write_text  # noqa: E402


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "cfg"
    for name, builder in shipped_builders().items():
        atomic_write_text(out / f"{name}.cfg", builder.text())
        atomic_write_text(out / f"{name}.yaml", builder.yaml_text())
        print(f"wrote {out / name}.cfg and .yaml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
