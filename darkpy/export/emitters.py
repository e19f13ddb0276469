"""The one table from darkpy layer classes to their ONNX emitters, and the layers that have
no ONNX equivalent.

An emitter is `emit(builder, layer, inputs: list[Value], out_shape) -> tensor name`; it reads
the layer's attributes and parameters (never changes them) and appends nodes computing the
layer's inference forward on NCHW data. A layer whose exact computation ONNX cannot express
is an ExportError naming its file:line, never an approximation.
"""
from __future__ import annotations

from darkpy.errors import ExportError
from darkpy.export import emit_conv, emit_elementwise, emit_heads, emit_pool, emit_reshape
from darkpy.layers import (activation, avgpool, batchnorm, connected, contrastive,
                           convolutional, cost, crop, deconvolutional, detection, dropout, empty,
                           gaussian_yolo, implicit, iseg, l2norm, local, local_avgpool, logistic,
                           maxpool, mean_shift, normalization, recurrent, region, reorg, reorg3d,
                           route, sam, scale_channels, shortcut, shuffler, softmax, upsample,
                           yolo)

EMITTERS = {
    convolutional.Convolutional: emit_conv.convolutional,
    deconvolutional.Deconvolutional: emit_conv.deconvolutional,
    connected.Connected: emit_conv.connected,
    batchnorm.BatchNorm: emit_conv.batchnorm,
    maxpool.MaxPool: emit_pool.maxpool,
    avgpool.AvgPool: emit_pool.avgpool,
    local_avgpool.LocalAvgPool: emit_pool.local_avgpool,
    upsample.Upsample: emit_reshape.upsample,
    reorg.Reorg: emit_reshape.reorg,
    reorg3d.Reorg3d: emit_reshape.reorg3d,
    shuffler.Shuffler: emit_reshape.shuffler,
    route.Route: emit_reshape.route,
    crop.Crop: emit_reshape.crop,
    shortcut.Shortcut: emit_elementwise.shortcut,
    scale_channels.ScaleChannels: emit_elementwise.multiply,
    sam.Sam: emit_elementwise.multiply,
    implicit.Implicit: emit_elementwise.implicit,
    mean_shift.MeanShift: emit_elementwise.mean_shift,
    activation.Activation: emit_elementwise.activation,
    logistic.Logistic: emit_elementwise.logistic,
    iseg.ISeg: emit_elementwise.iseg,
    l2norm.L2Norm: emit_elementwise.l2norm,
    normalization.Normalization: emit_elementwise.normalization,
    softmax.Softmax: emit_elementwise.softmax,
    dropout.Dropout: emit_elementwise.identity,
    empty.Empty: emit_elementwise.identity,
    contrastive.Contrastive: emit_elementwise.identity,
    cost.Cost: emit_elementwise.identity,
}

# detection heads: their outputs are what a raw export returns (decode.py decodes them)
HEAD_EMITTERS = {
    yolo.Yolo: emit_heads.yolo,
    gaussian_yolo.GaussianYolo: emit_heads.gaussian_yolo,
    region.Region: emit_heads.region,
    detection.Detection: emit_heads.detection,
}
EMITTERS.update(HEAD_EMITTERS)

# why these have no ONNX equivalent
NO_EQUIVALENT = {
    recurrent.Recurrent: "a recurrent layer carries its state from one call to the next "
                         "(darknet's time steps), which an ONNX graph of one forward pass "
                         "cannot hold",
    local.Local: "a locally connected layer (a different filter at every output pixel) has "
                 "no ONNX operator",
}


def emitter_for(layer):
    """The emitter of `layer`, or an ExportError saying why it has none."""
    for cls, why in NO_EQUIVALENT.items():
        if isinstance(layer, cls):
            raise _no_export(layer, why)
    binary = getattr(layer, "binary", None)
    if binary is not None and binary.xnor:
        raise _no_export(layer, "xnor=1 binarises the layer's input (sign bits, XNOR and "
                                "popcount); ONNX has no such convolution")
    emit = EMITTERS.get(type(layer))
    if emit is None:
        raise _no_export(layer, "darkpy has no ONNX emitter for this layer kind")
    return emit


def heads_of(network) -> list[tuple[int, object]]:
    """(index, layer) of every detection head, in network order."""
    return [(i, layer) for i, layer in enumerate(network.layers)
            if type(layer) in HEAD_EMITTERS]


def _no_export(layer, why: str) -> ExportError:
    return ExportError(f"{layer.origin}: [{layer.kind}] layer {layer.index} cannot be exported "
                       f"to ONNX: {why}")
