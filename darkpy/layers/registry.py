"""The one table from section names to layer classes (darknet's parser.c in one place).

Each row names a layer module, its class and the section names it reads (the class's `kind`,
then its `aliases`; tests/test_registry.py checks the rows against the classes). A module is
imported when a network first uses one of its kinds: EDSR needs 4 of the 39 layer modules,
and importing all of them took 20-35 ms of a `darkpy info` meant to answer in under half a
second. LAYER_CLASSES and REGISTRY (every class) import them all, on first use.
"""
from __future__ import annotations

import importlib

LAYERS = [  # (module in darkpy.layers, class, section names)
    ('convolutional', 'Convolutional', 'convolutional', 'conv'),
    ('connected', 'Connected', 'connected', 'conn'),
    ('maxpool', 'MaxPool', 'maxpool', 'max'),
    ('avgpool', 'AvgPool', 'avgpool', 'avg'),
    ('shortcut', 'Shortcut', 'shortcut'),
    ('route', 'Route', 'route'),
    ('upsample', 'Upsample', 'upsample'),
    ('reorg', 'Reorg', 'reorg'),
    ('shuffler', 'Shuffler', 'shuffler'),
    ('batchnorm', 'BatchNorm', 'batchnorm'),
    ('activation', 'Activation', 'activation'),
    ('dropout', 'Dropout', 'dropout'),
    ('softmax', 'Softmax', 'softmax', 'soft'),
    ('cost', 'Cost', 'cost'),
    ('yolo', 'Yolo', 'yolo'),
    ('region', 'Region', 'region'),
    ('mean_shift', 'MeanShift', 'mean_shift'),
    ('rnn', 'RNN', 'rnn'),
    ('crnn', 'CRNN', 'crnn'),
    ('gru', 'GRU', 'gru'),
    ('lstm', 'LSTM', 'lstm'),
    ('conv_lstm', 'ConvLSTM', 'conv_lstm'),
    ('history', 'History', 'history'),
    # the rest of darknet's non-recurrent zoo
    ('scale_channels', 'ScaleChannels', 'scale_channels'),
    ('sam', 'Sam', 'sam'),
    ('reorg3d', 'Reorg3d', 'reorg3d'),
    ('local_avgpool', 'LocalAvgPool', 'local_avgpool', 'local_avg'),
    ('crop', 'Crop', 'crop'),
    ('local', 'Local', 'local'),
    ('detection', 'DetectionLayer', 'detection'),
    ('gaussian_yolo', 'GaussianYolo', 'Gaussian_yolo'),
    ('deconvolutional', 'Deconvolutional', 'deconvolutional', 'deconv'),
    ('implicit', 'Implicit', 'implicit'),
    ('empty', 'Empty', 'empty', 'silence'),
    ('contrastive', 'Contrastive', 'contrastive'),
    ('normalization', 'Normalization', 'normalization', 'lrn'),
    ('l2norm', 'L2Norm', 'l2norm'),
    ('logistic', 'Logistic', 'logistic'),
    ('iseg', 'ISeg', 'iseg'),
]

KINDS = {name: (module, cls) for module, cls, *names in LAYERS for name in names}


def layer_class(kind: str):
    """The class that reads section `kind` (importing its module), or None."""
    where = KINDS.get(kind)
    if where is None:
        return None
    module, name = where
    return getattr(importlib.import_module(f"darkpy.layers.{module}"), name)


def __getattr__(name: str):
    if name == "LAYER_CLASSES":
        value = [layer_class(names[0]) for _, _, *names in LAYERS]
    elif name == "REGISTRY":
        value = {kind: layer_class(kind) for kind in KINDS}
    else:
        raise AttributeError(f"module 'darkpy.layers.registry' has no attribute '{name}'")
    globals()[name] = value
    return value
