"""yolov3-tiny speed: darkpy against PyTorch on the same network, weights and 416x416 input.

    python benchmarks/bench_yolo.py [--repeat N] [--cfg C --weights W] [--image I]

Uses darknet's yolov3-tiny from ../shared/models (random weights from the cfg when the
weights file is absent). The PyTorch module is built layer by layer from the *same* darkpy
network (Conv2d + batch norm folded the darknet way, leaky 0.1, darknet's maxpool padding,
route = concatenation, nearest upsample, the [yolo] activations), so both compute the same
function; their head outputs are compared. One process run reports both, each after a
warm-up (numba compiles on first use), as the best and median of --repeat forwards, next to
darknet's own CPU build (0.87 s on the project's machine) and the whole detect() pipeline
(decode the JPEG, letterbox, forward, boxes, NMS) on one image.

PyTorch runs under no_grad with its default threads; darkpy with numba's and BLAS's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import darkpy  # noqa: E402
from darkpy.network import INPUT  # noqa: E402

SHARED = REPO.parent / "shared"
DARKNET_CPU_SECONDS = 0.87


def timed(run, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


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
            steps.append(lambda xs: torch.cat(xs, 1))
        elif kind == "upsample":
            steps.append(lambda xs, s=o.stride: F.interpolate(xs[0], scale_factor=s, mode="nearest"))
        elif kind == "yolo":
            n, e = layer.n, layer.entries

            def yolo(xs, n=n, e=e):
                y = xs[0].reshape(xs[0].shape[0], n, e, *xs[0].shape[2:]).clone()
                y[:, :, :2] = torch.sigmoid(y[:, :, :2])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", type=Path, default=SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.cfg")
    parser.add_argument("--weights", type=Path, default=SHARED / "models" / "yolov3-tiny" / "yolov3-tiny.weights")
    parser.add_argument("--names", type=Path, default=SHARED / "models" / "yolov3-tiny" / "coco.names")
    parser.add_argument("--image", type=Path, default=SHARED / "images" / "dog.jpg")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.cfg.exists():
        raise SystemExit(f"{args.cfg} not found: pass --cfg (yolov3-tiny.cfg from darknet)")

    network = darkpy.load(args.cfg, args.weights if args.weights.exists() else None)
    weights_note = "real weights" if args.weights.exists() else "cfg only (untrained weights)"
    width, height = int(network.net["width"]), int(network.net["height"])
    x = np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)
    heads = [i for i, layer in enumerate(network.layers) if layer.kind == "yolo"]
    print(f"yolov3-tiny {width}x{height}, {weights_note}, {network.num_params():,} parameters")

    network.forward(x, outputs=heads)  # warm-up: numba compiles (or loads its cache)
    ours = network.forward(x, outputs=heads)
    best, median = timed(lambda: network.forward(x, outputs=heads), args.repeat)
    print(f"  darkpy   forward: best {best:.3f} s, median {median:.3f} s "
          f"({DARKNET_CPU_SECONDS / best:.2f}x darknet's {DARKNET_CPU_SECONDS} s CPU build)")

    try:
        import torch
    except ImportError:
        print("  PyTorch not installed: skipped")
    else:
        module = torch_module(network)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        with torch.no_grad():
            module(xt)
            theirs = module(xt)
            t_best, t_median = timed(lambda: module(xt), args.repeat)
        diff = max(float(np.abs(theirs[i].numpy().transpose(0, 2, 3, 1) - ours[i]).max()) for i in heads)
        print(f"  PyTorch  forward: best {t_best:.3f} s, median {t_median:.3f} s "
              f"({torch.get_num_threads()} threads); darkpy / PyTorch = {best / t_best:.2f}; "
              f"max head difference {diff:.1e}")

    if args.image.exists() and args.names.exists():
        from darkpy.detect import Detector

        detector = Detector(network, args.names)
        detector(args.image)
        d_best, d_median = timed(lambda: detector(args.image), args.repeat)
        print(f"  darkpy   detect({args.image.name}) whole pipeline: best {d_best:.3f} s, median {d_median:.3f} s")


if __name__ == "__main__":
    main()
