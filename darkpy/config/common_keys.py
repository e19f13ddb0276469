"""Keys darknet reads for every layer section (in parse_network_cfg, not the per-kind parsers).

This table is the single source of those keys: darkpy/network.py merges it into every layer's
schema (a layer's own `keys` never repeat them). They steer training (freezing, per-layer
learning rate) or weight loading; darkpy accepts and keeps them all so real cfgs load and
round-trip. `used` marks the ones darkpy acts on: the training code honours `stopbackward` and
`learning_rate`, and layers with weights reject `dontload`/`dontloadscales` (they change what a
.weights file holds; see reject_weight_loading_keys).
"""
from darkpy.config.schema import ALEXEYAB, PJREDDIE, TRAINING, Key

_T = dict(phase=TRAINING)

COMMON_KEYS: dict[str, Key] = {
    # read by both darknets' parse_network_cfg
    "stopbackward": Key("int", 0, **_T,
                        doc="1: training stops the backward pass here (this layer and all "
                            "before it are frozen)"),
    "onlyforward": Key("int", 0, used=False, **_T,
                       doc="1: a [yolo]/[region] head computes no loss (AlexeyAB: and the "
                           "layer's backward is skipped)"),
    "dontload": Key("int", 0, doc="1: .weights files hold nothing for this layer (rejected by "
                                  "layers with weights)"),
    "dontloadscales": Key("int", 0, doc="1: .weights files hold no batch-norm values for this "
                                        "layer (rejected by layers with weights)"),
    "learning_rate": Key("float", 1.0, **_T,
                         doc="this layer's learning rate, as a factor of [net] learning_rate"),
    # AlexeyAB's parse_network_cfg
    "clip": Key("float", 0.0, used=False, fork=ALEXEYAB, **_T,
                doc="clamps this layer's weights to -clip..clip after each update"),
    "dont_update": Key("int", 0, used=False, fork=ALEXEYAB, **_T,
                       doc="weights stay fixed until this iteration"),
    "burnin_update": Key("int", 0, used=False, fork=ALEXEYAB, **_T,
                         doc="weights stay fixed until burnin_update * burn_in iterations"),
    "train_only_bn": Key("int", 0, used=False, fork=ALEXEYAB, **_T,
                         doc="1: only batch-norm parameters of this layer and those before "
                             "it are trained"),
    # pjreddie's parse_network_cfg
    "truth": Key("int", 0, used=False, fork=PJREDDIE, **_T,
                 doc="1: this layer's output is the truth for the cost layers (distillation, "
                     "GANs)"),
    "dontsave": Key("int", 0, used=False, fork=PJREDDIE, **_T,
                    doc="1: darknet writes nothing for this layer into .weights files"),
    "numload": Key("int", 0, used=False, fork=PJREDDIE,
                   doc="[convolutional]: read only this many filters from .weights files"),
    "smooth": Key("float", 0, used=False, fork=PJREDDIE, **_T,
                  doc="GPU: label smoothing of [cost], smoothing of [convolutional] gradients"),
}

WEIGHT_LOADING_KEYS = ("dontload", "dontloadscales")


def reject_weight_loading_keys(layer) -> None:
    """Raise for dontload/dontloadscales on a layer with weights: darknet then reads fewer
    values from (or skips the layer in) a .weights file, which darkpy does not reproduce."""
    for name in WEIGHT_LOADING_KEYS:
        if layer.opts.get(name):
            raise layer.error(f"{name}={layer.opts[name]} is not supported (it changes which "
                              "values a .weights file holds)")
