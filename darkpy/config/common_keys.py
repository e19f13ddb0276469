"""Keys darknet reads for every layer section (in parse_network_cfg, not the per-kind parsers).

They steer training (freezing, per-layer learning rate) or weight loading; darkpy accepts and
keeps them so real cfgs load and round-trip, and the training code reads the ones it honours.
"""
from darkpy.config.schema import Key

_U = dict(used=False)

COMMON_KEYS: dict[str, Key] = {
    # AlexeyAB's parse_network_cfg
    "clip": Key("float", 0, **_U),
    "onlyforward": Key("int", 0, **_U),
    "dont_update": Key("int", 0, **_U),
    "burnin_update": Key("int", 0, **_U),
    "stopbackward": Key("int", 0, doc="training: no backward through this layer or before it"),
    "train_only_bn": Key("int", 0, **_U),
    "dontload": Key("int", 0, **_U),
    "dontloadscales": Key("int", 0, **_U),
    "learning_rate": Key("float", 1.0, doc="training: this layer's learning-rate scale"),
    # pjreddie's parse_network_cfg
    "truth": Key("int", 0, **_U),
    "dontsave": Key("int", 0, **_U),
    "numload": Key("int", 0, **_U),
    "smooth": Key("int", 0, **_U),
}
