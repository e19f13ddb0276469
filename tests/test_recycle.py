"""Output recycling (kernels/recycle.py): only arrays nothing else holds are reused, and a
network's outputs are the same with it as without it."""
from __future__ import annotations

import numpy as np

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import recycle, workers
from darkpy.network import Network


def test_only_unshared_arrays_are_reused():
    with recycle.recycling():
        store = {"free": np.zeros((3, 4), np.float32), "held": np.ones((3, 4), np.float32),
                 "viewed": np.full((5,), 2.0, np.float32)}
        held = store["held"]
        view = store["viewed"][1:]
        recycle.give_back(store.pop("held"))
        recycle.give_back(store.pop("viewed"))
        recycle.give_back(store.pop("free"))
        reused = recycle.empty((3, 4), np.float32)
        assert reused is not held and not reused.any()  # the free one (zeros) came back
        assert recycle.empty((3, 4), np.float32) is not held  # the pool had only that one
        assert recycle.empty((5,), np.float32) is not view.base
        assert recycle.empty((3, 4), np.float64).dtype == np.float64
    # outside recycling() nothing is pooled
    store = {"a": np.zeros(7, np.float32)}
    recycle.give_back(store.pop("a"))
    with recycle.recycling():
        assert not recycle._state.pool


CHAIN = """
[net]
width=16
height=12
channels=3

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[convolutional]
filters=8
size=3
pad=1
activation=leaky

[convolutional]
filters=8
size=3
pad=1
activation=linear

[convolutional]
filters=8
size=1
activation=logistic

[route]
layers=-1,-3
"""


def _chain_network():
    net = Network(parse_cfg_text(CHAIN, "chain.cfg"), source="chain.cfg")
    rng = np.random.default_rng(1)
    for layer in net.layers:
        for name, shape in layer.param_layout():
            layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    return net, rng


def _spy_on_pool(monkeypatch) -> list:
    """A list that records, for every recycle.empty call from now on, whether the pool held
    an array of that shape."""
    taken = []
    empty = recycle.empty

    def spy(shape, dtype):
        pool = recycle._state.pool
        taken.append(bool(pool and pool.get((tuple(shape), np.dtype(dtype).str))))
        return empty(shape, dtype)

    monkeypatch.setattr(recycle, "empty", spy)
    return taken

def test_network_outputs_are_the_same_with_recycling(monkeypatch):
    # one thread: a pool worker finishing a job may still hold an input for a moment, and
    # then that input is (rightly) not pooled
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((2, 12, 16, 3)).astype(np.float32)
    taken = _spy_on_pool(monkeypatch)
    recycled = net.forward(x)
    assert taken == [False, False, True, False]  # layer 0's output reused by layer 2
    monkeypatch.setattr(recycle, "give_back", lambda array: None)
    np.testing.assert_array_equal(recycled, net.forward(x))
    # every output kept: layer 2's output is not layer 0's memory
    outs = net.forward(x, outputs=[0, 1, 2, 3, 4])
    np.testing.assert_array_equal(outs[4], recycled)
    assert not np.shares_memory(outs[0], outs[2])


def test_the_next_forward_of_the_same_shape_reuses_the_freed_outputs(monkeypatch):
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((1, 12, 16, 3)).astype(np.float32)
    first = net.forward(x)
    kept = first.copy()
    taken = _spy_on_pool(monkeypatch)
    second = net.forward(x)
    # the first pass ended with two (12, 16, 8) arrays pooled (PER_SHAPE): layers 0 and 1
    # take them, layer 2 the one layer 0 frees; layer 3 finds none (layer 2's is its input)
    assert taken == [True, True, True, False]
    np.testing.assert_array_equal(second, kept)
    np.testing.assert_array_equal(first, kept)  # the output handed back is never reused
    assert not np.shares_memory(first, second)
    # another input shape starts afresh, and release_buffers lets everything go
    taken.clear()
    net.forward(rng.standard_normal((1, 8, 8, 3)).astype(np.float32))
    assert taken == [False, False, True, False]
    net.release_buffers()
    taken.clear()
    np.testing.assert_array_equal(net.forward(x), kept)
    assert taken == [False, False, True, False]


def test_each_thread_has_its_own_pool(monkeypatch):
    import threading

    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((1, 12, 16, 3)).astype(np.float32)
    net.forward(x)
    pools = []
    thread = threading.Thread(target=lambda: pools.append(net._buffers.for_input(x.shape)))
    thread.start()
    thread.join()
    assert pools == [{}]
    assert net._buffers.for_input(x.shape)  # this thread's pool still holds the freed outputs
