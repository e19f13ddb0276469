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


# Which darknet reads a key (or has a section kind). "both" = pjreddie's and AlexeyAB's;
# "darkpy" = darkpy's own addition (darknet warns "Unused field" and ignores it); "neither" =
# read by no darknet, but found in cfgs shipped with one (accepted so those cfgs load).
BOTH, PJREDDIE, ALEXEYAB, DARKPY, NEITHER = "both", "pjreddie", "AlexeyAB", "darkpy", "neither"
FORKS = (BOTH, PJREDDIE, ALEXEYAB, DARKPY, NEITHER)
DARKNET_FORKS = (PJREDDIE, ALEXEYAB)

# When a key matters: "inference" = it changes what the network computes or loads, so it
# matters whenever the network runs (training included); "training" = read only by training
# (loss, optimiser, augmentation); "runtime" = a darknet execution detail (CUDA streams,
# memory, logging, charts) that changes no result.
INFERENCE, TRAINING, RUNTIME = "inference", "training", "runtime"
PHASES = (INFERENCE, TRAINING, RUNTIME)


@dataclass(frozen=True)
class Key:
    """One option: its type (int, float, str, ints, floats), default and allowed values.

    `doc` is the one-line meaning shown by `darkpy keys` and docs/cfg-reference.md (every key
    has one; a test checks). `fork` says which darknet reads the key and `phase` when it
    matters (see FORKS and PHASES above); `default_text` replaces the default in the reference
    where darknet derives it from other keys ("stride", "width*height*channels"); `group`
    sorts the many [net] keys into input / training / augmentation ... tables.

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
    fork: str = BOTH
    phase: str = INFERENCE
    default_text: str = ""
    group: str = ""

    def __post_init__(self):
        if self.fork not in FORKS:
            raise AssertionError(f"Key.fork must be one of {FORKS}, got {self.fork!r}")
        if self.phase not in PHASES:
            raise AssertionError(f"Key.phase must be one of {PHASES}, got {self.phase!r}")


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


def closest_keys(word: str, candidates, n: int = 3) -> list[str]:
    """Up to n candidates that look like `word`, best first: spelling, then a shared prefix
    or containment (`stride_w` -> `stride_x`, `stride`)."""
    candidates = list(candidates)
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates),
                    reverse=True)
    # near misses only: a clear winner ("filter" -> "filters") hides the also-rans
    best = scored[0][0] if scored else 0.0
    found = [c for r, c in scored[:n] if r >= max(0.6, best - 0.15)]
    lowered = word.lower()
    for name in candidates:
        if len(found) >= n:
            break
        low = name.lower()
        if name not in found and len(lowered) >= 3 and (lowered in low or low in lowered):
            found.append(name)
    if not found:
        found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return found


def unknown_key_message(section: Section, name: str, keys) -> str:
    """The error for a key `keys` does not have: where, which, and the closest valid ones."""
    hints = closest_keys(name, keys)
    if len(hints) == 1:
        tip = f"; did you mean `{hints[0]}`?"
    elif hints:
        tip = "; did you mean " + ", ".join(f"`{h}`" for h in hints[:-1]) + f" or `{hints[-1]}`?"
    else:
        tip = ""
    listing = f" (`darkpy keys {section.kind}` lists its keys)" if section.kind else ""
    return f"{section.where(name)}: unknown key `{name}` in [{section.kind}]{tip}{listing}"


def parse_options(section: Section, keys: dict[str, Key]) -> Options:
    """Validate `section.options` against `keys`, returning typed values with defaults filled."""
    out = Options()
    for name, raw in section.options.items():
        key = keys.get(name)
        if key is None:
            raise ConfigError(unknown_key_message(section, name, keys))
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
