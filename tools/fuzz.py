"""Long fuzz runs: mutated cfg, YAML, .weights and .h5 inputs fed to darkpy, reporting every
exception that is not a darkpy error (tests/fuzz_inputs.py makes and runs the cases;
tests/test_fuzz.py runs a few thousand of them in CI).

    python tools/fuzz.py --count 100000                  # seeded: the same cases every time
    python tools/fuzz.py --seed 7 --count 5000 --cfgs ../shared/darknet-cfg
    python tools/fuzz.py --seed S --start I --count 1     # rerun one reported case, verbosely

Exit status 1 when any case failed (an exception other than DarkpyError, or a case running
longer than --timeout seconds).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_inputs import make_case, run_case  # noqa: E402


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the case generator")
    parser.add_argument("--start", type=int, default=0, help="index of the first case")
    parser.add_argument("--count", type=int, default=10000, help="cases to run")
    parser.add_argument("--shallow", action="store_true",
                        help="cfg/YAML texts only, parsed, built and described (as CI's bulk)")
    parser.add_argument("--cfgs", type=Path, action="append", default=[],
                        help="a folder of .cfg files to mutate besides the built-in networks "
                             "(repeatable)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds one case may take")
    args = parser.parse_args()
    extra = {p.name: p.read_text(errors="replace") for folder in args.cfgs
             for p in sorted(folder.glob("*.cfg"))}
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, _alarm)
    failures = 0
    started = time.time()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.start, args.start + args.count):
            case = make_case(args.seed, index, not args.shallow, extra)
            signal.alarm(args.timeout)
            try:
                error = run_case(case, Path(tmp))
            except _Timeout:
                error = f"timeout: the case ran longer than {args.timeout} s"
            finally:
                signal.alarm(0)
            if error is not None:
                failures += 1
                print(f"--- case {index} ({case['kind']} from {case['base']}): rerun with "
                      f"--seed {args.seed} --start {index} --count 1"
                      f"{' --shallow' if args.shallow else ''}\n{error}", flush=True)
                if args.count == 1:
                    print(f"the input:\n{case['text']}")
            done = index - args.start + 1
            if done % 1000 == 0:
                print(f"{done} cases, {failures} failures, {time.time() - started:.0f} s",
                      file=sys.stderr, flush=True)
    print(f"{args.count} cases, {failures} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
