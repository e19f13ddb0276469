"""How a convolution is computed: the one choice of algorithm, and the calls that run it.

Four algorithms give the same result up to rounding:

- winograd: 3x3 stride-1 undilated ungrouped convolutions over enough 4x4 output tiles use
  Winograd F(4x4, 3x3) (winograd.py; DARKPY_WINOGRAD=0 turns it off): a quarter of
  im2col's multiplies. Its transforms round, so callers that need exact sums of small
  integers (binarised convolutions) ask for `exact`, and get gemm instead. In float32, those
  to 3 outputs from input channels in runs of 16 (an SR network's RGB tail) take
  few_outputs.py's direct dot products instead: Winograd's GEMMs would pad them to 16
  outputs, and its input transform cost as much as for 64.
- winograd small: the same convolutions on maps of fewer 4x4 tiles (a detector's 13x13 and
  26x26) use F(2x2, 3x3) (winograd_small.py): 4/9 of im2col's multiplies, with transformed
  filters 16/9 of the weights where F(4x4)'s are 4x, read from memory on every pass. In
  float32 with input channels in runs of 16 and a linear, ReLU or leaky activation (else,
  and with `exact`, gemm). At 13x13, 2 threads: 512 -> 1024 6.7 vs 10.0 ms for gemm;
  at 26x26, 128 -> 256 1.6 ms against F(4x4)'s 2.0 and gemm's 3.6.
- direct: groups of very few (input x output) channels, depthwise and the like, where a GEMM
  per group would be tiny: a direct loop (direct.py).
- gemm: everything else, im2col + GEMM in bounded blocks (inference.py).

A fourth, `darknet`, is never chosen by the rule: darknet-exact training asks for it
(layers/convolutional.py with `darknet_training`). It sums every output in the order of
darknet's im2col + gemm_nn loops, one rounding per multiply and add (darknet.py), so the
values are darknet's bit for bit; it is float32 only, undilated with one stride, and slow.

float32 runs on darkpy's workers (inference.py forward, training.py backward); any other
dtype (float64 for gradient checks) runs the plain formulas of reference.py, which for tiny
groups also use the direct kernels. A layer describes its convolution once as a `Geometry`
and calls `forward`/`backward` here; the backward's dL/dx of a stride-1 convolution is itself
a convolution (of dL/dz with the flipped weights), chosen by the same rule.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from darkpy.kernels import aligned
from darkpy.kernels.activation_codes import LINEAR
from darkpy.kernels.lazy import kernels

# The rule above is plain Python, so that layers can describe and plan their convolutions
# without numba; the kernels that run them load on first use (darkpy/kernels/lazy.py).
activations = kernels("activations")
elementwise = kernels("elementwise")
darknet = kernels("conv.darknet")
direct = kernels("conv.direct")
inference = kernels("conv.inference")
reference = kernels("conv.reference")
small_gemm = kernels("conv.small_gemm")
few_outputs = kernels("conv.few_outputs")
training = kernels("conv.training")
winograd = kernels("conv.winograd")
winograd_small = kernels("conv.winograd_small")

# F(4x4) Winograd needs this many 4x4 tiles to beat F(2x2) (at 26x26, 49 tiles, it did not;
# at 38x38, 100 tiles, it did: 4.6 vs 5.4 ms for 256 -> 256), and F(2x2) this many 2x2 tiles
WINOGRAD_MIN_TILES = 64
SMALL_WINOGRAD_MIN_TILES = 4
WINOGRAD_MIN_CHANNELS = 8
SMALL_WINOGRAD = "winograd small"
# groups with fewer (input x output) channels than this use the direct kernels
DIRECT_GROUP_SIZE = 64
# the algorithm darknet-exact training asks for by name (choose() never returns it)
DARKNET = "darknet"


def winograd_enabled_by_default() -> bool:
    """False when the environment sets DARKPY_WINOGRAD to 0 / false / no / off."""
    return os.environ.get("DARKPY_WINOGRAD", "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Geometry:
    """A convolution's shape-independent description. `pad` is the zero padding in input
    pixels (darknet's padding times the dilation, as AlexeyAB pads a dilated convolution)."""

    size: int
    stride_y: int
    stride_x: int
    pad: int
    dilation: int
    groups: int

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(out_h, out_w) of the convolution of an h x w input (< 1: the kernel does not fit)."""
        extent = (self.size - 1) * self.dilation + 1
        return ((h + 2 * self.pad - extent) // self.stride_y + 1,
                (w + 2 * self.pad - extent) // self.stride_x + 1)

    def input_gradient(self) -> "Geometry | None":
        """The stride-1 convolution of dL/dz with the flipped weights that gives dL/dx, or
        None when dL/dx is no such convolution (strided, or padding beyond the kernel)."""
        back_pad = training.input_grad_padding(self.size, self.pad, self.dilation)
        if self.stride_x != 1 or self.stride_y != 1 or back_pad < 0:
            return None
        return Geometry(self.size, 1, 1, back_pad, self.dilation, self.groups)


def darknet_supports(g: Geometry, dtype) -> bool:
    """Whether the `darknet` algorithm can compute this convolution (darknet's own kinds)."""
    return np.dtype(dtype) == np.float32 and g.dilation == 1 and g.stride_x == g.stride_y


def choose(g: Geometry, input_shape, cout: int, use_winograd: bool = True) -> str:
    """'winograd', 'winograd small', 'direct' or 'gemm' for an NHWC input of `input_shape`
    and `cout` outputs."""
    n_img, h, w, cin = input_shape
    if g.groups > 1 and (cin // g.groups) * (cout // g.groups) < DIRECT_GROUP_SIZE:
        return "direct"
    out_h, out_w = g.output_size(h, w)
    if not (use_winograd and g.size == 3 and g.stride_x == 1 and g.stride_y == 1
            and g.dilation == 1 and g.groups == 1 and cin >= WINOGRAD_MIN_CHANNELS):
        return "gemm"
    if n_img * ((out_h + 3) // 4) * ((out_w + 3) // 4) >= WINOGRAD_MIN_TILES:
        return "winograd"
    if n_img * ((out_h + 1) // 2) * ((out_w + 1) // 2) >= SMALL_WINOGRAD_MIN_TILES:
        return SMALL_WINOGRAD
    return "gemm"


def _uncached(name, compute):
    return compute()


def _winograd_operands(weights, derive):
    """(U, panels) for inference.conv2d_winograd: the weights' transform, and a callable
    giving U packed for small_gemm (None when nothing is cached: packed per call then).
    Input channels in runs of 16 need only the packed U, which is then kept instead of U
    (the same memory; no packing per call): U comes back None."""
    if derive is _uncached:
        return winograd.transform_filters(weights), None
    if weights.shape[2] % small_gemm.LANES == 0:
        return None, lambda: derive(
            "winograd panels", lambda: small_gemm.packed(winograd.transform_filters(weights)))
    u = derive("winograd", lambda: winograd.transform_filters(weights))
    return u, lambda: derive("winograd panels", lambda: small_gemm.packed(u))


def forward(x, weights, out, g: Geometry, algorithm: str, bias=None,
            code: int = LINEAR, derive=None, exact: bool = False, residual=None):
    """out = f(conv(x, weights) + bias), overwritten, and returned.

    x (N, H, W, C) and out (N, out_h, out_w, cout) C-contiguous, weights (K, K, C/groups,
    cout), all of one dtype; bias None means none. `algorithm` from `choose`.
    `derive(name, compute)` returns compute(), a tensor derived from the weights ("winograd"
    their transform, "panels" and "winograd panels" their packing for small_gemm, "few
    outputs" for few_outputs.py), cached by a caller that keeps such tensors with the
    weights (None: computed on every call). `exact` avoids Winograd's rounding. In float32
    bias and activation are fused into the blocks while they are in cache. `darknet`
    (float32) sums as darknet does.

    residual: None, or (other, alpha, beta, res_code): then out is finished as the shortcut
    g(alpha*out + beta*other) (other of out's shape, g the activation res_code), in the
    Winograd blocks (float32), else in one pass over out; the same bits either way as a
    separate [shortcut] layer would give.
    """
    derive = derive or _uncached
    if residual is not None and algorithm == "winograd" and not exact and x.dtype == np.float32:
        u, panels = _winograd_operands(weights, derive)
        inference.conv2d_winograd(x, u, bias, code, g.pad, out, residual, panels)
        return out
    if residual is not None:
        forward(x, weights, out, g, algorithm, bias, code, derive, exact)
        other, alpha, beta, res_code = residual
        return elementwise.shortcut(out, other, out.dtype.type(alpha),
                                    out.dtype.type(beta), res_code, out=out)
    cout = out.shape[3]
    if algorithm == DARKNET:
        if not darknet_supports(g, x.dtype):
            raise ValueError("the darknet algorithm needs float32, no dilation, one stride")
        darknet.conv_forward(x, np.ascontiguousarray(weights.transpose(3, 2, 0, 1)), g.stride_x,
                             g.pad, g.groups, out)
        if bias is not None or code != LINEAR:
            activations.bias_activate(out.reshape(-1, cout), bias, code)
    elif x.dtype != np.float32:
        reference.conv_forward(x, weights, g.groups, g.stride_y, g.stride_x, g.pad,
                               g.dilation, out, direct=algorithm == "direct")
        activations.bias_activate(out.reshape(-1, cout), bias, code)
    elif algorithm == "winograd" and not exact and few_outputs.applies(g.size, x.shape[3],
                                                                        cout, code):
        packed = derive("few outputs", lambda: few_outputs.pack(weights))
        inference.conv2d_few_outputs(x, packed, bias, code, g.pad, out)
    elif algorithm == "winograd" and not exact:
        u, panels = _winograd_operands(weights, derive)
        inference.conv2d_winograd(x, u, bias, code, g.pad, out, panels=panels)
    elif (algorithm == SMALL_WINOGRAD and not exact
          and winograd_small.applies(x.shape[3], code)):
        packed = derive("winograd small panels", lambda: small_gemm.packed(
            winograd_small.transform_filters(weights)))
        inference.conv2d_winograd_small(x, packed, bias, code, g.pad, out)
    elif algorithm == "direct":
        direct.grouped_forward(x, weights, g.groups, g.stride_y, g.stride_x, g.pad, g.dilation,
                               out)
        activations.bias_activate(out.reshape(-1, cout), bias, code)
    else:
        w2d = weights.reshape(-1, cout)
        panels = None if derive is _uncached else (
            lambda: derive("panels", lambda: small_gemm.packed(w2d)))
        inference.conv2d_gemm(x, w2d, bias, code, g.size, g.stride_y, g.stride_x, g.pad,
                              g.dilation, g.groups, out, panels)
    return out


def backward(x, weights, dz, g: Geometry, algorithm: str, dw, use_winograd: bool = True,
             input_gradient: bool = True):
    """dw += dL/dweights and return dL/dx (None when `input_gradient` is False), for
    dz = dL/dz of z = conv(x, weights) computed by `algorithm` (no bias: the caller sums
    dL/dbias itself).

    float32 runs on the workers (training.py): dL/dw through the Winograd transforms where
    forward used Winograd, else im2col + GEMM; for stride 1 dL/dx as the convolution of dz
    with the flipped weights (Winograd or GEMM, chosen as a forward would be), else by
    col2im. Other dtypes and the direct algorithm take the plain formulas (reference.py).
    """
    if not input_gradient and x.dtype == np.float32 and algorithm != "direct":
        if algorithm == "winograd" and g.input_gradient() is not None:
            training.weight_grad_winograd(x, dz, g.pad, dw)
        else:
            training.conv_backward_gemm(x, weights, dz, g.groups, g.stride_y, g.stride_x,
                                        g.pad, g.dilation, dw)
        return None
    if x.dtype != np.float32 or algorithm == "direct":
        return reference.conv_backward(x, weights, dz, g.groups, g.stride_y, g.stride_x, g.pad,
                                       g.dilation, dw, direct=algorithm == "direct")
    back = g.input_gradient()
    if back is None:  # dL/dx is no plain convolution of dz: col2im, dL/dw from the same GEMMs
        dx = np.zeros_like(x)
        training.conv_backward_gemm(x, weights, dz, g.groups, g.stride_y, g.stride_x, g.pad,
                                    g.dilation, dw, dx)
        return dx
    if algorithm == "winograd":
        training.weight_grad_winograd(x, dz, g.pad, dw)
    else:
        training.conv_backward_gemm(x, weights, dz, g.groups, 1, 1, g.pad, g.dilation, dw)
    flipped = training.flipped_weights(weights, g.groups)
    dx = aligned.empty_like(x)
    return forward(dz, flipped, dx, back, choose(back, dz.shape, x.shape[3], use_winograd))
