"""YAML network descriptions: the same Sections as a darknet cfg, plus `repeat:` and `name:`.

```yaml
net: {width: 48, height: 48, channels: 3}
layers:
  - convolutional: {filters: 64, size: 3, pad: 1, activation: linear, name: head}
  - repeat: 16
    layers:
      - convolutional: {filters: 64, size: 3, pad: 1, activation: relu}
      - shortcut: {from: -2, alpha: 1}
  - route: {layers: [-1, head]}
```
- `net:` (or `network:`) holds the [net] options; `layers:` is a list of one-key mappings
  `{kind: {options}}`, options may be empty.
- `repeat: N` with its own `layers:` is expanded in place, N copies (repeats may nest).
- `name:` labels a layer; `from:` and `layers:` may use a name where darknet wants an index.
  A name means the most recent earlier layer with that name (so a name inside a repeat block
  means the current copy's layer) and is written out as a relative index (-k), so the Network
  only ever sees darknet semantics.
- Values become the strings a cfg would hold: numbers exactly as written, lists joined with
  ",", booleans 1/0. As darknet does for cfg lines, whitespace inside values is dropped.

Reading walks PyYAML's composed nodes (SafeLoader, nothing is ever constructed) so every
section and key keeps its `file:line`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from darkpy.config.schema import closest_key
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.io.text import read_text

NET_KINDS = ("net", "network")
TOP_KEYS = (*NET_KINDS, "layers")
REFERENCE_KEYS = ("from", "layers")  # options whose items may be layer names
MAX_LAYERS = 100_000  # a guard against a mistyped repeat count, not a real limit

_TAG = "tag:yaml.org,2002:"
_INT_TEXT = re.compile(r"[-+]?[0-9]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


# --- reading ---------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A layer read from YAML whose `from`/`layers` names are not resolved yet."""

    section: Section
    name: str | None = None
    references: dict[str, list[str]] = field(default_factory=dict)  # key -> raw items


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.layers: list[_Pending] = []

    def where(self, node: Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def fail(self, node: Node, message: str) -> ConfigError:
        return ConfigError(f"{self.where(node)}: {message}")

    # -- structure ---------------------------------------------------------------------------
    def pairs(self, node: MappingNode, what: str) -> list[tuple[str, ScalarNode, Node]]:
        """(key text, key node, value node) of a mapping; keys must be scalars and unique."""
        seen: dict[str, ScalarNode] = {}
        out = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, f"keys of {what} must be plain words")
            key = key_node.value.strip()
            if key in seen:
                raise self.fail(
                    key_node, f"key `{key}` repeated in {what} (first set at {self.where(seen[key])})"
                )
            seen[key] = key_node
            out.append((key, key_node, value_node))
        return out

    def document(self, root: Node | None) -> list[Section]:
        if root is None:
            raise ConfigError(f"{self.source}: empty YAML document (expected `net:` and `layers:`)")
        if not isinstance(root, MappingNode):
            raise self.fail(root, "a network description must be a mapping with `net:` and `layers:`")
        net_section = None
        layers_node = None
        for key, key_node, value_node in self.pairs(root, "the document"):
            if key not in TOP_KEYS:
                hint = closest_key(key, TOP_KEYS)
                tip = f"; did you mean `{hint}`?" if hint else ""
                raise self.fail(key_node, f"unknown top-level key `{key}` (expected net and layers){tip}")
            if key == "layers":
                layers_node = value_node
                continue
            if net_section is not None:
                raise self.fail(key_node, "`net` and `network` both given; use one")
            net_section = Section(kind=key, origin=self.where(key_node))
            self.fill_options(net_section, value_node, f"[{key}]", allow_name=False)
        if net_section is None:
            raise self.fail(root, "missing `net:` (the network's input size and training setup)")
        if layers_node is not None and not _is_null(layers_node):
            if not isinstance(layers_node, SequenceNode):
                raise self.fail(layers_node, "`layers:` must be a list of `- kind: {options}` entries")
            self.expand(layers_node)
        return [net_section] + self.resolve_names()

    def expand(self, sequence: SequenceNode) -> None:
        for entry in sequence.value:
            if not isinstance(entry, MappingNode):
                raise self.fail(entry, "a layer entry must be a mapping like `- convolutional: {filters: 16}`")
            pairs = self.pairs(entry, "a layer entry")
            keys = [key for key, _, _ in pairs]
            if "repeat" in keys:
                self.expand_repeat(entry, pairs)
            elif len(pairs) != 1:
                raise self.fail(
                    entry,
                    f"a layer entry has exactly one key, its kind (`- convolutional: {{...}}`); "
                    f"got {', '.join(keys) or 'none'} (indent the options under the kind)",
                )
            else:
                self.layer(*pairs[0])
            if len(self.layers) > MAX_LAYERS:
                raise self.fail(entry, f"more than {MAX_LAYERS} layers after expanding repeats")

    def expand_repeat(self, entry: MappingNode, pairs) -> None:
        found = {key: (key_node, value_node) for key, key_node, value_node in pairs}
        extra = [key for key in found if key not in ("repeat", "layers")]
        if extra:
            raise self.fail(entry, f"a repeat block takes only `repeat:` and `layers:`, got `{extra[0]}`")
        key_node, count_node = found["repeat"]
        count = None
        if isinstance(count_node, ScalarNode) and count_node.tag == _TAG + "int":
            text = count_node.value.strip()
            count = int(text) if _INT_TEXT.fullmatch(text) else None
        if count is None:
            raise self.fail(count_node, "`repeat:` needs a whole number of copies")
        if count < 1:
            raise self.fail(count_node, f"`repeat:` must be at least 1, got {count}")
        if "layers" not in found:
            raise self.fail(key_node, "a repeat block needs `layers:` listing the layers to repeat")
        _, body = found["layers"]
        if not isinstance(body, SequenceNode) or not body.value:
            raise self.fail(body, "the `layers:` of a repeat block must be a non-empty list")
        for _ in range(count):
            self.expand(body)

    def layer(self, kind: str, key_node: ScalarNode, value_node: Node) -> None:
        if not kind:
            raise self.fail(key_node, "empty layer kind")
        pending = _Pending(Section(kind=kind, origin=self.where(key_node)))
        self.fill_options(pending.section, value_node, f"[{kind}]", allow_name=True, pending=pending)
        self.layers.append(pending)

    # -- values ------------------------------------------------------------------------------
    def fill_options(self, section: Section, node: Node, what: str, allow_name: bool,
                     pending: _Pending | None = None) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"the options of {what} must be a mapping like {{key: value}}")
        for key, key_node, value_node in self.pairs(node, what):
            if allow_name and key == "name":
                pending.name = self.layer_name(value_node)
                continue
            items = self.items(key, value_node, what)
            if pending is not None and key in REFERENCE_KEYS:
                # keep the slot so option order is preserved; filled in resolve_names
                pending.references[key] = items
                section.options[key] = ""
            else:
                section.options[key] = ",".join(items)
            section.key_origins[key] = self.where(key_node)

    def items(self, key: str, node: Node, what: str) -> list[str]:
        """The cfg text of a value as comma-separated items (a scalar is split at commas)."""
        if isinstance(node, SequenceNode):
            out = []
            for item in node.value:
                if not isinstance(item, ScalarNode):
                    raise self.fail(item, f"`{key}` in {what}: list items must be plain values")
                out.append(self.scalar_text(key, item, what))
            return out
        if isinstance(node, ScalarNode):
            text = self.scalar_text(key, node, what)
            return text.split(",") if key in REFERENCE_KEYS else [text]
        raise self.fail(node, f"`{key}` in {what}: expected a value or a list, not a mapping")

    def scalar_text(self, key: str, node: ScalarNode, what: str) -> str:
        if node.tag == _TAG + "null":
            raise self.fail(node, f"`{key}` in {what} has no value")
        if node.tag == _TAG + "bool":
            return "1" if node.value.strip().lower() in ("true", "yes", "on") else "0"
        return "".join(node.value.split())

    def layer_name(self, node: Node) -> str:
        text = node.value.strip() if isinstance(node, ScalarNode) else ""
        if not _NAME.fullmatch(text):
            raise self.fail(
                node, f"a layer name must be a word (letters, digits, _ . -, not starting with a digit), got '{text}'"
            )
        return text

    # -- names -------------------------------------------------------------------------------
    def resolve_names(self) -> list[Section]:
        named: dict[str, list[int]] = {}
        for index, pending in enumerate(self.layers):
            if pending.name is not None:
                named.setdefault(pending.name, []).append(index)
        for index, pending in enumerate(self.layers):
            section = pending.section
            for key, items in pending.references.items():
                resolved = []
                for item in items:
                    item = item.strip()
                    if not item or _INT_TEXT.fullmatch(item):
                        resolved.append(item)  # indices (and slips) go to the layer's checks
                    else:
                        resolved.append(str(self.name_index(item, index, section, key, named) - index))
                section.options[key] = ",".join(resolved)
        return [pending.section for pending in self.layers]

    def name_index(self, name: str, index: int, section: Section, key: str,
                   named: dict[str, list[int]]) -> int:
        where = section.where(key)
        candidates = named.get(name, [])
        earlier = [i for i in candidates if i < index]
        if earlier:
            return earlier[-1]
        if candidates:
            raise ConfigError(
                f"{where}: [{section.kind}] layer {index}: `{key}` names '{name}', which is layer "
                f"{candidates[0]}, not an earlier layer; a name may only refer back"
            )
        hint = closest_key(name, named)
        tip = f"; did you mean '{hint}'?" if hint else ""
        raise ConfigError(
            f"{where}: [{section.kind}] layer {index}: `{key}` refers to unknown layer name '{name}'{tip}"
        )


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def parse_yaml_text(text: str, source: str = "<string>") -> list[Section]:
    """Sections of a YAML network description (repeats expanded, names made indices)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        message = exc.problem or exc.context or "syntax error"
        if exc.problem and exc.context and exc.context_mark is not None:
            # the context often points at the real slip, e.g. an unclosed `{` lines earlier
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(f"{where}: invalid YAML: {message}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    return _Reader(source).document(root)


def read_yaml(path: str | Path) -> list[Section]:
    return parse_yaml_text(read_text(path, "file", ConfigError), str(path))


# --- writing ---------------------------------------------------------------------------------
class _Number(str):
    """Option text that YAML reads as the same number: written bare, exactly as is."""


class _FlowMap(dict):
    """A layer's options: written on one line, `{filters: 16, size: 3}`."""


class _FlowList(list):
    """A comma list of numbers: written on one line, `[10, 14, 23, 27]`."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        # indent `- ` items under `layers:` as people write them by hand
        return super().increase_indent(flow, False)


def _represent_number(dumper, value):
    return dumper.represent_scalar(_RESOLVER.resolve(ScalarNode, str(value), (True, False)), str(value))


_Dumper.add_representer(_Number, _represent_number)
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping(_TAG + "map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(_TAG + "seq", v, flow_style=True))

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _as_number(text: str) -> _Number | None:
    """`text` as a bare YAML number if YAML and Python read it as the same value, else None.

    Reading keeps a number's text as written, so a bare number always comes back identical;
    the value check keeps YAML-only forms (octal 010, 1:30, .inf) quoted, so any other YAML
    reader sees what darknet sees.
    """
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    node = ScalarNode(tag, text)
    try:
        if tag == _TAG + "int":
            same = int(text) == _CONSTRUCTOR.construct_yaml_int(node)
        elif tag == _TAG + "float":
            same = float(text) == _CONSTRUCTOR.construct_yaml_float(node)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return _Number(text) if same else None


def _typed(text: str):
    """The YAML value for one option string: a number, a list of numbers, or the string."""
    if "," in text:
        items = [_as_number(item) for item in text.split(",")]
        return _FlowList(items) if all(item is not None for item in items) else text
    number = _as_number(text)
    return number if number is not None else text


def format_yaml(sections: list[Section]) -> str:
    """YAML text of `sections`: reading it back gives the same kinds, options and values."""
    if not sections or sections[0].kind not in NET_KINDS:
        where = sections[0].origin if sections else "<memory>"
        raise ConfigError(f"{where}: a network description starts with a [net] section")
    head = sections[0]
    document = {
        head.kind: {key: _typed(value) for key, value in head.options.items()},
        "layers": [
            {section.kind: _FlowMap((key, _typed(value)) for key, value in section.options.items())}
            for section in sections[1:]
        ],
    }
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=1 << 30, allow_unicode=True)


def write_yaml(sections: list[Section], path: str | Path) -> None:
    from darkpy.io.atomic import atomic_write_text

    atomic_write_text(Path(path), format_yaml(sections))
