"""What a training run is set up with besides its cfg: `TrainOptions`, stored in the run
folder's run.json (darkpy.train.run_folder) so that a resumed run is set up the same way."""
from __future__ import annotations

from dataclasses import dataclass, field

# the implicit [cost] type for each --loss name, when the cfg ends without a [cost]
LOSSES = {"l1": "L1", "sse": "sse", "l2": "sse", "mse": "sse"}
# [net] keys TrainOptions may override
NET_OVERRIDES = ("batch", "subdivisions", "max_batches", "learning_rate", "seed")


@dataclass
class TrainOptions:
    """Everything about a run besides the cfg; stored in run.json."""

    data: list = field(default_factory=list)      # training files / folders / globs
    valid: list = field(default_factory=list)     # validation files (may be empty)
    weights: str | None = None                    # initial weights (.h5 or .weights)
    scale: int | None = None                      # for pre-upsampling networks (default 2)
    patch: int | None = None                      # input patch side (default [net] width/height)
    degradation: str = "matlab"                   # how LR is made: data.DEGRADATIONS
    augment: bool = True                          # random flips and quarter turns
    loss: str = "l1"                              # implicit [cost] when the cfg has none
    checkpoint_every: int = 100
    valid_every: int | None = None                # default: checkpoint_every
    keep_checkpoints: int = 2
    volume_axis: int = 2                          # NIfTI volumes are sliced across this axis
    bicubic_skip: int | None = None               # a conv feeding a [shuffler]: start as bicubic
    zero_layers: list = field(default_factory=list)  # convs to start at zero (the deep branch's last)
    # [net] overrides (None: the cfg's value)
    batch: int | None = None
    subdivisions: int | None = None
    max_batches: int | None = None
    learning_rate: float | None = None
    seed: int | None = None
