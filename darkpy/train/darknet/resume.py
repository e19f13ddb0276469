"""Resuming a darknet-style training run bit for bit: `darkpy train --resume BACKUP`.

darknet's `<cfg>_last.weights` holds the parameters and `seen`, but not what else the next
update depends on; darkpy writes that beside it, each time the _last (or _final) file is
written:

    <cfg>_last.weights      darknet's file (darknet itself can continue from it, as -clear-less
                            fine-tuning; the momentum restarts at zero there)
    <cfg>_last.state.npz    the optimiser's buffers (SGD's momentum, Adam's m, v and t), the
                            random states of layers that draw in training (dropout), the images
                            found unreadable, the running average loss, and the run's setup
                            (cfg, .data, command-line overrides) so that --resume needs nothing
                            else

Both are written atomically (darkpy.io.atomic), the weights first; the state records `seen`,
and a resume whose weights say otherwise (a kill between the two writes) is refused rather
than continued inexactly. The picks and augmentation of each iteration are drawn from
generators seeded by (seed, iteration), so they need no saving. The helpers are the SR run
folder's (darkpy.train.run_folder: rng_states, json_default).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.atomic import atomic_path
from darkpy.train.run_folder import json_default, rng_states, set_rng_states

STATE_SUFFIX = ".state.npz"
LAST = "_last"
ENDS = (LAST, "_final")  # the checkpoints with a state: every _last, and the end
FORMAT = 1


def state_path(weights_path) -> Path:
    """`<cfg>_last.weights` -> `<cfg>_last.state.npz`."""
    path = Path(weights_path)
    return path.with_name(path.stem + STATE_SUFFIX)


def save_state(trainer, weights_path) -> Path:
    """Write the sidecar of `weights_path` (just written) for `trainer` (a DarknetTrainer)."""
    path = state_path(weights_path)
    meta = {
        "format": FORMAT, "seen": trainer.seen, "avg_loss": trainer.avg_loss,
        "rng": rng_states(trainer.network), "bad_images": sorted(trainer.loader.bad),
        "setup": trainer.setup, "best_map": trainer.best_map,
    }
    arrays = {f"optimizer/{k}": v for k, v in trainer.optimizer.state_dict().items()}
    arrays["meta"] = np.array(json.dumps(meta, default=json_default))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def find_state(folder, cfg_name: str | None = None) -> Path:
    """The newest (largest `seen`) `<cfg>_last.state.npz` or `<cfg>_final.state.npz` in
    `folder` (a backup folder), or the sidecar of a file named directly."""
    folder = Path(folder)
    if folder.is_file():
        return folder if folder.name.endswith(STATE_SUFFIX) else state_path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder to resume from")
    name = cfg_name or "*"
    found = sorted(p for end in ENDS for p in folder.glob(f"{name}{end}{STATE_SUFFIX}"))
    if not found:
        raise InputError(f"{folder}: no {name}{LAST}{STATE_SUFFIX} to resume from (darkpy "
                         f"writes one beside each <cfg>{LAST}.weights)")
    runs = {_run_name(p) for p in found}
    if len(runs) > 1:
        raise InputError(f"{folder}: checkpoints of several runs ({', '.join(sorted(runs))}); "
                         "name the .weights file to resume")
    return max(found, key=lambda p: int(read_state(p)[0]["seen"]))


def _run_name(path: Path) -> str:
    stem = path.name[: -len(STATE_SUFFIX)]
    return next(stem[: -len(end)] for end in ENDS if stem.endswith(end))


def read_state(path) -> tuple[dict, dict]:
    """(meta, optimiser arrays) of a sidecar; InputError naming the file when unreadable."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            arrays = {k[len("optimizer/"):]: npz[k] for k in npz.files
                      if k.startswith("optimizer/")}
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: the training state cannot be read ({exc})") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: training state format {meta.get('format')}, this darkpy "
                         f"reads {FORMAT}")
    return meta, arrays


def weights_of(path) -> Path:
    """The .weights file a sidecar belongs to."""
    path = Path(path)
    return path.with_name(path.name[: -len(STATE_SUFFIX)] + ".weights")


def restore(trainer, meta: dict, arrays: dict, where) -> None:
    """Put a sidecar's state into `trainer`, whose weights and `seen` came from the .weights."""
    if int(meta["seen"]) != trainer.seen:
        raise InputError(
            f"{where}: the state is for seen={meta['seen']} but {weights_of(where).name} says "
            f"seen={trainer.seen} (interrupted between the two writes?); resuming would not "
            "continue the run exactly")
    trainer.optimizer.load_state_dict(arrays)
    set_rng_states(trainer.network, meta.get("rng", {}))
    trainer.loader.bad = {int(i) for i in meta.get("bad_images", [])}
    trainer.avg_loss = float(meta.get("avg_loss", -1.0))
    trainer.best_map = float(meta.get("best_map", -1.0))  # so _best.weights keeps its meaning


def resume_training(folder, cfg_name: str | None = None, **changes):
    """A DarknetTrainer continuing the run whose _last checkpoint is in `folder`;
    `changes` (e.g. max_batches=...) replace the setup's overrides."""
    from darkpy.train.darknet.loop import DarknetTrainer

    path = find_state(folder, cfg_name)
    meta, arrays = read_state(path)
    setup = dict(meta["setup"])
    overrides = dict(setup.pop("overrides", {}))
    overrides.update({k: v for k, v in changes.items() if v is not None})
    weights = weights_of(path)
    if not weights.is_file():
        raise InputError(f"{path}: its weights {weights.name} are missing")
    trainer = DarknetTrainer(setup["cfg"], setup["data"], weights, clear=False,
                              backup=path.parent, label_rule=setup["label_rule"],
                              cfg_name=setup["cfg_name"], **setup.get("options", {}), **overrides)
    restore(trainer, meta, arrays, path)
    return trainer
