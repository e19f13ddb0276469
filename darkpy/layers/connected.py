"""[connected] / [conn]: fully connected layer over the whole input.

    y[n, o] = f( bn( b[o] + sum_i W[o, i] * x_chw[n, i] ) ),   i < inputs = h*w*c

where x_chw is the input flattened in darknet's C, H, W order and bn is darknet's inference
batch norm (kernels/normalize.py) when batch_normalize=1. The output has shape (1, 1, output).

darkpy's activations are NHWC, so in memory the weights are kept as the (h*w*c, output)
matrix whose rows follow the NHWC flattening: y = x_hwc @ weights. get_param/set_param
convert to and from darknet's (output, inputs) CHW-ordered matrix, so a darknet .weights file
gives the same results as in darknet. (Old files with transposed connected weights are the
weights reader's business.)

Training (train=True): batch norm uses the statistics of the batch (kernels/batchnorm.py;
its m is the batch size, so at least 2 images) and updates rolling_mean/rolling_variance.
Backward, with z = x @ W, u = bn(z) (or z), y = f(u + b) and g = dL/dy * f'(.):

    dL/db = sum_n g,   dL/dW = x^T @ dL/dz,   dL/dx = dL/dz @ W^T
    dL/dz = g without batch norm, else its backward (which also gives dL/dscales).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.common_keys import reject_weight_loading_keys
from darkpy.config.schema import Key
from darkpy.errors import InputError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
bn = kernels("batchnorm")
normalize = kernels("normalize")


class Connected(Layer):
    kind = "connected"
    aliases = ("conn",)
    summary = "fully connected (dense) layer"
    keys = {
        "output": Key("int", 1, minimum=1, doc="number of outputs (neurons) of the dense layer"),
        "activation": Key("str", "logistic", choices=codes.ACTIVATION_NAMES,
                          doc="applied to W x + b (after batch norm when on)"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation of the outputs before the "
                                             "activation"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        reject_weight_loading_keys(self)
        self.outputs = opts.output
        self.in_shape = tuple(self.input_shapes[0])
        self.inputs = int(np.prod(self.in_shape))
        self.batch_normalize = bool(opts.batch_normalize)
        self.code = codes.activation_code(opts.activation)
        self._cache_key = None
        self._folded = None
        self._saved = None  # training forward -> backward: (batch-norm state, pre-activation)
        self.initialise_params()

    def output_shape(self, input_shapes):
        if tuple(input_shapes[0]) != self.in_shape:
            h, w, c = input_shapes[0]
            hh, ww, cc = self.in_shape
            raise InputError(
                f"{self.origin}: [connected] layer {self.index} takes a {hh}x{ww}x{cc} input "
                f"(fixed by the weights), got {h}x{w}x{c}")
        return (1, 1, self.outputs)

    # --- parameters: darknet (outputs, c*h*w) <-> darkpy (h*w*c, outputs) ------------------
    def _from_darknet(self, w):
        h, wd, c = self.in_shape
        w = np.asarray(w).reshape(self.outputs, c, h * wd)
        return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(h * wd * c, self.outputs))

    def _to_darknet(self, w):
        h, wd, c = self.in_shape
        w = w.reshape(h * wd, c, self.outputs)
        return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(self.outputs, c * h * wd))

    def param_layout(self):
        layout = [("biases", (self.outputs,)), ("weights", (self.outputs, self.inputs))]
        if self.batch_normalize:
            layout += [(name, (self.outputs,))
                       for name in ("scales", "rolling_mean", "rolling_variance")]
        return layout

    def get_param(self, name):
        if name == "weights":
            return self._to_darknet(self.params["weights"])
        return self.params[name]

    def set_param(self, name, value):
        value = self.checked_value(name, value)
        self.params[name] = self._from_darknet(value) if name == "weights" else np.ascontiguousarray(value)
        self.invalidate()

    def invalidate(self):
        """Forget the folded inference weights; call after changing `params` in place."""
        self._cache_key = None
        self._folded = None

    def _inference_params(self, dtype=np.float32):
        key = (tuple(id(a) for a in self.params.values()), np.dtype(dtype))
        if self._cache_key != key or self._folded is None:
            p = self.params
            if self.batch_normalize:
                a, b = normalize.fold_batchnorm(p["scales"], p["rolling_mean"],
                                                p["rolling_variance"], p["biases"])
                w = (p["weights"].astype(np.float64) * a).astype(dtype)
                self._folded = (np.ascontiguousarray(w), b.astype(dtype))
            else:
                self._folded = (np.ascontiguousarray(p["weights"], dtype),
                                p["biases"].astype(dtype))
            self._cache_key = key
        return self._folded

    # --- compute -------------------------------------------------------------------------
    def forward(self, inputs, train=False):
        dtype = compute_dtype(inputs[0])
        x = np.asarray(inputs[0], dtype=dtype)
        self.output_shape([x.shape[1:]])
        if train:
            return self._train_forward(x).reshape(x.shape[0], 1, 1, self.outputs)
        weights, shift = self._inference_params(dtype)
        y = np.ascontiguousarray(x.reshape(x.shape[0], self.inputs) @ weights)
        activations.bias_activate(y, shift, self.code)
        return y.reshape(x.shape[0], 1, 1, self.outputs)

    def _train_forward(self, x):
        dtype = x.dtype
        p = {name: np.ascontiguousarray(v, dtype) for name, v in self.params.items()}
        y = np.ascontiguousarray(x.reshape(x.shape[0], self.inputs) @ p["weights"])
        state = None
        if self.batch_normalize:
            if x.shape[0] < 2:
                raise InputError(f"{self.origin}: [connected] layer {self.index}: batch norm "
                                 "in training needs a batch of at least 2 images")
            y, state = bn.train_forward(y, p["scales"], self.params["rolling_mean"],
                                        self.params["rolling_variance"])
            self.invalidate()
        pre = y + p["biases"] if self.code in codes.NEEDS_INPUT else None
        activations.bias_activate(y, p["biases"], self.code)
        self._saved = (state, pre)
        return y

    def backward(self, delta, inputs, output):
        if self._saved is None:
            raise self.error("backward needs a forward with train=True first")
        state, pre = self._saved
        x = inputs[0]
        dtype = x.dtype
        n = x.shape[0]
        g = np.array(delta, dtype=dtype, order="C").reshape(n, self.outputs)
        activations.activate_gradient(g, np.ascontiguousarray(output, dtype).reshape(n, -1),
                                      pre, self.code)
        self.grad("biases")[...] += g.sum(axis=0)
        if state is not None:
            g, dscales, _ = bn.backward(g, state, self.params["scales"])
            self.grad("scales")[...] += dscales
        x2d = x.reshape(n, self.inputs)
        self.grad("weights")[...] += x2d.T @ g
        dx = g @ np.asarray(self.params["weights"], dtype).T
        return [dx.reshape(x.shape)]

    def describe(self):
        return {"filters": str(self.outputs), "size": ""}

    def flops(self, input_shapes):
        return 2 * self.inputs * self.outputs
