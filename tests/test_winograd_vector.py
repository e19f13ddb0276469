"""The vector Winograd path (kernels/conv/winograd_vector.py, small_gemm.py): its transforms
give winograd.py's loops' bits, its GEMMs float64's products, and conv2d_winograd through it
a naive float64 convolution, on edges, ragged tiles, several images and the fused shortcut."""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.kernels import aligned
from darkpy.kernels.activations import LEAKY, LINEAR, LOGISTIC, MISH, RELU
from darkpy.kernels.conv import (
    inference,
    small_gemm,
    winograd,
    winograd_grad,
    winograd_vector,
)
from tests.conv_reference import float64_conv


def _blocks(n, h, w, per):
    return winograd.tile_blocks(n, *winograd.tiles_for(h, w), per)


@pytest.mark.parametrize("n,h,w,c,pad,per", [
    (1, 9, 13, 16, 1, 7),    # ragged tiles on both edges; blocks end mid-row
    (2, 12, 8, 32, 1, 5),    # two images; blocks span images
    (1, 14, 11, 16, 0, 4),   # unpadded: output 12x9
    (1, 3, 3, 16, 1, 1),     # one tile, every pixel of it an edge
])
def test_input_transform_gives_the_loops_bits(n, h, w, c, pad, per):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    out_h, out_w = h + 2 * pad - 2, w + 2 * pad - 2
    rows = np.empty((6, (4 * per + 2) * c), np.float32)
    for segments in _blocks(n, out_h, out_w, per):
        tiles = int((segments[:, 3] - segments[:, 2]).sum())
        want = np.full((36, per + 1, c), np.nan, np.float32)
        winograd.input_transform(x, pad, segments, np.zeros(w * c, np.float32), rows, want)
        got = np.full((per, 36 * c + 16), np.nan, np.float32)  # tile-major, padded stride
        winograd_vector.input_transform(x, pad, segments, got.reshape(-1), 36 * c + 16, c)
        got = got[:, :36 * c].reshape(per, 36, c)
        assert np.array_equal(got[:tiles].transpose(1, 0, 2), want[:, :tiles])
        planes = np.full((36, per + 1, c), np.nan, np.float32)  # plane-major
        winograd_vector.input_transform(x, pad, segments, planes.reshape(-1), c, (per + 1) * c)
        assert np.array_equal(planes[:, :tiles], want[:, :tiles])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code,fused,res_code,cout", [
    (LINEAR, False, LINEAR, 32), (RELU, True, LEAKY, 32), (LEAKY, True, LEAKY, 32),
    (RELU, True, LINEAR, 5), (LINEAR, True, LINEAR, 20), (LEAKY, False, LINEAR, 48),
    (RELU, False, LINEAR, 16), (LOGISTIC, True, LINEAR, 16), (MISH, False, LINEAR, 21)])
def test_output_transform_gives_the_loops_bits(code, fused, res_code, cout, stream):
    """Ragged tiles, the shortcut (finished in registers when it is linear and so is the
    activation or ReLU or leaky, else by the loops' second pass), and (5, 20, 21 channels) a
    GEMM result wider than the output: the columns past the last channel are never written
    out. M holds huge values and NaNs too, so that some outputs are inf or NaN. stream: the
    whole tiles of whole channel vectors by non-temporal stores where finished in registers."""
    rng = np.random.default_rng(1)
    n, h, w, per = 2, 10, 7, 6
    plane = small_gemm.padded_columns(cout)
    bias = rng.standard_normal(cout, dtype=np.float32)
    res = (rng.standard_normal((n, h, w, cout), dtype=np.float32) if fused
           else inference._NO_RESIDUAL)
    alpha, beta = np.float32(0.5), np.float32(1.0)
    want = np.full((n, h, w, cout), np.nan, np.float32)
    got = aligned.empty(want.shape)  # on a cache line: whole tiles can be streamed
    got[:] = np.nan
    for segments in _blocks(n, h, w, per):
        tiles = int((segments[:, 3] - segments[:, 2]).sum())
        m = rng.standard_normal((tiles, 36 * plane), dtype=np.float32)
        m[rng.random(m.shape) < 0.002] = 3e38
        m[rng.random(m.shape) < 0.0005] = np.nan
        planes = np.ascontiguousarray(m.reshape(tiles, 36, plane)[:, :, :cout].transpose(1, 0, 2))
        winograd.output_transform(planes, segments, np.empty((4, 6, cout), np.float32),
                                  np.empty((4, cout), np.float32), bias, code, want, res,
                                  alpha, beta, res_code)
        winograd_vector.output_transform(m, plane, segments, bias, code, got, res, alpha, beta,
                                         res_code, stream)
    assert np.isfinite(want).mean() > 0.5 and not np.isfinite(want).all()
    np.testing.assert_array_equal(got, want)  # NaNs in the same places too


@pytest.mark.parametrize("cin,cout,tiles", [
    (16, 64, 24), (48, 80, 25), (32, 48, 1), (64, 32, 50), (8, 16, 30), (16, 192, 7),
    (160, 80, 13), (64, 208, 6)])
def test_products_match_float64(cin, cout, tiles):
    """Every register block (64, 48, 32, 16 columns) and panel width, tile counts off the
    row blocks, and Cin in two passes of small_gemm.DEPTH."""
    rng = np.random.default_rng(2)
    rows = small_gemm.padded_tiles(tiles)
    v = rng.standard_normal((rows, 36, cin), dtype=np.float32)
    v[tiles:] = 0.0  # as clear_spare_rows leaves them
    u = rng.standard_normal((36, cin, cout), dtype=np.float32)
    packed = np.empty(u.size, np.float32)
    small_gemm.pack_filters(u, packed)
    stride = small_gemm.tile_stride(cout)
    m = np.full((rows, stride), np.nan, np.float32)
    small_gemm.winograd_products(v.reshape(rows, -1), packed, cin, cout, m, tiles)
    got = m[:tiles, :36 * cout].reshape(tiles, 36, cout)
    want = np.einsum("tpc,pcf->tpf", v[:tiles].astype(np.float64), u.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(cin))


@pytest.mark.parametrize("cout", [3, 40, 64, 70])
def test_packed_filters_are_panels_padded_with_zero_columns(cout):
    u = np.random.default_rng(6).standard_normal((36, 5, cout), dtype=np.float32)
    width = small_gemm.padded_columns(cout)
    packed = np.full(36 * 5 * width, np.nan, np.float32)
    small_gemm.pack_filters(u, packed)
    rows = packed.reshape(36, 5 * width)
    unpacked = np.zeros((36, 5, width), np.float32)
    for js in range(0, width, 64):
        panel = min(64, width - js)
        unpacked[:, :, js:js + panel] = rows[:, 5 * js:5 * (js + panel)].reshape(36, 5, panel)
    assert np.array_equal(unpacked[:, :, :cout], u) and not unpacked[:, :, cout:].any()


def test_tile_stride_avoids_4k_multiples():
    assert small_gemm.tile_stride(64) == 36 * 64  # 9 KB: rows fall in different sets
    assert small_gemm.tile_stride(256) == 36 * 256 + 16  # 36 KB = 9 pages: one line more


def test_spare_rows_are_cleared_to_the_next_register_block():
    v = np.full((small_gemm.padded_tiles(30) + 5, 8), np.nan, np.float32)
    small_gemm.clear_spare_rows(v, 30)
    assert np.isnan(v[:30]).all() and not v[30:48].any() and np.isnan(v[48:]).all()


@pytest.mark.parametrize("n,h,w,c,f,pad", [(2, 23, 18, 16, 32, 1), (1, 30, 26, 32, 16, 0),
                                           (1, 21, 19, 16, 3, 1), (2, 13, 22, 32, 40, 1)])
def test_conv2d_winograd_vector_path(monkeypatch, threads, n, h, w, c, f, pad):
    monkeypatch.setattr(inference, "VECTOR_BLOCK_TILES", (5, 9))  # many blocks, ragged ends
    monkeypatch.setattr(inference, "MIN_BLOCK_TILES", 2)  # by tiles, not by columns
    called = []
    real = inference._winograd_vector
    monkeypatch.setattr(inference, "_winograd_vector", lambda *a: called.append(1) or real(*a))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    wt = rng.standard_normal((3, 3, c, f), dtype=np.float32)
    bias = rng.standard_normal(f, dtype=np.float32)
    other = rng.standard_normal((n, h + 2 * pad - 2, w + 2 * pad - 2, f), dtype=np.float32)
    out = np.full(other.shape, np.nan, np.float32)
    inference.conv2d_winograd(x, winograd.transform_filters(wt), bias, RELU, pad, out,
                              (other, 0.25, 1.0, LINEAR))
    assert called
    want = 0.25 * float64_conv(x, wt, bias, 1, pad, RELU) + other
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * np.sqrt(9 * c))


@pytest.mark.parametrize("n,h,w,cout,per", [(2, 9, 14, 16, 5), (1, 8, 8, 32, 4)])
def test_output_gradient_transform_gives_the_loops_bits(n, h, w, cout, per):
    """dM = A dY A^T, ragged tiles (dL/dz beyond the edge is zero) and full ones."""
    rng = np.random.default_rng(4)
    dz = rng.standard_normal((n, h, w, cout), dtype=np.float32)
    rows = np.empty((6, 4 * per * cout), np.float32)
    for segments in _blocks(n, h, w, per):
        tiles = int((segments[:, 3] - segments[:, 2]).sum())
        want = np.full((36, per, cout), np.nan, np.float32)
        winograd_grad.output_gradient_transform(dz, segments, np.zeros(w * cout, np.float32),
                                                rows, want)
        got = np.full((36, per, cout), np.nan, np.float32)
        winograd_vector.output_gradient_transform(dz, segments, got.reshape(-1), cout, per * cout)
        assert np.array_equal(got[:, :tiles], want[:, :tiles])


@pytest.mark.parametrize("cin,cout,tiles,plane", [(64, 64, 300, 301), (16, 48, 7, 9),
                                                  (32, 80, 129, 129)])
def test_weight_products_match_float64(cin, cout, tiles, plane):
    """dU[p] = V[p]^T dM[p] over tiles in DEPTH chunks, added to what du holds; Cin off the
    register rows; planes longer than the tiles."""
    rng = np.random.default_rng(5)
    v = rng.standard_normal((36, plane, cin), dtype=np.float32)
    m = rng.standard_normal((36, plane, cout), dtype=np.float32)
    flat_v = np.concatenate([v.reshape(-1), np.zeros(small_gemm.PAD_ROWS, np.float32)])
    du = np.full((36, small_gemm.padded_tiles(cin), cout), 0.5, np.float32)
    small_gemm.weight_products(flat_v, m.reshape(-1), plane, tiles, cin, cout, du, True)
    want = np.einsum("ptc,ptf->pcf", v[:, :tiles].astype(np.float64),
                     m[:, :tiles].astype(np.float64))
    np.testing.assert_allclose(du[:, :cin] - 0.5, want, rtol=1e-5, atol=1e-5 * np.sqrt(tiles))


def test_the_vector_kernels_refuse_other_dtypes():
    """Their pointers are float32: a float64 array would be read as pairs of floats."""
    from numba.core.errors import TypingError

    rows = small_gemm.padded_tiles(6)
    with pytest.raises(TypingError):
        small_gemm.multiply(np.zeros(rows * 64), np.zeros(64 * 64, np.float32),
                            np.zeros(rows * 64, np.float32), 6, 4, 0, 64, 1, 0, 64, 0, 64, 64, 0)


@pytest.mark.parametrize("code,residual", [(RELU, False), (LINEAR, True), (MISH, True)])
def test_streamed_outputs_are_the_cached_ones(monkeypatch, threads, code, residual):
    """Non-temporal stores (outputs of STREAM_BYTES or more; here any size) write the same
    bits as cached ones, through every worker, the shortcut too; MISH is not finished in
    registers and so never streamed."""
    monkeypatch.setattr(inference, "VECTOR_BLOCK_TILES", (5, 9))
    monkeypatch.setattr(inference, "MIN_BLOCK_TILES", 2)
    rng = np.random.default_rng(6)
    x = aligned.empty((2, 21, 26, 32))
    x[:] = rng.standard_normal(x.shape)
    u = winograd.transform_filters(rng.standard_normal((3, 3, 32, 48), dtype=np.float32))
    bias = rng.standard_normal(48, dtype=np.float32)
    other = (rng.standard_normal((2, 21, 26, 48), dtype=np.float32), 0.5, 1.0, LINEAR)
    outs = []
    for stream_bytes in (0, 1 << 62):
        monkeypatch.setattr(inference, "STREAM_BYTES", stream_bytes)
        out = aligned.empty((2, 21, 26, 48))
        out[:] = np.nan
        inference.conv2d_winograd(x, u, bias, code, 1, out, other if residual else None)
        outs.append(out)
    assert not np.isnan(outs[0]).any()
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_layer_packs_its_winograd_filters_once(monkeypatch):
    """Inference keeps U packed with the layer's weights (packed again only after they
    change); training, whose weights change every step, packs on every call."""
    from darkpy.config.cfg import parse_cfg_text
    from darkpy.network import Network

    net = Network(parse_cfg_text("[net]\nwidth=48\nheight=40\nchannels=16\n\n[convolutional]\n"
                                 "filters=32\nsize=3\npad=1\nactivation=relu\n", "u.cfg"),
                  source="u.cfg")
    rng = np.random.default_rng(21)
    layer = net.layers[0]
    for name, shape in layer.param_layout():
        layer.set_param(name, rng.normal(0, 0.3, shape).astype(np.float32))
    packs = []
    real = small_gemm.pack_filters
    monkeypatch.setattr(small_gemm, "pack_filters", lambda *a: packs.append(1) or real(*a))
    x = rng.standard_normal((1, 40, 48, 16)).astype(np.float32)
    first = net.forward(x).copy()
    np.testing.assert_array_equal(net.forward(x), first)
    assert len(packs) == 1
    layer.params["weights"] *= 2
    layer.invalidate()
    net.forward(x)
    assert len(packs) == 2
    net.forward(x, train=True)
    net.forward(x, train=True)
    assert len(packs) == 4
