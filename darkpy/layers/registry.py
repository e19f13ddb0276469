"""The one table from section names to layer classes (darknet's parser.c in one place)."""
from __future__ import annotations

from darkpy.layers import (
    activation,
    avgpool,
    batchnorm,
    connected,
    conv_lstm,
    convolutional,
    cost,
    crnn,
    dropout,
    gru,
    history,
    lstm,
    maxpool,
    mean_shift,
    region,
    reorg,
    rnn,
    route,
    shortcut,
    shuffler,
    softmax,
    upsample,
    yolo,
)

# the rest of darknet's non-recurrent zoo
from darkpy.layers import (  # noqa: E402
    contrastive,
    crop,
    deconvolutional,
    detection,
    empty,
    gaussian_yolo,
    implicit,
    local,
    local_avgpool,
    normalization,
    reorg3d,
    sam,
    scale_channels,
)

LAYER_CLASSES = [
    convolutional.Convolutional,
    connected.Connected,
    maxpool.MaxPool,
    avgpool.AvgPool,
    shortcut.Shortcut,
    route.Route,
    upsample.Upsample,
    reorg.Reorg,
    shuffler.Shuffler,
    batchnorm.BatchNorm,
    activation.Activation,
    dropout.Dropout,
    softmax.Softmax,
    cost.Cost,
    yolo.Yolo,
    region.Region,
    mean_shift.MeanShift,
    rnn.RNN,
    crnn.CRNN,
    gru.GRU,
    lstm.LSTM,
    conv_lstm.ConvLSTM,
    history.History,
]

LAYER_CLASSES += [
    scale_channels.ScaleChannels,
    sam.Sam,
    reorg3d.Reorg3d,
    local_avgpool.LocalAvgPool,
    crop.Crop,
    local.Local,
    detection.Detection,
    gaussian_yolo.GaussianYolo,
    deconvolutional.Deconvolutional,
    implicit.Implicit,
    empty.Empty,
    contrastive.Contrastive,
    normalization.Normalization,
]

REGISTRY = {name: cls for cls in LAYER_CLASSES for name in (cls.kind, *cls.aliases)}
