"""Class names files (darknet's coco.names: one name a line, line i is class i)."""
from __future__ import annotations

from pathlib import Path

from darkpy.errors import InputError
from darkpy.io.text import read_text


def read_names(path: str | Path) -> list[str]:
    names = read_text(path, "names file").splitlines()
    while names and not names[-1].strip():  # trailing blank lines name no class
        names.pop()
    if not names:
        raise InputError(f"{path}: names file is empty")
    return names


def check_names(names: list[str], classes: int, source: str) -> list[str]:
    """The names, if there is one per class; a clear error otherwise."""
    if len(names) != classes:
        raise InputError(
            f"{source}: {len(names)} class names, but the network predicts {classes} classes "
            f"(is this the names file the network was trained with?)"
        )
    return list(names)


def resolve_names(names, network_names, classes: int) -> list[str]:
    """Names from a list, a file, or else the network's own (an .h5 carries them); as a last
    resort the class indices as text."""
    if names is None:
        if network_names:
            return check_names(list(network_names), classes, "the model's class names")
        return [str(k) for k in range(classes)]
    if isinstance(names, (str, Path)):
        return check_names(read_names(names), classes, str(names))
    return check_names(list(names), classes, "the class names given")
