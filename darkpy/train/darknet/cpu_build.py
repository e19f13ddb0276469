"""How AlexeyAB's darknet CPU build passes gradients between layers (his GPU build does not).

darknet keeps one delta buffer per layer, that a layer's consumers write into during the
backward (in descending layer order) and that the layer then reads. Summing what every
consumer sends is the math, and pjreddie's darknet and AlexeyAB's GPU build do that. His CPU
build (src/col2im.c, network.c) differs in two ways, which change what yolov4-tiny learns:

- a [convolutional] layer's backward zeroes its input's buffer before adding its own
  gradient (col2im_cpu_ext starts with caffe_set(..., 0)): whatever consumers with higher
  indices (a [route] taking the same layer) had sent is lost; its input is always the layer
  just before it;
- forward_network clears a layer's buffer before each forward only when the layer has
  l.train set, which only [convolutional], [batchnorm], [maxpool] (and [local_avgpool]),
  [shortcut], [crnn] and [conv_lstm] do; the loss heads clear their own. Every other
  layer's buffer (a [route], an [upsample] ...) keeps what it had: gradients pile up over
  the minibatches and iterations of a run, unless a convolution overwrites them.

`AlexeyabCpuDeltas` reproduces both for Network.backward(rule=...); it lives as long as a
training run (the kept buffers are the run's state, as darknet's are). Training uses it only
where asked to reproduce that build (`DarknetTrainer(..., darknet_build="alexeyab-cpu")`),
e.g. for tools/darknet_train_oracle.py's comparison with a CPU-built darknet.
"""
from __future__ import annotations

import numpy as np

# the section kinds whose buffers darknet clears (l.train) or that clear their own (heads)
CLEARED_KINDS = frozenset({"convolutional", "batchnorm", "maxpool", "local_avgpool",
                           "shortcut", "crnn", "conv_lstm", "yolo", "Gaussian_yolo", "region",
                           "detection"})


class AlexeyabCpuDeltas:
    """Network.backward's combination rule for AlexeyAB's CPU build (module docstring)."""

    def __init__(self, network):
        self.kinds = [layer.kind for layer in network.layers]
        self.kept: dict[int, np.ndarray] = {}

    def begin(self, deltas: list) -> None:
        """Buffers never cleared start with what they held after the last backward."""
        for index, kept in self.kept.items():
            deltas[index] = kept.copy() if deltas[index] is None else deltas[index] + kept

    def received(self, index: int, delta):
        if delta is not None and self.kinds[index] not in CLEARED_KINDS:
            self.kept[index] = np.array(delta, copy=True)
        return delta

    def combine(self, target: int, consumer: int, existing, g):
        if self.kinds[consumer] == "convolutional" and target == consumer - 1:
            return g  # col2im_cpu_ext zeroed the buffer first
        return existing + g
