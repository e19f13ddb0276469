"""[shortcut]: darkpy's generalised residual, out = f(alpha * x_prev + beta * x_from).

x_prev is the previous layer's output, x_from the output of layer `from`, f the activation
(default linear); alpha = beta = 1 gives the plain ResNet/EDSR sum. This is pjreddie's
shortcut (out starts as x_prev, then out = alpha*out + beta*add at every cell add reaches).

The output has x_prev's shape. When x_from's shape differs, darknet's shortcut_cpu rules
apply: with stride = max(w_from // w_prev, 1) and sample = max(w_prev // w_from, 1), output
cell (y*sample, x*sample, k) adds x_from(y*stride, x*stride, k) for y < min(h), x < min(w),
k < min(c); every other output cell is x_prev unchanged (not scaled by alpha), and f applies
to all. The height ratios must equal the width ratios (darknet asserts it). For channel
mismatches AlexeyAB's shortcut gives the same result; for spatial ones it differs and darkpy
follows pjreddie. AlexeyAB's weighted shortcuts (weights_type) and lists in `from` are not
supported.

Backward, g = delta * f'(z) with z the sum before f: d_prev = alpha * g and d_from = beta * g
(moved back to the cell of x_from that was read) where x_from was added, d_prev = g elsewhere
(darknet's backward scales every cell by alpha there; darkpy returns the true gradient), and
zero for cells of x_from the sum never read.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, PJREDDIE, Key
from darkpy.errors import ConfigError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels import aligned
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
elementwise = kernels("elementwise")


class Shortcut(Layer):
    kind = "shortcut"
    summary = "adds an earlier output to the previous one (residual)"
    keys = {
        "from": Key("ints", None, doc="required: the layer added to the previous one "
                                      "(negative: relative to this layer)"),
        "activation": Key("str", "linear", choices=codes.ACTIVATION_NAMES,
                          doc="applied to the sum"),
        "alpha": Key("float", 1.0, fork=PJREDDIE, doc="scales the previous layer's output"),
        "beta": Key("float", 1.0, fork=PJREDDIE, doc="scales the `from` layer's output"),
        "weights_type": Key("str", "none",
                            choices=("none", "per_feature", "per_layer", "per_channel"),
                            fork=ALEXEYAB,
                            doc="learned weights of the inputs; darkpy supports only none"),
        "weights_normalization": Key("str", "none", choices=("none", "relu", "avg_relu", "softmax"),
                                     used=False, fork=ALEXEYAB,
                                     doc="normalisation of those weights (with weights_type)"),
    }

    @classmethod
    def references(cls, opts):
        sources = opts["from"]
        if not sources:
            raise ConfigError("[shortcut] needs `from = ...` (the layer to add)")
        return [(-1, None)] + [(ref, "from") for ref in sources]

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if len(opts["from"]) != 1:
            raise self.error(f"`from` must name one layer; got {len(opts['from'])} (AlexeyAB's "
                             "multi-input shortcut is not supported)")
        if opts.weights_type != "none":
            raise self.error(f"weights_type={opts.weights_type} is not supported (only none)")
        self.alpha = np.float32(opts.alpha)
        self.beta = np.float32(opts.beta)
        self.code = codes.activation_code(opts.activation)
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        (h2, w2, c2), (h1, w1, c1) = input_shapes[0], input_shapes[1]
        if (w1 // w2, w2 // w1) != (h1 // h2, h2 // h1):
            raise self.mismatch(
                f"cannot add a {h1}x{w1}x{c1} output to {h2}x{w2}x{c2}: darknet needs the same "
                "scale factor in height and width",
                "height and width differ by different factors (darknet needs the same scale "
                "factor in both)",
            )
        return (h2, w2, c2)

    def forward(self, inputs, train=False):
        prev, other = inputs
        self.output_shape([prev.shape[1:], other.shape[1:]])
        return elementwise.shortcut(prev, other, self.alpha, self.beta, self.code)

    def backward(self, delta, inputs, output):
        prev, other = inputs
        if self.code == codes.LINEAR and prev.shape == other.shape:
            # the plain residual sum: delta itself goes back to both inputs (backward passes
            # never write to the delta they are given), scaled where alpha or beta is not 1
            return [self._scaled(delta, self.alpha), self._scaled(delta, self.beta)]
        pre = output  # never read unless the derivative needs the input of f
        if self.code in codes.NEEDS_INPUT:
            pre = elementwise.shortcut(prev, other, self.alpha, self.beta, codes.LINEAR)
        h1, w1, c1 = other.shape[1:]
        d_prev, d_other = elementwise.shortcut_backward(
            delta, output, pre, h1, w1, c1, self.alpha, self.beta, self.code
        )
        return [d_prev, d_other]

    @staticmethod
    def _scaled(delta, factor):
        """factor * delta, or delta itself for factor 1; a new array starts on a cache line,
        as the convolutions that read it want (kernels/aligned.py)."""
        if factor == 1:
            return delta
        return np.multiply(delta, factor.astype(delta.dtype), out=aligned.empty_like(delta))

    def describe(self):
        return {"filters": "", "size": ""}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        per_value = 1 + int(self.alpha != 1) + int(self.beta != 1)  # the add, and any scaling
        return per_value * h * w * c
