"""Kernel modules that load on first use, so that building a network does not import numba.

Importing a kernel module imports numba (about 0.3 s) and loads or compiles its functions;
reading a cfg, building its layers and inferring their shapes (`darkpy info`, the CLI's
start-up, `darkpy.load` before the first forward) need none of that. Layer modules therefore
bind the kernel modules they run through this one function,

    from darkpy.kernels.lazy import kernels
    pooling = kernels("pooling")            # instead of: from darkpy.kernels import pooling

and call `pooling.maxpool(...)` as before: the module is imported on the first attribute read,
i.e. in the first forward or backward that runs a kernel. What layers need while being built
is numba-free and imported as usual: activation names and codes
(kernels/activation_codes.py) and the rule that picks a convolution algorithm
(kernels/conv/dispatch.py, which binds the kernels it calls the same way).
tests/test_startup.py checks that the CLI and `darkpy info` import no numba.
"""
from __future__ import annotations

import importlib


class _Kernels:
    """Stands for darkpy.kernels.<name>; attribute reads go to the module, imported by the
    first (importlib's import is thread-safe: workers may race to it)."""

    def __init__(self, name: str):
        self._name = f"darkpy.kernels.{name}"
        self._module = None

    def __getattr__(self, attr: str):  # called only for names the proxy itself lacks
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<kernels {self._name} ({state})>"


def kernels(name: str) -> _Kernels:
    """darkpy.kernels.<name> (dotted below kernels/, e.g. 'conv.inference'), imported when
    one of its attributes is first read."""
    return _Kernels(name)
