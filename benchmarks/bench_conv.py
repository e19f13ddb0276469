"""Convolution speed: darkpy's [convolutional] against this machine's sgemm and PyTorch.

    python benchmarks/bench_conv.py [--threads N] [--repeat R] [--shapes]

One process, every contender timed the same way: warm-up, then the best of R runs, rounds
interleaved (every contender once per round) so that load from elsewhere on the machine
hits all of them alike. Threads: darkpy's convolution workers, numpy's BLAS, numba and
torch all get the same count (default: the usable cores; 2 on the development machine).

(1) a 3x3, 64 -> 64, pad=1 convolution on a 1x128x128x64 input:
    darkpy GFLOPS (direct-convolution FLOPs / time, so Winograd shows "effective" GFLOPS)
    against numpy's sgemm GFLOPS on a 2048^3 float32 matmul (goal: >= 50%);
    darkpy's im2col+GEMM path alone is reported too (Winograd off).
(2) the same convolution in torch.nn.functional.conv2d (NCHW, and channels_last) and
    torch.nn.Conv2d: darkpy time / torch time (goal: < 1, darkpy faster).
--shapes adds a table of other common layer shapes (yolov3-tiny, EDSR).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def best_of(fns: dict, repeat: int) -> dict:
    for fn in fns.values():  # warm-up: compile, allocate scratch
        fn()
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def make_conv(h, w, c, filters, size=3, stride=1, pad=1, activation="linear"):
    from darkpy.config.schema import parse_options
    from darkpy.config.section import Section
    from darkpy.layers.convolutional import Convolutional

    options = dict(filters=filters, size=size, stride=stride, pad=pad, activation=activation)
    section = Section("convolutional", {k: str(v) for k, v in options.items()}, "bench")
    return Convolutional(parse_options(section, Convolutional.keys), [(h, w, c)], 0, "bench")


def contenders(layer, x, torch):
    """name -> zero-argument callable for darkpy (both paths) and torch variants."""
    from darkpy.layers.convolutional import Convolutional

    def darkpy_path(winograd: bool):
        def run():
            saved = Convolutional.winograd
            Convolutional.winograd = winograd
            try:
                layer.forward([x])
            finally:
                Convolutional.winograd = saved
        return run

    fns = {"darkpy": darkpy_path(Convolutional.winograd),
           "darkpy im2col+gemm": darkpy_path(False)}
    if torch is not None:
        w = torch.from_numpy(np.ascontiguousarray(layer.get_param("weights")))
        b = torch.from_numpy(layer.get_param("biases").copy())
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        xcl = xt.contiguous(memory_format=torch.channels_last)
        pad = layer.padding
        stride = (layer.stride_y, layer.stride_x)
        module = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=stride, padding=pad)
        with torch.no_grad():
            module.weight.copy_(w)
            module.bias.copy_(b)
        module.eval()

        def conv2d_nchw():
            with torch.inference_mode():
                torch.nn.functional.conv2d(xt, w, b, stride=stride, padding=pad)

        def conv2d_channels_last():
            with torch.inference_mode():
                torch.nn.functional.conv2d(xcl, w, b, stride=stride, padding=pad)

        def conv2d_module():
            with torch.inference_mode():
                module(xt)

        fns.update({"torch F.conv2d NCHW": conv2d_nchw,
                    "torch F.conv2d channels_last": conv2d_channels_last,
                    "torch nn.Conv2d": conv2d_module})
    return fns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="default: usable cores")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--shapes", action="store_true", help="also time other layer shapes")
    args = parser.parse_args()

    import numba
    from threadpoolctl import threadpool_limits

    from darkpy.kernels import workers

    threads = args.threads or workers.num_threads()
    workers.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    blas_limit = threadpool_limits(threads, user_api="blas")

    print(f"threads: {threads} (darkpy workers, numpy BLAS, numba, torch); best of {args.repeat}")

    # sgemm reference
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    c = np.empty_like(a)
    t_gemm = best_of({"sgemm": lambda: np.matmul(a, b, out=c)}, max(5, args.repeat // 4))["sgemm"]
    sgemm_gflops = 2 * 2048**3 / t_gemm / 1e9
    print(f"numpy sgemm 2048^3: {t_gemm * 1e3:.2f} ms = {sgemm_gflops:.1f} GFLOPS")

    layer = make_conv(128, 128, 64, 64)
    x = rng.standard_normal((1, 128, 128, 64), dtype=np.float32)
    flops = layer.flops([(128, 128, 64)])
    print(f"\nconvolution 3x3 64->64 pad=1 on 1x128x128x64 ({flops / 1e9:.3f} GFLOP); "
          f"darkpy picks: {layer.algorithm(x.shape)}")
    times = best_of(contenders(layer, x, torch), args.repeat)
    for name, t in times.items():
        print(f"  {name:30s} {t * 1e3:8.2f} ms  {flops / t / 1e9:7.1f} GFLOPS")
    dk = times["darkpy"]
    print(f"(1) darkpy GFLOPS / sgemm GFLOPS = {flops / dk / 1e9 / sgemm_gflops:.2f} "
          f"(goal >= 0.50); im2col+gemm path alone: "
          f"{flops / times['darkpy im2col+gemm'] / 1e9 / sgemm_gflops:.2f}")
    if torch is None:
        print("(2) torch is not installed: comparison skipped")
    else:
        torch_best = min(t for name, t in times.items() if name.startswith("torch"))
        print(f"(2) darkpy time / torch time = {dk / torch_best:.2f} against the fastest torch "
              f"variant, {dk / times['torch F.conv2d NCHW']:.2f} against F.conv2d NCHW "
              "(goal < 1)")

    if args.shapes:
        print("\nother shapes (ms; ratio = darkpy / fastest torch):")
        shapes = [  # (h, w, c, filters, size, stride): yolov3-tiny at 416, EDSR baseline
            (416, 416, 3, 16, 3, 1), (208, 208, 16, 32, 3, 1), (52, 52, 64, 128, 3, 1),
            (26, 26, 128, 256, 3, 1), (13, 13, 256, 512, 3, 1), (13, 13, 512, 1024, 3, 1),
            (13, 13, 1024, 256, 1, 1), (104, 104, 32, 64, 3, 2), (256, 256, 64, 64, 3, 1),
        ]
        for h, w, c, f, k, s in shapes:
            layer = make_conv(h, w, c, f, size=k, stride=s, pad=1 if k > 1 else 0)
            x = rng.standard_normal((1, h, w, c), dtype=np.float32)
            t = best_of(contenders(layer, x, torch), max(3, args.repeat // 5))
            line = (f"  {h}x{w}x{c} -> {f} {k}x{k}/{s} [{layer.algorithm(x.shape)}]: "
                    f"darkpy {t['darkpy'] * 1e3:.2f}, im2col {t['darkpy im2col+gemm'] * 1e3:.2f}")
            if torch is not None:
                tb = min(v for n, v in t.items() if n.startswith("torch"))
                line += f", torch {tb * 1e3:.2f}, ratio {t['darkpy'] / tb:.2f}"
            print(line)
    blas_limit.restore_original_limits()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
