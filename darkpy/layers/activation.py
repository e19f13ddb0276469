"""[activation]: applies one element-wise activation to the previous layer's output.

    y = f(x)        (f named by `activation`; formulas in darkpy/kernels/activations.py)

darknet's parse_activation (pjreddie and AlexeyAB) reads only `activation`, default linear.
The output has the input's shape. Backward: delta_in = delta * f'(x), via
`activate_gradient(delta, y, x, code)` (x is read only by mish, swish and gelu).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.kernels.activation_codes import ACTIVATION_NAMES, activation_code
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class Activation(Layer):
    kind = "activation"
    summary = "applies an activation function to the previous output"
    keys = {
        "activation": Key("str", "linear", choices=ACTIVATION_NAMES,
                          doc="the element-wise function applied to the previous layer's output"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.code = activation_code(opts.activation)

    def forward(self, inputs: list[np.ndarray], train: bool = False) -> np.ndarray:
        out = np.array(inputs[0], dtype=compute_dtype(inputs[0]), order="C", copy=True)
        activations.activate(out, self.code)
        return out

    def backward(self, delta, inputs, output):
        dtype = compute_dtype(inputs[0])
        grad = np.array(delta, dtype=dtype, order="C", copy=True)
        activations.activate_gradient(grad, np.ascontiguousarray(output, dtype),
                                      np.ascontiguousarray(inputs[0], dtype), self.code)
        return [grad]
