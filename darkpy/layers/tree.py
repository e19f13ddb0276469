"""darknet's class hierarchy (`tree=` in [softmax] and [region], YOLO9000's data/9k.tree).

File format (darknet's read_tree): one node per line, `<name> <parent index>` (parent -1 for a
root, -1 too when the number is missing). Consecutive lines with the same parent form a
group, the set of siblings one softmax runs over; a group starts wherever the parent differs
from the previous line's (the first line continues a group begun with parent -1, so a file
whose first parent is not -1 starts with an empty group, as in darknet). Groups are contiguous:
group g covers nodes offset_g .. offset_g + size_g - 1.

Hierarchical softmax: for each group, over the values of its nodes,

    y_i = exp(x_i / T - max / T) / sum_j exp(x_j / T - max / T)

Values past the last node are not written by darknet (its output buffer keeps zeros there);
darkpy outputs 0 for them too. Backward, per group: dx_i = y_i (d_i - sum_j d_j y_j) / T.

The file is looked for relative to the cfg's folder, then to the working directory (where
darknet itself looks), then to the cfg folder's parent (darknet's cfg/ and data/ side by side);
a missing file is a ConfigError naming where it was looked for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import ConfigError

_LINE = re.compile(r"\s*(\S*)\s*([+-]?\d+)?")


@dataclass(frozen=True)
class Tree:
    names: tuple[str, ...]
    parent: np.ndarray        # (n,) int: parent node, -1 for roots
    group: np.ndarray         # (n,) int: the group each node belongs to
    group_offset: np.ndarray  # (groups,) first node of each group
    group_size: np.ndarray    # (groups,) nodes in each group
    path: str = ""

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def groups(self) -> int:
        return len(self.group_size)

    @property
    def leaf(self) -> np.ndarray:
        """(n,) bool: nodes that are nobody's parent."""
        leaf = np.ones(self.n, bool)
        leaf[self.parent[self.parent >= 0]] = False
        return leaf


def parse_tree(text: str, path: str = "<memory>") -> Tree:
    """A Tree from the text of a darknet .tree file (darknet's read_tree, line by line)."""
    names, parents, groups = [], [], []
    offsets, sizes = [], []
    last_parent, group_size = -1, 0
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        name, parent = match.group(1), int(match.group(2)) if match.group(2) else -1
        if parent < -1:
            raise ConfigError(f"{path}:{number}: parent index {parent} is not a node index")
        if parent != last_parent:  # the previous group ends here
            offsets.append(len(names) - group_size)
            sizes.append(group_size)
            group_size, last_parent = 0, parent
        names.append(name)
        parents.append(parent)
        groups.append(len(sizes))
        group_size += 1
    offsets.append(len(names) - group_size)
    sizes.append(group_size)
    parent = np.array(parents, dtype=np.int64)
    if len(names) == 0:
        raise ConfigError(f"{path}: the tree file has no nodes")
    if np.any(parent >= len(names)):
        bad = int(np.argmax(parent >= len(names)))
        raise ConfigError(f"{path}:{bad + 1}: parent {parent[bad]} does not exist (the file has "
                          f"{len(names)} nodes)")
    return Tree(tuple(names), parent, np.array(groups, dtype=np.int64),
                np.array(offsets, dtype=np.int64), np.array(sizes, dtype=np.int64), path)


def resolve_tree_path(value: str, origin: str, where: str | None = None) -> Path:
    """The tree file named `value` by the section at `origin` ("cfg path:line"): relative to
    the cfg's folder, then to the working directory, then to the cfg's folder's parent; a
    ConfigError (prefixed with `where`, default origin) when none has it."""
    wanted = Path(value)
    candidates = [wanted]
    if not wanted.is_absolute():
        cfg = origin.rsplit(":", 1)[0]
        if cfg and not cfg.startswith("<"):
            folder = Path(cfg).parent
            # darknet's own layout keeps cfg/ and data/ side by side: try that last
            candidates = [folder / wanted, wanted, folder.parent / wanted]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(dict.fromkeys(str(c.resolve()) for c in candidates))
    raise ConfigError(f"{where or origin}: tree={value}: the hierarchy file does not exist "
                      f"(looked for {looked}); darknet ships it as data/9k.tree")


def load_tree(value: str, origin: str, where: str | None = None) -> Tree:
    """The Tree named by `tree=value` in the section at `origin` (see resolve_tree_path)."""
    path = resolve_tree_path(value, origin, where)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{where or origin}: tree={value}: cannot read {path} "
                          f"({exc.strerror or exc})") from None
    return parse_tree(text, str(path))


def tree_cycle(tree: Tree) -> int | None:
    """A node whose chain of parents comes back to itself, or None (darknet's read_tree does
    not check; walking such a chain up to a root never ends)."""
    state = np.zeros(tree.n, np.int8)  # 0 unseen, 1 on the current chain, 2 leads to a root
    for start in range(tree.n):
        chain, node = [], start
        while node >= 0 and state[node] == 0:
            state[node] = 1
            chain.append(node)
            node = int(tree.parent[node])
        if node >= 0 and state[node] == 1:
            return node
        state[chain] = 2
    return None


def _nonempty(tree: Tree) -> tuple[np.ndarray, np.ndarray]:
    keep = tree.group_size > 0
    return tree.group_offset[keep], tree.group_size[keep]


def tree_softmax(x: np.ndarray, tree: Tree, temperature=1.0) -> np.ndarray:
    """Softmax within every group of the last axis of x (..., >= tree.n); past tree.n: 0."""
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = np.asarray(x, dtype)
    out = np.zeros(x.shape, dtype)
    starts, sizes = _nonempty(tree)
    t = dtype(temperature)
    values = x[..., :tree.n]
    largest = np.repeat(np.maximum.reduceat(values, starts, axis=-1), sizes, axis=-1)
    e = np.exp(values / t - largest / t)
    total = np.repeat(np.add.reduceat(e, starts, axis=-1), sizes, axis=-1)
    out[..., :tree.n] = e / total
    return out


def tree_softmax_grad(delta: np.ndarray, y: np.ndarray, tree: Tree, temperature=1.0) -> np.ndarray:
    """dL/dx of tree_softmax for dL/dy = delta and its output y (same shapes)."""
    starts, sizes = _nonempty(tree)
    d, out = delta[..., :tree.n], y[..., :tree.n]
    dot = np.repeat(np.add.reduceat(d * out, starts, axis=-1), sizes, axis=-1)
    grad = np.zeros(np.broadcast_shapes(delta.shape, y.shape), y.dtype)
    grad[..., :tree.n] = out * (d - dot) / y.dtype.type(temperature)
    return grad
