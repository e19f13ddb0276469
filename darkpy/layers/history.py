"""[history]: AlexeyAB's frame history, the last `history_size` inputs stacked on channels.

With time_steps > 1, for each time step t (rows t*batch .. t*batch+batch-1, see
layers/recurrent.py) and each sample, with p the sample's previous output (zeros at first):

    y_t = concat_channels(x_t, p[..., : C * (history_size - 1)])

so channels [k*C, (k+1)*C) hold the input of k steps ago; the output has C * history_size
channels and becomes p. The state carries over between calls.

With time_steps = 1 darknet copies the batch's input buffer to the start of the (larger)
output buffer and leaves the rest at zero: for batch 1 the output is x followed by zero
channels; for a larger batch sample b's output is the b-th slice of that buffer (samples
spill into each other's channels, as in darknet). darkpy reproduces this.
No parameters.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.layers.recurrent import Recurrent, from_chw_flat, to_chw_flat


class History(Recurrent):
    kind = "history"
    summary = "stacks the last inputs in time along channels"
    fork = ALEXEYAB
    keys = {
        "history_size": Key("int", 4, minimum=1, fork=ALEXEYAB,
                            doc="inputs kept, newest first (output channels = C * this)"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.history_size = opts.history_size

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        return (h, w, c * self.history_size)

    def forward(self, inputs, train=False):
        x = np.ascontiguousarray(inputs[0], dtype=np.float32)
        n, h, w, c = x.shape
        out_shape = (n, h, w, c * self.history_size)
        if self.steps == 1:
            buffer = np.zeros(int(np.prod(out_shape)), np.float32)
            buffer[:x.size] = to_chw_flat(x)
            return from_chw_flat(buffer, out_shape)
        batch = self.time_batch(x)
        keep = c * (self.history_size - 1)
        state = self.carried_state((batch, h, w, c),
                                   {"previous": (batch, h, w, c * self.history_size)})
        previous = state["previous"]
        out = np.empty(out_shape, np.float32)
        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            out[rows, ..., :c] = x[rows]
            out[rows, ..., c:] = previous[..., :keep]
            previous = out[rows]
        state["previous"] = previous.copy()
        return out

    def describe(self):
        return {"filters": f"x{self.history_size}", "size": ""}
