"""The run folder: what a run is, its checkpoints, and resuming from them.

    run.json          what the run is: the cfg text, data, options (resume reads it)
    log.csv           one row per iteration: loss, learning rate, images/s, validation scores
    checkpoint.json   the newest complete checkpoint (written last, atomically)
    checkpoints/NNNNNNNN/model.h5 + state.npz
                      the network, and optimiser state + iteration + RNG states + best score
    best.h5           the model with the best validation PSNR so far
    model.h5          the model after the last iteration

A checkpoint folder is written under a temporary name and renamed into place, then
checkpoint.json is replaced: a kill at any moment leaves the previous checkpoint usable, so
at most `checkpoint_every` iterations are lost. Resuming loads the weights, optimiser state
and the RNG states of the layers that draw random numbers in training (Layer.rng_state).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.atomic import atomic_write_text

RUN_FILE = "run.json"
LOG_FILE = "log.csv"
POINTER_FILE = "checkpoint.json"
CHECKPOINTS = "checkpoints"
BEST_FILE = "best.h5"
FINAL_FILE = "model.h5"


@dataclass
class State:
    """Where a run stands: what a checkpoint records besides the weights and optimiser."""

    iteration: int = 0          # updates completed
    elapsed_s: float = 0.0      # training time over all sessions
    best_psnr: float | None = None
    best_iteration: int | None = None


def write_json(path: Path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def rng_states(network) -> dict:
    states = {str(layer.index): layer.rng_state() for layer in network.layers}
    return {index: state for index, state in states.items() if state is not None}


def set_rng_states(network, states: dict) -> None:
    for layer in network.layers:
        if str(layer.index) in states:
            layer.set_rng_state(states[str(layer.index)])


def json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def save_checkpoint(run_dir: Path, state: "State", network, model_view, optimizer, keep: int) -> Path:
    """Write checkpoints/<iteration>/ (model.h5, state.npz) atomically and point to it."""
    from darkpy.io.h5 import save_h5

    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{state.iteration:08d}"
    final = folder / name
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_h5(model_view, tmp / "model.h5", source=f"darkpy train, iteration {state.iteration}",
            extras={"training": {"iteration": state.iteration}})
    meta = {"iteration": state.iteration, "elapsed_s": state.elapsed_s, "best_psnr": state.best_psnr,
            "best_iteration": state.best_iteration, "rng": rng_states(network)}
    arrays = {f"optimizer/{k}": v for k, v in optimizer.state_dict().items()}
    arrays["meta"] = np.array(json.dumps(meta, default=json_default))
    with open(tmp / "state.npz", "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    if final.exists():  # a checkpoint of this iteration from an earlier, interrupted attempt
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_json(Path(run_dir) / POINTER_FILE, {"iteration": state.iteration,
                                                "path": f"{CHECKPOINTS}/{name}"})
    _prune(folder, keep, final)
    return final


def _prune(folder: Path, keep: int, newest: Path) -> None:
    done = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    for old in done[: max(len(done) - max(keep, 1), 0)]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)
    for stale in folder.glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def load_checkpoint(run_dir: Path, network, optimizer) -> "State":
    from darkpy.io.h5 import load_h5_params

    pointer = Path(run_dir) / POINTER_FILE
    if not pointer.is_file():
        return State()
    try:
        where = json.loads(pointer.read_text())
        folder = Path(run_dir) / where["path"]
        load_h5_params(network, folder / "model.h5")
        with np.load(folder / "state.npz", allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            optimizer.load_state_dict({k[len("optimizer/"):]: npz[k] for k in npz.files
                                       if k.startswith("optimizer/")})
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{run_dir}: the checkpoint cannot be read ({exc})") from None
    for layer in network.layers:
        layer.invalidate()
    set_rng_states(network, meta.get("rng", {}))
    return State(iteration=int(meta["iteration"]), elapsed_s=float(meta["elapsed_s"]),
                  best_psnr=meta.get("best_psnr"), best_iteration=meta.get("best_iteration"))
