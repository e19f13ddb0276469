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

Algorithms (same result up to rounding): kernels/conv/dispatch.py picks one rule for every
convolution the layer runs: Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions over enough
pixels (set `Convolutional.winograd = False` or DARKPY_WINOGRAD=0 to turn it off), a direct
kernel for groups of very few channels (depthwise), im2col + GEMM in bounded blocks for
everything else. Inference convolves with the batch-norm-folded weights, the bias and the
activation fused in; those weights and their Winograd transform or GEMM packing are derived
tensors, cached until the parameters change (`derived`, `invalidate`).

Training (train=True) computes z = conv(x) with the unfolded weights (the same algorithms in
float32, bias and activation fused in when there is no batch norm; the plain formulas of
kernels/conv/reference.py in float64), then darknet's training batch norm
(kernels/batchnorm.py: batch statistics, rolling values updated) or nothing, then + biases
and the activation. Detector training sets `darknet_training` (darkpy.train.darknet.step):
"fast" keeps the convolution above and runs darknet's batch-norm formulas with the bias
and activation fused in, in float64 sums (kernels/batchnorm_fast.py); "exact" computes a
float32 convolution with a linear or leaky activation in darknet's own arithmetic, bit for
bit: dispatch's `darknet` algorithm (kernels/conv/darknet.py), darknet's batch norm
(kernels/batchnorm_darknet.py) and leaky; far slower. Other layers under exact training
avoid Winograd (equal patches keep equal sums, so max-pool ties stay ties) and use
darknet's batch norm. Backward, with g = dL/dy * f'(.) and dL/dz = g or batch norm's
backward of it (`backward_params` skips dL/dx where nobody needs it: the first layer):

    dL/dbiases = sum g,   dL/dW = im2col(x)^T @ dL/dz,   dL/dx = col2im(dL/dz @ W^T)

In float32 (kernels/conv/training.py, on the worker threads) dL/dW goes through the Winograd
transforms where forward used Winograd (kernels/conv/winograd_grad.py), and for stride 1
dL/dx is itself a convolution of dL/dz with the flipped, transposed weights (padding
(size-1)*dilation - padding), chosen and run as a forward would be. float64 (gradient
checks) and the direct grouped kernels keep the plain formulas above.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.common_keys import reject_weight_loading_keys
from darkpy.config.schema import ALEXEYAB, DARKPY, RUNTIME, TRAINING, Key
from darkpy.errors import InputError
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.activation_codes import CHANNEL_ACTIVATION_NAMES, channel_activation_code
from darkpy.kernels.conv import dispatch  # plain Python: the rule that picks an algorithm
from darkpy.kernels.lazy import kernels
from darkpy.layers import conv_binary
from darkpy.layers.base import Layer, compute_dtype

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
bn = kernels("batchnorm")
bn_darknet = kernels("batchnorm_darknet")
bn_fast = kernels("batchnorm_fast")
channel_activations = kernels("channel_activations")
conv_darknet = kernels("conv.darknet")
conv_training = kernels("conv.training")
normalize = kernels("normalize")
recycle = kernels("recycle")

_T = dict(used=False, phase=TRAINING)  # read by darknet's training only
_R = dict(used=False, phase=RUNTIME)  # darknet's GPU scheduling


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class Convolutional(Layer):
    kind = "convolutional"
    aliases = ("conv",)
    summary = "2-D convolution, optional batch norm, activation"
    winograd = dispatch.winograd_enabled_by_default()  # DARKPY_WINOGRAD=0 turns it off
    keys = {
        "filters": Key("int", 1, doc="output channels (number of kernels)"),
        "size": Key("int", 1, doc="kernel size (size x size)"),
        "stride": Key("int", 1, doc="step of the kernel in both directions"),
        "stride_x": Key("int", -1, fork=ALEXEYAB, default_text="stride",
                        doc="horizontal step of the kernel"),
        "stride_y": Key("int", -1, fork=ALEXEYAB, default_text="stride",
                        doc="vertical step of the kernel"),
        "pad": Key("int", 0, doc="1: zero padding = size/2, so stride 1 keeps the size "
                                 "(overrides padding)"),
        "padding": Key("int", 0, doc="zero padding on each side when pad=0"),
        "groups": Key("int", 1, doc="grouped convolution: channels split into this many "
                                    "independent groups (depthwise when = input channels)"),
        "dilation": Key("int", 1, fork=ALEXEYAB,
                        doc="spacing between kernel taps (ignored for size=1, as darknet does)"),
        "activation": Key("str", "logistic",
                          choices=codes.ACTIVATION_NAMES + CHANNEL_ACTIVATION_NAMES,
                          doc="applied after bias or batch norm; normalize_channels* (AlexeyAB) "
                              "normalise across channels"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation (scales, running mean and "
                                             "variance) before the activation"),
        "cbn": Key("int", 0, fork=ALEXEYAB, phase=TRAINING,
                   doc="1: cross-iteration batch norm statistics in training; inference is "
                       "plain batch norm"),
        "flipped": Key("int", 0, doc="1: .weights files store the kernels transposed "
                                     "(input and output channels swapped)"),
        "binary": Key("int", 0, doc="1: binarised weights, sign(w) times the mean |w| of the "
                                    "filter (see layers/conv_binary.py)"),
        "xnor": Key("int", 0, doc="1: binarised weights and binarised inputs (XNOR-net)"),
        "bin_output": Key("int", 0, fork=ALEXEYAB,
                          doc="with xnor: the output stays binary for the next xnor layer "
                              "(linear activation at inference)"),
        "flavor": Key("str", "auto", choices=conv_binary.FLAVORS, fork=DARKPY,
                      doc="whose CPU xnor arithmetic to follow; auto = alexeyab when "
                          "bin_output is set, else pjreddie"),
        "antialiasing": Key("int", 0, fork=ALEXEYAB,
                            doc="1: blur after a strided convolution (anti-aliased "
                                "downsampling); darkpy: not supported"),
        "share_index": Key("int", None, fork=ALEXEYAB, default_text="none",
                           doc="use the weights of that [convolutional] layer (negative: "
                               "relative); this layer has none in .weights files"),
        "coordconv": Key("int", 0, fork=ALEXEYAB,
                         doc="1: output channels 0-2 replaced by x, y and radius coordinates "
                             "(GPU only); darkpy: not supported"),
        "assisted_excitation": Key("float", 0.0, fork=ALEXEYAB, **_T,
                                   doc="boosts activations inside ground-truth boxes early "
                                       "in training"),
        "sway": Key("int", 0, fork=ALEXEYAB, **_T,
                    doc="1: filters trained as rotated copies (sway, flip) of each other"),
        "rotate": Key("int", 0, fork=ALEXEYAB, **_T,
                      doc="1: filters trained as 90-degree rotations of each other"),
        "stretch": Key("int", 0, fork=ALEXEYAB, **_T,
                       doc="1: filters trained as stretched copies of each other"),
        "stretch_sway": Key("int", 0, fork=ALEXEYAB, **_T,
                            doc="1: filters trained as stretched and rotated copies"),
        "angle": Key("float", 15.0, fork=ALEXEYAB, **_T,
                     doc="rotation angle in degrees for sway and stretch_sway"),
        "dot": Key("float", 0.0, **_T, doc="filter-decorrelation penalty (its call is "
                                           "commented out in both darknets: no effect)"),
        "grad_centr": Key("int", 0, fork=ALEXEYAB, **_T,
                          doc="1: gradient centralisation of the weights (with batch norm)"),
        "reverse": Key("float", 0.0, fork=ALEXEYAB, **_T,
                       doc="experimental inverse scaling of the weight updates"),
        "stream": Key("int", -1, fork=ALEXEYAB, **_R, doc="CUDA stream to run this layer on"),
        "wait_stream": Key("int", -1, fork=ALEXEYAB, **_R,
                           doc="CUDA stream to wait for before this layer"),
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
            self.code = codes.LINEAR
            self.channel_code = channel_activation_code(opts.activation)
        else:
            self.code = codes.activation_code(opts.activation)
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
        self.geometry = dispatch.Geometry(self.size, self.stride_y, self.stride_x,
                                          self.padding * self.dilation, self.dilation, self.groups)
        # AlexeyAB's share_index: the parameters are another layer's (`owner`, set by link())
        self.shares = opts.share_index is not None
        self.owner: Convolutional | None = None
        self._version = 0  # counts invalidate() calls: a sharing layer's cache watches it
        self._derived_key = None
        self._derived: dict = {}
        self._saved = None  # training forward -> backward: (batch-norm state, pre-activation)
        self.initialise_params()

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
        theirs = (owner.size, owner.size, owner.channels // owner.groups, owner.filters)
        if theirs != mine or owner.channels != self.channels:
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
    def initial_value(self, name, shape, rng):
        if name == "weights" and self.channel_code is not None:
            return np.ones(shape, np.float32)  # AlexeyAB starts normalize_channels* from 1
        return super().initial_value(name, shape, rng)

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
        value = self.checked_value(name, value)
        if name == "weights":  # darknet (n, cg, K, K) -> darkpy (K, K, cg, n)
            n, cg, k, _ = value.shape
            if self.flipped:  # the file holds the (cg*K*K, n) matrix
                value = value.reshape(cg, k, k, n).transpose(1, 2, 0, 3)
            else:
                value = value.transpose(2, 3, 1, 0)
        self.params[name] = np.ascontiguousarray(value)
        self.invalidate()

    def param_shape(self, name):
        return dict(self.param_layout())[name]

    def invalidate(self):
        """Forget the derived tensors (folded batch norm, Winograd filters, packed weights,
        binarised weights); call after changing `params` in place."""
        self._version += 1
        self._derived_key = None
        self._derived = {}

    def cache_key(self, *extra):
        """Identifies the parameters derived tensors were computed from: their arrays and,
        for a sharing layer, the owner's invalidate() count."""
        src = self.source
        return (tuple(id(a) for a in src.params.values()), src._version) + extra

    def derived(self, name, compute):
        """The tensor `compute()` derives from the parameters, cached under `name` until they
        change (folded batch norm, Winograd filters, layers/conv_binary.py's binarised
        weights)."""
        key = self.cache_key()
        if self._derived_key != key:
            self._derived, self._derived_key = {}, key
        value = self._derived.get(name)
        if value is None:
            value = self._derived[name] = compute()
        return value

    def _folded(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(weights (K,K,cg,n) with inference batch norm folded in, per-channel shift)."""

        def fold():
            p = self.source.params
            if not self.batch_normalize:
                return np.ascontiguousarray(p["weights"], dtype), p["biases"].astype(dtype)
            a, b = normalize.fold_batchnorm(p["scales"], p["rolling_mean"],
                                            p["rolling_variance"], p["biases"])
            return np.ascontiguousarray(p["weights"].astype(np.float64) * a, dtype), b.astype(dtype)

        return self.derived(("folded", np.dtype(dtype).str), fold)

    # --- compute -------------------------------------------------------------------------
    def algorithm(self, input_shape) -> str:
        """'winograd', 'direct' or 'gemm': how this layer convolves an NHWC input of this
        shape (kernels/conv/dispatch.py's one rule)."""
        return dispatch.choose(self.geometry, input_shape, self.filters, self.winograd)

    def checked_input(self, x, dtype=None) -> np.ndarray:
        """x as a C-contiguous array of `dtype` (default: the dtype the layer computes in for
        it); InputError unless it has the channels the layer was built for."""
        x = np.ascontiguousarray(x, compute_dtype(np.asarray(x)) if dtype is None else dtype)
        if x.shape[3] != self.channels:
            raise InputError(f"{self.origin}: [{self.kind}] layer {self.index} was built for "
                             f"{self.channels} channels, got {x.shape[3]}")
        return x

    def new_output(self, x) -> np.ndarray:
        """An uninitialised output array for input x, in x's dtype (one a finished layer
        freed, inside Network.forward: kernels/recycle.py)."""
        n_img, h, w, c = x.shape
        return recycle.empty((n_img, *self.output_shape([(h, w, c)])), x.dtype)

    def convolve(self, x, weights, out, bias=None, code=codes.LINEAR, exact=False,
                 cached=None, algorithm=None, residual=None) -> np.ndarray:
        """out = f(conv(x, weights) + bias) with this layer's geometry and algorithm(), for
        any weights of the layer's shape (K, K, cg, n); returns out. exact=True avoids
        Winograd, whose transforms round: sums of small integers (binarised convolutions)
        then come out exact. `cached` names `weights` among the derived tensors, so that
        what the kernels derive from them (their Winograd transform, their GEMM packing) is
        kept with them. `algorithm` overrides algorithm()
        (darknet-exact training asks for dispatch.DARKNET). `residual`: see
        dispatch.forward."""
        algorithm = algorithm or self.algorithm(x.shape)
        derive = None
        if cached is not None:
            def derive(name, compute):
                return self.derived((cached, name), compute)
        return dispatch.forward(x, weights, out, self.geometry, algorithm, bias, code, derive,
                                exact, residual)

    def _activate_channels(self, y2d):
        """The channel-wise activation (normalize_channels*) in place, if the layer has one."""
        if self.channel_code is not None:
            channel_activations.activate_channels(y2d, self.channel_code, out=y2d)

    def forward(self, inputs, train=False):
        if self.binary is not None:
            return conv_binary.forward(self, inputs[0], train)
        x = self.checked_input(inputs[0])
        if train:
            return self._train_forward(x)
        weights, shift = self._folded(x.dtype)
        out = self.convolve(x, weights, self.new_output(x), shift, self.code,
                            cached=("folded", x.dtype.str))
        self._activate_channels(out.reshape(-1, self.filters))
        return out

    def forward_residual(self, inputs, other, alpha, beta, code, train=False):
        """forward(inputs, train) finished by a shortcut, g(alpha * forward + beta * other)
        (g the activation `code`), computed in the convolution's own blocks where it can
        (Network.forward asks for this when a [shortcut] is this layer's only consumer), so
        the output is written once instead of twice. The same bits as forward then the
        shortcut. None where the layer cannot: binarised, a channel-wise activation, or
        `other` not of the output's shape; in training also unless backward loses nothing by
        it: float32, no batch norm, trained the plain way (not in a darknet's order), a
        linear activation (whose gradient reads no output) and a linear shortcut."""
        if self.binary is not None or self.channel_code is not None:
            return None
        x = self.checked_input(inputs[0])
        if train and not (x.dtype == np.float32 and not self.batch_normalize
                          and self.code == codes.LINEAR and code == codes.LINEAR
                          and not self._darknet_exact(x.dtype)
                          and not self._darknet_fast(x.dtype)):
            return None
        out = self.new_output(x)
        if out.shape != other.shape or other.dtype != x.dtype:
            return None
        residual = (np.ascontiguousarray(other), alpha, beta, code)
        if train:
            p = self.source.params
            self.convolve(x, np.ascontiguousarray(p["weights"], x.dtype), out, p["biases"],
                          self.code, exact=self.darknet_exact, residual=residual)
            self._saved = (None, None)
            return out
        weights, shift = self._folded(x.dtype)
        return self.convolve(x, weights, out, shift, self.code, cached=("folded", x.dtype.str),
                             residual=residual)

    # --- training --------------------------------------------------------------------------
    def _train_forward(self, x):
        """Training forward (any float dtype): batch statistics, and what backward needs."""
        dtype = x.dtype
        src = self.source
        p = src.params
        z = self.new_output(x)
        cout = self.filters
        weights = np.ascontiguousarray(p["weights"], dtype)
        if self._darknet_exact(dtype):
            return self._train_forward_darknet(x, weights, z)
        if self._darknet_fast(dtype):
            return self._train_forward_fast(x, weights, z)
        # darknet's GEMM gives equal patches equal sums, so max-pool ties stay ties (Winograd's
        # position-dependent rounding would break them and route gradients elsewhere)
        exact = self.darknet_exact
        keep_input = self.code in codes.NEEDS_INPUT or self.channel_code is not None
        if dtype == np.float32 and not self.batch_normalize and not keep_input:
            # bias and activation inside the convolution's blocks, while they are in cache
            self.convolve(x, weights, z, p["biases"], self.code, exact=exact)
            self._saved = (None, None)
            return z
        self.convolve(x, weights, z, exact=exact)
        z2d = z.reshape(-1, cout)
        state = None
        if self.batch_normalize:
            if z2d.shape[0] < 2:
                raise InputError(f"{self.origin}: [{self.kind}] layer {self.index}: batch norm "
                                 "in training needs at least 2 output values per channel")
            if self.darknet_training and dtype == np.float32:
                z2d, state = bn_darknet.train_forward(z2d, p["scales"], p["rolling_mean"],
                                                      p["rolling_variance"], z.shape[0],
                                                      self.darknet_flavor)
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

    def _darknet_exact(self, dtype) -> bool:
        """Whether this training forward can run in darknet's own arithmetic: darknet_training
        set, a convolution dispatch's `darknet` algorithm computes (float32, undilated, one
        stride) and a linear or leaky activation."""
        return (self.darknet_exact and dispatch.darknet_supports(self.geometry, dtype)
                and self.channel_code is None
                and self.code in (codes.LINEAR, codes.LEAKY))

    def _alexeyab_order(self, dtype) -> bool:
        """Whether this backward repeats AlexeyAB's CPU build's float sums (exact training of
        his lineage; kernels/conv/darknet.py conv_backward): pjreddie's are not imitated."""
        return self._darknet_exact(dtype) and self.darknet_flavor.startswith("alexeyab")

    def _darknet_fast(self, dtype) -> bool:
        """Whether this training forward takes the fast path of darknet's formulas: fast
        detector training, float32, batch norm and an element-wise activation."""
        return (self.darknet_training and not self.darknet_exact and dtype == np.float32
                and self.batch_normalize and self.channel_code is None)

    def _train_forward_fast(self, x, weights, z):
        """darknet's training batch norm formulas in fast arithmetic, the bias and activation
        fused in (kernels/batchnorm_fast.py); the convolution as at inference."""
        src = self.source
        p = src.params
        self.convolve(x, weights, z)
        z2d = z.reshape(-1, self.filters)
        if z2d.shape[0] < 2:
            raise InputError(f"{self.origin}: [{self.kind}] layer {self.index}: batch norm "
                             "in training needs at least 2 output values per channel")
        y = self.new_output(x)
        state = bn_fast.train_forward(z2d, p["scales"], p["biases"], p["rolling_mean"],
                                      p["rolling_variance"], self.code, y.reshape(z2d.shape),
                                      alexeyab=self.darknet_flavor.startswith("alexeyab"))
        src.invalidate()  # the rolling values changed in place
        self.invalidate()
        self._saved = (state, None)
        return y

    def _train_forward_darknet(self, x, weights, z):
        """Training forward as darknet computes it, bit for bit: its convolution sums, its
        batch norm (kernels/batchnorm_darknet.py), + biases, its leaky."""
        src = self.source
        p = src.params
        self.convolve(x, weights, z, algorithm=dispatch.DARKNET)
        z2d = z.reshape(-1, self.filters)
        state = None
        if self.batch_normalize:
            if z2d.shape[0] < 2:
                raise InputError(f"{self.origin}: [{self.kind}] layer {self.index}: batch norm "
                                 "in training needs at least 2 output values per channel")
            z2d, state = bn_darknet.train_forward(z2d, p["scales"], p["rolling_mean"],
                                                  p["rolling_variance"], z.shape[0],
                                                  self.darknet_flavor)
            src.invalidate()  # the rolling values changed in place
            self.invalidate()
        z2d += p["biases"].astype(np.float32)
        if self.code == codes.LEAKY:
            conv_darknet.leaky(z2d)
        self._saved = (state, None)
        return z2d.reshape(z.shape)

    def backward(self, delta, inputs, output):
        return [self._backward(delta, inputs, output, True)]

    def backward_params(self, delta, inputs, output):
        self._backward(delta, inputs, output, False)  # dL/dx skipped: a third of the work

    def _backward(self, delta, inputs, output, input_gradient: bool):
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
        if isinstance(state, bn_fast.FastBatchNormState):
            if state.xn is None:
                raise self.error("backward runs once per training forward")
            g, dscales, bias_grad = bn_fast.backward(
                np.ascontiguousarray(delta, np.float32).reshape(-1, cout), y2d, state,
                src.params["scales"], src.params["biases"], self.code)
            src.grad("scales")[...] += dscales
            state = None
        elif self.channel_code is not None or dtype != np.float32:
            g = np.array(delta, dtype=dtype, order="C").reshape(-1, cout)
            if self.channel_code is not None:
                channel_activations.channel_gradient(g, y2d, pre, self.channel_code)
            else:
                activations.activate_gradient(g, y2d, pre, self.code)
            bias_grad = bn.channel_sum(g)
        else:
            # no batch norm: nothing below writes to g, so a linear one may be delta itself
            g, bias_grad = conv_training.activation_gradient_sum(
                np.ascontiguousarray(delta, np.float32).reshape(-1, cout), y2d, pre, self.code,
                share=state is None)
        in_order = self._alexeyab_order(dtype)
        if in_order and state is None:
            bias_grad = np.zeros_like(bias_grad)  # added image by image below
            conv_darknet.bias_grad(g, x.shape[0], src.grad("biases"))
        if isinstance(state, bn_darknet.DarknetBatchNormState):
            g, dscales, bias_grad = bn_darknet.backward(g, state, src.params["scales"])
            src.grad("scales")[...] += dscales
            if state.flavor == "alexeyab-cpu":
                # AlexeyAB's CPU backward_batchnorm_layer never calls backward_bias: the
                # biases of batch-normalised convolutions do not train in his CPU build (his
                # GPU build does train them)
                bias_grad = np.zeros_like(bias_grad)
        elif state is not None:
            g, dscales, _ = bn.backward(g, state, src.params["scales"])
            src.grad("scales")[...] += dscales
        src.grad("biases")[...] += bias_grad
        dz = g.reshape(output.shape)
        weights = np.ascontiguousarray(src.params["weights"], dtype)
        if in_order:
            geometry = self.geometry
            return conv_darknet.conv_backward(x, weights, dz, geometry.stride_y, geometry.pad,
                                              geometry.groups, src.grad("weights"),
                                              input_gradient)
        return dispatch.backward(x, weights, dz, self.geometry, self.algorithm(x.shape),
                                 src.grad("weights"), self.winograd, input_gradient)

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
