"""[convolutional] with `binary=1` or `xnor=1`: darknet's binarised convolutions, inference only.

Per output channel f, with w_f its Cin/groups*K*K weights (kernels/binary.py):

    mean_f = mean |w_f|,    s_f = +1 where w_f > 0, else -1,    binarised weights = mean_f s_f
    xnor=1 also binarises the input:  x_b = +1 where x > 0, else -1   (0 counts as negative)

    binary=1:  y = act( bn( mean_f * conv(x,   s_f) ) )        (bias instead of bn without it)
    xnor=1:    y = act( bn( mean_f * conv(x_b, s_f) ) )

The .weights file holds the float weights (darknet's binary save/load is commented out), and
they stay darkpy's `params`; binarisation happens at inference (cached like the batch-norm fold).

Where the two darknets differ, the darkpy key `flavor` picks whose CPU result to reproduce:

- pjreddie (forward_convolutional_layer, CPU): binarises the weights as above, the input with
  binarize_cpu (x > 0 -> +1, else -1), convolves in float with ZERO padding (taps outside the
  image add nothing), then applies batch norm. This is also the computation AlexeyAB trains
  with (his GPU path, which however maps x >= 0 to +1) and that the weights were fitted to.
- alexeyab (the bit-packed XNOR GEMM that `darknet detector test` runs on the CPU, after
  fuse_conv_batchnorm and calculate_binary_weights): batch norm is folded into the weights
  FIRST and the folded weights are binarised; input bits are x > 0; a tap outside the image is
  an unset bit, so padding counts as -1, not 0; the result is (2*matches - K) * mean_f + the
  folded bias; bin_output=1 turns the activation linear; groups are ignored (`if (xnor)
  groups = 1`). Beyond what darkpy reproduces, AlexeyAB's CPU path computes only the first image
  of a batch, falls back to a plain float convolution when stride_x != stride_y (darkpy refuses
  that), has no bit-GEMM for Cin % 32 != 0 except 3x3/1 pad 1 convolutions (garbage otherwise),
  ignores dilation, and its training CPU path binarises with a wrong filter size (out-of-bounds).
  darkpy computes the formula above for every image and geometry.

flavor=auto means alexeyab when `bin_output` (a key only AlexeyAB reads) is set, else pjreddie.
Either way batch norm is darkpy's one fold (kernels/normalize.py, pjreddie's epsilon; AlexeyAB's
fuse_conv_batchnorm uses sqrt(variance + 1e-5)), so the alexeyab flavor matches his bits only
up to that fold.

binary=1 without xnor changes nothing in either darknet's CPU forward (only their GPU forward
binarises the weights); darkpy follows the GPU, the option's meaning, as it does for softmax's
`spatial`.

Exactness: the convolution runs on the signs s_f (and on x_b, or on x_b + 1 in {0, 2} with the
padding correction  conv_-1pad(x_b) = conv_0pad(x_b + 1) - sum(s_f)), so with xnor=1 every
partial sum is a small integer and exact in float32 whatever the summation order; then
y = (z + offset) * scale + shift per channel, as darknet's (2*count - K) * mean_f + bias.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
binary = kernels("binary")
channel_activations = kernels("channel_activations")
normalize = kernels("normalize")

FLAVORS = ("auto", "pjreddie", "alexeyab")


@dataclass
class BinarySetup:
    xnor: bool
    flavor: str                 # "pjreddie" or "alexeyab"
    groups: int | None          # the groups to use instead of the cfg's (AlexeyAB's XNOR: 1)
    code: int                   # element-wise activation at inference
    channel_code: int | None    # channel-wise activation at inference

    @classmethod
    def from_layer(cls, layer) -> "BinarySetup | None":
        opts = layer.opts
        if not (opts.binary or opts.xnor):
            return None
        flavor = opts.flavor
        if flavor == "auto":
            flavor = "alexeyab" if opts.bin_output else "pjreddie"
        xnor = bool(opts.xnor)
        alexeyab_xnor = xnor and flavor == "alexeyab"
        if xnor and layer.dilation > 1:
            raise layer.error(f"xnor=1 with dilation={layer.dilation}: neither darknet defines "
                              "it (pjreddie has no dilation, AlexeyAB's XNOR path ignores it)")
        if alexeyab_xnor and layer.stride_x != layer.stride_y:
            raise layer.error("xnor=1 with stride_x != stride_y: AlexeyAB's CPU computes a plain "
                              "float convolution there, not an XNOR one; use flavor=pjreddie")
        linear = alexeyab_xnor and bool(opts.bin_output)  # calculate_binary_weights
        return cls(xnor=xnor, flavor=flavor, groups=1 if alexeyab_xnor else None,
                   code=codes.LINEAR if linear else layer.code,
                   channel_code=None if linear else layer.channel_code)

    # --- parameters ----------------------------------------------------------------------
    def params(self, layer, dtype) -> dict:
        """Signs (K, K, cg, n) and the per-channel offset, scale and shift, in `dtype`."""
        p = layer.source.params
        w = p["weights"]
        n = w.shape[3]
        if layer.batch_normalize:
            a, b = normalize.fold_batchnorm(p["scales"], p["rolling_mean"],
                                            p["rolling_variance"], p["biases"])
        else:
            a, b = np.ones(n), p["biases"].astype(np.float64)
        if self.flavor == "alexeyab":  # binarise the batch-norm-folded weights
            source = (w.astype(np.float64) * a).astype(w.dtype)
            _, means = binary.binarize_filters(source)
            scale = means.astype(np.float64)
        else:  # binarise, convolve, then batch norm
            source = w
            _, means = binary.binarize_filters(source)
            scale = means.astype(np.float64) * a
        signs = np.where(source > 0, 1.0, -1.0).astype(dtype)
        offset = np.zeros(n)
        if self.xnor and self.flavor == "alexeyab":
            offset = -signs.sum(axis=(0, 1, 2), dtype=np.float64)  # padding reads -1
        return {"signs": np.ascontiguousarray(signs), "offset": offset.astype(dtype),
                "scale": scale.astype(dtype), "shift": b.astype(dtype)}

    def input_levels(self) -> tuple[float, float]:
        """(value for x <= 0, value for x > 0) fed to the convolution of sign s_f."""
        return (0.0, 2.0) if self.flavor == "alexeyab" else (-1.0, 1.0)


def forward(layer, x, train=False):
    """The binarised convolution of `layer` (a Convolutional with layer.binary set)."""
    if train:
        raise layer.error("binary=1 / xnor=1 convolutions are inference only (darkpy has no "
                          "training for binarised weights)")
    setup = layer.binary
    x = layer.checked_input(x)
    dtype = x.dtype
    q = layer.derived(("binary", dtype.str), lambda: setup.params(layer, dtype))
    if setup.xnor:
        x = binary.sign_input(x, *setup.input_levels())
    z = layer.convolve(x, q["signs"], layer.new_output(x), exact=True)
    z2d = z.reshape(-1, layer.filters)
    binary.offset_scale_shift(z2d, q["offset"], q["scale"], q["shift"])
    activations.bias_activate(z2d, None, setup.code)
    if setup.channel_code is not None:
        channel_activations.activate_channels(z2d, setup.channel_code, out=z2d)
    return z
