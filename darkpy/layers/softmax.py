"""[softmax] / [soft]: darknet's softmax over the flattened CHW input.

Each image's CHW buffer (length n = h*w*c) is cut into `groups` consecutive chunks of n/groups
values and every chunk gets
    out_i = exp(x_i/T - max/T) / sum_j exp(x_j/T - max/T)       (T = temperature)
With groups=1 that is one softmax over all values (a classifier after [avgpool]); a chunk is
a run of the CHW buffer, so when h*w > 1 it spans whole channel planes, not pixels.

spatial=1 is a softmax over channels at every pixel (temperature 1). darknet computes it only
on the GPU, its CPU path ignoring `spatial`; darkpy follows the GPU, the intended meaning.

tree=<file> (YOLO9000's data/9k.tree) replaces all that by darknet's hierarchical softmax: the
CHW buffer's first n values (n = the tree's nodes) get one softmax per group of siblings, with
the temperature; values past n are 0 (layers/tree.py, which also says where the file is looked
for). `groups` and `spatial` are then ignored, as in darknet.

Backward, per chunk (or per pixel with spatial=1, where T = 1; per tree group with a tree):
    dx_i = y_i (delta_i - sum_j delta_j y_j) / T

Training as darknet trains (darkpy.train.darknet; layers/truth_loss.py): given truth t (the
one-hot class vector of each image) and unless noloss=1, the forward computes darknet's
softmax_x_ent: l.delta = t - y and l.cost = the sum of -log(y_i) over the values with t_i != 0.
darknet's backward hands its delta to the layer before unchanged, without the softmax
Jacobian: for groups=1 and T=1 that is the true gradient of the cross-entropy with respect
to x (dL/dx = y - t), otherwise it is not (darknet's formula, reproduced as it is). The
gradient a [cost] after this layer sends back is passed on unchanged as well (darknet adds
it to this layer's delta): softmax + [cost] type=sse trains with (1 + scale)(y - t). With a
tree, truth values equal to -1234 (darknet's SECRET_NUM: groups of the hierarchy the label
says nothing about) get no delta and no error, as darknet's GPU masks them (its CPU path
does not mask, and trains on t = -1234).
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import TRAINING, Key
from darkpy.layers.base import Layer
from darkpy.layers.tree import load_tree, tree_softmax, tree_softmax_grad
from darkpy.layers.truth_loss import TruthLoss

SECRET_NUM = np.float32(-1234)  # darknet: "no truth for this value"


def _softmax_last_axis(x: np.ndarray, temperature: np.float32) -> np.ndarray:
    largest = x.max(axis=-1, keepdims=True)
    e = np.exp(x / temperature - largest / temperature)
    dtype = np.float64 if x.dtype == np.float64 else np.float32  # float64: gradient checks
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype, copy=False)


def _softmax_grad_last_axis(delta: np.ndarray, y: np.ndarray, temperature) -> np.ndarray:
    dot = (delta * y).sum(axis=-1, keepdims=True)
    return y * (delta - dot) / temperature


class Softmax(TruthLoss, Layer):
    kind = "softmax"
    aliases = ("soft",)
    summary = "softmax over the input (or per pixel, or a class tree)"
    keys = {
        "groups": Key("int", 1, minimum=1, doc="independent softmaxes over consecutive CHW "
                                               "chunks"),
        "temperature": Key("float", 1.0, doc="divides the inputs: higher is softer"),
        "tree": Key("str", None, doc="hierarchy file (YOLO9000's data/9k.tree): a softmax "
                                     "per group of siblings"),
        "spatial": Key("float", 0.0, doc="1: softmax over channels at each pixel (darknet: "
                                         "GPU only)"),
        "noloss": Key("int", 0, phase=TRAINING,
                      doc="1: no cost computed from this layer"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.groups = opts.groups
        self.temperature = np.float32(opts.temperature)
        self.spatial = bool(opts.spatial)
        self.tree = (load_tree(opts.tree, origin, f"{origin}: [{self.kind}] layer {index}")
                     if opts.tree else None)
        if self.temperature == 0:
            raise self.error("temperature must not be 0")
        if self.spatial and self.tree is None and (self.groups != 1 or self.temperature != 1):
            raise self.error("spatial softmax takes neither groups nor temperature")
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        if self.tree is not None:
            if h * w * c < self.tree.n:
                raise self.error(f"the tree {self.tree.path} has {self.tree.n} nodes but the "
                                 f"layer gets {h}x{w}x{c} = {h * w * c} values")
            return (h, w, c)
        if not self.spatial and (h * w * c) % self.groups:
            raise self.error(f"{h}x{w}x{c} = {h * w * c} inputs are not divisible by groups={self.groups}")
        return (h, w, c)

    def forward(self, inputs, train=False):
        self._start_loss()
        out = self._softmax(inputs[0])
        if train and self._truth is not None:
            if self.opts.noloss:
                self.loss_report = {"cost": 0.0}  # darknet counts the layer's (unset) cost of 0
            else:
                self._cross_entropy(out)
        return out

    def _softmax(self, x):
        self.output_shape([x.shape[1:]])
        if self.tree is not None:
            return self._chw(tree_softmax(self._flat(x), self.tree, self.temperature), x.shape)
        if self.spatial:
            return np.ascontiguousarray(_softmax_last_axis(x, np.float32(1)))
        n, h, w, c = x.shape
        chunks = x.transpose(0, 3, 1, 2).reshape(n, self.groups, -1)
        out = _softmax_last_axis(chunks, self.temperature)
        return np.ascontiguousarray(out.reshape(n, c, h, w).transpose(0, 2, 3, 1))

    def _cross_entropy(self, out):
        """darknet's softmax_x_ent against the truth (module docstring), float32 as in C."""
        t = self._truth_like(out)
        y = np.asarray(out, np.float32)
        delta = t - y
        with np.errstate(divide="ignore"):
            errors = np.where(t != 0, -np.log(y.astype(np.float64)), 0.0).astype(np.float32)
        if self.tree is not None:
            unknown = t == SECRET_NUM
            delta[unknown] = 0
            errors[unknown] = 0
        self._finish_loss(delta, errors)

    @staticmethod
    def _flat(a):
        """Each image's CHW buffer, (n, h*w*c)."""
        return a.transpose(0, 3, 1, 2).reshape(a.shape[0], -1)

    @staticmethod
    def _chw(flat, shape):
        n, h, w, c = shape
        return np.ascontiguousarray(flat.reshape(n, c, h, w).transpose(0, 2, 3, 1))

    def backward(self, delta, inputs, output):
        if self.darknet_training or self.has_loss():
            # darknet's backward: l.delta (its own plus what later layers added) unchanged
            grad = np.zeros(output.shape, output.dtype) if delta is None else \
                np.array(delta, output.dtype)
            if self.has_loss():
                grad -= self._loss_delta.astype(grad.dtype)
            return [grad]
        return self._jacobian_backward(delta, output)

    def _jacobian_backward(self, delta, output):
        if self.tree is not None:
            grad = tree_softmax_grad(self._flat(delta), self._flat(output), self.tree,
                                     self.temperature)
            return [self._chw(grad, output.shape)]
        if self.spatial:
            return [np.ascontiguousarray(_softmax_grad_last_axis(delta, output, 1))]
        n, h, w, c = output.shape

        def chunks(a):
            return a.transpose(0, 3, 1, 2).reshape(n, self.groups, -1)

        grad = _softmax_grad_last_axis(chunks(delta), chunks(output), self.temperature)
        return [np.ascontiguousarray(grad.reshape(n, c, h, w).transpose(0, 2, 3, 1))]

    def flops(self, input_shapes):
        h, w, c = input_shapes[0]
        return 5 * h * w * c  # about five operations per value (max, scale, exp, sum, divide)
