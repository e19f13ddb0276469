"""[sam]: AlexeyAB's spatial attention module, an element-wise product (yolov4-sam cfgs).

    out[y, x, k] = f( a[y, x, k] * F[y, x, k] )

a is the previous layer's output (the attention map, usually a logistic convolution), F the
output of layer `from`; both must have the same shape (darknet asserts it), as does the
output. f is `activation` (default linear); darknet's [sam] does not apply swish or mish.
Backward: with g = delta * f',  da = g * F  and  dF = g * a.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.errors import ConfigError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.scale_channels import (
    UNSUPPORTED_ACTIVATIONS,
    activation_gradient,
    activation_with_cache,
)

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")


class Sam(Layer):
    kind = "sam"
    summary = "multiplies two outputs element-wise (spatial attention)"
    fork = ALEXEYAB
    keys = {
        "from": Key("int", None, fork=ALEXEYAB,
                    doc="required: the layer multiplied element-wise by the "
                        "previous one"),
        "activation": Key("str", "linear", choices=codes.ACTIVATION_NAMES,
                          fork=ALEXEYAB, doc="applied to the product"),
    }

    @classmethod
    def references(cls, opts):
        if opts["from"] is None:
            raise ConfigError("[sam] needs `from = ...` (the layer to multiply)")
        return [(-1, None), (opts["from"], "from")]

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if opts.activation in UNSUPPORTED_ACTIVATIONS:
            raise self.error(f"activation={opts.activation}: darknet's [sam] does not support "
                             "swish or mish")
        self.code = codes.activation_code(opts.activation)
        self._pre = None
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        a, f = tuple(input_shapes[0]), tuple(input_shapes[1])
        if a != f:
            raise self.mismatch("the previous layer and `from` must have the same shape, got "
                                f"{'x'.join(map(str, a))} and {'x'.join(map(str, f))} "
                                "(h x w x c)", "[sam] needs the same shape from both")
        return f

    def forward(self, inputs, train=False):
        attention, feature = inputs
        self.output_shape([attention.shape[1:], feature.shape[1:]])
        pre = np.multiply(attention, feature, dtype=compute_dtype(feature))
        return activation_with_cache(self, pre, train)

    def backward(self, delta, inputs, output):
        attention, feature = inputs
        g = activation_gradient(self, delta, output)
        return [g * feature, g * attention]

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return h * w * c
