"""What a picture of a network shows: one node per layer, one link per reference.

Everything comes from the built Network: the kind, a short line of the keys that matter
(filters, size/stride, activation, the references as written), the output shape for the
[net] input size, and every source the layer reads (the previous layer, and each index a
`layers`, `from` or similar key names). Heads (detection and loss layers) and outputs (layers
nothing reads) are flagged.
"""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.info import shape_text
from darkpy.network import INPUT, Network

# layers whose output is a prediction or a loss rather than a feature map
HEAD_KINDS = ("yolo", "Gaussian_yolo", "region", "detection", "iseg", "cost", "logistic",
              "contrastive")
# kinds where the activation is part of what the layer is (shown even when linear)
_WEIGHTED_KINDS = ("convolutional", "connected", "deconvolutional", "local")
# short extra keys worth a glance for kinds with no filters/size of their own
_SHOWN_KEYS = {"yolo": ("classes", "mask"), "Gaussian_yolo": ("classes", "mask"),
               "region": ("classes", "num"), "detection": ("classes", "side"),
               "shortcut": ("alpha", "beta"), "dropout": ("probability",),
               "mean_shift": ("reverse",), "softmax": ("groups",)}


@dataclass(frozen=True)
class Node:
    index: int  # layer index (INPUT for the network input)
    kind: str
    detail: str  # the keys that matter, in a few words
    shape: str  # output shape, width x height x channels
    origin: str  # file:line of the section
    head: bool  # a detection or loss layer
    output: bool  # nothing reads this layer's output
    options: str  # every key as written, for tooltips


@dataclass(frozen=True)
class Link:
    source: int  # layer index, or INPUT
    target: int
    key: str | None  # the key that named the source; None = the implicit previous layer


def _number_text(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_number_text(v) for v in value)
    return str(value)


def _detail(network: Network, index: int) -> str:
    layer = network.layers[index]
    section = network.sections[index + 1]
    desc = layer.describe()
    size = str(desc.get("size", ""))
    if layer.kind == "route" and size:
        size = f"group {size}"  # group_id/groups of each input's channels
    parts = [str(desc.get("filters", "")), size]
    cls = type(layer)
    if "activation" in cls.keys:
        activation = layer.opts.get("activation")
        if activation and (activation != "linear" or layer.kind in _WEIGHTED_KINDS):
            parts.append(str(activation))
    if layer.opts.get("batch_normalize"):
        parts.append("bn")
    for name in _SHOWN_KEYS.get(layer.kind, ()):
        if name in section.options:
            parts.append(f"{name}={section.options[name]}")
    keys = [k for k in dict.fromkeys(network.source_keys[index]) if k is not None]
    for name in keys:
        resolved = [s for s, k in zip(network.sources[index], network.source_keys[index])
                    if k == name]
        parts.append(f"{name}={section.options.get(name, '')} -> "
                     + ",".join("in" if s == INPUT else str(s) for s in resolved))
    return " ".join(p for p in parts if p)


def nodes_and_links(network: Network) -> tuple[Node, list[Node], list[Link]]:
    """(the input node, one node per layer, every reference) of `network`."""
    consumers = [0] * len(network.layers)
    links = []
    for target, (sources, keys) in enumerate(zip(network.sources, network.source_keys)):
        for source, key in zip(sources, keys):
            links.append(Link(source, target, key))
            if source != INPUT:
                consumers[source] += 1
    nodes = []
    for i, layer in enumerate(network.layers):
        section = network.sections[i + 1]
        options = "\n".join(f"{k}={v}" for k, v in section.options.items())
        nodes.append(Node(
            index=i, kind=section.kind, detail=_detail(network, i),
            shape=shape_text(network.shapes[i]), origin=section.origin,
            head=layer.kind in HEAD_KINDS, output=consumers[i] == 0,
            options=f"[{section.kind}] {section.origin}" + (f"\n{options}" if options else ""),
        ))
    net = network.sections[0]
    source = Node(index=INPUT, kind="input", detail="", shape=shape_text(network.input_shape),
                  origin=net.origin, head=False, output=False,
                  options=f"[{net.kind}] {net.origin}")
    return source, nodes, links


def signature(network: Network, index: int) -> tuple:
    """What makes two layers 'the same' for repeat detection: kind, every typed option, and
    the references relative to the layer (absolute indices would differ block to block)."""
    layer = network.layers[index]
    refs = tuple((k, "in" if s == INPUT else s - index)
                 for s, k in zip(network.sources[index], network.source_keys[index]))
    skip = {k for k in network.source_keys[index] if k is not None}
    opts = tuple(sorted((k, _number_text(v)) for k, v in layer.opts.items() if k not in skip))
    return (layer.kind, opts, refs, network.shapes[index])
