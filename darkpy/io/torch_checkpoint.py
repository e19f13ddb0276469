"""Read PyTorch checkpoint files (state_dicts) with numpy only, without running their code.

`torch.save` writes a pickle, and plain unpickling lets a file call any Python function
(os.system included). This module never imports torch and unpickles with an allow-list: the
few names a state_dict needs (OrderedDict, the tensor rebuild functions, storage type names)
map to inert stand-ins defined here; any other name raises CheckpointError before anything
from the file runs.

Formats read:
- zip (torch >= 1.6): `<top>/data.pkl` is the pickle, `<top>/data/<key>` the raw bytes of each
  storage, an optional `<top>/byteorder` record says "little" (the default) or "big". The name
  of the top folder varies. Storage persistent ids: ('storage', type, key, location, numel).
- legacy (torch 0.4 to 1.5, or `_use_new_zipfile_serialization=False`): consecutive pickles
  (magic number, protocol version 1001, sys info, the object, the list of storage keys), then
  per listed key an int64 element count and the elements, both little-endian. Storage
  persistent ids carry a sixth item, an optional view (view_key, offset, numel) in elements.
- the tar format of torch <= 0.3 is recognised and refused with a message.

A tensor is (storage, offset, size, stride), all in elements; it becomes a C-contiguous numpy
copy. bfloat16 becomes float32 exactly (a bfloat16 is the top half of a float32).
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from darkpy.errors import CheckpointError

__all__ = ["load_state_dict", "load_checkpoint", "find_state_dict"]

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
# Keys under which training scripts commonly nest the state_dict, most specific first.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "params_ema", "params",
                 "net", "network", "generator")
_MAX_NESTING = 100
# A tensor may hold more elements than its storage only through zero strides (a broadcast);
# copying such a view could exhaust memory, so the extra is capped.
_MAX_BROADCAST_ELEMENTS = 1 << 26
# Deflate cannot compress better than about 1032:1; a zip record claiming more lies.
_MAX_DEFLATE_RATIO = 1100


# --- inert stand-ins: the only objects a pickle can reach besides its own containers ----------
class _Inert:
    """No state can be set on these: the BUILD opcode and setattr both raise."""

    __slots__ = ()

    def _init(self, **fields) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise CheckpointError(f"refuses to set attribute {name!r} on {self!r}")

    def __delattr__(self, name):
        raise CheckpointError(f"refuses to delete attribute {name!r} on {self!r}")

    def __setstate__(self, state):
        raise CheckpointError(f"refuses to restore pickled state on {self!r}")


class _ElementType(_Inert):
    """A storage type name (torch.FloatStorage...) and how its bytes become numpy values."""

    __slots__ = ("qualname", "stored", "itemsize")

    def __init__(self, qualname: str, stored: str):
        self._init(qualname=qualname, stored=np.dtype(stored), itemsize=np.dtype(stored).itemsize)

    def __repr__(self):
        return self.qualname

    def finish(self, values: np.ndarray) -> np.ndarray:
        """Turn native-order stored values into their numpy meaning."""
        if self.qualname.endswith("BoolStorage"):
            return values != 0
        if self.qualname.endswith("BFloat16Storage"):
            return (values.astype(np.uint32) << 16).view(np.float32)
        return values


class _StorageRef(_Inert):
    """Elements [start, start + numel) of the storage saved under `key`."""

    __slots__ = ("key", "element", "start", "numel")

    def __init__(self, key: str, element: _ElementType, start: int, numel: int):
        self._init(key=key, element=element, start=start, numel=numel)

    def __repr__(self):
        return f"<storage {self.key!r} {self.element!r}>"


class _TensorRef(_Inert):
    __slots__ = ("storage", "offset", "size", "stride", "negate", "conjugate")

    def __init__(self, storage, offset, size, stride, negate=False, conjugate=False):
        self._init(storage=storage, offset=offset, size=size, stride=stride,
                   negate=negate, conjugate=conjugate)

    def __repr__(self):
        return f"<tensor {self.size} of {self.storage!r}>"


class _Function(_Inert):
    """An allowed callable name; calling it runs our function, never torch's."""

    __slots__ = ("qualname", "function")

    def __init__(self, qualname: str, function: Callable):
        self._init(qualname=qualname, function=function)

    def __repr__(self):
        return self.qualname

    def __call__(self, *args):
        return self.function(*args)


def _is_int(value) -> bool:
    return type(value) is int


def _int_tuple(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) and v >= 0 for v in value):
        raise CheckpointError(f"tensor {what} must be non-negative integers, got {value!r:.80}")
    return tuple(value)


def _make_tensor(storage, offset, size, stride, metadata=None) -> _TensorRef:
    if not isinstance(storage, _StorageRef):
        raise CheckpointError(f"a tensor is built on {type(storage).__name__}, not a storage")
    size, stride = _int_tuple(size, "sizes"), _int_tuple(stride, "strides")
    if not _is_int(offset) or offset < 0 or len(size) != len(stride) or len(size) > 64:
        raise CheckpointError(f"bad tensor layout: offset {offset!r:.40}, size {size}, "
                              f"stride {stride}")
    count = math.prod(size)
    if count:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise CheckpointError(f"tensor of size {size}, stride {stride}, offset {offset} "
                                  f"reaches past its storage of {storage.numel} elements")
        if count > storage.numel + _MAX_BROADCAST_ELEMENTS:
            raise CheckpointError(f"tensor of size {size} repeats its storage of "
                                  f"{storage.numel} elements too often to be copied")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not set(metadata) <= {"neg", "conj"}:
        raise CheckpointError(f"unknown tensor metadata {metadata!r:.80}")
    return _TensorRef(storage, offset, size, stride,
                      negate=bool(metadata.get("neg")), conjugate=bool(metadata.get("conj")))


def _rebuild_tensor(storage, offset, size, stride):
    return _make_tensor(storage, offset, size, stride)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    # requires_grad and hooks only matter to autograd
    return _make_tensor(storage, offset, size, stride, metadata)


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    if not isinstance(data, _TensorRef):
        raise CheckpointError(f"a Parameter wraps {type(data).__name__}, not a tensor")
    return data


def _make_size(items=()):
    return _int_tuple(items, "sizes")


def _allowed_globals() -> dict[tuple[str, str], object]:
    allowed: dict[tuple[str, str], object] = {("collections", "OrderedDict"): OrderedDict}
    for name, function in [("_rebuild_tensor", _rebuild_tensor),
                           ("_rebuild_tensor_v2", _rebuild_tensor_v2),
                           ("_rebuild_parameter", _rebuild_parameter),
                           ("_rebuild_parameter_with_state", _rebuild_parameter)]:
        allowed["torch._utils", name] = _Function(f"torch._utils.{name}", function)
    allowed["torch", "Size"] = _Function("torch.Size", _make_size)
    stored = {"Float": "f4", "Double": "f8", "Half": "f2", "BFloat16": "u2", "Long": "i8",
              "Int": "i4", "Short": "i2", "Char": "i1", "Byte": "u1", "Bool": "u1",
              "ComplexFloat": "c8", "ComplexDouble": "c16"}
    # CUDA storage names appear in checkpoints saved from a GPU by old torch versions
    for module in ("torch", "torch.cuda"):
        for kind, code in stored.items():
            allowed[module, f"{kind}Storage"] = _ElementType(f"{module}.{kind}Storage", code)
    for module in ("torch", "torch.storage"):
        allowed[module, "UntypedStorage"] = _ElementType(f"{module}.UntypedStorage", "u1")
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, persistent_load: Callable[[object], object]):
        super().__init__(file, encoding="utf-8")
        self._persistent = persistent_load

    def find_class(self, module, name):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise CheckpointError(
                f"refuses to load {module:.100}.{name:.100}: a state_dict needs only tensors "
                "and containers, and unpickling other names can run arbitrary code")
        return allowed

    def persistent_load(self, pid):
        return self._persistent(pid)


def _no_persistent_ids(pid):
    raise CheckpointError("unexpected persistent id in a header pickle")


def _text(value) -> str:
    """Python 2 pickles may hold names as bytes."""
    return value.decode("ascii") if isinstance(value, bytes) else value


# --- the two file formats ---------------------------------------------------------------------
class _Checkpoint:
    """The unpickled object tree (with stand-ins) plus access to the storages' bytes."""

    byteorder = "<"

    def __init__(self):
        self.root: object = None
        self.declared: dict[str, tuple[_ElementType, int]] = {}
        self._arrays: dict[int, np.ndarray] = {}

    def _storage_from_pid(self, pid, legacy: bool) -> _StorageRef:
        if not isinstance(pid, tuple) or not pid:
            raise CheckpointError(f"bad persistent id {pid!r:.80}")
        if _text(pid[0]) == "module":
            raise CheckpointError("holds a pickled nn.Module, not a state_dict "
                                  "(save model.state_dict() instead)")
        if _text(pid[0]) != "storage" or len(pid) != (6 if legacy else 5):
            raise CheckpointError(f"bad persistent id {pid!r:.80}")
        element, key, location, numel = pid[1], _text(pid[2]), _text(pid[3]), pid[4]
        if not isinstance(element, _ElementType) or not isinstance(key, str) \
                or not isinstance(location, str) or not _is_int(numel) or numel < 0:
            raise CheckpointError(f"bad storage persistent id {pid!r:.80}")
        if self.declared.setdefault(key, (element, numel)) != (element, numel):
            raise CheckpointError(f"storage {key!r} is declared with two types or sizes")
        view = pid[5] if legacy else None
        if view is None:
            return _StorageRef(key, element, 0, numel)
        if not isinstance(view, tuple) or len(view) != 3 \
                or not all(_is_int(v) and v >= 0 for v in view[1:]) \
                or view[1] + view[2] > numel:
            raise CheckpointError(f"bad storage view {view!r:.80} of storage {key!r}")
        return _StorageRef(key, element, view[1], view[2])

    def storage_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def array(self, tensor: _TensorRef) -> np.ndarray:
        cached = self._arrays.get(id(tensor))
        if cached is not None:
            return cached
        storage, element = tensor.storage, tensor.storage.element
        stored = element.stored.newbyteorder(self.byteorder)
        if math.prod(tensor.size) == 0:
            values = np.zeros(tensor.size, element.stored)
        else:
            flat = np.frombuffer(self.storage_bytes(storage.key), dtype=stored)
            base = flat[storage.start + tensor.offset:]
            view = np.lib.stride_tricks.as_strided(
                base, tensor.size, [s * element.itemsize for s in tensor.stride], writeable=False)
            values = np.array(view, dtype=element.stored, order="C")  # copy, native order
        values = element.finish(values)
        if tensor.negate:
            values = -values
        if tensor.conjugate:
            values = np.conj(values)
        self._arrays[id(tensor)] = values
        return values

    def materialize(self, obj, depth: int = 0):
        """The object tree with tensors as numpy arrays; anything not plain data is refused."""
        if depth > _MAX_NESTING:
            raise CheckpointError(f"nested deeper than {_MAX_NESTING} levels")
        if isinstance(obj, _TensorRef):
            return self.array(obj)
        if isinstance(obj, _StorageRef):
            return self.array(_TensorRef(obj, 0, (obj.numel,), (1,)))
        if obj is None or type(obj) in (bool, int, float, complex, str, bytes):
            return obj
        if type(obj) in (dict, OrderedDict):
            return {self.materialize(key, depth + 1): self.materialize(value, depth + 1)
                    for key, value in obj.items()}
        if type(obj) in (list, tuple):
            return type(obj)(self.materialize(item, depth + 1) for item in obj)
        if type(obj) in (set, frozenset):
            return type(obj)(self.materialize(item, depth + 1) for item in obj)
        if type(obj) is bytearray:
            return bytes(obj)
        raise CheckpointError(f"holds {obj!r:.80}, which is not a tensor or plain data")


class _ZipCheckpoint(_Checkpoint):
    def __init__(self, path: str, stack: contextlib.ExitStack):
        super().__init__()
        self.zip = stack.enter_context(zipfile.ZipFile(path))
        names = self.zip.namelist()
        pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if not pickles:
            raise CheckpointError("is a zip archive without data.pkl, not a PyTorch checkpoint")
        first_top = names[0].split("/", 1)[0]
        self.top = first_top if f"{first_top}/data.pkl" in pickles else pickles[0][:-9]
        if f"{self.top}/constants.pkl" in names or any(
                n.startswith(f"{self.top}/code/") for n in names):
            raise CheckpointError("is a TorchScript archive (torch.jit.save), not a torch.save "
                                  "checkpoint; save the model's state_dict() instead")
        self._bytes: dict[str, bytes] = {}
        if f"{self.top}/byteorder" in names:
            order = self._record(f"{self.top}/byteorder")
            if order not in (b"little", b"big"):
                raise CheckpointError(f"unknown byteorder record {order!r:.40}")
            self.byteorder = "<" if order == b"little" else ">"
        data = self._record(f"{self.top}/data.pkl")
        unpickler = _RestrictedUnpickler(io.BytesIO(data),
                                         lambda pid: self._storage_from_pid(pid, legacy=False))
        self.root = unpickler.load()

    def _record(self, name: str) -> bytes:
        info = self.zip.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED \
                and info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1):
            raise CheckpointError(f"zip record {name} claims an impossible compression ratio")
        return self.zip.read(info)  # checks the CRC

    def storage_bytes(self, key: str) -> bytes:
        if key not in self._bytes:
            element, numel = self.declared[key]
            name = f"{self.top}/data/{key}"
            try:
                info = self.zip.getinfo(name)
            except KeyError:
                raise CheckpointError(f"storage record {name} is missing") from None
            if info.file_size != numel * element.itemsize:
                raise CheckpointError(f"storage record {name} holds {info.file_size} bytes, "
                                      f"expected {numel} x {element.itemsize}")
            self._bytes[key] = self._record(name)
        return self._bytes[key]


class _LegacyCheckpoint(_Checkpoint):
    def __init__(self, path: str):
        super().__init__()
        with open(path, "rb") as file:
            file_size = os.fstat(file.fileno()).st_size

            def header():
                return _RestrictedUnpickler(file, _no_persistent_ids).load()

            if header() != _LEGACY_MAGIC_NUMBER:
                raise CheckpointError("is a pickle without PyTorch's magic number, "
                                      "not a PyTorch checkpoint")
            version = header()
            if version != _LEGACY_PROTOCOL_VERSION:
                raise CheckpointError(f"has legacy protocol version {version!r:.40}, "
                                      f"expected {_LEGACY_PROTOCOL_VERSION}")
            if not isinstance(header(), dict):  # sys info; storages are little-endian anyway
                raise CheckpointError("has a damaged sys-info header")
            self.root = _RestrictedUnpickler(
                file, lambda pid: self._storage_from_pid(pid, legacy=True)).load()
            keys = header()
            if not isinstance(keys, list):
                raise CheckpointError("has a damaged list of storage keys")
            self._bytes = {}
            for key in map(_text, keys):
                self._read_storage(file, key, file_size)
        missing = set(self.declared) - set(self._bytes)
        if missing:
            raise CheckpointError(f"lacks the data of storages {sorted(missing)[:5]}")

    def _read_storage(self, file, key, file_size: int) -> None:
        if key not in self.declared:
            raise CheckpointError(f"lists storage {key!r:.40} that no tensor uses")
        if key in self._bytes:
            raise CheckpointError(f"lists storage {key!r} twice")
        element, numel = self.declared[key]
        header = file.read(8)
        count = int.from_bytes(header, "little", signed=True)
        nbytes = numel * element.itemsize
        if len(header) != 8 or count != numel or nbytes > file_size - file.tell():
            raise CheckpointError(f"storage {key!r} is truncated or damaged: header says "
                                  f"{count} elements, expected {numel}")
        self._bytes[key] = file.read(nbytes)

    def storage_bytes(self, key: str) -> bytes:
        return self._bytes[key]


@contextlib.contextmanager
def _open_checkpoint(path) -> Iterator[_Checkpoint]:
    """Parse `path`; every failure inside the block becomes a CheckpointError naming it."""
    name = os.fspath(path)
    try:
        with contextlib.ExitStack() as stack:
            with open(name, "rb") as file:
                head = file.read(512)
            if head.startswith(b"PK\x03\x04"):
                checkpoint: _Checkpoint = _ZipCheckpoint(name, stack)
            elif head[257:262] == b"ustar":
                raise CheckpointError("is a tar checkpoint of torch <= 0.3, which darkpy does "
                                      "not read; load and re-save it with a newer torch")
            elif head[:1] == b"\x80":
                checkpoint = _LegacyCheckpoint(name)
            else:
                raise CheckpointError("is not a PyTorch checkpoint (neither a zip archive "
                                      "nor a pickle)")
            yield checkpoint
    except CheckpointError as error:
        raise CheckpointError(f"{name}: {error}") from None
    except OSError as error:
        raise CheckpointError(f"{name}: cannot read: {error.strerror or error}") from error
    except Exception as error:  # a damaged or hostile file can fail in any of many ways
        raise CheckpointError(f"{name}: truncated, damaged or not a PyTorch checkpoint "
                              f"({type(error).__name__}: {error})") from error


# --- public API -------------------------------------------------------------------------------
def _find_state_dict(obj, is_tensor: Callable[[object], bool], depth: int = 0) -> Mapping:
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"holds a {type(obj).__name__}, not a state_dict")
    if obj and all(isinstance(k, str) and is_tensor(v) for k, v in obj.items()):
        return obj
    if depth < 4:
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                with contextlib.suppress(CheckpointError):
                    return _find_state_dict(obj[key], is_tensor, depth + 1)
        found = []
        for value in obj.values():
            if isinstance(value, Mapping):
                with contextlib.suppress(CheckpointError):
                    found.append(_find_state_dict(value, is_tensor, depth + 1))
        if len(found) == 1:
            return found[0]
    keys = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:12])
    raise CheckpointError(f"no state_dict (a mapping of names to tensors) found in {{{keys}}}")


def find_state_dict(checkpoint) -> Mapping[str, np.ndarray]:
    """The mapping of parameter names to arrays inside a loaded checkpoint.

    Returns `checkpoint` itself when it already is one; otherwise looks under the usual
    wrapper keys ('state_dict', 'model', 'params_ema', ...) and then in the one nested mapping
    that is a state_dict. Raises CheckpointError when there is none or it is ambiguous.
    """
    return _find_state_dict(checkpoint, lambda value: isinstance(value, np.ndarray))


def load_checkpoint(path) -> object:
    """Everything in a torch.save file, with tensors as numpy arrays and mappings as dicts."""
    with _open_checkpoint(path) as checkpoint:
        return checkpoint.materialize(checkpoint.root)


def load_state_dict(path) -> dict[str, np.ndarray]:
    """The state_dict in a torch.save file as {name: C-contiguous array}, in file order.

    Raises CheckpointError naming the file when it is not a checkpoint, is truncated, or
    would need anything besides tensors and containers to unpickle.
    """
    with _open_checkpoint(path) as checkpoint:
        state_dict = _find_state_dict(checkpoint.root, lambda v: isinstance(v, _TensorRef))
        return {name: checkpoint.array(tensor) for name, tensor in state_dict.items()}
