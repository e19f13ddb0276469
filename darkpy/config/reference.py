"""The cfg key reference: every section kind and key darkpy knows, from the schemas themselves.

`darkpy keys` and docs/cfg-reference.md (written by tools/make_cfg_reference.py) both come
from here, so the reference cannot drift from what the parser accepts: the layer classes of
the registry (kind, aliases, `summary`, `fork`, `keys`), the [net] schema (config/net_keys.py)
and the keys every layer section accepts (config/common_keys.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.net_keys import NET_GROUPS, NET_KEYS
from darkpy.config.schema import (
    ALEXEYAB,
    BOTH,
    DARKPY,
    PJREDDIE,
    Key,
    closest_keys,
)
from darkpy.errors import ConfigError

NET, COMMON = "net", "common"

# The activation names each darknet's get_activation knows (anything else: pjreddie warns and
# uses relu, AlexeyAB too). darkpy knows all of them plus four of its own.
PJREDDIE_ACTIVATIONS = ("logistic", "loggy", "relu", "elu", "selu", "relie", "plse",
                        "hardtan", "lhtan", "linear", "ramp", "leaky", "tanh", "stair")
ALEXEYAB_ACTIVATIONS = PJREDDIE_ACTIVATIONS + (
    "relu6", "gelu", "mish", "swish", "hard_mish", "revleaky",
    "normalize_channels", "normalize_channels_softmax", "normalize_channels_softmax_maxval")

_TYPE_NAMES = {"int": "int", "float": "float", "str": "text", "ints": "int list",
               "floats": "float list"}
_FORK_WORDS = {BOTH: "both", PJREDDIE: "pjreddie", ALEXEYAB: "AlexeyAB", DARKPY: "darkpy only",
               "neither": "neither"}


@dataclass(frozen=True)
class SectionDoc:
    """One section kind as the reference shows it."""

    kind: str
    aliases: tuple[str, ...]
    summary: str
    fork: str
    keys: dict[str, Key]

    @property
    def title(self) -> str:
        return "keys every layer section accepts" if self.kind == COMMON else f"[{self.kind}]"


def activation_fork(name: str) -> str:
    """Which darknet knows activation `name`: both, AlexeyAB or darkpy (only)."""
    if name in PJREDDIE_ACTIVATIONS:
        return BOTH
    return ALEXEYAB if name in ALEXEYAB_ACTIVATIONS else DARKPY


def sections() -> list[SectionDoc]:
    """[net], every layer kind (alphabetical), then the keys every layer section accepts."""
    from darkpy.layers.registry import LAYER_CLASSES  # imported late: every layer module

    net = SectionDoc(NET, ("network",), "input size, batching, optimiser, learning-rate "
                     "schedule, augmentation", BOTH, NET_KEYS)
    layers = [SectionDoc(cls.kind, tuple(cls.aliases), cls.summary, cls.fork, dict(cls.keys))
              for cls in sorted(LAYER_CLASSES, key=lambda c: c.kind.lower())]
    common = SectionDoc(COMMON, (), "accepted by every layer section (freezing, per-layer "
                        "learning rate, weight loading)", BOTH, COMMON_KEYS)
    return [net, *layers, common]


def find_section(name: str) -> SectionDoc:
    """The section called `name` (kind or alias, with or without brackets, any case)."""
    wanted = name.strip().strip("[]").strip()
    docs = sections()
    names = {}
    for doc in docs:
        for alias in (doc.kind, *doc.aliases):
            names[alias] = doc
    if wanted in names:
        return names[wanted]
    folded = {alias.lower(): doc for alias, doc in names.items()}
    if wanted.lower() in folded:
        return folded[wanted.lower()]
    hints = closest_keys(wanted, names)
    tip = f"; did you mean {', '.join(f'[{h}]' for h in hints)}?" if hints else ""
    raise ConfigError(f"unknown section kind [{wanted}]{tip} (`darkpy keys` lists them all)")


def default_text(key: Key) -> str:
    if key.default_text:
        return key.default_text
    value = key.default
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(_number(v) for v in value) if value else "(empty)"
    return _number(value) if isinstance(value, float) else str(value)


def _number(value) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def allowed_text(key: Key) -> str:
    """The allowed values or range; activation lists are named, not spelled out."""
    if key.choices is not None:
        if "leaky" in key.choices:
            return "an activation name"
        return ", ".join(str(c) for c in key.choices)
    if key.minimum is not None:
        return f">= {key.minimum}"
    return ""


def key_row(name: str, key: Key) -> dict:
    """One key as the reference shows it (also the `--json` form)."""
    return {
        "key": name,
        "type": _TYPE_NAMES[key.type],
        "default": default_text(key),
        "allowed": allowed_text(key),
        "fork": key.fork,
        "phase": key.phase,
        "darkpy": "acts on it" if key.used else "keeps it",
        "meaning": key.doc,
        "group": key.group,
    }


def section_rows(doc: SectionDoc, fork: str | None = None) -> list[dict]:
    """The rows of `doc`'s key table; with `fork`, only the keys that darknet reads."""
    rows = [key_row(name, key) for name, key in doc.keys.items()]
    if fork is not None:
        rows = [r for r in rows if r["fork"] in (BOTH, fork)]
    return rows


def section_json(doc: SectionDoc, fork: str | None = None) -> dict:
    return {"kind": doc.kind, "aliases": list(doc.aliases), "summary": doc.summary,
            "fork": doc.fork, "keys": section_rows(doc, fork)}


def listing_json() -> list[dict]:
    return [{"kind": d.kind, "aliases": list(d.aliases), "fork": d.fork, "summary": d.summary,
             "keys": len(d.keys)} for d in sections()]


def fork_word(fork: str) -> str:
    return _FORK_WORDS[fork]


# --- docs/cfg-reference.md ------------------------------------------------------------------
_COLUMNS = ("key", "type", "default", "allowed", "darknet", "when", "darkpy", "meaning")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _anchor(doc: SectionDoc) -> str:
    return "common-keys" if doc.kind == COMMON else doc.kind.lower()


def _table(rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in rows:
        cells = (f"`{r['key']}`", r["type"], f"`{r['default']}`" if r["default"] != "-" else "-",
                 r["allowed"], fork_word(r["fork"]), r["phase"], r["darkpy"], r["meaning"])
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def markdown() -> str:
    """The whole reference as Markdown (docs/cfg-reference.md)."""
    docs = sections()
    out = [
        "# cfg key reference",
        "",
        "<!-- generated by tools/make_cfg_reference.py from darkpy's schemas; do not edit -->",
        "",
        "Every section kind darkpy reads and every key of each, as darkpy's parser checks them "
        "(`darkpy keys SECTION` prints the same tables). A cfg is darknet's INI format: "
        "`[kind]` starts a section, `key=value` lines set its keys, `#` starts a comment.",
        "",
        "- **darknet**: which darknet reads the key or has the section kind: `both`, "
        "`pjreddie` (pjreddie/darknet), `AlexeyAB` (AlexeyAB/darknet), `darkpy only` "
        "(darknet ignores it) or `neither` (found in cfgs shipped with darknet, read by none). "
        "`darkpy info --fork pjreddie|AlexeyAB MODEL` reports everything in a cfg that the "
        "named darknet would not read.",
        "- **when**: `inference` keys change what the network computes or loads; `training` "
        "keys are read only when training; `runtime` keys tune darknet's execution (CUDA "
        "streams, memory, logging) and change no result.",
        "- **darkpy**: `acts on it`, or `keeps it` (accepted and written back, not acted on).",
        "- **default**: the value when the key is absent; a name (`stride`) is another key's "
        "value, `-` means unset.",
        "- Layer indices in `layers`, `from` and similar keys count from 0 at the first "
        "section after [net]; negative values are relative to the layer itself.",
        "",
        "## Section kinds",
        "",
        "| section | aliases | darknet | purpose |",
        "|---|---|---|---|",
    ]
    for doc in docs:
        aliases = ", ".join(f"`[{a}]`" for a in doc.aliases)
        name = "any layer" if doc.kind == COMMON else f"`[{doc.kind}]`"
        out.append(f"| [{name}](#{_anchor(doc)}) | {aliases} | "
                   f"{fork_word(doc.fork)} | {_cell(doc.summary)} |")
    for doc in docs:
        out += ["", f'<a id="{_anchor(doc)}"></a>', "", f"## {doc.title}", ""]
        aliases = (f" Aliases: {', '.join(f'`[{a}]`' for a in doc.aliases)}."
                   if doc.aliases else "")
        out.append(f"{doc.summary[0].upper()}{doc.summary[1:]}. darknet: "
                   f"{fork_word(doc.fork)}.{aliases}")
        if not doc.keys:
            out += ["", "No keys of its own (only the [keys every layer section accepts]"
                        "(#common-keys))."]
            continue
        rows = section_rows(doc)
        if doc.kind == NET:
            for group in NET_GROUPS:
                part = [r for r in rows if r["group"] == group]
                if part:
                    out += ["", f"### {group}", "", *_table(part)]
        else:
            out += ["", *_table(rows)]
    out += ["", "## Activation names", "",
            "Keys whose allowed values say *an activation name* take one of these:", "",
            "| name | darknet |", "|---|---|"]
    from darkpy.kernels.activation_codes import ACTIVATION_NAMES, CHANNEL_ACTIVATION_NAMES

    for name in ACTIVATION_NAMES + CHANNEL_ACTIVATION_NAMES:
        out.append(f"| `{name}` | {fork_word(activation_fork(name))} |")
    out += ["", "The `normalize_channels*` names normalise across channels and are accepted by "
            "[convolutional] only."]
    return "\n".join(out) + "\n"
