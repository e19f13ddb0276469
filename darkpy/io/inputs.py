"""What a batch command was given: files, folders, glob patterns (and for `detect` cameras),
expanded by one collector, with the file-name helpers the pipelines share."""
from __future__ import annotations

import glob
from pathlib import Path


def full_suffix(path) -> str:
    """'.nii.gz' for gzipped NIfTI, else the lower-case suffix."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def stem(path) -> str:
    """The name without its (possibly double) suffix."""
    path = Path(path)
    suffix = full_suffix(path)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


def collect_inputs(items, suffixes, what: str,
                   cameras: bool = False) -> tuple[list, list[tuple[str, str]]]:
    """Expand the inputs in order, without duplicates.

    A file is taken whatever its suffix; folders give their files whose suffix is in
    `suffixes` (not recursive, hidden files skipped), patterns the matching files with those
    suffixes. With `cameras`, an argument of digits only that names no file is a camera index
    (returned as an int). `what` names the files looked for, in the reasons. Returns
    (paths and camera indices, [(item, why it gave nothing)]).
    """
    suffixes = tuple(suffixes)
    found: list = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def wanted(path: Path) -> bool:
        return path.is_file() and full_suffix(path) in suffixes

    def add(path: Path):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for item in items:
        item = str(item)
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if wanted(p) and not p.name.startswith("."))
            if not files:
                problems.append((item, f"folder holds no {what}"))
            for p in files:
                add(p)
        elif path.is_file():
            add(path)
        elif cameras and item.isdigit():
            found.append(int(item))
        elif glob.has_magic(item):
            files = sorted(Path(p) for p in glob.glob(item, recursive=True) if wanted(Path(p)))
            if not files:
                problems.append((item, f"pattern matches no {what}"))
            for p in files:
                add(p)
        else:
            problems.append((item, "no such file or folder"))
    return found, problems
