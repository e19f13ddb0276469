"""Keys darknet reads for every layer section (in parse_network_cfg, not the per-kind parsers).

This table is the single source of those keys: darkpy/network.py merges it into every layer's
schema (a layer's own `keys` never repeat them). They steer training (freezing, per-layer
learning rate) or weight loading; darkpy accepts and keeps them all so real cfgs load and
round-trip. `used` marks the ones darkpy acts on: the training code honours `stopbackward` and
`learning_rate`, and layers with weights reject `dontload`/`dontloadscales` (they change what a
.weights file holds; see reject_weight_loading_keys).
"""
from darkpy.config.schema import Key

_U = dict(used=False)

COMMON_KEYS: dict[str, Key] = {
    # AlexeyAB's parse_network_cfg
    "clip": Key("float", 0.0, **_U, doc="training: clip weights"),
    "onlyforward": Key("int", 0, **_U, doc="training"),
    "dont_update": Key("int", 0, **_U, doc="training"),
    "burnin_update": Key("int", 0, **_U, doc="training"),
    "stopbackward": Key("int", 0, doc="training: no backward through this layer or before it"),
    "train_only_bn": Key("int", 0, **_U, doc="training"),
    "dontload": Key("int", 0, doc="skip this layer in .weights files (rejected by layers with "
                                  "weights)"),
    "dontloadscales": Key("int", 0, doc="no batch-norm values in .weights (rejected by layers "
                                        "with weights)"),
    "learning_rate": Key("float", 1.0, doc="training: this layer's learning-rate scale"),
    # pjreddie's parse_network_cfg
    "truth": Key("int", 0, **_U),
    "dontsave": Key("int", 0, **_U),
    "numload": Key("int", 0, **_U),
    "smooth": Key("int", 0, **_U),
}

WEIGHT_LOADING_KEYS = ("dontload", "dontloadscales")


def reject_weight_loading_keys(layer) -> None:
    """Raise for dontload/dontloadscales on a layer with weights: darknet then reads fewer
    values from (or skips the layer in) a .weights file, which darkpy does not reproduce."""
    for name in WEIGHT_LOADING_KEYS:
        if layer.opts.get(name):
            raise layer.error(f"{name}={layer.opts[name]} is not supported (it changes which "
                              "values a .weights file holds)")
