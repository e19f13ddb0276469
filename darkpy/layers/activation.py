"""[activation]: applies one element-wise activation to the previous layer's output.

    y = f(x)        (f named by `activation`; formulas in darkpy/kernels/activations.py)

darknet's parse_activation (pjreddie and AlexeyAB) reads only `activation`, default linear.
The output has the input's shape. Backward, when training arrives: delta_in = delta * f'(x),
via `activate_gradient(delta, y, x, code)` (x is needed only for mish, swish and gelu).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.kernels.activations import ACTIVATION_NAMES, activate, activation_code
from darkpy.layers.base import Layer


class Activation(Layer):
    kind = "activation"
    keys = {
        "activation": Key("str", "linear", choices=ACTIVATION_NAMES, doc="element-wise function"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.code = activation_code(opts.activation)

    def forward(self, inputs: list[np.ndarray], train: bool = False) -> np.ndarray:
        out = np.array(inputs[0], dtype=np.float32, order="C", copy=True)
        activate(out, self.code)
        return out
