"""kernels/aligned.py: arrays starting on a cache line, and who owns their memory; the layer
outputs and scratch buffers that come from it."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import aligned, recycle, workers
from darkpy.network import Network


@pytest.mark.parametrize("shape,dtype", [((1,), np.float32), ((3, 5, 7), np.float32),
                                         (17, np.float64), ((1, 339, 510, 3), np.uint8)])
def test_empty_starts_on_a_cache_line(shape, dtype):
    for _ in range(5):  # malloc hands out 16-byte aligned blocks: several tries cover offsets
        a = aligned.empty(shape, dtype)
        assert a.ctypes.data % aligned.ALIGN == 0
        assert a.shape == ((shape,) if np.isscalar(shape) else shape) and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
    like = aligned.empty_like(np.zeros((2, 3), np.float64))
    assert like.shape == (2, 3) and like.dtype == np.float64
    assert aligned.empty((0, 4)).shape == (0, 4)


def test_owns_memory():
    a = aligned.empty((4, 4))
    assert aligned.owns_memory(a)
    view = a[1:]
    assert not aligned.owns_memory(a) and not aligned.owns_memory(view)
    del view
    assert aligned.owns_memory(a)
    plain = np.zeros(8, np.float32)
    assert aligned.owns_memory(plain)
    assert not aligned.owns_memory(plain[2:])
    raw = np.zeros(64, np.uint8)
    assert not aligned.owns_memory(raw.view(np.float32))  # raw is still referenced here


def test_aligned_arrays_are_pooled_and_their_views_are_not():
    with recycle.recycling():
        store = {"free": aligned.empty((3, 4)), "viewed": aligned.empty((3, 4))}
        store["free"][:] = 0.0
        store["viewed"][:] = 1.0
        view = store["viewed"][1:]
        recycle.give_back(store.pop("viewed"))
        recycle.give_back(store.pop("free"))
        reused = recycle.empty((3, 4), np.float32)
        assert not reused.any()  # the free one came back, not the one a view still shows
        assert recycle.empty((3, 4), np.float32).base is not view.base


CHAIN = """
[net]
width=16
height=12
channels=16

[convolutional]
filters=16
size=3
pad=1
activation=relu

[convolutional]
filters=32
size=3
pad=1
activation=linear
"""


def test_layer_outputs_and_scratch_start_on_a_cache_line(monkeypatch):
    net = Network(parse_cfg_text(CHAIN, "chain.cfg"), source="chain.cfg")
    rng = np.random.default_rng(0)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    x = rng.standard_normal((1, 12, 16, 16)).astype(np.float32)
    offsets, arena = [], []
    empty = recycle.empty

    def spy(shape, dtype):
        array = empty(shape, dtype)
        offsets.append(array.ctypes.data % aligned.ALIGN)
        arena.append(not aligned.owns_memory(array))
        return array

    monkeypatch.setattr(recycle, "empty", spy)
    for _ in range(3):  # the recorded pass, then the arena's
        net.forward(x)
    # per pass: layer 0 (freed after layer 1: the arena from the second pass on), layer 1
    assert offsets == [0] * 6 and arena == [False, False] + [True, False] * 2
    assert workers.scratch("test_aligned", 1000).ctypes.data % aligned.ALIGN == 0
