"""The one in-memory form of a network description, shared by the cfg and YAML readers."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    """One `[kind]` block: raw option strings exactly as written, plus where each came from.

    `options` keeps cfg text form (`"-1,-4"`, `"0.1"`) so both readers produce the same thing
    and writing a cfg back is lossless. Typed values come from the layer's schema.
    """

    kind: str
    options: dict[str, str] = field(default_factory=dict)
    origin: str = "<memory>"  # "file:line" of the section header
    key_origins: dict[str, str] = field(default_factory=dict)  # key -> "file:line"

    def where(self, key: str | None = None) -> str:
        """file:line of `key` if known, else of the section header."""
        if key is not None and key in self.key_origins:
            return self.key_origins[key]
        return self.origin
