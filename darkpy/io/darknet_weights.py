"""darknet `.weights` files.

Layout: int32 major, minor, revision; then `seen` as int64 when major*10+minor >= 2 (and both
below 1000), else int32; then, per layer in cfg order, each parameter of `param_layout()` as
raw little-endian float32. darknet never checks the length; darkpy does: too few or too many
floats is an error saying how many were expected and where the file ran out, unless
`max_layers` asks for only the first N layers (backbone files such as darknet53.conv.74).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from darkpy.errors import WeightsError
from darkpy.io.atomic import atomic_path


@dataclass
class WeightsHeader:
    major: int = 0
    minor: int = 2
    revision: int = 0
    seen: int = 0

    @property
    def seen_is_64bit(self) -> bool:
        return self.major * 10 + self.minor >= 2 and self.major < 1000 and self.minor < 1000

    @property
    def transposed(self) -> bool:
        """Connected-layer weights stored transposed (very old darknet files)."""
        return self.major > 1000 or self.minor > 1000

    @property
    def nbytes(self) -> int:
        return 12 + (8 if self.seen_is_64bit else 4)


def _read_header(data: bytes, path: Path) -> WeightsHeader:
    if len(data) < 12:
        raise WeightsError(f"{path}: too short for a darknet weights header ({len(data)} bytes; "
                           "the version alone takes 12)")
    major, minor, revision = (int(v) for v in np.frombuffer(data, "<i4", 3))
    header = WeightsHeader(major, minor, revision)
    if len(data) < header.nbytes:
        bits = 64 if header.seen_is_64bit else 32
        raise WeightsError(f"{path}: header truncated: version {major}.{minor}.{revision} stores "
                           f"`seen` as a {bits}-bit integer, so the header takes {header.nbytes} "
                           f"bytes, but the file has {len(data)}")
    header.seen = int(np.frombuffer(data, "<i8" if header.seen_is_64bit else "<i4", 1, offset=12)[0])
    return header


def _layers_to_load(network, max_layers, path=None):
    n = len(network.layers)
    if max_layers is None:
        return network.layers
    if not 0 <= max_layers <= n:
        where = f"{path}: " if path is not None else ""
        raise WeightsError(f"{where}max_layers={max_layers} is outside 0..{n}: the network has {n} layers")
    return network.layers[:max_layers]


def expected_floats(network, max_layers=None, path=None) -> int:
    return sum(int(np.prod(shape)) for layer in _layers_to_load(network, max_layers, path)
               for _, shape in layer.param_layout())


def load_darknet_weights(network, path, max_layers: int | None = None) -> WeightsHeader:
    """Fill `network`'s parameters from a darknet .weights file (strict length check)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights ({exc.strerror or exc})") from None
    total = expected_floats(network, max_layers, path)
    header = _read_header(data, path)
    floats = np.frombuffer(data, "<f4", offset=header.nbytes, count=(len(data) - header.nbytes) // 4)
    stray_bytes = (len(data) - header.nbytes) % 4
    pos = 0
    for layer in _layers_to_load(network, max_layers, path):
        for name, shape in layer.param_layout():
            count = int(np.prod(shape))
            if pos + count > floats.size:
                raise WeightsError(
                    f"{path}: truncated: the network needs {total:,} floats but the file holds "
                    f"{floats.size:,}; it ran out in layer {layer.index} [{layer.kind}] "
                    f"({layer.origin}) at `{name}` (needs {count:,}, {floats.size - pos:,} left)"
                )
            values = floats[pos:pos + count]
            if header.transposed and layer.kind == "connected" and name == "weights":
                values = values.reshape(shape[1], shape[0]).T
            layer.set_param(name, np.array(values, dtype=np.float32).reshape(shape))
            pos += count
    if max_layers is None and pos == floats.size and stray_bytes:
        raise WeightsError(
            f"{path}: {stray_bytes} stray byte(s) after the network's {total:,} floats: a darknet "
            f"weights file is a {header.nbytes}-byte header and whole 4-byte floats (damaged or "
            f"appended to?)"
        )
    if max_layers is None and (pos != floats.size or stray_bytes):
        extra = floats.size - pos
        raise WeightsError(
            f"{path}: the file holds {extra:,} more floats (+{stray_bytes} bytes) than the "
            f"network's {total:,}: wrong cfg for these weights? (pass max_layers=N to load only "
            f"the first N layers of a longer file)"
        )
    return header


def save_darknet_weights(network, path, header: WeightsHeader | None = None) -> None:
    """Write `network`'s parameters as a darknet .weights file (atomic)."""
    header = header or WeightsHeader()
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(np.array([header.major, header.minor, header.revision], "<i4").tobytes())
        fh.write(np.array([header.seen], "<i8" if header.seen_is_64bit else "<i4").tobytes())
        for layer in network.layers:
            for name, shape in layer.param_layout():
                values = np.asarray(layer.get_param(name), dtype="<f4").reshape(shape)
                if header.transposed and layer.kind == "connected" and name == "weights":
                    values = values.T
                fh.write(np.ascontiguousarray(values).tobytes())
