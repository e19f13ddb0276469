"""[convolutional] / [conv]: 2-D convolution, optional batch norm, then an activation.

    out[n, oy, ox, o] = f( bn( b[o] + sum_{ky,kx,c} w[ky, kx, c, o] * x[n, iy, ix, g*cg + c] ) )
    iy = oy*stride_y - pad*dilation + ky*dilation,   ix likewise with stride_x

for output channel o in group g (cg = C/groups input channels per group, taps outside the
image read zero). Geometry as darknet: padding = size/2 when pad=1, else `padding`;

    out_h = (h + 2*padding - size) / stride_y + 1      (C division; out_w likewise)

With dilation d AlexeyAB pads by padding*d but keeps that size formula; the two agree only
when 2*padding = size-1 (the `pad=1` case), so other paddings are rejected with dilation.
batch_normalize=1 applies darknet's inference batch norm (see kernels/normalize.py) instead
of adding `biases` alone: bn(v) = (v - rolling_mean) / (sqrt(rolling_variance) + 1e-6)
* scales + biases.

Parameters are kept as darknet defines them (`params` is the truth, for saving and
training): biases, scales, rolling_mean, rolling_variance (Cout,), and weights stored
(K, K, Cin/groups, Cout) so that im2col rows times the weights reshaped to
(K*K*Cin/groups, Cout) give NHWC output; darknet's (Cout, Cin/groups, K, K) appears only
through get_param/set_param. For inference the batch norm is folded into the weights and a
per-channel shift (cached until parameters change), which moves float rounding by about
1e-7 relative.

activation= is an element-wise function (kernels/activations.py) or one of AlexeyAB's
normalize_channels, normalize_channels_softmax, normalize_channels_softmax_maxval, which
normalise each pixel's channels together (kernels/channel_activations.py; like AlexeyAB, only
[convolutional] accepts them, and their weights start at 1).

binary=1 / xnor=1 binarise the weights (and for xnor the input) at inference; the float weights
stay the parameters. Inference only; see layers/conv_binary.py for the formulas and where
pjreddie's and AlexeyAB's darknet differ (the darkpy key `flavor` picks one).

share_index=i (AlexeyAB): the layer computes with layer i's parameters (weights, biases and,
with batch_normalize, its batch-norm values; i absolute, or relative when negative), found by
link() when the Network builds it. It has no parameters of its own, so it reads and writes
nothing in .weights files (darknet's load_weights skips layers with a share_layer); in
training its gradients add to layer i's.

Algorithms (same result up to rounding): 3x3 stride-1 convolutions over enough pixels use
Winograd F(4x4, 3x3) (kernels/winograd.py; set `Convolutional.winograd = False` or
DARKPY_WINOGRAD=0 to turn it off); groups of very few channels (depthwise) use a direct
kernel; everything else is im2col + GEMM in bounded blocks (kernels/conv2d.py).

Training (train=True) computes z = conv(x) with the unfolded weights (by the same algorithms
in float32, bias and activation fused in when there is no batch norm; kernels/conv_train.py
in float64), then darknet's training batch norm (kernels/batchnorm.py: batch statistics,
rolling values updated) or nothing, then + biases and the activation. With
`darknet_training` (darknet-exact training) a float32 convolution with a linear or leaky
activation computes all of that in darknet's own arithmetic instead, bit for bit
(kernels/conv_darknet.py, kernels/batchnorm_darknet.py; slower than the paths above). Backward, with
g = dL/dy * f'(.) and dL/dz = g or batch norm's backward of it:

    dL/dbiases = sum g,   dL/dW = im2col(x)^T @ dL/dz,   dL/dx = col2im(dL/dz @ W^T)

In float32 (kernels/conv_grad.py, on the worker threads) dL/dW goes through the Winograd
transforms where forward used Winograd (kernels/winograd_grad.py), and for stride 1 dL/dx is
itself a convolution of dL/dz with the flipped, transposed weights (padding
(size-1)*dilation - padding), run by the forward drivers (Winograd or im2col + GEMM). float64
(gradient checks) and the direct grouped kernels keep the plain formulas above.
"""
from __future__ import annotations

import os

import numpy as np

from darkpy.config.common_keys import reject_weight_loading_keys
from darkpy.config.schema import Key
from darkpy.errors import InputError
from darkpy.kernels import activations, conv2d, conv_grad, conv_train, winograd, winograd_grad
from darkpy.kernels import batchnorm as bn
from darkpy.kernels import batchnorm_darknet as bn_darknet
from darkpy.kernels import conv_darknet
from darkpy.kernels.channel_activations import (CHANNEL_ACTIVATION_NAMES, activate_channels,
                                                channel_activation_code, channel_gradient)
from darkpy.kernels.im2col import grouped_conv_direct
from darkpy.kernels.normalize import fold_batchnorm
from darkpy.layers import conv_binary
from darkpy.layers.base import Layer, compute_dtype

_U = dict(used=False)


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _winograd_default() -> bool:
    return os.environ.get("DARKPY_WINOGRAD", "1").strip().lower() not in ("0", "false", "no", "off")


# Winograd needs enough 4x4 tiles to amortise its transformed filters (4x the weights)
WINOGRAD_MIN_TILES = 32
WINOGRAD_MIN_CHANNELS = 8
# groups with fewer (input x output) channels than this use the direct kernel
DIRECT_GROUP_SIZE = 64


class Convolutional(Layer):
    kind = "convolutional"
    aliases = ("conv",)
    winograd = _winograd_default()
    keys = {
        "filters": Key("int", 1, doc="output channels"),
        "size": Key("int", 1, doc="kernel size"),
        "stride": Key("int", 1),
        "stride_x": Key("int", -1, doc="horizontal stride (default: stride)"),
        "stride_y": Key("int", -1, doc="vertical stride (default: stride)"),
        "pad": Key("int", 0, doc="1: padding = size/2"),
        "padding": Key("int", 0, doc="zero padding on each side when pad=0"),
        "groups": Key("int", 1),
        "dilation": Key("int", 1, doc="AlexeyAB; ignored for size=1 as darknet does"),
        "activation": Key("str", "logistic",
                          choices=activations.ACTIVATION_NAMES + CHANNEL_ACTIVATION_NAMES,
                          doc="element-wise, or AlexeyAB's normalize_channels* across channels"),
        "batch_normalize": Key("int", 0),
        "cbn": Key("int", 0, doc="AlexeyAB cross-iteration BN: inference is plain BN"),
        "flipped": Key("int", 0, doc="weights stored transposed in .weights files"),
        "binary": Key("int", 0, doc="binarised weights: mean |w| times sign, per filter "
                                    "(inference only; see layers/conv_binary.py)"),
        "xnor": Key("int", 0, doc="binarised weights and inputs (inference only)"),
        "bin_output": Key("int", 0, doc="AlexeyAB, with xnor: linear activation at inference "
                                        "(flavor=alexeyab)"),
        "flavor": Key("str", "auto", choices=conv_binary.FLAVORS,
                      doc="darkpy: whose CPU xnor computation to follow; auto = alexeyab when "
                          "bin_output is set, else pjreddie (see layers/conv_binary.py)"),
        "antialiasing": Key("int", 0, doc="AlexeyAB blur after the convolution (not supported)"),
        "share_index": Key("int", None, doc="AlexeyAB: use the parameters of that "
                                            "[convolutional] layer (absolute, or relative when "
                                            "negative); this layer has none in .weights files"),
        "coordconv": Key("int", 0, doc="AlexeyAB coordinate channels (not supported)"),
        "assisted_excitation": Key("float", 0.0, **_U, doc="AlexeyAB, training only"),
        "sway": Key("int", 0, **_U, doc="AlexeyAB weight deformation, training only"),
        "rotate": Key("int", 0, **_U, doc="AlexeyAB weight deformation, training only"),
        "stretch": Key("int", 0, **_U, doc="AlexeyAB weight deformation, training only"),
        "stretch_sway": Key("int", 0, **_U, doc="AlexeyAB weight deformation, training only"),
        "angle": Key("float", 15.0, **_U, doc="AlexeyAB weight deformation, training only"),
        "dot": Key("float", 0.0, **_U, doc="training"),
        "grad_centr": Key("int", 0, **_U, doc="AlexeyAB gradient centralisation, training"),
        "reverse": Key("float", 0.0, **_U, doc="AlexeyAB, training"),
        "stream": Key("int", -1, **_U, doc="AlexeyAB CUDA stream"),
        "wait_stream": Key("int", -1, **_U, doc="AlexeyAB CUDA stream"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        for name in ("antialiasing", "coordconv"):
            if opts[name]:
                raise self.error(f"{name}={opts[name]} is not supported")
        reject_weight_loading_keys(self)
        self.filters = opts.filters
        self.size = opts.size
        self.groups = opts.groups
        self.stride_x = opts.stride_x if opts.stride_x >= 1 else opts.stride
        self.stride_y = opts.stride_y if opts.stride_y >= 1 else opts.stride
        self.dilation = 1 if self.size == 1 else opts.dilation
        self.padding = self.size // 2 if opts.pad else opts.padding
        self.batch_normalize = bool(opts.batch_normalize or opts.cbn)
        self.flipped = bool(opts.flipped)
        # the element-wise activation (fused into the convolution kernels) and, for AlexeyAB's
        # normalize_channels*, a channel-wise one applied after it (the element-wise is linear)
        if opts.activation in CHANNEL_ACTIVATION_NAMES:
            self.code = activations.LINEAR
            self.channel_code = channel_activation_code(opts.activation)
        else:
            self.code = activations.activation_code(opts.activation)
            self.channel_code = None
        self.binary = conv_binary.BinarySetup.from_layer(self)  # None unless binary/xnor
        if self.binary is not None and self.binary.groups is not None:
            self.groups = self.binary.groups  # AlexeyAB's XNOR ignores groups
        if min(self.filters, self.size, self.groups, self.stride_x, self.stride_y, self.dilation) < 1:
            raise self.error(
                f"filters, size, groups, strides and dilation must be >= 1 (filters={self.filters} "
                f"size={self.size} groups={self.groups} stride_x={self.stride_x} "
                f"stride_y={self.stride_y} dilation={self.dilation})")
        if self.padding < 0:
            raise self.error(f"padding must be >= 0, got {self.padding}")
        if self.dilation > 1 and 2 * self.padding != self.size - 1:
            raise self.error(
                f"dilation={self.dilation} needs padding = (size-1)/2 (pad=1 with an odd size); "
                f"with padding={self.padding} darknet's output size disagrees with its own "
                "convolution")
        self.channels = self.input_shapes[0][2]
        if self.channels % self.groups or self.filters % self.groups:
            raise self.error(f"groups={self.groups} must divide both the input channels "
                             f"({self.channels}) and filters ({self.filters})")
        self.output_shape(self.input_shapes)
        # AlexeyAB's share_index: the parameters are another layer's (`owner`, set by link())
        self.shares = opts.share_index is not None
        self.owner: Convolutional | None = None
        if not self.shares:
            self._init_params()
        self._version = 0  # counts invalidate() calls: a sharing layer's cache watches it
        self._cache_key = None
        self._folded = None
        self._saved = None  # training forward -> backward: (batch-norm state, pre-activation)

    def link(self, layers):
        """Find the layer whose parameters this one shares (darknet's share_layer)."""
        if not self.shares:
            return
        ref = self.opts.share_index
        target = ref if ref >= 0 else self.index + ref
        if not 0 <= target < self.index:
            raise self.error(f"share_index={ref} (= layer {target}) must name an earlier layer "
                             f"(0..{self.index - 1})")
        owner = layers[target]
        if not isinstance(owner, Convolutional):
            raise self.error(f"share_index={ref}: layer {target} is [{owner.kind}], not "
                             "[convolutional]")
        owner = owner.owner if owner.owner is not None else owner  # a chain shares the first
        mine = (self.size, self.size, self.channels // self.groups, self.filters)
        if owner.params["weights"].shape != mine or owner.channels != self.channels:
            raise self.error(
                f"share_index={ref}: layer {target} has {owner.filters} filters of "
                f"{owner.size}x{owner.size}x{owner.channels // owner.groups} on {owner.channels} "
                f"channels, this layer {self.filters} of {self.size}x{self.size}x"
                f"{self.channels // self.groups} on {self.channels}: they must match")
        if self.batch_normalize and not owner.batch_normalize:
            raise self.error(f"share_index={ref}: this layer has batch_normalize=1 but layer "
                             f"{target} has no batch-norm values to share")
        self.owner = owner

    @property
    def source(self) -> "Convolutional":
        """The layer holding the parameters this one computes with (itself unless shared)."""
        if self.shares and self.owner is None:
            raise self.error("share_index: the shared layer is not linked (build the layer "
                             "through a Network)")
        return self.owner if self.owner is not None else self

    # --- geometry ------------------------------------------------------------------------
    def output_shape(self, input_shapes):
        h, w, _ = input_shapes[0]
        out_h = _c_div(h + 2 * self.padding - self.size, self.stride_y) + 1
        out_w = _c_div(w + 2 * self.padding - self.size, self.stride_x) + 1
        if out_h < 1 or out_w < 1:
            raise self.error(
                f"a {self.size}x{self.size} kernel with padding {self.padding} does not fit a "
                f"{h}x{w} input")
        return (out_h, out_w, self.filters)

    # --- parameters ----------------------------------------------------------------------
    def _init_params(self):
        n, cg, k = self.filters, self.channels // self.groups, self.size
        # darknet's initialisation (uniform in +-sqrt(2 / fan_in)), drawn in float32 straight
        # into darkpy's layout: a weights file or `darkpy train`'s seeded initialise() usually
        # replaces it, and drawing in float64 in darknet's order then transposing made
        # `darkpy info` on a big cfg take seconds. AlexeyAB starts the normalize_channels*
        # convolutions from weights of 1.
        scale = np.float32(np.sqrt(2.0 / (k * k * cg)))
        weights = np.random.default_rng(self.index).random((k, k, cg, n), dtype=np.float32)
        weights *= np.float32(2.0) * scale
        weights -= scale
        if self.channel_code is not None:
            weights[...] = 1
        self.params["biases"] = np.zeros(n, np.float32)
        if self.batch_normalize:
            self.params["scales"] = np.ones(n, np.float32)
            self.params["rolling_mean"] = np.zeros(n, np.float32)
            self.params["rolling_variance"] = np.ones(n, np.float32)
        self.params["weights"] = weights

    def param_layout(self):
        if self.shares:
            return []  # darknet neither loads nor saves a sharing layer's values
        n, cg, k = self.filters, self.channels // self.groups, self.size
        layout = [("biases", (n,))]
        if self.batch_normalize:
            layout += [("scales", (n,)), ("rolling_mean", (n,)), ("rolling_variance", (n,))]
        return layout + [("weights", (n, cg, k, k))]

    def get_param(self, name):
        if name != "weights":
            return self.params[name]
        w = self.params["weights"]  # (K, K, cg, n)
        if self.flipped:  # the file holds the (cg*K*K, n) matrix: (cg, K, K, n)
            return np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(self.param_shape(name))
        return np.ascontiguousarray(w.transpose(3, 2, 0, 1))

    def set_param(self, name, value):
        shape = self.param_shape(name)
        value = np.asarray(value, dtype=self.param_dtype())
        if value.size != int(np.prod(shape)):
            raise ValueError(f"{name}: expected {shape}, got {value.shape}")
        if name == "weights":
            n, cg, k, _ = shape
            if self.flipped:
                value = value.reshape(cg, k, k, n).transpose(1, 2, 0, 3)
            else:
                value = value.reshape(shape).transpose(2, 3, 1, 0)
        self.params[name] = np.ascontiguousarray(value.reshape(self.params[name].shape))
        self.invalidate()

    def param_shape(self, name):
        return dict(self.param_layout())[name]

    def invalidate(self):
        """Forget the folded inference weights; call after changing `params` in place."""
        self._version += 1
        self._cache_key = None
        self._folded = None

    def cache_key(self, *extra):
        """Identifies the parameters derived tensors were computed from: their arrays and,
        for a sharing layer, the owner's invalidate() count."""
        src = self.source
        return (tuple(id(a) for a in src.params.values()), src._version) + extra

    def _inference_params(self):
        """(weights (K,K,cg,n) with batch norm folded in, per-channel shift), cached."""
        key = self.cache_key()
        if self._cache_key != key or self._folded is None:
            p = self.source.params
            if self.batch_normalize:
                a, b = fold_batchnorm(p["scales"], p["rolling_mean"], p["rolling_variance"],
                                      p["biases"])
                w = (p["weights"].astype(np.float64) * a).astype(np.float32)
                shift = b.astype(np.float32)
            else:
                w, shift = p["weights"], p["biases"].astype(np.float32)
            self._folded = {"weights": np.ascontiguousarray(w), "shift": shift}
            self._cache_key = key
        return self._folded

    def _winograd_filters(self, folded):
        u = folded.get("winograd")
        if u is None:
            u = folded["winograd"] = winograd.transform_filters(folded["weights"])
        return u

    # --- compute -------------------------------------------------------------------------
    def algorithm(self, input_shape) -> str:
        """'winograd', 'direct' or 'gemm': how forward computes an input of this shape."""
        n_img, h, w, c = input_shape
        out_h, out_w, _ = self.output_shape([(h, w, c)])
        cg, cog = c // self.groups, self.filters // self.groups
        if self.groups > 1 and cg * cog < DIRECT_GROUP_SIZE:
            return "direct"
        return "winograd" if self._winograd_pays(n_img, out_h, out_w, c) else "gemm"

    def _winograd_pays(self, n_img, out_h, out_w, in_channels) -> bool:
        """Whether this layer's 3x3 stride-1 geometry suits Winograd F(4x4,3x3) for an output
        of n_img x out_h x out_w from in_channels (forward, and the backward's dL/dx, which
        is the same kind of convolution of dz)."""
        tiles = n_img * ((out_h + 3) // 4) * ((out_w + 3) // 4)
        return (self.winograd and self.size == 3 and self.stride_x == 1 and self.stride_y == 1
                and self.dilation == 1 and self.groups == 1 and tiles >= WINOGRAD_MIN_TILES
                and in_channels >= WINOGRAD_MIN_CHANNELS)

    def _checked_input(self, x, dtype):
        x = np.ascontiguousarray(x, dtype)
        if x.shape[3] != self.channels:
            raise InputError(f"{self.origin}: [{self.kind}] layer {self.index} was built for "
                             f"{self.channels} channels, got {x.shape[3]}")
        return x

    def _output(self, x):
        n_img, h, w, c = x.shape
        return np.empty((n_img, *self.output_shape([(h, w, c)])), x.dtype)

    def _activate_channels(self, y2d):
        """The channel-wise activation (normalize_channels*) in place, if the layer has one."""
        if self.channel_code is not None:
            activate_channels(y2d, self.channel_code, out=y2d)

    def forward(self, inputs, train=False):
        if self.binary is not None:
            return conv_binary.forward(self, inputs[0], train)
        if train or compute_dtype(inputs[0]) != np.float32:
            return self._forward_general(inputs[0], train)
        x = self._checked_input(inputs[0], np.float32)
        out = self._output(x)
        cout = self.filters
        folded = self._inference_params()
        weights, shift = folded["weights"], folded["shift"]
        algorithm = self.algorithm(x.shape)
        if algorithm == "winograd":
            conv2d.conv2d_winograd(x, self._winograd_filters(folded), shift, self.code,
                                   self.padding, out)
        elif algorithm == "direct":
            grouped_conv_direct(x, weights, self.groups, self.stride_y, self.stride_x,
                                self.padding * self.dilation, self.dilation, out)
            activations.bias_activate(out.reshape(-1, cout), shift, self.code)
        else:
            conv2d.conv2d_gemm(x, weights.reshape(-1, cout), shift, self.code, self.size,
                               self.stride_y, self.stride_x, self.padding * self.dilation,
                               self.dilation, self.groups, out)
        self._activate_channels(out.reshape(-1, cout))
        return out

    # --- training (and float64) ------------------------------------------------------------
    def _forward_general(self, x, train):
        """Training forward in any float dtype, and inference in float64."""
        dtype = compute_dtype(x)
        x = self._checked_input(x, dtype)
        z = self._output(x)
        cout = self.filters
        src = self.source
        p = src.params
        if not train:
            a, b = fold_batchnorm(p["scales"], p["rolling_mean"], p["rolling_variance"],
                                  p["biases"]) if self.batch_normalize else (1.0, p["biases"])
            self._raw_conv(x, np.ascontiguousarray(p["weights"].astype(np.float64) * a, dtype),
                           z)
            activations.bias_activate(z.reshape(-1, cout), b.astype(dtype), self.code)
            self._activate_channels(z.reshape(-1, cout))
            return z
        if self._darknet_exact(x, dtype):
            return self._forward_darknet(x, z)
        keep_input = self.code in activations.NEEDS_INPUT or self.channel_code is not None
        if dtype == np.float32 and not self.batch_normalize and not keep_input:
            # bias and activation inside the convolution's blocks, while they are in cache
            self._raw_conv(x, np.ascontiguousarray(p["weights"], dtype), z, bias=p["biases"],
                           code=self.code)
            self._saved = (None, None)
            return z
        self._raw_conv(x, np.ascontiguousarray(p["weights"], dtype), z)
        z2d = z.reshape(-1, cout)
        state = None
        if self.batch_normalize:
            if z2d.shape[0] < 2:
                raise InputError(f"{self.origin}: [{self.kind}] layer {self.index}: batch norm "
                                 "in training needs at least 2 output values per channel")
            if self.darknet_training and dtype == np.float32:
                z2d, state = bn_darknet.train_forward(z2d, p["scales"], p["rolling_mean"],
                                                      p["rolling_variance"], z.shape[0])
            else:
                z2d, state = bn.train_forward(z2d, p["scales"].astype(dtype),
                                              p["rolling_mean"], p["rolling_variance"])
            src.invalidate()  # the rolling values changed in place
            self.invalidate()
        biases = p["biases"].astype(dtype)
        pre = z2d + biases if keep_input else None
        activations.bias_activate(z2d, biases, self.code)
        self._activate_channels(z2d)
        self._saved = (state, pre)
        return z2d.reshape(z.shape)

    def _darknet_exact(self, x, dtype) -> bool:
        """Whether this training forward can run in darknet's own arithmetic
        (kernels/conv_darknet.py): float32, darknet_training set, a plain convolution with
        darknet's single stride and a linear or leaky activation."""
        return (self.darknet_training and dtype == np.float32 and self.dilation == 1
                and self.stride_x == self.stride_y and self.channel_code is None
                and self.code in (activations.LINEAR, activations.LEAKY))

    def _forward_darknet(self, x, z):
        """Training forward as darknet computes it, bit for bit: its convolution sums, its
        batch norm (kernels/batchnorm_darknet.py), + biases, its leaky."""
        src = self.source
        p = src.params
        weights = np.ascontiguousarray(p["weights"].transpose(3, 2, 0, 1))
        conv_darknet.conv_forward(x, weights, self.stride_x, self.padding, self.groups, z)
        z2d = z.reshape(-1, self.filters)
        state = None
        if self.batch_normalize:
            if z2d.shape[0] < 2:
                raise InputError(f"{self.origin}: [{self.kind}] layer {self.index}: batch norm "
                                 "in training needs at least 2 output values per channel")
            z2d, state = bn_darknet.train_forward(z2d, p["scales"], p["rolling_mean"],
                                                  p["rolling_variance"], z.shape[0])
            src.invalidate()  # the rolling values changed in place
            self.invalidate()
        z2d += p["biases"].astype(np.float32)
        if self.code == activations.LEAKY:
            conv_darknet.leaky(z2d)
        self._saved = (state, None)
        return z2d.reshape(z.shape)

    def _raw_conv(self, x, weights, out, exact=False, bias=None, code=activations.LINEAR):
        """out = conv(x, weights), no bias or activation unless given (float32 only): in
        float32 by the algorithm inference would pick, otherwise by the dtype-generic
        training kernels. exact=True avoids Winograd, whose transforms round: sums of small
        integers (binarised convolutions) then come out exact."""
        pad = self.padding * self.dilation
        if x.dtype != np.float32:
            conv_train.conv_forward(x, weights, self.groups, self.stride_y, self.stride_x, pad,
                                    self.dilation, out)
            return
        algorithm = self.algorithm(x.shape)
        if algorithm == "winograd" and not exact:
            conv2d.conv2d_winograd(x, winograd_grad.transform_filters(weights), bias, code,
                                   self.padding, out)
        elif algorithm == "direct":
            grouped_conv_direct(x, weights, self.groups, self.stride_y, self.stride_x, pad,
                                self.dilation, out)
            if bias is not None or code != activations.LINEAR:
                activations.bias_activate(out.reshape(-1, self.filters), bias, code)
        else:
            conv2d.conv2d_gemm(x, weights.reshape(-1, self.filters), bias, code, self.size,
                               self.stride_y, self.stride_x, pad, self.dilation, self.groups,
                               out)

    def backward(self, delta, inputs, output):
        if self.binary is not None:
            raise self.error("binary=1 / xnor=1 convolutions are inference only: darkpy has "
                             "no backward for binarised weights or inputs")
        if self._saved is None:
            raise self.error("backward needs a forward with train=True first")
        state, pre = self._saved
        dtype = compute_dtype(inputs[0])
        x = np.ascontiguousarray(inputs[0], dtype)
        cout = self.filters
        src = self.source  # a sharing layer adds its gradients to the owner's
        y2d = np.ascontiguousarray(output, dtype).reshape(-1, cout)
        if self.channel_code is not None or dtype != np.float32:
            g = np.array(delta, dtype=dtype, order="C").reshape(-1, cout)
            if self.channel_code is not None:
                channel_gradient(g, y2d, pre, self.channel_code)
            else:
                activations.activate_gradient(g, y2d, pre, self.code)
            bias_grad = bn.channel_sum(g)
        else:
            g, bias_grad = conv_grad.activation_gradient_sum(
                np.ascontiguousarray(delta, np.float32).reshape(-1, cout), y2d, pre, self.code)
        if isinstance(state, bn_darknet.DarknetBatchNormState):
            g, dscales, bias_grad = bn_darknet.backward(g, state, src.params["scales"])
            src.grad("scales")[...] += dscales
        elif state is not None:
            g, dscales, _ = bn.backward(g, state, src.params["scales"])
            src.grad("scales")[...] += dscales
        src.grad("biases")[...] += bias_grad
        dz = g.reshape(output.shape)
        weights = np.ascontiguousarray(src.params["weights"], dtype)
        pad = self.padding * self.dilation
        if dtype != np.float32 or self.algorithm(x.shape) == "direct":
            # float64 (gradient checks) and many tiny groups: the simple kernels
            return [conv_train.conv_backward(x, weights, dz, self.groups, self.stride_y,
                                             self.stride_x, pad, self.dilation,
                                             src.grad("weights"))]
        return [self._backward_float32(x, weights, dz, src.grad("weights"))]

    def _backward_float32(self, x, weights, dz, dw):
        """dw += dL/dw and return dL/dx, on the worker threads (kernels/conv_grad.py):
        dL/dw through Winograd when forward used it, else im2col + GEMM; for stride 1,
        dL/dx as the convolution of dz with the flipped weights (Winograd or GEMM, as a
        forward would), else by col2im."""
        pad = self.padding * self.dilation
        back_pad = conv_grad.input_grad_padding(self.size, pad, self.dilation)
        if self.stride_x != 1 or self.stride_y != 1 or back_pad < 0:
            # dL/dx is no plain convolution of dz: col2im, with dL/dw from the same GEMMs
            dx = np.zeros_like(x)
            conv_grad.conv_backward_gemm(x, weights, dz, self.groups, self.stride_y,
                                         self.stride_x, pad, self.dilation, dw, dx)
            return dx
        if self.algorithm(x.shape) == "winograd":
            conv_grad.weight_grad_winograd(x, dz, self.padding, dw)
        else:
            conv_grad.conv_backward_gemm(x, weights, dz, self.groups, 1, 1, pad,
                                         self.dilation, dw)
        flipped = conv_grad.flipped_weights(weights, self.groups)
        dx = np.empty_like(x)
        n_img, h, w, _ = x.shape
        if self._winograd_pays(n_img, h, w, self.filters):
            conv2d.conv2d_winograd(dz, winograd_grad.transform_filters(flipped), None,
                                   activations.LINEAR, back_pad, dx)
        else:
            conv2d.conv2d_gemm(dz, flipped.reshape(-1, self.channels), None,
                               activations.LINEAR, self.size, 1, 1, back_pad, self.dilation,
                               self.groups, dx)
        return dx

    # --- description ---------------------------------------------------------------------
    def describe(self):
        stride = (str(self.stride_x) if self.stride_x == self.stride_y
                  else f"{self.stride_x}x{self.stride_y}")
        size = f"{self.size}x{self.size}/{stride}"
        if self.dilation > 1:
            size += f" d{self.dilation}"
        filters = str(self.filters) if self.groups == 1 else f"{self.filters}/{self.groups}"
        if self.binary is not None:
            size += " xnor" if self.binary.xnor else " bin"
        if self.shares:
            size += f" shares {self.source.index}" if self.owner is not None else " shared"
        return {"filters": filters, "size": size}

    def flops(self, input_shapes):
        out_h, out_w, cout = self.output_shape(input_shapes)
        cg = input_shapes[0][2] // self.groups
        return 2 * self.size * self.size * cg * cout * out_h * out_w
