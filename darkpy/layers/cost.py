"""[cost]: a training loss on the previous layer's output; identity at inference.

    inference: out = x  (the input array itself; layers never write to their inputs)

The keys configure the loss darknet computes against the truth in training (`type`: sse,
masked, smooth, L1, seg, wgan; `scale`, `ratio`, `noobj`, `thresh`). darknet falls back to
sse on an unknown type; darkpy reports it instead.
"""
from __future__ import annotations

from darkpy.config.schema import Key
from darkpy.layers.base import Layer


class Cost(Layer):
    kind = "cost"
    keys = {
        "type": Key("str", "sse", choices=("sse", "masked", "smooth", "L1", "seg", "wgan"),
                    used=False),
        "scale": Key("float", 1.0, used=False),
        "ratio": Key("float", 0.0, used=False),
        "noobj": Key("float", 1.0, used=False),
        "thresh": Key("float", 0.0, used=False),
    }

    def forward(self, inputs, train=False):
        return inputs[0]

    def describe(self):
        return {"filters": "", "size": self.opts.type}
