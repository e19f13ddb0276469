"""Super-resolution speed: darkpy against PyTorch, ONNX Runtime and OpenVINO on the same
networks, weights and input, in one run.

    python benchmarks/bench_sr.py [--full] [--repeat N] [--full-repeat N] [--size 510x339]
                                  [--threads 2]
    python benchmarks/bench_sr.py --memory [--memory-tiles N]      # full EDSR x2, 2040x1356

For each model (EDSR baseline x2; WDSR-A x4 with 32 blocks of 32 -> 192 -> 32; with --full,
EDSR x2 with 32 blocks of 256 channels, minutes per forward) the darkpy network is built from
cfg/ and given random weights; a PyTorch module is built layer by layer from the *same*
darkpy network (nn.Conv2d per [convolutional] with the weights copied through get_param,
which is darknet's (Cout, Cin, K, K) = PyTorch's layout; pixel shuffle, residual sums,
concatenation and mean shifts as tensor ops), and darkpy.export_onnx writes the same network
for ONNX Runtime and OpenVINO. All run on one 510x339 RGB image (0..255), each in its native
layout prepared outside the timing; outputs are compared with darkpy's first (that run is the
warm-up), then the best of --repeat rounds is kept, runtimes taking turns (full EDSR:
--full-repeat rounds, one by default). benchmarks/peers.py has the details: threads, peak
RSS (measured in a child process per runtime), the markdown table printed at the end.

--memory runs full EDSR x2 on a 2040x1356 image through darkpy's tiling with a tile budget
derived from a peak-RSS target (3 GiB; see memory_run) and prints the peak RSS;
--memory-tiles N runs only the N largest tiles (all 48 took 20 min on 2 cores, peak RSS 2.91 GiB).
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
sys.path.insert(0, str(REPO / "benchmarks"))

import darkpy  # noqa: E402
import peers  # noqa: E402
from darkpy.kernels.heap import keep_freed_memory  # noqa: E402
from darkpy.network import INPUT  # noqa: E402

# key: (table label, cfg name, slow)
MODELS = {
    "edsr_baseline_x2": ("EDSR-baseline x2", False),
    "wdsr_a_x4": ("WDSR-A x4 (32 blocks, 32→192→32)", False),
    "edsr_x2": ("EDSR x2 (32×256)", True),
}
SCRIPT = Path(__file__).resolve()


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


def input_image(width: int, height: int) -> np.ndarray:
    """The one (1, H, W, 3) RGB input on 0..255 every runtime gets (seeded: children too)."""
    rng = np.random.default_rng(42)
    return rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)


def network_for(key: str):
    network = darkpy.load(REPO / "cfg" / f"{key}.cfg")
    randomise(network)
    return network


def child(args, key: str, image: np.ndarray) -> None:
    """--rss-of: build only one runtime's model, run it, print its peak RSS."""
    name = args.rss_of
    if name in (peers.ONNXRUNTIME, peers.OPENVINO):
        runner = peers.onnx_runner(name, args.onnx, image, args.threads, [0])
    elif name == peers.TORCH:
        module = torch_module(network_for(key))  # the network is garbage once copied
        peers.free_and_reset()
        runner = peers.torch_runner(module, image)
    else:
        runner = peers.darkpy_runner(network_for(key), image)
    peers.report_peak(runner)


def compare(args, key: str, names: list[str], image: np.ndarray, tmp: Path):
    """Check and time every runtime on one model: (best times, peak RSS)."""
    label, slow = MODELS[key]
    network = network_for(key)
    network.forward(np.ascontiguousarray(image[:, :24, :24]))  # numba loads or compiles
    runners = [peers.darkpy_runner(network, image)]
    if peers.TORCH in names:
        runners.append(peers.torch_runner(torch_module(network), image))
    onnx_path = None
    if peers.ONNXRUNTIME in names or peers.OPENVINO in names:
        onnx_path = tmp / f"{key}.onnx"
        order = peers.export(network, onnx_path, image)
        runners += [peers.onnx_runner(n, onnx_path, image, args.threads, order)
                    for n in (peers.ONNXRUNTIME, peers.OPENVINO) if n in names]
    print(f"{label}:", flush=True)
    peers.check(runners)
    rounds = args.full_repeat if slow else args.repeat
    times = peers.best_times(runners, rounds)
    if args.tiled:
        from darkpy.upscale import upscale_float

        t_tiled, _ = best_time(lambda: upscale_float(network, image[0]), rounds)
        print(f"    darkpy upscale_float (automatic tiling) {t_tiled:.2f} s")
    rss = {}
    if not args.no_rss:
        argv = ["--models", key, "--size", args.size, "--threads", str(args.threads)]
        rss = {n: peers.peak_rss(SCRIPT, argv, n, onnx_path) for n in times}
    for n, t in times.items():
        print(f"    {n:13s} {t:8.2f} s{peers.gib(rss.get(n))}", flush=True)
    return label, times, rss


# Scratch the kernels keep beside a tile's live activations (per-thread im2col and Winograd
# blocks, a Winograd output part, BLAS buffers), as a fraction of those activations; the run
# prints the fraction it measured, to check this bound (-0.08 on a 360x360 tile: peak_bytes
# counts a little more than is resident at once; 0.28 on the 397x397 tiles of the whole 48-tile
# run, session 6, whose peak, 2.91 GiB, still kept under the target: the plan reserves a
# second copy of the output image, 0.19 GiB, that the run never makes).
WORKSPACE = 0.25
MEMORY_SIZE = (2040, 1356)  # a DIV2K image


def memory_run(tiles: int, target: int) -> int:
    """Full EDSR x2 on a 2040x1356 image through darkpy's tiling, the tiles planned so that
    peak RSS stays under `target` by construction:

        peak RSS <= fixed       RSS with the network loaded and warm (parameters, Winograd
                                filters, numba's code), measured before the first tile
                  + images      the input and the float32 output, twice over for the
                                conversion that follows the tiles
                  + a tile's live activations, <= the tile budget (tiling.peak_bytes, which
                                simulates the forward's live set from the shapes)
                  + scratch     <= WORKSPACE x the tile budget

    so the budget handed to plan_tiles is (target - fixed - images) / (1 + WORKSPACE).
    `tiles` > 0 runs only that many of the largest tiles (the whole output buffer is still
    allocated and touched, as after a complete run)."""
    from darkpy.upscale.pipeline import network_geometry
    from darkpy.upscale.tiling import peak_bytes, plan_tiles, run_cores

    width, height = MEMORY_SIZE
    network = network_for("edsr_x2")
    # numba, and the derived Winograd filters the tiles use: an input with enough 4x4 tiles for
    # F(4x4) (a smaller one would derive F(2x2)'s instead: kernels/conv/dispatch.py)
    network.forward(np.zeros((1, 40, 40, 3), np.float32))
    scale, geometry, _ = network_geometry(network)
    image = np.random.default_rng(0).uniform(0, 255, (height, width, 3)).astype(np.float32)
    fixed = peers.peak_bytes()
    images = image.nbytes + 2 * (height * scale) * (width * scale) * 3 * 4
    budget = int((target - fixed - images) / (1 + WORKSPACE))
    if budget <= 0:
        raise SystemExit(f"a {target / 2**30:.2f} GiB target leaves nothing for tiles "
                         f"(fixed {fixed / 2**30:.2f} GiB, images {images / 2**30:.2f} GiB)")
    plan = plan_tiles(network, geometry, height, width, memory=budget)
    spans = list(plan.spans(height, width))
    halo = geometry.halo

    def extent(span):
        y0, y1, x0, x1 = span
        return (min(height, y1 + halo) - max(0, y0 - halo), min(width, x1 + halo) - max(0, x0 - halo))

    chosen = sorted(spans, key=lambda sp: -np.prod(extent(sp)))[:tiles or len(spans)]
    largest = max(peak_bytes(network, *extent(sp)) for sp in chosen)
    print(f"EDSR x2 (32x256, random weights) on {width}x{height}: target {target / 2**30:.2f} GiB "
          f"= fixed {fixed / 2**30:.2f} + images {images / 2**30:.2f} + tile budget "
          f"{budget / 2**30:.2f} x (1 + {WORKSPACE} scratch)")
    print(f"plan: {len(spans)} tiles of {plan.tile_w}x{plan.tile_h} (halo {halo}); running "
          f"{len(chosen)}, largest {'x'.join(map(str, extent(chosen[0])[::-1]))} with "
          f"{largest / 2**30:.2f} GiB of live activations", flush=True)
    out = np.empty((height * scale, width * scale, 3), np.float32)
    out[...] = 0  # resident, as after a complete run
    peers.reset_peak()
    start = time.perf_counter()
    for (y0, y1, x0, x1), part in run_cores(network, image, geometry, chosen):
        out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = part
        print(f"  tile {y0}:{y1} x {x0}:{x1}  {time.perf_counter() - start:7.1f} s  "
              f"peak RSS {peers.peak_bytes() / 2**30:.2f} GiB", flush=True)
    seconds = time.perf_counter() - start
    peak = peers.peak_bytes()
    scratch = (peak - fixed - out.nbytes - image.nbytes - largest) / largest
    print(f"peak RSS {peak / 2**30:.2f} GiB (target {target / 2**30:.2f}); scratch measured "
          f"{scratch:.2f} x the live activations (bound {WORKSPACE}); {seconds / len(chosen):.0f} s "
          f"a tile, ~{seconds / len(chosen) * len(spans) / 60:.0f} min for all {len(spans)}")
    return 0 if peak <= target else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--full", action="store_true", help="add full EDSR x2 (minutes per runtime)")
    parser.add_argument("--models", default=None,
                        help=f"comma-separated models to run (of {', '.join(MODELS)})")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best is kept)")
    parser.add_argument("--full-repeat", type=int, default=1,
                        help="rounds for full EDSR x2 (~2 minutes each with PyTorch: this "
                             "machine's speed drifts by 20-40%% within minutes, so a single "
                             "round can land on a slow spell)")
    parser.add_argument("--size", default="510x339", help="input WIDTHxHEIGHT")
    parser.add_argument("--tiled", action="store_true",
                        help="also time darkpy's upscale_float (automatic tiling) on each model")
    parser.add_argument("--memory", action="store_true",
                        help="instead: full EDSR x2 on 2040x1356 through darkpy's tiling, peak RSS")
    parser.add_argument("--memory-tiles", type=int, default=0,
                        help="with --memory: run only the N largest tiles (0: all)")
    parser.add_argument("--memory-target", type=float, default=3.0,
                        help="with --memory: the peak RSS the tiles are planned for, GiB")
    peers.add_arguments(parser)
    args = parser.parse_args(argv)
    # freed memory kept for reuse, as the darkpy command and its trainers run (process-wide:
    # the other runtimes in this process get it too; darkpy/kernels/heap.py)
    keep_freed_memory()
    width, height = (int(v) for v in args.size.lower().split("x"))
    peers.set_threads(args.threads)
    if args.memory:
        return memory_run(args.memory_tiles, int(args.memory_target * 2**30))
    keys = (args.models.split(",") if args.models
            else [k for k, (_, slow) in MODELS.items() if args.full or not slow])
    image = input_image(width, height)
    if args.rss_of:
        child(args, keys[0], image)
        return 0

    names = peers.available(args.runtimes)
    print(f"input {width}x{height} RGB, {args.threads} threads; "
          + ", ".join(f"{n} {peers.version(n)}" for n in names) + "\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in keys:
            rows.append(compare(args, key, names, image, Path(tmp)))
    peers.print_markdown(f"Super-resolution on one {width}x{height} RGB image", rows, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
