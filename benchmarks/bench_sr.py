"""Super-resolution speed: darkpy against PyTorch on the same networks, weights and input.

    python benchmarks/bench_sr.py [--skip-full] [--repeat N] [--size 510x339]

For each model (EDSR baseline x2, WDSR-A x4 with 32 blocks of 32 -> 192 -> 32, full EDSR x2)
the darkpy network is built from cfg/, given random weights, and a PyTorch module is built
layer by layer from the *same* darkpy network (nn.Conv2d per [convolutional] with the weights
copied through get_param, which is darknet's (Cout, Cin, K, K) = PyTorch's layout; pixel
shuffle, residual sums, concatenation and mean shifts as tensor ops), so both compute the
same function. Both run on one 510x339 RGB image (0..255) after a warm-up on a small one;
each framework gets its native layout (NHWC / NCHW) prepared outside the timing. Times are the
best of --repeat runs (full EDSR: one run, it takes minutes). The outputs are compared too.

PyTorch runs with 2 threads under no_grad; darkpy uses numba's and BLAS's default threads.
Without torch installed, only darkpy is timed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import darkpy  # noqa: E402
from darkpy.network import INPUT  # noqa: E402

MODELS = [
    ("EDSR baseline x2", "edsr_baseline_x2", False),
    ("WDSR-A x4 (32x32x192)", "wdsr_a_x4", False),
    ("EDSR x2 (full)", "edsr_x2", True),
]


def randomise(network, seed: int = 0) -> None:
    """He-like random weights scaled down so 32 residual blocks stay in float range."""
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        for name, shape in layer.param_layout():
            if name == "weights":
                fan_in = int(np.prod(shape[1:]))
                value = rng.normal(0.0, 0.5 / np.sqrt(fan_in), shape)
            elif name in ("scales", "rolling_variance"):
                value = np.ones(shape)
            else:
                value = rng.normal(0.0, 0.01, shape)
            layer.set_param(name, value.astype(np.float32))


def torch_module(network):
    """A torch.nn.Module computing the same graph as `network` (SR layer kinds only)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def act(name: str):
        return {"linear": lambda t: t, "relu": F.relu, "logistic": torch.sigmoid,
                "leaky": lambda t: F.leaky_relu(t, 0.1)}[name]

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleDict()
            self.steps = []
            for layer, sources in zip(network.layers, network.sources):
                kind, opts = layer.kind, layer.opts
                if kind == "convolutional":
                    if opts.get("batch_normalize"):
                        raise SystemExit("bench_sr: batch_normalize is not mapped to torch")
                    size = opts.size
                    padding = size // 2 if opts.get("pad") else opts.get("padding", 0)
                    weights = torch.from_numpy(np.ascontiguousarray(layer.get_param("weights")))
                    conv = nn.Conv2d(weights.shape[1] * (opts.get("groups") or 1), weights.shape[0], size,
                                     stride=opts.get("stride", 1), padding=padding,
                                     dilation=opts.get("dilation") or 1, groups=opts.get("groups") or 1)
                    with torch.no_grad():
                        conv.weight.copy_(weights)
                        conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.get_param("biases"))))
                    self.convs[str(layer.index)] = conv
                    self.steps.append(("conv", sources, (str(layer.index), act(opts.activation))))
                elif kind == "shortcut":
                    self.steps.append(("shortcut", sources, (float(opts.alpha), float(opts.beta), act(opts.activation))))
                elif kind == "route":
                    self.steps.append(("route", sources, (opts.groups, opts.group_id)))
                elif kind == "shuffler":
                    self.steps.append(("shuffle", sources, opts.scale))
                elif kind == "mean_shift":
                    mean = np.asarray(opts.mean, np.float32).reshape(1, -1, 1, 1)
                    self.steps.append(("mean_shift", sources, (torch.from_numpy(mean), float(opts.scale), opts.reverse)))
                else:
                    raise SystemExit(f"bench_sr: layer kind [{kind}] is not mapped to torch")
            last = list(range(len(self.steps)))
            for i, (_, sources, _) in enumerate(self.steps):
                for s in sources:
                    if s != INPUT:
                        last[s] = max(last[s], i)
            self.last_use = last

        def forward(self, x):
            live = {}
            for i, (op, sources, arg) in enumerate(self.steps):
                ins = [x if s == INPUT else live[s] for s in sources]
                if op == "conv":
                    out = arg[1](self.convs[arg[0]](ins[0]))
                elif op == "shortcut":
                    out = arg[2](arg[0] * ins[0] + arg[1] * ins[1])
                elif op == "route":
                    groups, gid = arg
                    out = torch.cat([t.chunk(groups, dim=1)[gid] for t in ins], dim=1)
                elif op == "shuffle":
                    out = F.pixel_shuffle(ins[0], arg)
                else:
                    mean, scale, reverse = arg
                    out = ins[0] * scale + mean if reverse else (ins[0] - mean) / scale
                live[i] = out
                for s in set(sources):  # free like darkpy does, to compare like with like
                    if s != INPUT and self.last_use[s] <= i:
                        live.pop(s, None)
            return live[len(self.steps) - 1]

    return Graph().eval()


def best_time(run, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-full", action="store_true", help="skip full EDSR x2 (minutes)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per model (best is kept); full EDSR runs once")
    parser.add_argument("--size", default="510x339", help="input WIDTHxHEIGHT")
    parser.add_argument("--tiled", action="store_true",
                        help="also time darkpy's upscale_float (automatic tiling) on each model")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: timing darkpy only")
    if torch is not None:
        torch.set_num_threads(2)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    import numba

    print(f"darkpy {darkpy.__version__}, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)")
    print(f"input: {width}x{height} RGB\n")

    rng = np.random.default_rng(42)
    image = rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    warm = np.ascontiguousarray(image[:, :24, :24])
    rows = []
    for title, name, full in MODELS:
        if full and args.skip_full:
            continue
        network = darkpy.load(REPO / "cfg" / f"{name}.cfg")
        randomise(network)
        repeat = 1 if full else args.repeat
        network.forward(warm)  # numba compiles on first use (cached afterwards)
        t_dark, out_dark = best_time(lambda: network.forward(image), repeat)
        line = f"{title:24s} darkpy {t_dark:8.2f} s"
        t_tiled = None
        if args.tiled:
            from darkpy.upscale import upscale_float

            t_tiled, _ = best_time(lambda: upscale_float(network, image[0]), repeat)
            line += f"   upscale_float {t_tiled:8.2f} s"
        t_torch = None
        if torch is not None:
            module = torch_module(network)
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
            with torch.no_grad():
                module(torch.from_numpy(np.ascontiguousarray(warm.transpose(0, 3, 1, 2))))
                t_torch, out_torch = best_time(lambda: module(x), repeat)
            out_torch = out_torch.numpy().transpose(0, 2, 3, 1)
            diff = float(np.abs(out_torch - out_dark).max())
            scale = float(np.abs(out_torch).max()) or 1.0
            line += f"   torch {t_torch:8.2f} s   darkpy/torch {t_dark / t_torch:5.2f}   max|diff| {diff:.2e} (of {scale:.3g})"
        print(line, flush=True)
        rows.append((title, t_dark, t_torch, t_tiled))
        del network

    if torch is not None:
        print("\nratio darkpy/torch (< 1: darkpy faster):")
        for title, t_dark, t_torch, _ in rows:
            print(f"  {title:24s} {t_dark / t_torch:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
