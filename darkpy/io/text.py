"""Text files users write by hand (cfgs, YAML, names, darknet .data files and lists).

`utf-8-sig`: editors on Windows start files with a byte-order mark, which would otherwise
become part of the first key. A missing or unreadable file is the caller's darkpy error,
naming the file and what it was expected to be.
"""
from __future__ import annotations

from pathlib import Path

from darkpy.errors import InputError


def read_text(path, what: str, error: type = InputError) -> str:
    """The text of `path`; `what` names the file in errors ("cfg", "names file" ...)."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read the {what} ({exc})") from None
