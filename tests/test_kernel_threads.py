"""The threaded paths of the forward kernels (workers.run_blocks / run_rows), forced on small
inputs, against naive numpy: GEMM and Winograd split by output channels, row kernels split in
chunks, narrow-row bias + activation, and the job runner itself."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from darkpy.kernels import elementwise, pooling, resample, workers, yolo
from darkpy.kernels.conv import inference, small_gemm
from darkpy.kernels.conv import winograd
from darkpy.kernels.activations import LEAKY, LINEAR
from tests.conv_reference import float64_conv

LOWEST = np.float32(-np.finfo(np.float32).max)


@pytest.fixture
def threaded(monkeypatch):
    """Three workers (odd splits) and no size below which work stays on one thread."""
    saved = workers.num_threads()
    workers.set_num_threads(3)
    monkeypatch.setattr(workers, "SERIAL_WORK", 0)
    monkeypatch.setattr(inference, "MIN_SPLIT_FLOPS", 0)
    monkeypatch.setattr(inference, "PARALLEL_COPY_BYTES", 0)
    monkeypatch.setattr(inference, "MIN_SPLIT_TILES", 1)
    yield
    workers.set_num_threads(saved)


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("n,h,w,c,f,k,stride", [
    (1, 5, 6, 8, 130, 3, 1),  # 3 runs of panels: 64, 64, 16 columns (2 of them padding)
    (2, 4, 3, 5, 33, 3, 2),   # two images, one panel: fewer jobs than workers
    (1, 7, 5, 12, 135, 1, 1),  # 1x1: the input is the left matrix, its last 11 rows copied
    (1, 4, 6, 12, 64, 1, 1),  # 1x1 of whole register blocks of rows: nothing copied
])
def test_gemm_split_by_output_channels(threaded, n, h, w, c, f, k, stride, cached):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    wt = rng.standard_normal((k, k, c, f), dtype=np.float32)
    bias = rng.standard_normal(f, dtype=np.float32)
    pad = k // 2
    out = np.full((n, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1, f), np.nan,
                  np.float32)
    packed = small_gemm.packed(wt.reshape(-1, f)) if cached else None
    inference.conv2d_gemm(x, wt.reshape(-1, f), bias, LEAKY, k, stride, stride, pad, 1, 1, out,
                          (lambda: packed) if cached else None)
    np.testing.assert_allclose(out, float64_conv(x, wt, bias, stride, pad, LEAKY), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("n,h,w,c,f,residual", [
    (1, 9, 11, 6, 140, False), (2, 5, 7, 4, 33, False), (1, 9, 11, 16, 70, True)])
def test_winograd_split_by_output_channels(threaded, n, h, w, c, f, residual, cached):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    wt = rng.standard_normal((3, 3, c, f), dtype=np.float32)
    bias = rng.standard_normal(f, dtype=np.float32)
    tiles = n * winograd.tiles_for(h, w)[0] * winograd.tiles_for(h, w)[1]
    assert tiles < 3 * inference.MIN_BLOCK_TILES  # the column split
    u = winograd.transform_filters(wt)
    packed = small_gemm.packed(u) if cached else None
    other = rng.standard_normal((n, h, w, f), dtype=np.float32)
    out = np.full((n, h, w, f), np.nan, np.float32)
    inference.conv2d_winograd(x, u, bias, LEAKY, 1, out,
                              (other, 0.5, 2.0, LINEAR) if residual else None,
                              (lambda: packed) if cached else None)
    expected = float64_conv(x, wt, bias, 1, 1, LEAKY)
    if residual:
        expected = 0.5 * expected + 2.0 * other
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def naive_maxpool(x, size, stride, offset, out_h, out_w):
    n, h, w, c = x.shape
    out = np.full((n, out_h, out_w, c), LOWEST, np.float32)
    for oy in range(out_h):
        for ox in range(out_w):
            for dy in range(size):
                for dx in range(size):
                    iy, ix = offset + oy * stride + dy, offset + ox * stride + dx
                    if 0 <= iy < h and 0 <= ix < w:
                        out[:, oy, ox] = np.maximum(out[:, oy, ox], x[:, iy, ix])
    return out


@pytest.mark.parametrize("size,stride,offset,out_hw", [
    (2, 2, 0, (4, 5)),    # yolov3-tiny's pools, the last window half outside
    (2, 1, 0, (9, 11)),   # 2x2/1 with darknet's padding 1
    (2, 1, -1, (10, 12)), # windows hanging over the top-left edge
    (2, 1, -2, (11, 13)), # the first windows entirely outside: -FLT_MAX
    (3, 2, -1, (5, 6)),
])
def test_maxpool_in_row_chunks(threaded, size, stride, offset, out_hw):
    x = np.random.default_rng(2).standard_normal((2, 9, 11, 19), dtype=np.float32)
    out = pooling.maxpool2d(x, size, stride, stride, offset, offset, *out_hw)
    np.testing.assert_array_equal(out, naive_maxpool(x, size, stride, offset, *out_hw))


def test_upsample_and_shortcut_in_row_chunks(threaded):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3, 7), dtype=np.float32)
    up = resample.upsample_nearest(x, 2, np.float32(1.5))
    np.testing.assert_array_equal(up, 1.5 * x.repeat(2, axis=1).repeat(2, axis=2))
    other = rng.standard_normal(x.shape, dtype=np.float32)
    out = elementwise.shortcut(x, other, np.float32(0.5), np.float32(2.0), LINEAR)
    np.testing.assert_allclose(out, 0.5 * x + 2.0 * other, rtol=1e-6)



@pytest.mark.parametrize("in_place", [False, True])
def test_shortcut_of_equal_shapes_in_flat_chunks(threaded, monkeypatch, in_place):
    # equal shapes take one flat loop in chunks of FLAT_CHUNK values (a chunk ends inside
    # a pixel here); float32 numpy does the same two roundings, so the same bits
    monkeypatch.setattr(elementwise, "FLAT_CHUNK", 1000)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 13, 17, 3), dtype=np.float32)
    other = rng.standard_normal(x.shape, dtype=np.float32)
    alpha, beta = np.float32(0.5), np.float32(-1.25)
    summed = alpha * x + beta * other
    expected = np.where(summed > 0, summed, np.float32(0.1) * summed)
    out = elementwise.shortcut(x, other, alpha, beta, LEAKY, out=x if in_place else None)
    np.testing.assert_array_equal(out, expected)
    assert (out is x) == in_place

def test_yolo_activation_in_row_chunks(threaded):
    x = (np.random.default_rng(4).standard_normal((37, 2 * 7)) * 4).astype(np.float32)
    out = np.empty_like(x)
    yolo.yolo_activate(x, out, 2, 7, np.float32(1.1), np.float32(-0.05), True)
    expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    for a in range(2):
        expected[:, 7 * a + 2:7 * a + 4] = x[:, 7 * a + 2:7 * a + 4]
        expected[:, 7 * a:7 * a + 2] = expected[:, 7 * a:7 * a + 2] * 1.1 - 0.05
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rows,cols", [(50, 3), (7, 16), (3, 100)])
def test_bias_activate_block_narrow_rows(rows, cols):
    rng = np.random.default_rng(5)
    y = rng.standard_normal((rows, cols), dtype=np.float32)
    bias = rng.standard_normal(cols, dtype=np.float32)
    expected = y.astype(np.float64) + bias
    inference.bias_activate_block(y, bias, LEAKY)
    np.testing.assert_allclose(y, np.where(expected > 0, expected, 0.1 * expected), rtol=1e-6)


def test_run_blocks_runs_every_job_once_and_reraises(threaded):
    seen = []
    lock = threading.Lock()

    def work(job):
        with lock:
            seen.append(job)

    workers.run_blocks(list(range(50)), work)
    assert sorted(seen) == list(range(50))

    def failing(job):
        if job == 3:
            raise ValueError("job 3")

    with pytest.raises(ValueError, match="job 3"):
        workers.run_blocks(list(range(8)), failing)


@pytest.mark.parametrize("spin_seconds", [0.002, 0.0])
def test_back_to_back_batches_find_their_workers(threaded, monkeypatch, spin_seconds):
    """Hundreds of batches in a row, whether the workers wait by checking a flag or asleep:
    every job runs once, and the background workers take part (a job waits until two
    threads have started one)."""
    monkeypatch.setattr(workers, "SPIN_SECONDS", spin_seconds)
    monkeypatch.setattr(workers, "_pool", None)  # a pool with this way of waiting
    threads = set()
    for batch in range(300):
        seen = []
        lock = threading.Lock()
        two_started = threading.Barrier(2) if batch % 50 == 0 else None

        def work(job, seen=seen, lock=lock, two_started=two_started):
            if two_started is not None and job < 2:
                two_started.wait(5)
            with lock:
                seen.append(job)
                threads.add(threading.current_thread().name)

        workers.run_blocks(list(range(batch % 7 + 2)), work)
        assert sorted(seen) == list(range(batch % 7 + 2))
    assert any(name.startswith("darkpy-worker") for name in threads)


def test_batches_nested_and_from_several_callers(threaded):
    """A job that runs a batch of its own, and callers on several threads at once: each
    caller gets all its jobs run before run_blocks returns."""
    results = {}

    def caller(key):
        done = []

        def inner(job):
            done.append(job)

        def outer(job):
            workers.run_blocks([(job, i) for i in range(3)], inner)

        for _ in range(20):
            done.clear()
            workers.run_blocks(list(range(4)), outer)
            results.setdefault(key, []).append(sorted(done) == [(j, i) for j in range(4) for i in range(3)])

    callers = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(60)
    assert results == {k: [True] * 20 for k in range(3)}


def test_a_bigger_pool_lets_the_old_workers_end(threaded, monkeypatch):
    monkeypatch.setattr(workers, "_pool", None)
    before = set(threading.enumerate())
    workers.run_blocks(list(range(4)), lambda job: None)  # two background workers
    old = [t for t in threading.enumerate() if t not in before]
    assert len(old) == 2
    workers.set_num_threads(5)
    workers.run_blocks(list(range(8)), lambda job: None)  # four, in a new pool
    for thread in old:
        thread.join(5)
    assert not any(thread.is_alive() for thread in old)
