"""The one table from section names to layer classes (darknet's parser.c in one place)."""
from __future__ import annotations

from darkpy.layers import (
    activation,
    avgpool,
    batchnorm,
    connected,
    convolutional,
    cost,
    dropout,
    maxpool,
    mean_shift,
    region,
    reorg,
    route,
    shortcut,
    shuffler,
    softmax,
    upsample,
    yolo,
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
]

REGISTRY = {name: cls for cls in LAYER_CLASSES for name in (cls.kind, *cls.aliases)}
