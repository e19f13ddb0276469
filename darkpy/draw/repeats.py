"""Runs of identical consecutive blocks (EDSR's 32 residual blocks, darknet53's stages).

A block of `period` layers repeats `count` times from `start` when the layer signatures
(graph.signature: kind, options, relative references, shape) of each repetition equal the
first's. The scan is greedy from the first layer: at each position it takes the run covering
the most layers (the shortest period on ties) and continues after it.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_PERIOD = 40  # longer blocks are rare and would make the scan quadratic in practice


@dataclass(frozen=True)
class Repeat:
    start: int  # first layer of the first repetition
    period: int  # layers per repetition
    count: int  # repetitions

    @property
    def stop(self) -> int:
        """One past the last layer of the run."""
        return self.start + self.period * self.count

    def repetition(self, k: int) -> range:
        first = self.start + k * self.period
        return range(first, first + self.period)


def _worth_marking(period: int, count: int) -> bool:
    # two identical 1x1 convolutions in a row are not a "block"; a few repeated blocks are
    return count >= 2 and (period >= 2 or count >= 4) and period * count >= 4


def find_repeats(signatures: list) -> list[Repeat]:
    """The runs of identical consecutive blocks in a list of per-layer signatures."""
    n = len(signatures)
    runs = []
    i = 0
    while i < n:
        best = None
        for period in range(1, min(MAX_PERIOD, (n - i) // 2) + 1):
            block = signatures[i:i + period]
            count = 1
            while signatures[i + count * period: i + (count + 1) * period] == block:
                count += 1
            if _worth_marking(period, count) and (best is None or
                                                 period * count > best.period * best.count):
                best = Repeat(i, period, count)
        if best is None:
            i += 1
        else:
            runs.append(best)
            i = best.stop
    return runs
