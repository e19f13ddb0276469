"""Which darknet reads what a cfg uses, and what the other darknet would silently ignore.

darkpy accepts the union of the keys pjreddie's and AlexeyAB's darknet read, and the section
kinds of both (each schema Key and each layer class says which darknet has it: `fork`). A
cfg written for one darknet that uses a key only the other one reads loads in darkpy, but
that darknet prints "Unused field" and runs something else. Given the darknet a cfg is for
(`Network(sections, fork=...)`, `darkpy info --fork`), `check_fork` turns every such key or
section kind into an error that says which darknet reads it. Without one, `mixed_forks`
notices a cfg that needs both (a kind or key only AlexeyAB reads next to one only pjreddie
reads), which no darknet runs as darkpy does.
"""
from __future__ import annotations

from dataclasses import dataclass

from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.net_keys import NET_KEYS
from darkpy.config.schema import ALEXEYAB, BOTH, DARKNET_FORKS, DARKPY, PJREDDIE
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.registry import layer_class

NET_KINDS = ("net", "network")


@dataclass(frozen=True)
class ForkUse:
    """Something a cfg uses that not both darknets read: a section kind or a key."""

    where: str  # file:line
    kind: str  # the section kind as written
    key: str | None  # None: the section kind itself
    fork: str  # who reads it: pjreddie, AlexeyAB, darkpy or neither

    @property
    def what(self) -> str:
        return f"[{self.kind}]" if self.key is None else f"key `{self.key}` in [{self.kind}]"


def normalise_fork(name: str) -> str:
    """'pjreddie' or 'AlexeyAB' from any capitalisation; anything else is a ConfigError."""
    for fork in DARKNET_FORKS:
        if name.strip().lower() == fork.lower():
            return fork
    raise ConfigError(f"unknown darknet fork '{name}'; expected pjreddie or AlexeyAB")


def _schema(kind: str):
    """(kind's fork, its keys) or None for a kind darkpy does not know (reported elsewhere)."""
    if kind in NET_KINDS:
        return BOTH, NET_KEYS
    cls = layer_class(kind)
    if cls is None:
        return None
    return cls.fork, {**COMMON_KEYS, **cls.keys}


def fork_uses(sections: list[Section]) -> list[ForkUse]:
    """Every section kind and key of `sections` that not both darknets read, in file order."""
    uses = []
    for section in sections:
        schema = _schema(section.kind)
        if schema is None:
            continue
        kind_fork, keys = schema
        if kind_fork != BOTH:
            uses.append(ForkUse(section.origin, section.kind, None, kind_fork))
        for name in section.options:
            key = keys.get(name)
            # a key of a one-fork kind is that fork's anyway: the kind says it once
            if key is not None and key.fork != BOTH and key.fork != kind_fork:
                uses.append(ForkUse(section.where(name), section.kind, name, key.fork))
    return uses


def fork_message(use: ForkUse, target: str) -> str:
    """Why `use` does not work in `target`'s darknet, in one line."""
    if use.fork in DARKNET_FORKS:
        if use.key is None:
            return (f"{use.where}: {use.what} exists only in {use.fork}'s darknet; {target}'s "
                    "cannot load this cfg")
        return (f"{use.where}: {use.what} is read only by {use.fork}'s darknet; {target}'s "
                "ignores it")
    if use.fork == DARKPY:
        if use.key is None:
            return f"{use.where}: {use.what} is darkpy's own; no darknet can load this cfg"
        return f"{use.where}: {use.what} is darkpy's own; {target}'s darknet ignores it"
    return f"{use.where}: {use.what} is read by no darknet; {target}'s ignores it"


def fork_problems(sections: list[Section], target: str) -> list[str]:
    """A message for everything in `sections` that `target`'s darknet does not read."""
    target = normalise_fork(target)
    return [fork_message(use, target) for use in fork_uses(sections)
            if use.fork != target]


def check_fork(sections: list[Section], target: str) -> None:
    """Raise a ConfigError naming the first thing `target`'s darknet would not read."""
    problems = fork_problems(sections, target)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)


def mixed_forks(sections: list[Section]) -> str | None:
    """A warning when the cfg needs both darknets at once, else None."""
    first = {}
    for use in fork_uses(sections):
        if use.fork in DARKNET_FORKS:
            first.setdefault(use.fork, use)
    if len(first) < 2:
        return None
    ab, pj = first[ALEXEYAB], first[PJREDDIE]
    return (f"this cfg mixes the two darknets: {ab.what} ({ab.where}) is AlexeyAB's only, "
            f"{pj.what} ({pj.where}) pjreddie's only; neither darknet runs all of it "
            "(`darkpy info --fork` lists the rest)")
