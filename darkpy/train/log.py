"""What a run tells while it runs, and how it stops: log.csv (a row per iteration, visible at
once) and SIGINT/SIGTERM, which stop the loop after the current iteration with a checkpoint."""
from __future__ import annotations

import csv
import signal
from contextlib import contextmanager
from pathlib import Path

from darkpy.io.atomic import atomic_path

LOG_COLUMNS = ["iteration", "loss", "learning_rate", "images_per_s", "elapsed_s",
               "valid_psnr", "valid_ssim", "bicubic_psnr", "bicubic_ssim"]


class TrainingLog:
    """log.csv: rows after the checkpoint a run resumes from are dropped first."""

    def __init__(self, path: Path, keep_until: int):
        self.path = Path(path)
        rows = []
        if self.path.is_file() and keep_until > 0:
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= keep_until]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        self.file = open(self.path, "a", newline="", buffering=1)  # a line per iteration, visible at once
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS, lineterminator="\n")

    def write(self, row: dict) -> None:
        self.writer.writerow({k: _fmt(row.get(k)) for k in LOG_COLUMNS})

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.6e}"
    return str(value)


@contextmanager
def stop_on_signals(flag: dict):
    """SIGINT/SIGTERM set flag['stop'] (the loop finishes the iteration and checkpoints);
    a second SIGINT interrupts at once. Only in the main thread (signals live there)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.get("stop") and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["stop"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
