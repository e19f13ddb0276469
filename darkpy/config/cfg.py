"""darknet `.cfg` (INI-like) reading and writing.

Accepted as darknet does: `[section]` headers, `key=value` lines, whole-line comments starting
with `#` or `;`, blank lines and whitespace anywhere around keys and values (darknet strips
all whitespace, so `anchors = 10,14,  23,27` is the list 10,14,23,27). Stricter than darknet:
a line that is neither a header nor `key=value`, or a file whose first section is not
`[net]`/`[network]`, is an error naming file and line. A key repeated in one section keeps its
first value, as darknet does, with a warning naming both lines.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.io.text import read_text

NET_KINDS = ("net", "network")


def _strip_inline_comment(text: str) -> str:
    # darknet has no inline comments, but `key=value  # note` is a common slip in hand-written
    # cfgs; no darknet value contains # or ;
    for mark in ("#", ";"):
        pos = text.find(mark)
        if pos >= 0:
            text = text[:pos]
    return text


def parse_cfg_text(text: str, source: str = "<string>") -> list[Section]:
    sections: list[Section] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{lineno}"
        if not line or line[0] in "#;":
            continue
        line = _strip_inline_comment(line).strip()
        if line.startswith("["):
            kind = "".join(line[1:-1].split())
            if not line.endswith("]") or not kind:
                raise ConfigError(f"{where}: malformed section header '{raw.strip()}'")
            sections.append(Section(kind=kind, origin=where))
            continue
        if "=" not in line:
            raise ConfigError(f"{where}: expected `key=value` or `[section]`, got '{raw.strip()}'")
        if not sections:
            raise ConfigError(f"{where}: option '{line}' before the first [section]")
        key, value = line.split("=", 1)
        key = "".join(key.split())
        value = "".join(value.split())
        if not key:
            raise ConfigError(f"{where}: empty key in '{raw.strip()}'")
        section = sections[-1]
        if key in section.options:
            # darknet's option_find returns the first occurrence; cfgs shipped with darknet
            # repeat keys (efficientnet_b0.cfg sets momentum and decay twice)
            warnings.warn(
                f"{where}: key `{key}` repeated in [{section.kind}] (first set at "
                f"{section.key_origins[key]}); the first value is used, as in darknet",
                stacklevel=2,
            )
            continue
        section.options[key] = value
        section.key_origins[key] = where
    if not sections:
        raise ConfigError(f"{source}: no sections found (is this a darknet .cfg file?)")
    if sections[0].kind not in NET_KINDS:
        raise ConfigError(
            f"{sections[0].origin}: the first section must be [net] or [network], got [{sections[0].kind}]"
        )
    return sections


def read_cfg(path: str | Path) -> list[Section]:
    return parse_cfg_text(read_text(path, "file", ConfigError), str(path))


def format_cfg(sections: list[Section]) -> str:
    blocks = []
    for section in sections:
        lines = [f"[{section.kind}]"] + [f"{k}={v}" for k, v in section.options.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_cfg(sections: list[Section], path: str | Path) -> None:
    from darkpy.io.atomic import atomic_write_text

    atomic_write_text(Path(path), format_cfg(sections))
