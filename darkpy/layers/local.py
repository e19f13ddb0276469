"""[local]: a locally connected layer (YOLOv1): a convolution whose weights differ per output cell.

    out[oy, ox, o] = f( b[oy, ox, o] + sum_{ky,kx,c} W[oy*out_w + ox, o, c, ky, kx]
                                               * x[oy*s - pad + ky, ox*s - pad + kx, c] )

taps outside the image read zero; `pad` is a pixel count (darknet passes it straight to its
im2col), and darknet sizes the output with its own rule:

    out_h = (h - (pad ? 1 : size)) / stride + 1        (C division; out_w likewise)

That rule matches what the im2col computes only when pad = 0 or 2*pad = size - 1 (YOLOv1
uses size=3, pad=1); other combinations make darknet index past its buffers, so darkpy
refuses them. Parameters are per output cell, so the input size is fixed by the weights.

Weights in a .weights file: biases (out_h*out_w*filters, CHW order: filter-major), then
weights (out_h*out_w, filters, c, size, size). darkpy keeps biases as (out_h, out_w, filters)
and weights as (out_h*out_w, size*size*c, filters) with rows in (ky, kx, c) order, so every
cell is one small GEMM of its patch (kernels/patches.py) with its own matrix.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import Key
from darkpy.errors import InputError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.convolutional import _c_div
from darkpy.layers.scale_channels import activation_gradient, activation_with_cache

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
patches = kernels("patches")


class Local(Layer):
    kind = "local"
    summary = "locally connected layer: a convolution without weight sharing"
    keys = {
        "filters": Key("int", 1, minimum=1, doc="output channels"),
        "size": Key("int", 1, minimum=1, doc="kernel size (size x size)"),
        "stride": Key("int", 1, minimum=1, doc="step of the kernel"),
        "pad": Key("int", 0, minimum=0, doc="zero padding in pixels on each side (as given, "
                                            "not a flag)"),
        "activation": Key("str", "logistic", choices=codes.ACTIVATION_NAMES,
                          doc="applied after the bias"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.filters, self.size, self.stride, self.pad = opts.filters, opts.size, opts.stride, opts.pad
        self.in_shape = tuple(self.input_shapes[0])
        self.out_shape = self._geometry(self.in_shape)
        self.code = codes.activation_code(opts.activation)
        self._pre = None
        self.initialise_params()

    def _geometry(self, shape):
        h, w, c = shape
        lost = 1 if self.pad else self.size
        out_h = _c_div(h - lost, self.stride) + 1
        out_w = _c_div(w - lost, self.stride) + 1
        im2col_h = _c_div(h + 2 * self.pad - self.size, self.stride) + 1
        im2col_w = _c_div(w + 2 * self.pad - self.size, self.stride) + 1
        if (out_h, out_w) != (im2col_h, im2col_w):
            raise self.error(f"size={self.size} pad={self.pad}: darknet's [local] output size "
                             f"({out_h}x{out_w}) and its im2col ({im2col_h}x{im2col_w}) disagree "
                             "for this input; use pad=0 or pad=(size-1)/2")
        if out_h < 1 or out_w < 1:
            raise self.error(f"a {self.size}x{self.size} window does not fit a {h}x{w} input")
        return (out_h, out_w, self.filters)

    def output_shape(self, input_shapes):
        if tuple(input_shapes[0]) != self.in_shape:
            raise InputError(f"{self.origin}: [local] layer {self.index} takes a "
                             f"{'x'.join(map(str, self.in_shape))} input (fixed by its per-cell "
                             f"weights), got {'x'.join(map(str, input_shapes[0]))}")
        return self.out_shape

    # --- parameters: darknet <-> darkpy layouts ------------------------------------------
    def param_layout(self):
        out_h, out_w, n = self.out_shape
        c = self.in_shape[2]
        return [("biases", (out_h * out_w * n,)),
                ("weights", (out_h * out_w, n, c, self.size, self.size))]

    def initial_value(self, name, shape, rng):
        if name != "weights":
            return super().initial_value(name, shape, rng)
        # darknet draws only the first cell's weights and leaves the others zero
        _, n, c, s, _ = shape
        weights = np.zeros(shape, np.float32)
        weights[0] = np.sqrt(2.0 / (s * s * c)) * rng.uniform(-1.0, 1.0, size=(n, c, s, s))
        return weights

    def get_param(self, name):
        out_h, out_w, n = self.out_shape
        if name == "biases":
            return np.ascontiguousarray(self.params["biases"].transpose(2, 0, 1)).reshape(-1)
        cells, _, c, s, _ = dict(self.param_layout())["weights"]
        w = self.params["weights"].reshape(cells, s, s, c, n)
        return np.ascontiguousarray(w.transpose(0, 4, 3, 1, 2))

    def set_param(self, name, value):
        value = self.checked_value(name, value)
        out_h, out_w, n = self.out_shape
        if name == "biases":
            self.params[name] = np.ascontiguousarray(value.reshape(n, out_h, out_w).transpose(1, 2, 0))
        else:
            cells, _, c, s, _ = value.shape
            w = value.transpose(0, 3, 4, 2, 1)  # (cells, ky, kx, c, n)
            self.params[name] = np.ascontiguousarray(w).reshape(cells, s * s * c, n)

    # --- compute -------------------------------------------------------------------------
    def _patches(self, x):
        out_h, out_w, _ = self.output_shape([x.shape[1:]])
        return patches.extract_patches(np.ascontiguousarray(x, dtype=compute_dtype(x)),
                                       self.size, self.stride, self.pad, out_h, out_w)

    def forward(self, inputs, train=False):
        x = inputs[0]
        cols = self._patches(x)  # (n_img, cells, k)
        out_h, out_w, n = self.out_shape
        weights = self.params["weights"].astype(cols.dtype, copy=False)
        per_cell = np.matmul(cols.transpose(1, 0, 2), weights)  # (cells, n_img, n)
        pre = per_cell.transpose(1, 0, 2).reshape(x.shape[0], out_h, out_w, n)
        pre = np.ascontiguousarray(pre + self.params["biases"].astype(cols.dtype, copy=False))
        return activation_with_cache(self, pre, train)

    def backward(self, delta, inputs, output):
        x = inputs[0]
        n_img = x.shape[0]
        out_h, out_w, n = self.out_shape
        g = activation_gradient(self, delta, output)
        cols = self._patches(x)
        g_cells = g.reshape(n_img, out_h * out_w, n).transpose(1, 0, 2)  # (cells, n_img, n)
        self.grad("biases")[...] += g.sum(axis=0)
        self.grad("weights")[...] += np.matmul(cols.transpose(1, 2, 0), g_cells)
        d_cols = np.matmul(g_cells, self.params["weights"].transpose(0, 2, 1))
        h, w, c = self.in_shape
        d_x = patches.scatter_patches(np.ascontiguousarray(d_cols.transpose(1, 0, 2)), out_h,
                                      out_w, h, w, c, self.size, self.stride, self.pad)
        return [d_x]

    def describe(self):
        return {"filters": str(self.filters), "size": f"{self.size}x{self.size}/{self.stride}"}

    def flops(self, input_shapes):
        out_h, out_w, n = self.out_shape
        return 2 * self.size * self.size * self.in_shape[2] * n * out_h * out_w
