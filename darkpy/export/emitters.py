"""The one table from darkpy layer classes to their ONNX emitters, and the layers that have
no ONNX equivalent.

An emitter is `emit(builder, layer, inputs: list[Value], out_shape) -> tensor name`; it reads
the layer's attributes and parameters (never changes them) and appends nodes computing the
layer's inference forward on NCHW data. A layer whose exact computation ONNX cannot express
is an ExportError naming its file:line, never an approximation.
"""
from __future__ import annotations

from darkpy.errors import ExportError
from darkpy.export import (
    emit_conv,
    emit_elementwise,
    emit_heads,
    emit_pool,
    emit_reshape,
)
from darkpy.layers.recurrent import Recurrent
from darkpy.layers.registry import REGISTRY

# keyed by the registry's class for each section name, so the table follows the one registry
EMITTERS = {REGISTRY[kind]: emit for kind, emit in {
    "convolutional": emit_conv.convolutional,
    "deconvolutional": emit_conv.deconvolutional,
    "connected": emit_conv.connected,
    "batchnorm": emit_conv.batchnorm,
    "maxpool": emit_pool.maxpool,
    "avgpool": emit_pool.avgpool,
    "local_avgpool": emit_pool.local_avgpool,
    "upsample": emit_reshape.upsample,
    "reorg": emit_reshape.reorg,
    "reorg3d": emit_reshape.reorg3d,
    "shuffler": emit_reshape.shuffler,
    "route": emit_reshape.route,
    "crop": emit_reshape.crop,
    "shortcut": emit_elementwise.shortcut,
    "scale_channels": emit_elementwise.multiply,
    "sam": emit_elementwise.multiply,
    "implicit": emit_elementwise.implicit,
    "mean_shift": emit_elementwise.mean_shift,
    "activation": emit_elementwise.activation,
    "logistic": emit_elementwise.logistic,
    "iseg": emit_elementwise.iseg,
    "l2norm": emit_elementwise.l2norm,
    "normalization": emit_elementwise.normalization,
    "softmax": emit_elementwise.softmax,
    "dropout": emit_elementwise.identity,
    "empty": emit_elementwise.identity,
    "contrastive": emit_elementwise.identity,
    "cost": emit_elementwise.identity,
}.items()}

# detection heads: their outputs are what a raw export returns (decode.py decodes them)
HEAD_EMITTERS = {REGISTRY[kind]: emit for kind, emit in {
    "yolo": emit_heads.yolo,
    "Gaussian_yolo": emit_heads.gaussian_yolo,
    "region": emit_heads.region,
    "detection": emit_heads.detection,
}.items()}
EMITTERS.update(HEAD_EMITTERS)

# why these have no ONNX equivalent
NO_EQUIVALENT = {
    Recurrent: "a recurrent layer carries its state from one call to the next (darknet's "
               "time steps), which an ONNX graph of one forward pass cannot hold",
    REGISTRY["local"]: "a locally connected layer (a different filter at every output pixel) "
                       "has no ONNX operator",
}


def unsupported(layer) -> str | None:
    """Why `layer` has no ONNX export, or None when it has one."""
    for cls, why in NO_EQUIVALENT.items():
        if isinstance(layer, cls):
            return why
    binary = getattr(layer, "binary", None)
    if binary is not None and binary.xnor:
        return ("xnor=1 binarises the layer's input (sign bits, XNOR and popcount); ONNX has "
                "no such convolution")
    if type(layer) not in EMITTERS:
        return "darkpy has no ONNX emitter for this layer kind"
    return None


def emitter_for(layer):
    """The emitter of `layer`, or an ExportError saying why it has none."""
    why = unsupported(layer)
    if why is not None:
        raise no_export([layer], why)
    return EMITTERS[type(layer)]


def heads_of(network) -> list[tuple[int, object]]:
    """(index, layer) of every detection head, in network order."""
    return [(i, layer) for i, layer in enumerate(network.layers)
            if type(layer) in HEAD_EMITTERS]


def no_export(layers: list, why: str) -> ExportError:
    """One error for the layers sharing the reason `why`, each named by file:line."""
    named = ", ".join(f"{layer.origin}: [{layer.kind}] layer {layer.index}" for layer in layers)
    return ExportError(f"{named} cannot be exported to ONNX: {why}")
