"""Typed option schemas: every layer kind declares its keys once, here they are validated.

An unknown key is an error (darknet only warns) that names file:line and the closest valid
key; a value that does not parse names the key and what was expected.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from darkpy.errors import ConfigError
from darkpy.config.section import Section

_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "ints": "a comma-separated list of integers",
    "floats": "a comma-separated list of numbers",
}


@dataclass(frozen=True)
class Key:
    """One option: its type (int, float, str, ints, floats), default and allowed values.

    `used=False` marks keys darknet reads (training, augmentation, GPU tuning) that darkpy
    accepts and keeps for round trips but does not act on yet. `minimum` rejects smaller
    values where the cfg sets the key (darknet would crash or loop on them).
    """

    type: str
    default: Any = None
    choices: tuple | None = None
    used: bool = True
    doc: str = ""
    minimum: int | None = None  # the smallest value an int key accepts (sizes, counts)


# darknet reads integers with atoi into C ints: anything beyond 32 bits is a mistake
INT_LIMIT = 1 << 31


def _parse_int(text: str) -> int:
    # "1.0" in a cfg is a user slip worth accepting
    value = float(text)
    if value != int(value):
        raise ValueError(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise OverflowError(text)
    return int(value)


def _parse_value(raw: str, key: Key) -> Any:
    text = raw.strip()
    if key.type == "int":
        return _parse_int(text)
    if key.type == "float":
        return float(text)
    if key.type == "str":
        return text
    parts = [p.strip() for p in text.split(",") if p.strip() != ""]
    if key.type == "ints":
        return [_parse_int(p) for p in parts]
    if key.type == "floats":
        return [float(p) for p in parts]
    raise AssertionError(f"unknown schema type {key.type}")


class Options(dict):
    """Typed option values with attribute access (`opts.filters`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:  # pragma: no cover - programming error
            raise AttributeError(name) from exc


def closest_key(word: str, candidates) -> str | None:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return match[0] if match else None


def parse_options(section: Section, keys: dict[str, Key]) -> Options:
    """Validate `section.options` against `keys`, returning typed values with defaults filled."""
    out = Options()
    for name, raw in section.options.items():
        key = keys.get(name)
        if key is None:
            hint = closest_key(name, keys)
            tip = f"; did you mean `{hint}`?" if hint else ""
            raise ConfigError(f"{section.where(name)}: unknown key `{name}` in [{section.kind}]{tip}")
        try:
            value = _parse_value(raw, key)
        except OverflowError:
            raise ConfigError(
                f"{section.where(name)}: key `{name}` in [{section.kind}] expects "
                f"{_TYPE_WORDS[key.type]} of at most 32 bits (darknet's C int), got '{raw}'"
            ) from None
        except ValueError:
            raise ConfigError(
                f"{section.where(name)}: key `{name}` in [{section.kind}] expects "
                f"{_TYPE_WORDS[key.type]}, got '{raw}'"
            ) from None
        if key.choices is not None and value not in key.choices:
            hint = closest_key(str(value), [str(c) for c in key.choices])
            tip = f" (did you mean `{hint}`?)" if hint else ""
            raise ConfigError(
                f"{section.where(name)}: key `{name}` in [{section.kind}] must be one of "
                f"{', '.join(map(str, key.choices))}; got '{raw}'{tip}"
            )
        if key.minimum is not None and value < key.minimum:
            raise ConfigError(
                f"{section.where(name)}: key `{name}` in [{section.kind}] must be >= "
                f"{key.minimum}, got '{raw}'"
            )
        out[name] = value
    for name, key in keys.items():
        if name not in out:
            default = key.default
            out[name] = list(default) if isinstance(default, (list, tuple)) else default
    return out
