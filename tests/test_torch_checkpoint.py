"""darkpy.io.torch_checkpoint: reads torch.save files bit-exactly and never runs their code.

Hand-made checkpoints are written with raw pickle opcodes (helpers below), so the malformed
and hostile cases need no torch; the torch tests compare with tensor.numpy().
"""
from __future__ import annotations

import importlib.util
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from darkpy.errors import CheckpointError
from darkpy.io.torch_checkpoint import find_state_dict, load_checkpoint, load_state_dict

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_FILES = {fmt: FIXTURES / f"torch_state_dict_{fmt}.pt" for fmt in ("zip", "legacy")}


# --- raw pickle opcodes (protocol 2) ----------------------------------------------------------
def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def op_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def op_call(function: bytes, *args: bytes) -> bytes:
    return function + op_tuple(*args) + b"R"


NONE, FALSE = b"N", b"\x89"


def op_ordered_dict(pairs: list[tuple[str, bytes]]) -> bytes:
    items = b"".join(op_str(key) + value for key, value in pairs)
    return op_call(op_global("collections", "OrderedDict")) + b"(" + items + b"u"


def op_storage(type_name: str, key: str, numel: int, legacy: bool = False,
               view: bytes = NONE, module: str = "torch") -> bytes:
    fields = [op_str("storage"), op_global(module, type_name), op_str(key), op_str("cpu"),
              op_int(numel)]
    return op_tuple(*fields, *([view] if legacy else [])) + b"Q"  # BINPERSID


def op_tensor(storage: bytes, offset: int, size, stride, size_as_torch_size=False) -> bytes:
    size_op = op_tuple(*map(op_int, size))
    if size_as_torch_size:
        size_op = op_call(op_global("torch", "Size"), size_op)
    return op_call(op_global("torch._utils", "_rebuild_tensor_v2"), storage, op_int(offset),
                   size_op, op_tuple(*map(op_int, stride)), FALSE,
                   op_call(op_global("collections", "OrderedDict")))


def as_pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def write_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes], top="archive",
              byteorder: bytes | None = b"little") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{top}/data.pkl", data_pkl)
        if byteorder is not None:
            archive.writestr(f"{top}/byteorder", byteorder)
        for key, data in storages.items():
            archive.writestr(f"{top}/data/{key}", data)
        archive.writestr(f"{top}/version", b"3\n")
    return path


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}


def legacy_bytes(main_pickle: bytes, storages: list[tuple[str, int, bytes]],
                 magic=LEGACY_MAGIC, sys_info_pickle: bytes | None = None) -> bytes:
    parts = [pickle.dumps(magic, protocol=2), pickle.dumps(1001, protocol=2),
             sys_info_pickle or pickle.dumps(SYS_INFO, protocol=2), main_pickle,
             pickle.dumps([key for key, _, _ in storages], protocol=2)]
    for _, count, data in storages:
        parts += [struct.pack("<q", count), data]
    return b"".join(parts)


def simple_state_dict_pickle(legacy: bool) -> tuple[bytes, np.ndarray]:
    """One float32 tensor (2, 3) over storage '0' of 6 elements, and its expected value."""
    values = np.arange(6, dtype=np.float32) * 1.5 - 2
    body = op_ordered_dict([("w", op_tensor(op_storage("FloatStorage", "0", 6, legacy),
                                            0, (2, 3), (3, 1)))])
    return as_pickle(body), values.reshape(2, 3)


# --- torch round trips ------------------------------------------------------------------------
def load_fixture_module():
    spec = importlib.util.spec_from_file_location("make_torch_checkpoints",
                                                  FIXTURES / "make_torch_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_bit_exact(loaded: dict, expected: dict) -> None:
    assert list(loaded) == list(expected)  # file order kept
    for name, want in expected.items():
        got = loaded[name]
        assert isinstance(got, np.ndarray) and got.flags.c_contiguous, name
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == np.ascontiguousarray(want).tobytes(), name


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_saved_state_dict_is_read_bit_exact(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    maker = load_fixture_module()
    sd = maker.fixture_state_dict()
    sd["neg_view"] = torch.arange(5.0)._neg_view()  # stored un-negated, with a 'neg' flag
    sd["conj_view"] = torch.tensor([1 + 2j, -3 - 0.5j], dtype=torch.complex64).conj()
    path = tmp_path / "model.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    expected = {name: maker.expected_array(t.resolve_neg().resolve_conj())
                for name, t in sd.items()}
    assert not sd["body.0.weight.t"].is_contiguous() and sd["body.0.offset_view"].storage_offset()
    assert_bit_exact(load_state_dict(path), expected)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("wrapper", ["state_dict", "model", "params_ema"])
def test_torch_checkpoint_wrapping_parameters(tmp_path, zip_format, wrapper):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 5, 5)).sum().backward()
    optimizer.step()  # the optimizer state now holds tensors too
    state = model.state_dict(keep_vars=True)  # Parameters: pickled via _rebuild_parameter
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, wrapper: state, "optimizer": optimizer.state_dict()}, path,
               _use_new_zipfile_serialization=zip_format)
    expected = {name: t.detach().numpy() for name, t in state.items()}
    assert_bit_exact(load_state_dict(path), expected)
    everything = load_checkpoint(path)
    assert everything["epoch"] == 3 and list(everything[wrapper]) == list(expected)
    momentum = everything["optimizer"]["state"][0]["momentum_buffer"]
    assert np.array_equal(momentum, optimizer.state_dict()["state"][0]["momentum_buffer"].numpy())


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_committed_fixtures_agree_with_torch(fmt):
    torch = pytest.importorskip("torch")
    read_by_torch = torch.load(FIXTURE_FILES[fmt], weights_only=True)
    maker = load_fixture_module()
    assert_bit_exact(load_state_dict(FIXTURE_FILES[fmt]),
                     {name: maker.expected_array(t) for name, t in read_by_torch.items()})


# --- committed fixtures, no torch needed ------------------------------------------------------
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_fixture_matches_expected_arrays(fmt):
    with np.load(FIXTURES / "torch_state_dict_expected.npz") as npz:
        expected = {name: npz[name] for name in npz.files}
    loaded = load_state_dict(FIXTURE_FILES[fmt])
    assert_bit_exact(loaded, expected)
    assert loaded["bn.num_batches_tracked"].shape == () and \
        int(loaded["bn.num_batches_tracked"]) == 123456789012
    assert loaded["body.1.weight_bf16"].dtype == np.float32
    assert loaded["bn.mask"].dtype == np.bool_
    # offset_view is elements 7..18 of arange(40) * 0.25 - 3, strided_view 7, 10, ..., 22
    shared = np.arange(40, dtype=np.float32) * np.float32(0.25) - np.float32(3.0)
    assert np.array_equal(loaded["body.0.offset_view"], shared[7:19].reshape(3, 4))
    assert np.array_equal(loaded["body.0.strided_view"], shared[7:23:3])
    loaded["head.bias"][0] = 1.0  # results are private writable copies


def test_module_never_imports_torch():
    code = ("import sys; from darkpy.io.torch_checkpoint import load_state_dict; "
            f"load_state_dict({str(FIXTURE_FILES['zip'])!r}); "
            f"load_state_dict({str(FIXTURE_FILES['legacy'])!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr


def test_big_endian_zip_and_odd_top_folder(tmp_path):
    floats = np.array([1.5, -2.25, 3.0, 1e-3, 7.0, -0.0], dtype=">f4")
    longs = np.array([1, -2, 3 << 40], dtype=">i8")
    body = op_ordered_dict([
        ("w", op_tensor(op_storage("FloatStorage", "0", 6), 1, (2, 2), (1, 2))),
        ("n", op_tensor(op_storage("LongStorage", "1", 3), 0, (3,), (1,))),
    ])
    path = write_zip(tmp_path / "be.pt", as_pickle(body),
                     {"0": floats.tobytes(), "1": longs.tobytes()},
                     top="my-weird.model_v1.2", byteorder=b"big")
    loaded = load_state_dict(path)
    # w[i, j] = floats[1 + i + 2j]
    assert np.array_equal(loaded["w"], np.array([[-2.25, 1e-3], [3.0, 7.0]], dtype=np.float32))
    assert loaded["w"].dtype == np.float32 and loaded["w"].dtype.isnative
    assert loaded["n"].tolist() == [1, -2, 3 << 40]


def test_legacy_cuda_storage_views_torch_size_and_old_rebuild(tmp_path):
    """2018-era files: CUDA storage names, torch.Size sizes, storage views, _rebuild_tensor."""
    data = np.arange(10, dtype="<f4") + 0.5
    view = op_tuple(op_str("view0"), op_int(4), op_int(6))  # elements 4..9
    old = op_call(op_global("torch._utils", "_rebuild_tensor"),
                  op_storage("FloatStorage", "0", 10, legacy=True, view=view, module="torch.cuda"),
                  op_int(1), op_call(op_global("torch", "Size"), op_tuple(op_int(2), op_int(2))),
                  op_tuple(op_int(2), op_int(1)))
    param = op_call(op_global("torch._utils", "_rebuild_parameter"),
                    op_tensor(op_storage("FloatStorage", "0", 10, legacy=True,
                                         module="torch.cuda"), 0, (3,), (3,), True),
                    b"\x88", op_call(op_global("collections", "OrderedDict")))
    body = op_ordered_dict([("old", old), ("param", param)])
    path = tmp_path / "old.pt"
    path.write_bytes(legacy_bytes(as_pickle(body), [("0", 10, data.tobytes())]))
    loaded = load_state_dict(path)
    # old: view starts at element 4, tensor offset 1 -> elements 5, 6, 7, 8
    assert np.array_equal(loaded["old"], np.array([[5.5, 6.5], [7.5, 8.5]], np.float32))
    assert np.array_equal(loaded["param"], np.array([0.5, 3.5, 6.5], np.float32))


# --- hostile files ----------------------------------------------------------------------------
class RunsShell:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def hostile_payloads(marker: Path, legacy: bool = False) -> dict[str, bytes]:
    command = f"echo pwned > {marker}"
    system_call = op_call(op_global("os", "system"), op_str(command))
    return {
        "reduce_p2": pickle.dumps(OrderedDict(w=RunsShell(command)), protocol=2),
        "reduce_p4": pickle.dumps({"w": RunsShell(command)}, protocol=4),  # STACK_GLOBAL
        "eval": as_pickle(op_call(op_global("builtins", "eval"),
                                  op_str(f"__import__('os').system({command!r})"))),
        "subprocess": as_pickle(op_call(op_global("subprocess", "Popen"),
                                        op_tuple(op_str("sh"), op_str("-c"), op_str(command)))),
        # a valid tensor first, then the attack deeper in the same state_dict
        "nested": as_pickle(op_ordered_dict([
            ("ok", op_tensor(op_storage("FloatStorage", "0", 6, legacy), 0, (6,), (1,))),
            ("bad", system_call)])),
        # the attack inside the persistent id tuple
        "in_pid": as_pickle(op_tuple(op_str("storage"), system_call, op_str("0"), op_str("cpu"),
                                     op_int(6), *([NONE] if legacy else [])) + b"Q"),
    }


def refused_name(payload_name: str) -> str:
    # pickle.dumps names os.system by its defining module (posix on Linux)
    return {"eval": r"builtins\.eval", "subprocess": r"subprocess\.Popen"}.get(
        payload_name, rf"(os|{os.system.__module__})\.system")


def test_hostile_payloads_really_run_under_plain_pickle(tmp_path):
    """Guards the next tests: the payloads are live, so 'not executed' means something."""
    marker = tmp_path / "pwned.txt"
    pickle.loads(hostile_payloads(marker)["reduce_p2"])
    assert marker.read_text().strip() == "pwned"


@pytest.mark.parametrize("payload_name", list(hostile_payloads(Path("x"))))
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_hostile_pickle_is_refused_and_not_run(tmp_path, payload_name, fmt):
    marker = tmp_path / "pwned.txt"
    payload = hostile_payloads(marker, legacy=fmt == "legacy")[payload_name]
    path = tmp_path / f"evil_{fmt}.pt"
    storage = np.zeros(6, np.float32).tobytes()
    if fmt == "zip":
        write_zip(path, payload, {"0": storage})
    else:
        path.write_bytes(legacy_bytes(payload, [("0", 6, storage)]))
    with pytest.raises(CheckpointError, match=f"refuses to load {refused_name(payload_name)}") \
            as raised:
        load_state_dict(path)
    assert str(path) in str(raised.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("slot", ["magic", "sys_info"])
def test_hostile_legacy_headers_are_refused(tmp_path, slot):
    marker = tmp_path / "pwned.txt"
    payload = hostile_payloads(marker)["reduce_p2"]
    main, _ = simple_state_dict_pickle(legacy=True)
    if slot == "magic":
        data = payload + legacy_bytes(main, [])[len(pickle.dumps(LEGACY_MAGIC, protocol=2)):]
    else:
        data = legacy_bytes(main, [("0", 6, bytes(24))], sys_info_pickle=payload)
    path = tmp_path / "evil.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="refuses to load"):
        load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("torch", "load"), ("torch._utils", "_rebuild_qtensor"),
                                          ("torch.serialization", "load"),
                                          ("numpy.core.multiarray", "_reconstruct"),
                                          ("collections", "defaultdict"),
                                          ("builtins", "getattr")])
def test_names_outside_the_allow_list_are_refused(tmp_path, module, name):
    path = write_zip(tmp_path / "x.pt", as_pickle(op_call(op_global(module, name))), {})
    with pytest.raises(CheckpointError, match=f"refuses to load {module}.{name}"):
        load_state_dict(path)


def test_build_on_allowed_function_is_refused(tmp_path):
    """BUILD could otherwise set attributes (e.g. __defaults__) on our functions."""
    state = b"N}" + op_str("__defaults__") + op_tuple(op_int(1)) + b"s\x86"  # (None, {...})
    body = op_global("torch._utils", "_rebuild_tensor_v2") + state + b"b"
    path = write_zip(tmp_path / "x.pt", as_pickle(body), {})
    with pytest.raises(CheckpointError, match="refuses to (set attribute|restore)"):
        load_state_dict(path)
    good, expected = simple_state_dict_pickle(legacy=False)  # the reader still works
    path = write_zip(tmp_path / "good.pt", good, {"0": expected.tobytes()})
    assert np.array_equal(load_state_dict(path)["w"], expected)


@pytest.mark.parametrize("offset, size, stride, message", [
    (1, (2, 3), (3, 1), "reaches past"),          # last element would be index 6 of 6
    (0, (3, 3), (3, 1), "reaches past"),
    (0, (2, 4), (1, 2), "reaches past"),
    (-1, (2, 3), (3, 1), "bad tensor layout"),
    (0, (2, 3), (3, 1, 1), "bad tensor layout"),
])
def test_out_of_bounds_layouts_are_refused(tmp_path, offset, size, stride, message):
    body = op_ordered_dict([("w", op_tensor(op_storage("FloatStorage", "0", 6), offset, size,
                                            stride))])
    path = write_zip(tmp_path / "x.pt", as_pickle(body), {"0": bytes(24)})
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(path)


def test_negative_stride_is_refused(tmp_path):
    body = op_ordered_dict([("w", op_tensor(op_storage("FloatStorage", "0", 6), 5, (6,), (-1,)))])
    path = write_zip(tmp_path / "x.pt", as_pickle(body), {"0": bytes(24)})
    with pytest.raises(CheckpointError, match="non-negative"):
        load_state_dict(path)


@pytest.mark.parametrize("storages, message", [
    ({"0": bytes(20)}, "holds 20 bytes"),
    ({}, "missing"),
])
def test_zip_storage_record_problems(tmp_path, storages, message):
    data, _ = simple_state_dict_pickle(legacy=False)
    path = write_zip(tmp_path / "x.pt", data, storages)
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(path)


def test_zip_storage_corruption_is_caught_by_crc(tmp_path):
    data, expected = simple_state_dict_pickle(legacy=False)
    path = write_zip(tmp_path / "x.pt", data, {"0": expected.tobytes()})
    raw = bytearray(path.read_bytes())
    raw[raw.index(expected.tobytes()) + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="x.pt"):
        load_state_dict(path)


def test_pickled_module_is_refused(tmp_path):
    pid = op_tuple(op_str("module"), NONE, NONE, NONE) + b"Q"
    path = tmp_path / "x.pt"
    path.write_bytes(legacy_bytes(as_pickle(pid), []))
    with pytest.raises(CheckpointError, match="nn.Module"):
        load_state_dict(path)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.02, 0.3, 0.6, 0.97, -1])
def test_truncated_files_raise(tmp_path, fmt, keep):
    data = FIXTURE_FILES[fmt].read_bytes()
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    path = tmp_path / f"cut_{fmt}.pt"
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match=f"cut_{fmt}.pt"):
        load_state_dict(path)


def test_legacy_storage_count_mismatch(tmp_path):
    main, expected = simple_state_dict_pickle(legacy=True)
    path = tmp_path / "x.pt"
    path.write_bytes(legacy_bytes(main, [("0", 5, expected.tobytes())]))
    with pytest.raises(CheckpointError, match="header says 5 elements, expected 6"):
        load_state_dict(path)
    path.write_bytes(legacy_bytes(main, [("0", 6, expected.tobytes())]))
    assert np.array_equal(load_state_dict(path)["w"], expected)  # the same file, intact


@pytest.mark.parametrize("content, message", [
    (b"", "not a PyTorch checkpoint"),
    (np.random.default_rng(0).bytes(3000), "not a PyTorch checkpoint"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "not a PyTorch checkpoint"),
    (pickle.dumps({"a": 1}, protocol=2), "magic number"),
    (b"PK\x03\x04" + bytes(200), "x.pt"),
])
def test_non_checkpoints_raise(tmp_path, content, message):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(path)


def test_missing_file_and_other_zip_and_tar(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt"):
        load_state_dict(tmp_path / "nope.pt")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="without data.pkl"):
        load_state_dict(other)
    old = tmp_path / "old.pt"
    with tarfile.open(old, "w") as archive:
        info = tarfile.TarInfo("pickle")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(CheckpointError, match="tar checkpoint"):
        load_state_dict(old)


def test_torchscript_archive_is_refused(tmp_path):
    data, expected = simple_state_dict_pickle(legacy=False)
    path = write_zip(tmp_path / "x.pt", data, {"0": expected.tobytes()})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/code/__torch__/model.py", "def forward(self): ...")
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_state_dict(path)


# --- find_state_dict --------------------------------------------------------------------------
def test_find_state_dict():
    sd = {"a.weight": np.zeros((2, 2), np.float32), "a.bias": np.zeros(2, np.float32)}
    assert find_state_dict(sd) is sd
    assert find_state_dict({"epoch": 3, "state_dict": sd, "optimizer": {"lr": 0.1}}) is sd
    assert find_state_dict({"model": sd, "params": {"x": 1}}) is sd
    assert find_state_dict({"epoch": 1, "weights": sd}) is sd  # the only nested state_dict
    assert find_state_dict({"state_dict": {"generator": sd}}) is sd
    for bad in [{}, [sd], {"a": sd, "b": dict(sd)}, {"a.weight": np.zeros(2), "step": 3}]:
        with pytest.raises(CheckpointError, match="state_dict"):
            find_state_dict(bad)


def test_load_state_dict_of_checkpoint_without_state_dict(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(legacy_bytes(pickle.dumps({"epoch": 1}, protocol=2), []))
    with pytest.raises(CheckpointError, match=r"x.pt: no state_dict .*'epoch': int"):
        load_state_dict(path)
    assert load_checkpoint(path) == {"epoch": 1}
