"""The command lines of tools/convert_edsr.py and tools/convert_wdsr.py (argparse, no extras).

Both read an official PyTorch checkpoint (zip or legacy format) with numpy only, infer the
architecture from the tensor shapes, and write OUT.h5 (cfg embedded) plus the cfg beside it.
Only what the file cannot tell is an option. Errors a user can cause print one line, exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from darkpy.errors import DarkpyError


def _mean(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R,G,B numbers, got '{text}'") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected 3 values R,G,B, got {len(values)}")
    return values


def _parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint", type=Path, help="official PyTorch checkpoint (.pt/.pth)")
    parser.add_argument("out", type=Path, help="darkpy model to write (.h5, the cfg embedded)")
    parser.add_argument("--cfg", type=Path, default=None, help="where to write the cfg (default: OUT with .cfg)")
    return parser


def _run(convert, args) -> int:
    from darkpy.convert.common import save_converted

    if args.out.suffix.lower() not in (".h5", ".hdf5"):
        print(f"error: {args.out}: the output must be an .h5 file", file=sys.stderr)
        return 2
    if args.out.resolve() == args.checkpoint.resolve():
        print(f"error: {args.out}: refusing to overwrite the checkpoint", file=sys.stderr)
        return 2
    try:
        converted = convert()
        network, cfg_path = save_converted(converted, args.out, source=args.checkpoint.name, cfg_path=args.cfg)
    except DarkpyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = ", ".join(f"{k}={v}" for k, v in converted.info.items())
    print(f"wrote {args.out} and {cfg_path}: {info}; {network.num_params():,} parameters")
    return 0


def edsr_main(argv=None) -> int:
    parser = _parser("Convert an EDSR-PyTorch checkpoint (thstkdgus35/EDSR-PyTorch) to a darkpy .h5.")
    parser.add_argument("--res-scale", type=float, default=None,
                        help="residual scaling (not stored in the file; default 0.1 for the full "
                             "32-block 256-feature model, 1 otherwise, as the published models)")
    args = parser.parse_args(argv)
    from darkpy.convert.edsr import convert_edsr

    return _run(lambda: convert_edsr(args.checkpoint, res_scale=args.res_scale), args)


def wdsr_main(argv=None) -> int:
    parser = _parser("Convert a WDSR-A/B checkpoint (JiahuiYu/wdsr_ntire2018) to a darkpy .h5.")
    parser.add_argument("--mean", type=_mean, default=None,
                        help="RGB mean on the 0..1 scale, as the official --r_mean/--g_mean/--b_mean "
                             "(not stored in the file; default: DIV2K 0.4488,0.4371,0.4040)")
    parser.add_argument("--res-scale", type=float, default=1.0,
                        help="residual scaling used in training (not stored; official default 1)")
    args = parser.parse_args(argv)
    from darkpy.convert.wdsr import convert_wdsr

    return _run(lambda: convert_wdsr(args.checkpoint, mean=args.mean, res_scale=args.res_scale), args)
