"""Training speed: one update of EDSR baseline x2 in darkpy against PyTorch.

    python benchmarks/bench_train.py [--batch 16] [--patch 48] [--runs 1]

One training iteration = forward, L1 loss, backward and an Adam update, on a batch of 16
random 48x48 RGB LR patches (0..255) with their 96x96 targets. darkpy runs cfg/edsr_baseline_x2.cfg
with the implicit L1 [cost] `darkpy train` appends and darknet's Adam ([net] adam=1); the
PyTorch module is built layer by layer from the same darkpy network with the same weights
(benchmarks/bench_sr.torch_module), with torch.optim.Adam and an L1 loss summed like
darknet's cost. Both get a warm-up iteration on a small batch (numba compiles on first use)
and one on the full batch (the first full iterations of both run slower while memory is first
touched), then --runs timed iterations each (one by default; the best is kept), alternating
between the two; the losses of the first timed iteration are compared as a check that both
train the same thing.

PyTorch runs with as many threads as the machine has cores; darkpy with its own worker
threads (DARKPY_NUM_THREADS, default one per usable core; kernels/workers.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from darkpy.api import read_sections  # noqa: E402
from darkpy.kernels.heap import keep_freed_memory  # noqa: E402
from darkpy.network import Network  # noqa: E402
from darkpy.train.model import initialise, training_sections  # noqa: E402
from darkpy.train.options import TrainOptions  # noqa: E402
from darkpy.train.optim import Optimizer  # noqa: E402

ADAM = {"adam": "1", "B1": "0.9", "B2": "0.999", "eps": "0.00000001", "decay": "0",
        "learning_rate": "0.0001", "policy": "constant"}


def darkpy_network(batch: int, patch: int) -> Network:
    sections = read_sections(REPO / "cfg" / "edsr_baseline_x2.cfg")
    sections[0].options.update(ADAM, width=str(patch), height=str(patch))
    sections, _ = training_sections(sections, TrainOptions(batch=batch, subdivisions=1, loss="l1"))
    network = Network(sections, source="edsr_baseline_x2 + [cost] L1")
    initialise(network, seed=1)
    return network


def darkpy_iteration(network, optimizer, x, y, batch_num) -> float:
    loss = network.train_step(x, y)
    optimizer.step(network, batch_num)
    return loss


def torch_iteration(torch, module, optimizer, x, y) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss = (module(x) - y).abs().sum()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="LR patch side")
    parser.add_argument("--runs", type=int, default=1, help="timed iterations per framework (best kept)")
    args = parser.parse_args(argv)
    # freed memory kept for reuse, as the darkpy command and its trainers run (process-wide:
    # the other runtimes in this process get it too; darkpy/kernels/heap.py)
    keep_freed_memory(large_blocks=True)

    import numba

    rng = np.random.default_rng(7)
    p, n = args.patch, args.batch
    x = rng.uniform(0, 255, (n, p, p, 3)).astype(np.float32)
    y = rng.uniform(0, 255, (n, 2 * p, 2 * p, 3)).astype(np.float32)

    network = darkpy_network(n, p)
    optimizer = Optimizer.for_network(network)
    print(f"EDSR baseline x2, {network.num_params():,} parameters; batch {n} of {p}x{p} LR patches; "
          f"Adam lr 1e-4; numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)")

    try:
        import torch
    except ImportError:
        torch = None
    module = None
    if torch is not None:  # build from the initial weights, before darkpy updates them
        from bench_sr import torch_module

        torch.set_num_threads(os.cpu_count() or 1)
        module = torch_module(network if network.layers[-1].kind != "cost" else _without_cost(network)).train()
        for param in module.parameters():
            param.requires_grad_(True)
        torch_opt = torch.optim.Adam(module.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)

    # warm-up: numba compiles every kernel on first use (cached on disk afterwards)
    small = 12
    darkpy_iteration(network, optimizer, x[:2, :small, :small], y[:2, :2 * small, :2 * small], 1)
    darkpy_iteration(network, optimizer, x, y, 2)
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        ty = torch.from_numpy(np.ascontiguousarray(y.transpose(0, 3, 1, 2)))
        torch_iteration(torch, module, torch_opt, tx[:2, :, :small, :small],
                        ty[:2, :, :2 * small, :2 * small])
        torch_iteration(torch, module, torch_opt, tx, ty)
    # timed runs alternate between the two, so that a change in the machine's load (a shared
    # machine) affects both alike
    t_dark = t_torch = float("inf")
    loss_dark = loss_torch = None
    for run in range(args.runs):
        start = time.perf_counter()
        loss = darkpy_iteration(network, optimizer, x, y, run + 3)
        elapsed = time.perf_counter() - start
        t_dark = min(t_dark, elapsed)
        loss_dark = loss if loss_dark is None else loss_dark
        line = f"run {run + 1}: darkpy {elapsed:7.3f} s"
        if torch is not None:
            start = time.perf_counter()
            loss = torch_iteration(torch, module, torch_opt, tx, ty)
            elapsed = time.perf_counter() - start
            t_torch = min(t_torch, elapsed)
            loss_torch = loss if loss_torch is None else loss_torch
            line += f"   torch {elapsed:7.3f} s"
        print(line, flush=True)
    print(f"darkpy  {t_dark:8.3f} s / iteration  ({n / t_dark:6.2f} images/s)  first loss {loss_dark:.6e}")
    if torch is None:
        print("torch is not installed: timing darkpy only")
        return 0
    print(f"torch   {t_torch:8.3f} s / iteration  ({n / t_torch:6.2f} images/s)  first loss {loss_torch:.6e}")
    print(f"losses agree to {abs(loss_dark - loss_torch) / abs(loss_torch):.1e} (relative; both after "
          "the same two warm-up updates)")
    print(f"ratio darkpy/torch: {t_dark / t_torch:.2f} (< 1: darkpy faster)")
    return 0


class _without_cost:
    """The network minus its trailing [cost], for bench_sr.torch_module (which knows SR layers only)."""

    def __init__(self, network):
        self.layers = network.layers[:-1]
        self.sources = network.sources[:-1]


if __name__ == "__main__":
    raise SystemExit(main())
