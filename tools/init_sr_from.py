"""Start a super-resolution network from another scale's trained model (EDSR's recipe).

    python tools/init_sr_from.py CFG SOURCE.h5 OUT.h5 --skip 23 --zero 20 [--degrade matlab]

Builds CFG, copies every parameter of SOURCE whose layer has the same index, kind and shape
(the head and the residual body of darkpy-sr-x2 into darkpy-sr-x3/x4), then sets the skip
convolution to the bicubic kernel of the degradation's family and the deep branch's last
convolution to zero, so the new network starts as bicubic plus the old body's features.
`darkpy train OUT.h5 ...` then trains it (an .h5 given as the model starts from its weights).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cfg", help="the new network (.cfg or .yaml)")
    parser.add_argument("source", help="a trained darkpy .h5 whose matching layers are copied")
    parser.add_argument("out", help="the .h5 to write")
    parser.add_argument("--skip", type=int, required=True, help="the skip convolution (feeds a [shuffler])")
    parser.add_argument("--zero", type=int, action="append", default=[], help="convolutions to start at zero")
    parser.add_argument("--degrade", default="matlab", help="matlab, blur or opencv: the bicubic of the skip")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random initialisation of the rest")
    args = parser.parse_args(argv)

    import darkpy
    from darkpy.train.bicubic import bicubic_skip
    from darkpy.train.data import CUBIC_A, check_degradation
    from darkpy.train.model import initialise

    check_degradation(args.degrade)
    target = darkpy.load(args.cfg)
    initialise(target, args.seed)
    source = darkpy.load(args.source)
    copied = []
    for index, (new, old) in enumerate(zip(target.layers, source.layers)):
        if new.kind != old.kind or index == args.skip or index in args.zero:
            continue
        new_layout, old_layout = dict(new.param_layout()), dict(old.param_layout())
        if not new_layout or new_layout != old_layout:
            continue
        for name in new_layout:
            new.set_param(name, np.array(old.get_param(name), dtype=np.float32))
        new.invalidate()
        copied.append(index)
    bicubic_skip(target, args.skip, args.zero, cubic_a=CUBIC_A[args.degrade])
    darkpy.save(target, args.out, source=f"initialised from {args.source} (layers {copied})")
    print(f"{args.out}: copied layers {copied} from {args.source}; layer {args.skip} bicubic, "
          f"{args.zero} zero")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
