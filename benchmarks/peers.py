"""The runtimes the speed benchmarks set darkpy against, on the same network, weights and input.

- PyTorch: a module the benchmark builds layer by layer from the darkpy network (its own
  `torch_module`), weights copied through get_param.
- ONNX Runtime and OpenVINO: the graph darkpy's own exporter (darkpy.export_onnx) writes
  from that same network, at the input's fixed size and batch 1.

All get the same thread count (`--threads`, 2 by default): darkpy's workers,
torch.set_num_threads, ONNX Runtime's intra-op threads (inter-op 1), OpenVINO's
INFERENCE_NUM_THREADS (f32 precision, latency hint). A runtime whose package is absent is
skipped with a line that says so (`pip install 'darkpy[bench]'` installs them all).

Every runtime's outputs are compared with darkpy's before anything is timed (that run is also
its warm-up). `best_times` keeps the best of `repeat` rounds, the runtimes taking turns within
each round, so that a slow spell of a shared machine falls on all of them alike; for networks
of milliseconds each timed run follows an untimed one of the same runtime (`settle`), so that
no runtime is timed while another's idle threads still spin.

Peak RSS: `peak_rss` runs the benchmark script again in a child process that builds only one
runtime's model and runs its forward twice; the figure is the child's peak resident set
(ru_maxrss): the interpreter, that runtime's libraries, its model and its forward's working
memory, i.e. what a process using that runtime for this network needs. Where a child builds
the darkpy network only to derive something else (PyTorch's module; bench_yolo's input size
for the ONNX runtimes), the network is freed and the peak reset through /proc/self/clear_refs
(where Linux allows it) before that runtime's model is run.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

DARKPY, TORCH, ONNXRUNTIME, OPENVINO = "darkpy", "PyTorch", "ONNX Runtime", "OpenVINO"
RUNTIMES = (DARKPY, ONNXRUNTIME, OPENVINO, TORCH)
PEERS = RUNTIMES[1:]
PACKAGES = {TORCH: "torch", ONNXRUNTIME: "onnxruntime", OPENVINO: "openvino"}


@dataclass
class Runner:
    """One runtime, ready: `run()` is the timed call (one forward on the prepared input),
    `outputs(result)` turns its result into NHWC arrays in darkpy's output order."""

    name: str
    run: Callable[[], object]
    outputs: Callable[[object], list]


def add_arguments(parser, threads: int = 2) -> None:
    """The options every benchmark with peers takes."""
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"threads for every runtime (default {threads})")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help="comma-separated runtimes to time (default: all installed)")
    parser.add_argument("--no-rss", action="store_true",
                        help="skip the peak-RSS child processes")
    # internal: the child process that measures one runtime's peak RSS
    parser.add_argument("--rss-of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", type=Path, default=None, help=argparse.SUPPRESS)


def version(name: str) -> str | None:
    """The installed version of a runtime's package, or None when it is absent."""
    if name == DARKPY:
        import darkpy

        return darkpy.__version__
    if not _installed(PACKAGES[name]):
        return None
    module = sys.modules[PACKAGES[name]]
    return module.__version__.split("+")[0].split("-")[0]


def _installed(package: str) -> bool:
    try:
        __import__(package)
    except ImportError:
        return False
    return True


def available(requested: str) -> list[str]:
    """The requested runtimes that are installed (darkpy always), saying which are not."""
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise SystemExit(f"unknown runtime(s) {', '.join(unknown)}; known: {', '.join(RUNTIMES)}")
    chosen = [DARKPY]
    for name in PEERS:
        if name not in names:
            continue
        missing = [PACKAGES[name]] if version(name) is None else []
        if name in (ONNXRUNTIME, OPENVINO) and not _installed("onnx"):
            missing.append("onnx")  # to export the graph they run
        if missing:
            print(f"{name}: {' and '.join(missing)} not installed, skipped "
                  f"(pip install 'darkpy[bench]')")
        else:
            chosen.append(name)
    return chosen


def set_threads(threads: int) -> None:
    """darkpy's workers and PyTorch's intra-op pool (the ONNX runtimes take it per session)."""
    from darkpy.kernels import workers

    workers.set_num_threads(threads)
    if version(TORCH) is not None:
        import torch

        torch.set_num_threads(threads)


# --- runners ---------------------------------------------------------------------------------

def darkpy_runner(network, x: np.ndarray, layers: list[int] | None = None) -> Runner:
    """darkpy's forward of NHWC x; `layers`: the outputs to return (default: the last)."""
    if layers is None:
        return Runner(DARKPY, lambda: network.forward(x), lambda out: [out])
    return Runner(DARKPY, lambda: network.forward(x, outputs=layers),
                  lambda out: [out[i] for i in layers])


def torch_runner(module, x: np.ndarray, as_list: Callable[[object], list] = lambda t: [t]) -> Runner:
    """A torch callable on NCHW x (converted here, outside the timing), under inference
    mode; `as_list` turns its result into NCHW tensors in darkpy's output order."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def run():
        with torch.inference_mode():
            return module(xt)

    return Runner(TORCH, run, lambda out: [t.numpy().transpose(0, 2, 3, 1) for t in as_list(out)])


def export(network, path: Path, x: np.ndarray, layers: list[int] | None = None) -> list[int]:
    """Write `network` as ONNX (darkpy's exporter) for x's size and batch; returns the darkpy
    layer each graph output holds, in graph order."""
    import darkpy
    from darkpy.export.verify import output_layer

    model = darkpy.export_onnx(network, path, batch=x.shape[0], size=(x.shape[2], x.shape[1]),
                               outputs=layers)
    return [output_layer(network, o.name) for o in model.graph.output]


def _nchw_outputs(order: list[int], layers: list[int] | None):
    """NCHW arrays in graph order -> NHWC arrays in darkpy's order."""
    want = layers if layers is not None else order

    def convert(outs):
        by_layer = dict(zip(order, outs))
        return [np.asarray(by_layer[i]).transpose(0, 2, 3, 1) for i in want]
    return convert


def onnxruntime_runner(path: Path, x: np.ndarray, threads: int, order: list[int],
                       layers: list[int] | None = None) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
    return Runner(ONNXRUNTIME, lambda: session.run(None, feeds), _nchw_outputs(order, layers))


def openvino_runner(path: Path, x: np.ndarray, threads: int, order: list[int],
                    layers: list[int] | None = None) -> Runner:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    feed = np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def run():
        request.infer({0: feed})
        return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

    return Runner(OPENVINO, run, _nchw_outputs(order, layers))


def onnx_runner(name: str, path: Path, x: np.ndarray, threads: int, order: list[int],
                layers: list[int] | None = None) -> Runner:
    build = onnxruntime_runner if name == ONNXRUNTIME else openvino_runner
    return build(path, x, threads, order, layers)


# --- checking and timing ---------------------------------------------------------------------

def check(runners: list[Runner]) -> dict[str, tuple[float, float]]:
    """Run each once (also its warm-up) and compare its outputs with the first's (darkpy's):
    {name: (max |diff|, max |darkpy|)}; prints a line per runtime."""
    reference = runners[0].outputs(runners[0].run())
    diffs = {}
    for runner in runners[1:]:
        got = runner.outputs(runner.run())
        if [g.shape for g in got] != [r.shape for r in reference]:
            raise SystemExit(f"{runner.name}: output shapes {[g.shape for g in got]}, darkpy "
                             f"{[r.shape for r in reference]}")
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, reference))
        scale = max(float(np.abs(r).max()) for r in reference)
        diffs[runner.name] = (diff, scale)
        print(f"    {runner.name:13s} max |diff| from darkpy {diff:.2e} (largest value {scale:.3g})",
              flush=True)
    return diffs


def best_times(runners: list[Runner], repeat: int, settle: bool = False) -> dict[str, float]:
    """{name: best seconds} over `repeat` rounds in which the runtimes take turns.

    settle: each timed run follows an untimed run of the same runtime. ONNX Runtime's threads
    keep spinning for a while after its run returns, and took the second core from a runtime
    timed right after it: darkpy's yolov3-tiny forward, alternating with ONNX Runtime's, best
    58.6 ms, median 66.9; with an untimed run first 41.9 / 54.4 (ONNX Runtime 24.3 / 31.4 and
    23.0 / 32.4). Networks of a few milliseconds need it; seconds-long ones do not."""
    best = {r.name: float("inf") for r in runners}
    for _ in range(repeat):
        for runner in runners:
            if settle:
                runner.run()
            start = time.perf_counter()
            runner.run()
            best[runner.name] = min(best[runner.name], time.perf_counter() - start)
    return best


# --- peak RSS --------------------------------------------------------------------------------

def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_bytes(field: str) -> int | None:
    """A `kB` field of /proc/self/status in bytes (None where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_bytes() -> int:
    """This process's peak resident set: VmHWM (which reset_peak resets), else ru_maxrss."""
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_bytes() -> int:
    """This process's resident set now (VmRSS; 0 where /proc is absent)."""
    return _status_bytes("VmRSS") or 0


def report_peak(runner: Runner) -> None:
    """In the child: two forwards, then the peak as one JSON line on stdout."""
    runner.run()
    runner.run()
    print(json.dumps({"peak_rss": peak_bytes()}), flush=True)


def peak_rss(script: Path, argv: list[str], name: str, onnx_path: Path | None) -> int | None:
    """Bytes: the peak RSS of a child running `script argv` for runtime `name` only."""
    args = [sys.executable, str(script), *argv, "--rss-of", name]
    if onnx_path is not None:
        args += ["--onnx", str(onnx_path)]
    done = subprocess.run(args, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              [str(Path(script).resolve().parents[1]),
                               *filter(None, [os.environ.get("PYTHONPATH")])])))
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["peak_rss"]
    print(f"    peak RSS of {name}: the child failed: {done.stderr.strip().splitlines()[-1:]}")
    return None


def free_and_reset() -> None:
    """Drop what the child built on the way (the darkpy network a torch module was copied
    from) and restart the peak from here."""
    gc.collect()
    reset_peak()


# --- the table -------------------------------------------------------------------------------

def gib(nbytes: int | None) -> str:
    return "" if nbytes is None else f", {nbytes / 2**30:.2f} GiB"


def row_cells(times: dict[str, float], rss: dict[str, int | None], names: list[str]):
    """Cells for each runtime ('1.95 s, 0.41 GiB' or '—'), the fastest peer, darkpy's ratio."""
    cells = [f"{times[n]:.3g} s{gib(rss.get(n))}" if n in times else "—" for n in names]
    peers = {n: t for n, t in times.items() if n != DARKPY}
    if not peers:
        return cells, "—", "—"
    fastest = min(peers, key=peers.get)
    return cells, f"{fastest} {peers[fastest]:.3g} s", f"{times[DARKPY] / peers[fastest]:.2f}"


def print_markdown(title: str, rows: list[tuple[str, dict, dict]], threads: int) -> None:
    """A ready-to-paste table: per network each runtime's best time and peak RSS, the fastest
    peer, and darkpy's time over the fastest peer's (< 1: darkpy faster)."""
    names = [n for n in RUNTIMES if any(n in times for _, times, _ in rows)]
    heads = [f"{n} {version(n)}" for n in names]
    print(f"\n{title} ({threads} threads each; best time, peak RSS of a process running "
          f"that runtime alone)\n")
    print("| network | " + " | ".join(heads) + " | fastest peer | darkpy / fastest |")
    print("|---|" + "---:|" * (len(names) + 2))
    for label, times, rss in rows:
        cells, fastest, ratio = row_cells(times, rss, names)
        print(f"| {label} | " + " | ".join(cells) + f" | {fastest} | {ratio} |")
