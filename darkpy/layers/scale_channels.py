"""[scale_channels]: AlexeyAB's attention product (squeeze-and-excitation, EfficientNet).

The previous layer holds the scales, layer `from` the feature map F (h, w, c); the output has
F's shape:

    scale_wh=0:  out[y, x, k] = f( s[0, 0, k] * F[y, x, k] )    s is (1, 1, c): one per channel
    scale_wh=1:  out[y, x, k] = f( s[y, x, 0] * F[y, x, k] )    s is (h, w, 1): one per pixel

f is `activation` (default linear). darknet asserts these shapes (and aborts otherwise); darkpy
reports them. Its [scale_channels] does not apply swish or mish (it says so and carries on),
so darkpy refuses those two.

Backward (true gradients; with g = delta * f'):
    dF = g * s,   ds = sum of g * F over the pixels (scale_wh=0) or over the channels (scale_wh=1)
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.errors import ConfigError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")

UNSUPPORTED_ACTIVATIONS = ("swish", "mish")


def activation_with_cache(layer: Layer, pre: np.ndarray, train: bool) -> np.ndarray:
    """f(pre) as a new array; in training keeps `pre` when f' needs it (mish, swish, gelu)."""
    out = pre.copy()
    activations.activate(out, layer.code)
    layer._pre = pre if train and layer.code in codes.NEEDS_INPUT else None
    return out


def activation_gradient(layer: Layer, delta: np.ndarray, output: np.ndarray) -> np.ndarray:
    """delta * f'(x) as a new array (x kept by activation_with_cache when f' needs it)."""
    g = np.array(delta, dtype=output.dtype, order="C", copy=True)
    pre = getattr(layer, "_pre", None)
    if layer.code in codes.NEEDS_INPUT and (pre is None or pre.shape != output.shape):
        raise layer.error("backward needs a forward with train=True first")
    activations.activate_gradient(g, np.ascontiguousarray(output), pre, layer.code)
    return g


class ScaleChannels(Layer):
    kind = "scale_channels"
    summary = "scales an output per channel or per pixel (squeeze-excitation)"
    fork = ALEXEYAB
    keys = {
        "from": Key("int", None, fork=ALEXEYAB,
                    doc="required: the layer whose output is scaled by the "
                        "previous layer's"),
        "scale_wh": Key("int", 0, choices=(0, 1), fork=ALEXEYAB,
                        doc="1: one scale per pixel (h x w x 1) instead of per channel"),
        "activation": Key("str", "linear", choices=codes.ACTIVATION_NAMES,
                          fork=ALEXEYAB, doc="applied to the product"),
    }

    @classmethod
    def references(cls, opts):
        if opts["from"] is None:
            raise ConfigError(f"[{cls.kind}] needs `from = ...` (the layer to scale)")
        return [(-1, None), (opts["from"], "from")]

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if opts.activation in UNSUPPORTED_ACTIVATIONS:
            raise self.error(f"activation={opts.activation}: darknet's [{self.kind}] does not "
                             "support swish or mish")
        self.scale_wh = bool(opts.scale_wh)
        self.code = codes.activation_code(opts.activation)
        self._pre = None
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        (sh, sw, sc), (h, w, c) = input_shapes[0], input_shapes[1]
        if self.scale_wh:
            if sc != 1 or (sh, sw) != (h, w):
                raise self.mismatch(
                    f"scale_wh=1 needs an {h}x{w}x1 scale map for the {h}x{w}x{c} `from` output; "
                    f"the previous layer gives {sh}x{sw}x{sc}",
                    f"scale_wh=1 needs a {w}x{h}x1 scale map from the previous layer")
        elif (sh, sw) != (1, 1) or sc != c:
            raise self.mismatch(
                f"needs 1x1x{c} scales (one per channel of the {h}x{w}x{c} `from` output); the "
                f"previous layer gives {sh}x{sw}x{sc}",
                f"the previous layer must give 1x1x{c} scales, one per channel of `from`")
        return (h, w, c)

    def forward(self, inputs, train=False):
        scales, feature = inputs
        self.output_shape([scales.shape[1:], feature.shape[1:]])
        dtype = compute_dtype(feature)
        pre = np.multiply(scales, feature, dtype=dtype)  # broadcast over pixels or channels
        return activation_with_cache(self, np.ascontiguousarray(pre), train)

    def backward(self, delta, inputs, output):
        scales, feature = inputs
        g = activation_gradient(self, delta, output)
        axes = (3,) if self.scale_wh else (1, 2)
        d_scales = np.sum(g * feature, axis=axes, keepdims=True, dtype=g.dtype)
        return [np.ascontiguousarray(d_scales), np.ascontiguousarray(g * scales)]

    def describe(self):
        return {"filters": "", "size": "per pixel" if self.scale_wh else "per channel"}

    def flops(self, input_shapes):
        h, w, c = self.output_shape(input_shapes)
        return h * w * c
