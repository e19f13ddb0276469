"""[dropout]: identity at inference; in training darknet's inverted dropout.

    inference: out = x            (the input array itself is returned, not a copy: layers never
                                   write to their inputs, so sharing it is safe and saves memory)
    training:  out_i = 0 if r_i < p else x_i / (1 - p),   r_i ~ U[0, 1)
    backward:  dx_i  = 0 if r_i < p else delta_i / (1 - p)   (the same r_i: `keep_mask`)

pjreddie's default probability is 0.5 (AlexeyAB's is 0.2); darkpy follows pjreddie. AlexeyAB's
DropBlock keys are accepted; training with dropblock=1 is not supported.

The r_i come from the layer's own generator `rng` (float32 draws whatever the data dtype, so a
float64 run drops the same values as a float32 one). It starts seeded from the layer index, so
runs repeat by default; a training loop reseeds it with `reseed` and saves/restores it with
`rng_state`/`set_rng_state` so that a resumed run draws the masks an uninterrupted one would.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.layers.base import Layer


class Dropout(Layer):
    kind = "dropout"
    summary = "random zeroing in training; identity at inference"
    keys = {
        "probability": Key("float", 0.5, phase=TRAINING,
                           doc="fraction of values zeroed in training (pjreddie's default; "
                               "AlexeyAB's is 0.2)"),
        "dropblock": Key("int", 0, used=False, fork=ALEXEYAB, phase=TRAINING,
                         doc="1: DropBlock (drops square blocks); darkpy cannot train it"),
        "dropblock_size_rel": Key("float", 0.0, used=False, fork=ALEXEYAB, phase=TRAINING,
                                  doc="DropBlock block size as a fraction of the feature map"),
        "dropblock_size_abs": Key("float", 0.0, used=False, fork=ALEXEYAB, phase=TRAINING,
                                  doc="DropBlock block size in pixels"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.probability = float(opts.probability)
        if not 0.0 <= self.probability < 1.0:
            raise self.error(f"probability must be in [0, 1), got {self.probability}")
        self.rng = np.random.default_rng(max(index, 0))
        # which values the last forward kept (None after an inference forward: backward is then
        # the identity)
        self.keep_mask: np.ndarray | None = None

    # --- random state, for reproducible and resumable training ----------------------------------
    def reseed(self, seed) -> None:
        """Restart the mask generator from `seed` (an int, a SeedSequence, or None for fresh
        entropy)."""
        self.rng = np.random.default_rng(seed)

    def rng_state(self) -> dict:
        """The generator's state, a plain dict (numpy's bit_generator.state) to store."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        """Continue drawing exactly where the run that produced `state` was."""
        self.rng.bit_generator.state = state

    # --- compute ----------------------------------------------------------------------------------
    def _scale(self, dtype) -> np.generic:
        # darknet's l.scale = 1/(1 - p), rounded once to the data's precision
        return np.dtype(dtype).type(1.0 / (1.0 - self.probability))

    def forward(self, inputs, train=False):
        x = inputs[0]
        if not train:
            self.keep_mask = None
            return x
        if self.opts.dropblock:
            raise self.error("training with dropblock=1 is not supported")
        self.keep_mask = self.rng.random(x.shape, dtype=np.float32) >= np.float32(self.probability)
        return np.where(self.keep_mask, x * self._scale(x.dtype), x.dtype.type(0))

    def backward(self, delta, inputs, output):
        if self.keep_mask is None:
            return [delta.copy()]
        if self.keep_mask.shape != delta.shape:
            raise self.error(f"delta has shape {delta.shape}, the last training forward "
                             f"{self.keep_mask.shape}")
        return [np.where(self.keep_mask, delta * self._scale(delta.dtype), delta.dtype.type(0))]

    def describe(self):
        return {"filters": "", "size": f"p={self.probability:g}"}
