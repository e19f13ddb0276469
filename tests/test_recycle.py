"""Output recycling (kernels/recycle.py): only arrays nothing else holds are reused, and a
network's outputs are the same with it as without it."""
from __future__ import annotations

import numpy as np

from darkpy.config.cfg import parse_cfg_text
from darkpy.kernels import aligned, recycle, workers
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
        assert not recycle._state.memory.pool


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


def _spy_on_requests(monkeypatch) -> list:
    """A list that records, for every recycle.empty call from now on, where its array came
    from: "pool" (an array freed earlier), "arena" (a region of the arena) or "new"."""
    taken = []
    empty = recycle.empty

    def spy(shape, dtype):
        memory = recycle._state.memory
        pooled = memory.record is not None and bool(memory.pool.get((tuple(shape), np.dtype(dtype).str)))
        array = empty(shape, dtype)
        taken.append("pool" if pooled else "new" if aligned.owns_memory(array) else "arena")
        return array

    monkeypatch.setattr(recycle, "empty", spy)
    return taken


def test_network_outputs_are_the_same_with_recycling(monkeypatch):
    # one thread: a pool worker finishing a job may still hold an input for a moment, and
    # then that input is (rightly) not pooled
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((2, 12, 16, 3)).astype(np.float32)
    taken = _spy_on_requests(monkeypatch)
    recycled = net.forward(x)
    # layer 0's output reused by layer 2; the route's 16 channels fit no freed array
    assert taken == ["new", "new", "pool", "new", "new"]
    monkeypatch.setattr(recycle, "give_back", lambda array: None)
    np.testing.assert_array_equal(recycled, net.forward(x))
    # every output kept: layer 2's output is not layer 0's memory
    outs = net.forward(x, outputs=[0, 1, 2, 3, 4])
    np.testing.assert_array_equal(outs[4], recycled)
    assert not np.shares_memory(outs[0], outs[2])


def test_the_passes_after_the_first_take_their_outputs_from_one_arena(monkeypatch):
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((1, 12, 16, 3)).astype(np.float32)
    first = net.forward(x)
    kept = first.copy()
    taken = _spy_on_requests(monkeypatch)
    second = net.forward(x)
    # every convolution output is freed within the pass (the route's output is returned):
    # all four come from the arena, which holds three at once (layer 0's dies after layer 1,
    # so layer 2 reuses its bytes; layers 1 and 3 live to the route); the route's output is
    # a fresh array, the one the last pass returned being still held (by `first`)
    assert taken == ["arena"] * 4 + ["new"]
    memory = net._buffers.for_input(x.shape)
    size = 12 * 16 * 8 * 4
    assert memory.arena_bytes == 3 * size
    assert memory.offsets[2] == memory.offsets[0]
    assert len({memory.offsets[k] for k in (0, 1, 3)}) == 3
    np.testing.assert_array_equal(second, kept)
    np.testing.assert_array_equal(first, kept)  # the output handed back is never reused
    assert not np.shares_memory(first, second)
    taken.clear()
    np.testing.assert_array_equal(net.forward(x), kept)
    assert taken == ["arena"] * 4 + ["new"]
    # another input shape starts afresh, and release_buffers lets everything go
    taken.clear()
    net.forward(rng.standard_normal((1, 8, 8, 3)).astype(np.float32))
    assert taken == ["new", "new", "pool", "new", "new"]
    net.release_buffers()
    taken.clear()
    np.testing.assert_array_equal(net.forward(x), kept)
    assert taken == ["new", "new", "pool", "new", "new"]


def test_an_arena_region_still_referenced_is_never_handed_out_again(monkeypatch):
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((1, 12, 16, 3)).astype(np.float32)
    reference = net.forward(x, outputs=[0, 1, 2, 3, 4])
    net.release_buffers()
    net.forward(x)  # records a pass in which every convolution output is freed
    taken = _spy_on_requests(monkeypatch)
    # now the caller keeps them all: layer 2's region (layer 0's) is still held when layer 2
    # asks, so it gets a fresh array (and so does the route's output, a returned one)
    outs = net.forward(x, outputs=[0, 1, 2, 3, 4])
    assert taken == ["arena", "arena", "new", "arena", "new"]
    assert not np.shares_memory(outs[0], outs[2])
    # a view of an output kept by the caller holds its region as well
    view = net.forward(x, outputs=[0])[0][:, 1:]
    again = net.forward(x, outputs=[0, 1, 2, 3, 4])
    for i in range(5):
        np.testing.assert_array_equal(again[i], reference[i])
        np.testing.assert_array_equal(outs[i], reference[i])
    np.testing.assert_array_equal(view, reference[0][:, 1:])
    assert not any(np.shares_memory(view, again[i]) for i in range(5))


def test_repeated_forwards_on_the_workers_equal_a_forward_without_recycling(monkeypatch):
    net, rng = _chain_network()
    x = rng.standard_normal((2, 48, 64, 3)).astype(np.float32)
    results = [net.forward(x) for _ in range(4)]
    monkeypatch.setattr(recycle, "empty", np.empty)
    expected = net.forward(x)
    for result in results:
        np.testing.assert_array_equal(result, expected)


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
    assert pools[0].arena_bytes == 0 and pools[0].record == []
    assert net._buffers.for_input(x.shape).arena_bytes > 0  # this thread's is laid out


def test_a_pass_that_asks_for_other_sizes_is_recorded_again():
    memory = recycle.PassMemory()

    def one_pass(shapes):
        """Ask for arrays of `shapes` in turn, each given back after the next is made;
        returns where each came from."""
        came = []
        with recycle.recycling(memory):
            held = {}
            for i, shape in enumerate(shapes):
                array = recycle.empty(shape, np.float32)
                came.append("new" if aligned.owns_memory(array) else "arena")
                held[i] = array
                array = None
                if i > 0:
                    recycle.give_back(held.pop(i - 1))
            recycle.give_back(held.pop(len(shapes) - 1))
        return came

    assert one_pass([(4, 8), (2, 8), (4, 8)]) == ["new"] * 3  # recorded
    assert one_pass([(4, 8), (2, 8), (4, 8)]) == ["arena"] * 3
    # request 1 differs (a fresh array); request 2 matches its recorded size and its region is free
    assert one_pass([(4, 8), (3, 8), (4, 8)]) == ["arena", "new", "arena"]
    assert one_pass([(4, 8), (3, 8), (4, 8)]) == ["new"] * 3  # recorded again
    assert one_pass([(4, 8), (3, 8), (4, 8)]) == ["arena"] * 3
    assert memory.arena_bytes == 4 * 8 * 4 + 3 * 8 * 4  # two alive at once at most


def test_a_returned_output_is_reused_only_when_nobody_holds_it(monkeypatch):
    monkeypatch.setattr(workers, "_num_threads", 1)
    net, rng = _chain_network()
    x = rng.standard_normal((1, 12, 16, 3)).astype(np.float32)
    expected = net.forward(x).copy()
    address = net.forward(x).ctypes.data  # the second pass's output, dropped at once
    assert net.forward(x).ctypes.data == address  # ... so the third pass writes it again
    held = net.forward(x)
    assert held.ctypes.data == address
    other = net.forward(x)  # `held` is still referenced: a new array
    assert other.ctypes.data != address
    np.testing.assert_array_equal(held, expected)
    np.testing.assert_array_equal(other, expected)
    view = other[0, 1:]
    del other
    third = net.forward(x)  # a view of `other` is alive: not its memory either
    assert not np.shares_memory(third, view)
    before = view.copy()
    net.forward(x)
    np.testing.assert_array_equal(view, before)
