"""[deconvolutional] / [deconv]: pjreddie's transposed convolution (AlexeyAB's fork has none).

Every input pixel scatters a size x size x filters block, weighted by its channels:

    out[y*s - pad + ky, x*s - pad + kx, o] += sum_c in[y, x, c] * W[c, o, ky, kx]
    out_h = (h - 1)*stride + size - 2*pad                  (out_w likewise)

then biases (or darknet's inference batch norm with batch_normalize=1, as in
[convolutional]) and the activation. pad=1 sets padding = size/2, else `padding` is used.
Weights in a .weights file: biases, [scales, rolling_mean, rolling_variance], then weights
(c, filters, size, size), as darknet's save_convolutional_weights writes them. darkpy keeps
them as the (c, size*size*filters) matrix whose columns are (ky, kx, o), so the forward is one
GEMM followed by a scatter-add of the patches (kernels/patches.py).

Backward (batch_normalize=0; darknet's training batch norm is not implemented here): the
gradient of a scatter-add is a gather, so dX = patches(g) @ W^T and dW = X^T @ patches(g).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import PJREDDIE, Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype
from darkpy.layers.scale_channels import activation_gradient, activation_with_cache

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
patches = kernels("patches")
normalize = kernels("normalize")


class Deconvolutional(Layer):
    kind = "deconvolutional"
    aliases = ("deconv",)
    summary = "transposed convolution (learned upsampling)"
    fork = PJREDDIE
    keys = {
        "filters": Key("int", 1, minimum=1, fork=PJREDDIE, doc="output channels"),
        "size": Key("int", 1, minimum=1, fork=PJREDDIE, doc="kernel size (size x size)"),
        "stride": Key("int", 1, minimum=1, fork=PJREDDIE, doc="upsampling step of the "
                                                              "transposed convolution"),
        "pad": Key("int", 0, fork=PJREDDIE, doc="1: padding = size/2 (overrides padding)"),
        "padding": Key("int", 0, fork=PJREDDIE,
                       doc="rows and columns cropped from each side when pad=0"),
        "activation": Key("str", "logistic", choices=codes.ACTIVATION_NAMES,
                          fork=PJREDDIE, doc="applied after bias or batch norm"),
        "batch_normalize": Key("int", 0, fork=PJREDDIE,
                               doc="1: batch normalisation before the activation"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.filters, self.size, self.stride = opts.filters, opts.size, opts.stride
        self.padding = self.size // 2 if opts.pad else opts.padding
        if self.padding < 0:
            raise self.error(f"padding must be >= 0, got {self.padding}")
        self.batch_normalize = bool(opts.batch_normalize)
        self.code = codes.activation_code(opts.activation)
        self.channels = self.input_shapes[0][2]
        self._pre = None
        self.output_shape(self.input_shapes)
        self.initialise_params()

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if c != self.channels:
            raise self.error(f"was built for {self.channels} channels, got {c}")
        out_h = (h - 1) * self.stride + self.size - 2 * self.padding
        out_w = (w - 1) * self.stride + self.size - 2 * self.padding
        if out_h < 1 or out_w < 1:
            raise self.error(f"padding {self.padding} crops a {h}x{w} input to nothing")
        return (out_h, out_w, self.filters)

    # --- parameters ----------------------------------------------------------------------
    def _from_darknet(self, w):
        c, n, k = self.channels, self.filters, self.size
        w = np.asarray(w).reshape(c, n, k, k).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(w).reshape(c, k * k * n)

    def param_layout(self):
        n = self.filters
        layout = [("biases", (n,))]
        if self.batch_normalize:
            layout += [("scales", (n,)), ("rolling_mean", (n,)), ("rolling_variance", (n,))]
        return layout + [("weights", (self.channels, n, self.size, self.size))]

    def initial_value(self, name, shape, rng):
        if name == "weights":  # darknet's: normal(0, 1) * .02, in its (c, n, k, k) order
            return (0.02 * rng.standard_normal(shape)).astype(np.float32)
        return super().initial_value(name, shape, rng)

    def get_param(self, name):
        if name != "weights":
            return self.params[name]
        c, n, k = self.channels, self.filters, self.size
        w = self.params["weights"].reshape(c, k, k, n).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(w)

    def set_param(self, name, value):
        value = self.checked_value(name, value)
        self.params[name] = self._from_darknet(value) if name == "weights" else np.ascontiguousarray(value)

    # --- compute -------------------------------------------------------------------------
    def _scatter(self, cols, n_img, h, w, out_h, out_w):
        """cols (n_img*h*w, k*k*n) -> the (n_img, out_h, out_w, n) scatter-add."""
        # viewed from the output, each input pixel is one "patch" of the output image
        return patches.scatter_patches(cols.reshape(n_img, h * w, -1), h, w, out_h, out_w,
                                       self.filters, self.size, self.stride, self.padding)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n_img, h, w, c = x.shape
        out_h, out_w, n = self.output_shape([x.shape[1:]])
        dtype = compute_dtype(x)
        weights = self.params["weights"].astype(dtype, copy=False)
        cols = np.ascontiguousarray(x, dtype=dtype).reshape(-1, c) @ weights
        pre = self._scatter(cols, n_img, h, w, out_h, out_w)
        p = self.params
        if self.batch_normalize:
            if train:
                raise self.error("training with batch_normalize=1 is not supported "
                                 "(inference only)")
            a, b = normalize.fold_batchnorm(p["scales"], p["rolling_mean"],
                                            p["rolling_variance"], p["biases"])
            pre *= a.astype(dtype)
            pre += b.astype(dtype)
        else:
            pre += p["biases"].astype(dtype, copy=False)
        return activation_with_cache(self, pre, train)

    def backward(self, delta, inputs, output):
        if self.batch_normalize:
            raise self.error("training with batch_normalize=1 is not supported (inference only)")
        x = inputs[0]
        n_img, h, w, c = x.shape
        g = activation_gradient(self, delta, output)
        self.grad("biases")[...] += g.sum(axis=(0, 1, 2))
        # the gradient of the scatter-add is the matching gather
        d_cols = patches.extract_patches(g, self.size, self.stride, self.padding, h, w)
        d_cols = d_cols.reshape(n_img * h * w, -1)
        self.grad("weights")[...] += x.reshape(-1, c).T.astype(g.dtype) @ d_cols
        d_x = d_cols @ self.params["weights"].T.astype(g.dtype, copy=False)
        return [np.ascontiguousarray(d_x.reshape(x.shape))]

    def describe(self):
        return {"filters": str(self.filters), "size": f"{self.size}x{self.size}/{self.stride}"}

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return 2 * h * w * c * self.size * self.size * self.filters
