"""Writing an ONNX graph by hand: unique names, constants, nodes, and run-time dimensions.

Tensors in the graph are NCHW float32 (darkpy computes NHWC; the emitters translate). A
`Value` is a tensor name with its NCHW shape, where None marks a dimension only known at run
time (a dynamic batch or image size), and `ref` the shape at the export's reference size,
for emitters whose structure depends on sizes (a shortcut of two different grids). Emitters
that need a size to reshape ask `dim()`: a static size comes back as a Python int (and the
graph stays free of shape arithmetic), a dynamic one as the name of a 1-element int64
tensor computed from the tensor's Shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# a size: a Python int when known at export time, else a 1-element int64 tensor's name
Dim = int | str


@dataclass(frozen=True)
class Value:
    name: str
    shape: tuple  # NCHW; None where the size is only known at run time
    ref: tuple    # NCHW at the export's reference size (the [net] size when dynamic)

    @property
    def fixed_size(self) -> bool:
        """Whether the channels, height and width are fixed in the exported graph (the batch
        may still vary)."""
        return all(d is not None for d in self.shape[1:])


class GraphBuilder:
    """Collects nodes and initialisers; hands out unique tensor names."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self._constants: dict[tuple, str] = {}
        self._shapes: dict[str, str] = {}

    # --- names and constants ---------------------------------------------------------------
    def name(self, hint: str) -> str:
        """A tensor name not used before, built from `hint`."""
        base = "".join(ch if ch.isalnum() or ch in "_." else "_" for ch in hint) or "t"
        name, n = base, 1
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs and outputs)."""
        if name in self._used:
            raise ValueError(f"tensor name {name!r} is taken")
        self._used.add(name)
        return name

    def const(self, value, dtype=np.float32, hint: str = "const") -> str:
        """An initialiser holding `value`; equal small constants share one tensor."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = None
        if array.size <= 64:  # scalars and shape vectors repeat; weights never do
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._constants:
                return self._constants[key]
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._constants[key] = name
        return name

    def ints(self, values) -> str:
        """A 1-D int64 constant (axes, pads, shapes)."""
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), np.int64, "ints")

    # --- nodes -----------------------------------------------------------------------------
    def node(self, op: str, inputs: list[str], hint: str | None = None, outputs: int = 1,
             **attrs):
        """Append one node; returns its output name (a list when outputs > 1)."""
        from onnx import helper

        names = [self.name(f"{hint or op.lower()}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op: str, x: str, axes: list[int], keepdims: int = 1,
               hint: str | None = None) -> str:
        """ReduceSum/ReduceMax/ReduceMean over `axes`: an input from opset 18 on (13 for
        ReduceSum), an attribute before."""
        takes_input = op == "ReduceSum" and self.opset >= 13 or self.opset >= 18
        if takes_input:
            return self.node(op, [x, self.ints(axes)], hint, keepdims=keepdims)
        return self.node(op, [x], hint, axes=list(axes), keepdims=keepdims)

    def slice(self, x: str, axis: int, start, end, step: int = 1, hint: str | None = None) -> str:
        """x[start:end:step] along one axis; start and end are ints or Dims."""
        starts, ends = self.dims_tensor([start]), self.dims_tensor([end])
        return self.node("Slice", [x, starts, ends, self.ints([axis]), self.ints([step])], hint)

    # --- dimensions --------------------------------------------------------------------------
    def dim(self, value: Value, axis: int):
        """Size of `value` along `axis`: an int when static, else a 1-element int64 tensor."""
        size = value.shape[axis]
        if size is not None:
            return int(size)
        shape = self._shapes.get(value.name)
        if shape is None:
            shape = self._shapes[value.name] = self.node("Shape", [value.name], "shape")
        return self.node("Slice", [shape, self.ints([axis]), self.ints([axis + 1])], "dim")

    def dim_op(self, op: str, a, b):
        """a op b for sizes (op: Mul, Div (truncating), Add, Sub); ints fold at export."""
        if isinstance(a, int) and isinstance(b, int):
            if op == "Div":
                return a // b
            return {"Mul": a * b, "Add": a + b, "Sub": a - b}[op]
        a = self.ints([a]) if isinstance(a, int) else a
        b = self.ints([b]) if isinstance(b, int) else b
        return self.node(op, [a, b], "dim")

    def dims_tensor(self, dims: list) -> str:
        """A 1-D int64 tensor of the sizes `dims` (ints and Dims mixed)."""
        if all(isinstance(d, (int, np.integer)) for d in dims):
            return self.ints(dims)
        parts = [self.ints([d]) if isinstance(d, (int, np.integer)) else d for d in dims]
        return self.node("Concat", parts, "shape", axis=0)

    def reshape(self, x: str, dims: list, hint: str | None = None) -> str:
        return self.node("Reshape", [x, self.dims_tensor(dims)], hint)

    # --- finishing -----------------------------------------------------------------------------
    def rename(self, src: str, dst: str) -> None:
        """Make tensor `src` available as `dst` (a name claimed with reserve())."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [src], [dst], name=dst))

    def prune(self, outputs: list[str]) -> None:
        """Drop the nodes and initialisers no output depends on (layers past the outputs)."""
        needed = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(name in needed for name in node.output):
                kept.append(node)
                needed.update(name for name in node.input if name)
        self.nodes = kept[::-1]
        self.initializers = [t for t in self.initializers if t.name in needed]
