"""darknet's training data files: `.data`, image lists, YOLO label files, classifier labels.

`.data` (darknet's read_data_cfg): `key = value` lines; blank lines and lines starting with
`#` or `;` are skipped; a key given twice keeps its first value; a line without `=` is
reported and ignored, as darknet does. The keys darknet's trainers read:

    classes   number of classes (detector default 20)
    train     image list to train on            valid   image list to evaluate
    names     class names, one a line           backup  folder for .weights checkpoints
    labels    classifier: label names, one a line (matched as substrings of image paths)
    top       classifier: k of the top-k accuracy
    (others: eval, results, map, tree, difficult, ... are kept as text)

Paths in a `.data` file and in image lists are used as darknet uses them: relative paths are
relative to the working directory (not to the file that names them); a path that is found
only relative to that file's folder is still an error, with a hint. Unlike darknet, spaces
inside a value are kept (darknet deletes every space, so paths with spaces never work there)
and Windows line ends are tolerated.

Image lists: one path a line (blank lines skipped).

YOLO labels (darknet's fill_truth_detection): the label file of an image is found by string
replacement on the image path, each replacing the first occurrence only:

    pjreddie:  images -> labels, JPEGImages -> labels, raw -> labels, then .jpg .png .JPG
               .JPEG -> .txt        (data/images/a.jpg -> data/labels/a.txt; a path without
               those words keeps its folder: data/obj/a.jpg -> data/obj/a.txt)
    alexeyab:  /images/train2017/ /images/val2017/ /images/train2014/ /images/val2014/ and
               /JPEGImages/ -> the same under labels (also with backslashes), then the image
               extension at the end of the path (.jpg .JPG .jpeg .JPEG .png .PNG .bmp .BMP
               .ppm .PPM .tiff .TIFF) -> .txt

Each line is `class x y w h`: an integer class in 0..classes-1 and the box centre and size
relative to the image, each in [0, 1]. darknet stops reading a file at its first malformed
line and writes out of bounds for a class >= classes; darkpy instead skips each bad line with
one warning naming file:line (a class out of range, a coordinate outside [0, 1] or not a
number, a wrong field count, a box centred at exactly (0, 0), which darknet turns into
garbage), keeps the rest, and counts what it skipped for a summary at the end (`Problems`).
One exception: a network with a [region] tree= head trained in pjreddie's lineage keeps a
line centred at (0, 0) (`class_only=True`): pjreddie's correct_boxes turns it into the box
999999, 999999, 999999, 999999, which that head reads as a classification-only truth
(YOLO9000 trains classification data so; layers/region.py).
An image whose label file is missing trains with no objects (AlexeyAB's behaviour; pjreddie's
darknet stops), with a warning.

Classifier labels (darknet's fill_truth): label k is set for an image when the k-th name of
the `labels` file occurs anywhere in the image's path; darknet trains whatever that gives and
complains when it is not exactly one label, and so does darkpy (a warning naming the list's
file:line).
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from darkpy.errors import InputError
from darkpy.io.text import read_text

LABEL_RULES = ("pjreddie", "alexeyab")
_PJREDDIE_WORDS = (("images", "labels"), ("JPEGImages", "labels"), ("raw", "labels"),
                   (".jpg", ".txt"), (".png", ".txt"), (".JPG", ".txt"), (".JPEG", ".txt"))
_ALEXEYAB_FOLDERS = ("/images/train2017/", "/images/val2017/", "/JPEGImages/",
                     "\\images\\train2017\\", "\\images\\val2017\\", "\\images\\train2014\\",
                     "\\images\\val2014\\", "/images/train2014/", "/images/val2014/",
                     "\\JPEGImages\\")
_ALEXEYAB_EXTENSIONS = (".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG", ".bmp", ".BMP",
                        ".ppm", ".PPM", ".tiff", ".TIFF")


class DataWarning(UserWarning):
    """A bad item of a training set (label line, image, label file) that was skipped."""


@dataclass
class Problems:
    """Bad inputs met while reading or training on a data set. `add` warns once per item
    (`where: message`) and records its kind; `summary()` says what was skipped in all."""

    items: list = field(default_factory=list)  # (kind, where, message)

    def add(self, kind: str, where: str, message: str) -> None:
        self.items.append((kind, where, message))
        warnings.warn(f"{where}: {message}", DataWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self.items)

    def summary(self) -> str | None:
        if not self.items:
            return None
        counts = Counter(kind for kind, _, _ in self.items)
        files = Counter(kind for kind, _ in {(k, w.rsplit(":", 1)[0]) for k, w, _ in self.items})
        parts = []
        for kind, n in counts.items():
            text = f"{n} {kind}{'s' if n != 1 else ''}"
            if files[kind] != n:
                text += f" in {files[kind]} file{'s' if files[kind] != 1 else ''}"
            parts.append(text)
        return "skipped " + ", ".join(parts)


# --- .data files ------------------------------------------------------------------------------

@dataclass
class DataFile:
    """A parsed darknet `.data` file: raw values with the line each came from."""

    path: Path
    options: dict = field(default_factory=dict)  # key -> value text
    lines: dict = field(default_factory=dict)    # key -> line number

    def where(self, key: str | None = None) -> str:
        if key in self.lines:
            return f"{self.path}:{self.lines[key]}"
        return str(self.path)

    def text(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"{self.where(key)}: `{key}` must be an integer, got '{raw}'") from None
        if value < minimum:
            raise InputError(f"{self.where(key)}: `{key}` must be at least {minimum}, got {value}")
        return value

    @property
    def classes(self) -> int:
        return self.integer("classes", 20, minimum=1)

    def file(self, key: str, default: str | None = None, must_exist: bool = True) -> Path | None:
        """The path a key names, relative to the working directory as in darknet."""
        raw = self.options.get(key, default)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        if must_exist and not path.exists():
            raise InputError(f"{self.where(key)}: `{key}` names {raw}, which does not exist"
                             f"{_relative_hint(raw, self.path)}")
        return path


def _relative_hint(raw: str, named_in: Path) -> str:
    beside = named_in.parent / raw
    if not Path(raw).is_absolute() and beside.exists():
        return (f" (it does exist relative to {named_in.parent}, but darknet resolves relative "
                "paths from the working directory: run from there or give an absolute path)")
    return ""


def read_data_file(path) -> DataFile:
    """Parse a darknet `.data` file (module docstring)."""
    path = Path(path)
    text = read_text(path, ".data file")
    data = DataFile(path)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            warnings.warn(f"{path}:{number}: not `key = value`, ignored as darknet does: "
                          f"'{line}'", DataWarning, stacklevel=2)
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key in data.options:
            warnings.warn(f"{path}:{number}: `{key}` repeated (first set at line "
                          f"{data.lines[key]}); the first value is used, as in darknet",
                          DataWarning, stacklevel=2)
            continue
        data.options[key] = value
        data.lines[key] = number
    return data


# --- image lists -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListEntry:
    path: Path   # the image, as darknet would open it (relative to the working directory)
    where: str   # "list:line"


def read_image_list(path, problems: Problems | None = None, check: bool = True) -> list[ListEntry]:
    """The images of a darknet list file, one a line. With `check`, entries whose file does
    not exist are reported to `problems` (a warning each) and left out."""
    path = Path(path)
    text = read_text(path, "image list")
    problems = problems if problems is not None else Problems()
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        entry = ListEntry(Path(line).expanduser(), f"{path}:{number}")
        if check and not entry.path.is_file():
            problems.add("image", entry.where, f"image {line} does not exist"
                         f"{_relative_hint(line, path)}")
            continue
        out.append(entry)
    return out


# --- YOLO labels --------------------------------------------------------------------------------

def _replace_first(text: str, old: str, new: str) -> str:
    return text.replace(old, new, 1)


def label_path(image: str | Path, rule: str = "pjreddie") -> Path:
    """The label file darknet reads for `image` (module docstring)."""
    text = str(image)
    if rule == "pjreddie":
        for old, new in _PJREDDIE_WORDS:
            text = _replace_first(text, old, new)
        return Path(text)
    if rule == "alexeyab":
        for folder in _ALEXEYAB_FOLDERS:
            text = _replace_first(text, folder, folder.replace("images", "labels")
                                  .replace("JPEGImages", "labels"))
        text = text.strip()
        for ext in _ALEXEYAB_EXTENSIONS:
            if text.endswith(ext):
                text = text[: -len(ext)] + ".txt"
        return Path(text)
    raise InputError(f"unknown label rule {rule!r} (choose {', '.join(LABEL_RULES)})")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_label_line(line: str, classes: int,
                     class_only: bool = False) -> tuple[tuple | None, str | None]:
    """((class, x, y, w, h), None) for a good `class x y w h` line, else (None, why); with
    class_only a line centred at (0, 0) is good (a classification-only label)."""
    fields = line.split()
    if len(fields) != 5:
        return None, f"expected 5 fields `class x y w h`, found {len(fields)}"
    try:
        cls = int(fields[0])
    except ValueError:
        return None, f"class '{fields[0]}' is not an integer"
    if not 0 <= cls < classes:
        return None, f"class {cls} is outside 0..{classes - 1} (classes={classes})"
    values = [_number(f) for f in fields[1:]]
    for name, raw, value in zip("xywh", fields[1:], values):
        if value is None:
            return None, f"{name} = '{raw}' is not a number"
        if not 0.0 <= value <= 1.0:
            return None, f"{name} = {raw} is outside [0, 1] (coordinates are relative to the image)"
    if values[0] == 0.0 and values[1] == 0.0 and not class_only:
        return None, "a box centred at exactly (0, 0) (darknet treats it as invalid)"
    return (cls, *values), None


def read_labels(path, classes: int, problems: Problems | None = None,
                class_only: bool = False) -> np.ndarray:
    """(n, 5) float32 rows class, x, y, w, h of a YOLO label file, bad lines skipped with a
    warning each (module docstring). A missing file gives no rows and a warning."""
    path = Path(path)
    problems = problems if problems is not None else Problems()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.add("missing label file", str(path),
                     "label file does not exist: the image trains with no objects")
        return np.zeros((0, 5), np.float32)
    except (OSError, UnicodeDecodeError) as exc:
        problems.add("unreadable label file", str(path), f"cannot read the label file ({exc})")
        return np.zeros((0, 5), np.float32)
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        row, why = parse_label_line(raw, classes, class_only)
        if row is None:
            problems.add("label line", f"{path}:{number}", f"{why}; line skipped")
            continue
        rows.append(row)
    return np.array(rows, np.float32).reshape(-1, 5)


@dataclass
class DetectionItem:
    image: Path
    labels: Path
    boxes: np.ndarray   # (n, 5) float32: class, x, y, w, h
    where: str          # list:line


@dataclass
class DetectionSet:
    items: list
    problems: Problems
    classes: int


def load_detection_list(list_path, classes: int, rule: str = "pjreddie",
                        problems: Problems | None = None,
                        class_only: bool = False) -> DetectionSet:
    """Every image of a list with its labels (bad lines, missing images reported; class_only:
    keep the lines centred at (0, 0), module docstring)."""
    problems = problems if problems is not None else Problems()
    items = []
    for entry in read_image_list(list_path, problems):
        labels = label_path(entry.path, rule)
        if labels == entry.path:
            problems.add("image", entry.where, f"cannot name a label file for {entry.path}: "
                         "its extension is not one darknet replaces by .txt")
            continue
        items.append(DetectionItem(entry.path, labels, read_labels(labels, classes, problems,
                                                                 class_only),
                                   entry.where))
    if not items:
        raise InputError(f"{list_path}: no usable training images"
                         + (f" ({problems.summary()})" if problems.items else ""))
    return DetectionSet(items, problems, classes)


# --- classifier labels ------------------------------------------------------------------------

def read_names(path) -> list[str]:
    """The names of a `labels`/`names` file, one a line; a blank line inside is an error
    (as a substring it would match every path)."""
    path = Path(path)
    lines = read_text(path, "labels file").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = []
    for number, line in enumerate(lines, start=1):
        name = line.rstrip("\r\n")
        if not name.strip():
            raise InputError(f"{path}:{number}: blank label name (it would match every image path)")
        names.append(name)
    if not names:
        raise InputError(f"{path}: no label names")
    return names


def classifier_truth(image: str | Path, labels: list[str]) -> np.ndarray:
    """darknet's fill_truth: a 0/1 float32 vector, 1 where the label occurs in the path."""
    text = str(image)
    return np.array([1.0 if name in text else 0.0 for name in labels], np.float32)


@dataclass
class ClassifierSet:
    items: list           # ClassifierItem
    problems: Problems
    classes: int


@dataclass
class ClassifierItem:
    image: Path
    truth: np.ndarray  # (classes,) 0/1
    where: str


def load_classifier_list(list_path, labels: list[str],
                         problems: Problems | None = None) -> list[ClassifierItem]:
    """Every image of a list with its truth vector; an image matching no label or several is
    kept (darknet trains it so) with a warning."""
    problems = problems if problems is not None else Problems()
    items = []
    for entry in read_image_list(list_path, problems):
        truth = classifier_truth(entry.path, labels)
        matched = int(truth.sum())
        if matched != 1 and not (len(labels) == 1 and matched == 0):
            found = [labels[k] for k in np.flatnonzero(truth)]
            warnings.warn(f"{entry.where}: {entry.path} matches {matched} labels"
                          f"{' (' + ', '.join(found) + ')' if found else ''}; darknet trains it "
                          "with that target anyway", DataWarning, stacklevel=2)
        items.append(ClassifierItem(entry.path, truth, entry.where))
    if not items:
        raise InputError(f"{list_path}: no usable training images")
    return items


def load_classifier_set(list_path, labels_path, classes: int, where: str = "",
                        problems: Problems | None = None) -> ClassifierSet:
    """A classifier's training set: the images of `list_path` with their truth over the
    first `classes` names of `labels_path` (darknet's fill_truth over k = classes labels)."""
    labels = read_names(labels_path)
    if len(labels) < classes:
        raise InputError(f"{labels_path}: {len(labels)} label names but classes = {classes}"
                         + (f" ({where})" if where else ""))
    problems = problems if problems is not None else Problems()
    items = load_classifier_list(list_path, labels[:classes], problems)
    return ClassifierSet(items, problems, classes)
