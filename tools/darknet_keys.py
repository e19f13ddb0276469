"""List which cfg keys each darknet fork reads, per section, from its src/parser.c.

    python tools/darknet_keys.py PJREDDIE/src/parser.c ALEXEYAB/src/parser.c \
        --activations PJREDDIE/src/activations.c ALEXEYAB/src/activations.c \
        --commit pjreddie/darknet=SHA --commit AlexeyAB/darknet=SHA > tests/fixtures/darknet_keys.json

The JSON maps fork -> section name -> sorted key names; "net" holds the [net] keys, "common"
the keys parse_network_cfg reads for every layer section, "activation names" the names
get_activation knows. tests/test_cfg_reference.py checks every key's `fork` in darkpy's
schemas against it, so the file is an independent record of darknet, not something derived
from darkpy. `--commit NAME=SHA` records provenance.

Each parse_* function's calls of option_find*(options, "key", ...) are its keys; the section
names that reach a function come from string_to_layer_type and the dispatch in
parse_network_cfg, written out below (a few lines per fork, easy to check by eye).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# section name (as darkpy's registry spells its canonical kind) -> darknet's parse function
PJREDDIE_SECTIONS = {
    "convolutional": "parse_convolutional", "deconvolutional": "parse_deconvolutional",
    "local": "parse_local", "activation": "parse_activation", "logistic": "parse_logistic",
    "l2norm": "parse_l2norm", "rnn": "parse_rnn", "gru": "parse_gru", "lstm": "parse_lstm",
    "crnn": "parse_crnn", "connected": "parse_connected", "crop": "parse_crop",
    "cost": "parse_cost", "region": "parse_region", "yolo": "parse_yolo", "iseg": "parse_iseg",
    "detection": "parse_detection", "softmax": "parse_softmax",
    "normalization": "parse_normalization", "batchnorm": "parse_batchnorm",
    "maxpool": "parse_maxpool", "reorg": "parse_reorg", "avgpool": "parse_avgpool",
    "route": "parse_route", "upsample": "parse_upsample", "shortcut": "parse_shortcut",
    "dropout": "parse_dropout",
    "net": "parse_net_options", "common": "parse_network_cfg",
}
ALEXEYAB_SECTIONS = {
    "convolutional": "parse_convolutional", "local": "parse_local",
    "activation": "parse_activation", "rnn": "parse_rnn", "gru": "parse_gru",
    "lstm": "parse_lstm", "conv_lstm": "parse_conv_lstm", "history": "parse_history",
    "crnn": "parse_crnn", "connected": "parse_connected", "crop": "parse_crop",
    "cost": "parse_cost", "region": "parse_region", "yolo": "parse_yolo",
    "Gaussian_yolo": "parse_gaussian_yolo", "detection": "parse_detection",
    "softmax": "parse_softmax", "contrastive": "parse_contrastive",
    "normalization": "parse_normalization", "batchnorm": "parse_batchnorm",
    "maxpool": "parse_maxpool", "local_avgpool": "parse_local_avgpool",
    "reorg3d": "parse_reorg",  # AlexeyAB's [reorg3d] runs his new reorg ...
    "reorg": "parse_reorg_old",  # ... and [reorg] the old one, pjreddie's
    "avgpool": "parse_avgpool", "route": "parse_route", "upsample": "parse_upsample",
    "shortcut": "parse_shortcut", "scale_channels": "parse_scale_channels", "sam": "parse_sam",
    "implicit": "parse_implicit", "dropout": "parse_dropout", "empty": None,
    "net": "parse_net_options", "common": "parse_network_cfg_custom",
}

_FUNCTION = re.compile(r"^[A-Za-z_][\w \*]*?\b(parse_\w+)\s*\([^)]*\)[^\n{]*\n\{", re.M)
_OPTION = re.compile(r'option_find\w*\s*\(\s*\w+\s*,\s*"([^"]+)"')
# a [net] key AlexeyAB's parse_network_cfg reads from the [net] section, not from each layer
_NET_KEYS_IN_NETWORK_PARSER = {"show_receptive_field"}


def function_bodies(source: str) -> dict[str, str]:
    bodies = {}
    for match in _FUNCTION.finditer(source):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        bodies.setdefault(match.group(1), source[match.end():i])
    return bodies


def fork_keys(source: str, sections: dict[str, str | None]) -> dict[str, list[str]]:
    bodies = function_bodies(source)
    out = {}
    for section, function in sections.items():
        if function is None:
            out[section] = []
            continue
        if function not in bodies:
            raise SystemExit(f"{function} not found")
        keys = set(_OPTION.findall(bodies[function]))
        out[section] = keys
    moved = out["common"] & _NET_KEYS_IN_NETWORK_PARSER
    out["net"] |= moved
    out["common"] -= moved
    return {section: sorted(keys) for section, keys in out.items()}


def function_bodies_any(source: str, name: str) -> str:
    match = re.search(r"\b%s\s*\([^)]*\)\s*\n?\{" % name, source)
    if match is None:
        raise SystemExit(f"{name} not found")
    depth, i = 1, match.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
    return source[match.end():i]


def activation_names(activations_c: str) -> list[str]:
    """The names get_activation (src/activations.c) maps to an activation."""
    body = function_bodies_any(activations_c, "get_activation")
    return sorted(set(re.findall(r'strcmp\(s,\s*"([^"]+)"\)', body)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pjreddie", type=Path, help="pjreddie/darknet src/parser.c")
    parser.add_argument("alexeyab", type=Path, help="AlexeyAB/darknet src/parser.c")
    parser.add_argument("--activations", nargs=2, type=Path, metavar=("PJREDDIE", "ALEXEYAB"),
                        help="the two forks' src/activations.c, for the activation names")
    parser.add_argument("--commit", action="append", default=[], help="NAME=SHA provenance")
    args = parser.parse_args(argv)
    record = {
        "source": dict(c.split("=", 1) for c in args.commit),
        "pjreddie": fork_keys(args.pjreddie.read_text(errors="replace"), PJREDDIE_SECTIONS),
        "AlexeyAB": fork_keys(args.alexeyab.read_text(errors="replace"), ALEXEYAB_SECTIONS),
    }
    if args.activations:
        for fork, path in zip(("pjreddie", "AlexeyAB"), args.activations):
            record[fork]["activation names"] = activation_names(path.read_text(errors="replace"))
    json.dump(record, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
