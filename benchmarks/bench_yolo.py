"""YOLO forward speed: darkpy against PyTorch, ONNX Runtime and OpenVINO on the same networks,
weights and 416x416 input, in one run.

    python benchmarks/bench_yolo.py [--repeat N] [--threads 2] [--image I]

Networks: darknet's yolov3-tiny (../shared/models, with its trained weights when present)
and AlexeyAB's yolov4-tiny (../shared/darknet-cfg, random weights from
darkpy.export.verify.random_parameters); a cfg that is absent is skipped. The PyTorch module
is built layer by layer from the *same* darkpy network (Conv2d + batch norm folded the
darknet way, leaky 0.1, darknet's maxpool padding, route = concatenation of channel groups,
nearest upsample, the [yolo] activations with scale_x_y) and darkpy.export_onnx writes the
same network for ONNX Runtime and OpenVINO; all compute every head's map, which are compared
with darkpy's before timing. benchmarks/peers.py has the rest (threads, alternating rounds,
peak RSS per runtime in a child process, the markdown table). For yolov3-tiny the whole
detect() pipeline on one image (decode the JPEG, letterbox, forward, boxes, NMS) is timed
too, and darkpy's forward is set against darknet's own CPU build (0.87 s on the project's
machine).
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

SHARED = REPO.parent / "shared"
DARKNET_CPU_SECONDS = 0.87  # yolov3-tiny, darknet's CPU build, 416x416
# key: (cfg, weights or None)
MODELS = {
    "yolov3-tiny": (SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.cfg",
                    SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.weights"),
    "yolov4-tiny": (SHARED / "darknet-cfg" / "yolov4-tiny.cfg", None),
}
SCRIPT = Path(__file__).resolve()


def timed(run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def torch_module(network):
    """A torch callable computing `network`'s head outputs (NCHW), from its own layers."""
    import torch
    import torch.nn.functional as F

    steps = []
    for layer, sources in zip(network.layers, network.sources):
        kind, o = layer.kind, layer.opts
        if kind == "convolutional":
            w = torch.tensor(layer.get_param("weights"))
            b = torch.tensor(layer.get_param("biases"))
            if o.batch_normalize:
                scale = layer.get_param("scales") / np.sqrt(layer.get_param("rolling_variance") + 1e-6)
                w = w * torch.tensor(scale)[:, None, None, None]
                b = torch.tensor(layer.get_param("biases") - layer.get_param("rolling_mean") * scale)
            pad = o.size // 2 if o.pad else o.padding
            act = o.activation
            if act not in ("leaky", "linear"):
                raise SystemExit(f"bench_yolo: activation {act} not handled by the torch port")

            def conv(xs, w=w, b=b, s=o.stride, p=pad, act=act):
                y = F.conv2d(xs[0], w, b, stride=s, padding=p)
                return F.leaky_relu(y, 0.1) if act == "leaky" else y
            steps.append(conv)
        elif kind == "maxpool":
            size, stride = layer.size, layer.stride_x
            lo = layer.padding // 2
            hi = layer.padding - lo

            def pool(xs, size=size, stride=stride, lo=lo, hi=hi):
                return F.max_pool2d(F.pad(xs[0], (lo, hi, lo, hi), value=float("-inf")), size, stride)
            steps.append(pool)
        elif kind == "route":
            def route(xs, groups=o.groups or 1, gid=o.group_id or 0):
                return torch.cat([t.chunk(groups, dim=1)[gid] for t in xs], 1)
            steps.append(route)
        elif kind == "upsample":
            steps.append(lambda xs, s=o.stride: F.interpolate(xs[0], scale_factor=s, mode="nearest"))
        elif kind == "yolo":
            n, e, sxy = layer.n, layer.entries, layer.scale_x_y
            if layer.new_coords:
                raise SystemExit("bench_yolo: [yolo] new_coords=1 not handled by the torch port")

            def yolo(xs, n=n, e=e, sxy=sxy):
                y = xs[0].reshape(xs[0].shape[0], n, e, *xs[0].shape[2:]).clone()
                y[:, :, :2] = torch.sigmoid(y[:, :, :2]) * sxy - 0.5 * (sxy - 1.0)
                y[:, :, 4:] = torch.sigmoid(y[:, :, 4:])
                return y.reshape(xs[0].shape)
            steps.append(yolo)
        else:
            raise SystemExit(f"bench_yolo: [{kind}] not handled by the torch port")
    heads = [i for i, layer in enumerate(network.layers) if layer.kind == "yolo"]

    def forward(x):
        outs = []
        for step, sources in zip(steps, network.sources):
            outs.append(step([x if s == INPUT else outs[s] for s in sources]))
        return {i: outs[i] for i in heads}

    return forward


def network_for(key: str):
    """(network, note): the trained weights where present, else random ones."""
    cfg, weights = MODELS[key]
    if weights is not None and weights.exists():
        return darkpy.load(cfg, weights), "trained weights"
    from darkpy.export.verify import random_parameters

    return random_parameters(darkpy.load(cfg, params=False)), "random weights"


def input_for(network) -> np.ndarray:
    """The (1, H, W, 3) input on 0..1 every runtime gets (seeded: children too)."""
    width, height = int(network.net["width"]), int(network.net["height"])
    return np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)


def heads_of(network) -> list[int]:
    return [i for i, layer in enumerate(network.layers) if layer.kind == "yolo"]


def child(args, key: str) -> None:
    """--rss-of: build only one runtime's model, run it, print its peak RSS."""
    name = args.rss_of
    network, _ = network_for(key)
    x, heads = input_for(network), heads_of(network)
    if name in (peers.ONNXRUNTIME, peers.OPENVINO):
        del network
        peers.free_and_reset()
        runner = peers.onnx_runner(name, args.onnx, x, args.threads, heads)
    elif name == peers.TORCH:
        module = torch_module(network)
        del network
        peers.free_and_reset()
        runner = peers.torch_runner(module, x, lambda out: [out[i] for i in heads])
    else:
        runner = peers.darkpy_runner(network, x, heads)
    peers.report_peak(runner)


def compare(args, key: str, names: list[str], tmp: Path):
    network, note = network_for(key)
    x, heads = input_for(network), heads_of(network)
    print(f"{key} {x.shape[2]}x{x.shape[1]}, {note}, {network.num_params():,} parameters", flush=True)
    network.forward(x, outputs=heads)  # numba loads or compiles
    runners = [peers.darkpy_runner(network, x, heads)]
    if peers.TORCH in names:
        module = torch_module(network)
        runners.append(peers.torch_runner(module, x, lambda out: [out[i] for i in heads]))
    onnx_path = None
    if peers.ONNXRUNTIME in names or peers.OPENVINO in names:
        onnx_path = tmp / f"{key}.onnx"
        order = peers.export(network, onnx_path, x, heads)
        runners += [peers.onnx_runner(n, onnx_path, x, args.threads, order, heads)
                    for n in (peers.ONNXRUNTIME, peers.OPENVINO) if n in names]
    peers.check(runners)
    times = peers.best_times(runners, args.repeat, settle=True)
    rss = {}
    if not args.no_rss:
        argv = ["--models", key, "--threads", str(args.threads)]
        rss = {n: peers.peak_rss(SCRIPT, argv, n, onnx_path) for n in times}
    for n, t in times.items():
        print(f"    {n:13s} {t:8.3f} s{peers.gib(rss.get(n))}", flush=True)
    if key == "yolov3-tiny":
        print(f"    darkpy is {DARKNET_CPU_SECONDS / times[peers.DARKPY]:.1f}x faster than "
              f"darknet's CPU build ({DARKNET_CPU_SECONDS} s)")
        names_file = MODELS[key][0].parent / "coco.names"
        if note == "trained weights" and args.image.exists() and names_file.exists():
            from darkpy.detect import Detector

            detector = Detector(network, names_file)
            detector(args.image)
            print(f"    darkpy detect({args.image.name}), the whole pipeline: "
                  f"{timed(lambda: detector(args.image), args.repeat):.3f} s", flush=True)
    return key + " 416x416", times, rss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated networks (of {', '.join(MODELS)})")
    parser.add_argument("--image", type=Path, default=SHARED / "images" / "dog.jpg",
                        help="image for the detect() pipeline timing")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (best is kept)")
    peers.add_arguments(parser)
    args = parser.parse_args(argv)
    # freed memory kept for reuse, as the darkpy command and its trainers run (process-wide:
    # the other runtimes in this process get it too; darkpy/kernels/heap.py)
    keep_freed_memory()
    peers.set_threads(args.threads)
    keys = [k for k in args.models.split(",") if k]
    missing = [k for k in keys if not MODELS[k][0].exists()]
    for k in missing:
        print(f"{k}: {MODELS[k][0]} not found, skipped")
    keys = [k for k in keys if k not in missing]
    if args.rss_of:
        child(args, keys[0])
        return 0

    names = peers.available(args.runtimes)
    print(f"{args.threads} threads; " + ", ".join(f"{n} {peers.version(n)}" for n in names) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [compare(args, key, names, Path(tmp)) for key in keys]
    peers.print_markdown("YOLO forward, every head's map", rows, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
