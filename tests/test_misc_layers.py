"""[softmax], [dropout], [cost] and the key lists of every simple layer."""
import math

import numpy as np
import pytest

from darkpy.config.schema import parse_options
from darkpy.config.section import Section
from darkpy.errors import ConfigError
from darkpy.layers.avgpool import AvgPool
from darkpy.layers.cost import Cost
from darkpy.layers.dropout import Dropout
from darkpy.layers.maxpool import MaxPool
from darkpy.layers.reorg import Reorg
from darkpy.layers.route import Route
from darkpy.layers.shortcut import Shortcut
from darkpy.layers.shuffler import Shuffler
from darkpy.layers.softmax import Softmax
from darkpy.layers.upsample import Upsample


def make(cls, options, shape):
    opts = parse_options(Section(cls.kind, dict(options)), cls.keys)
    return cls(opts, [shape], index=0, origin="test:1")


def nhwc(chw_batch):
    return np.ascontiguousarray(chw_batch.transpose(0, 2, 3, 1))


def darknet_softmax_cpu(flat, n, batch, batch_offset, groups, group_offset, stride, temp):
    """blas.c softmax_cpu / softmax, loop for loop (exp in double as C's exp())."""
    out = np.empty_like(flat)
    for b in range(batch):
        for g in range(groups):
            base = b * batch_offset + g * group_offset
            largest = -np.finfo(np.float32).max
            for i in range(n):
                largest = max(largest, flat[base + i * stride])
            total = np.float32(0)
            for i in range(n):
                e = np.float32(math.exp(float(flat[base + i * stride] / temp - largest / temp)))
                total = np.float32(total + e)
                out[base + i * stride] = e
            for i in range(n):
                out[base + i * stride] /= total
    return out


def test_softmax_hand_worked():
    x = np.array([0, math.log(3)], np.float32).reshape(1, 1, 1, 2)
    out = make(Softmax, {}, (1, 1, 2)).forward([x])
    np.testing.assert_allclose(out.ravel(), [0.25, 0.75], rtol=1e-6)
    # temperature 2 halves the logits: softmax([0, ln 3 / 2]) = [1, sqrt 3] / (1 + sqrt 3)
    out = make(Softmax, {"temperature": "2"}, (1, 1, 2)).forward([x])
    s3 = math.sqrt(3)
    np.testing.assert_allclose(out.ravel(), [1 / (1 + s3), s3 / (1 + s3)], rtol=1e-6)


@pytest.mark.parametrize(
    "c, h, w, groups, temp",
    [(10, 1, 1, 1, 1.0), (12, 1, 1, 3, 0.5), (4, 3, 5, 1, 1.0), (4, 3, 5, 2, 1.0),
     (3, 2, 2, 4, 2.0), (6, 3, 3, 9, 1.0)],
)
def test_softmax_matches_darknet_on_chw_buffer(c, h, w, groups, temp):
    rng = np.random.default_rng(0)
    x_chw = (4 * rng.standard_normal((2, c, h, w))).astype(np.float32)
    inputs = c * h * w
    flat = darknet_softmax_cpu(
        x_chw.reshape(-1), inputs // groups, 2, inputs, groups, inputs // groups, 1,
        np.float32(temp),
    )
    layer = make(Softmax, {"groups": str(groups), "temperature": str(temp)}, (h, w, c))
    out = layer.forward([nhwc(x_chw)])
    assert out.shape == (2, h, w, c) and out.dtype == np.float32
    np.testing.assert_allclose(out, nhwc(flat.reshape(2, c, h, w)), rtol=2e-6, atol=1e-7)


def test_softmax_groups_cut_the_chw_buffer_not_the_pixels():
    # 1x2 image with 2 channels, groups=2: chunks are channel planes, so each channel sums to 1
    x = np.array([[[1, 5], [2, 7]]], np.float32).reshape(1, 1, 2, 2)
    out = make(Softmax, {"groups": "2"}, (1, 2, 2)).forward([x])
    np.testing.assert_allclose(out[0, 0].sum(axis=0), [1, 1], rtol=1e-6)
    assert not np.allclose(out[0, 0].sum(axis=1), 1)


def test_softmax_spatial_is_per_pixel_over_channels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    out = make(Softmax, {"spatial": "1"}, (3, 4, 5)).forward([x])
    e = np.exp(x.astype(np.float64) - x.max(axis=3, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=3, keepdims=True), rtol=1e-6)


def test_softmax_errors():
    with pytest.raises(ConfigError, match="tree"):
        make(Softmax, {"tree": "data/9k.tree"}, (1, 1, 10))
    with pytest.raises(ConfigError, match="groups=3"):
        make(Softmax, {"groups": "3"}, (1, 1, 10))
    with pytest.raises(ConfigError, match="temperature"):
        make(Softmax, {"temperature": "0"}, (1, 1, 10))
    make(Softmax, {"noloss": "1"}, (1, 1, 10))  # training-only key is accepted


def test_dropout_is_identity_at_inference():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    layer = make(Dropout, {"probability": "0.3"}, (1, 2, 3))
    assert layer.forward([x]) is x  # documented: no copy
    assert layer.output_shape([(1, 2, 3)]) == (1, 2, 3)


def test_dropout_training_drops_and_rescales():
    x = np.ones((2, 8, 8, 4), np.float32)
    layer = make(Dropout, {"probability": "0.25"}, (8, 8, 4))
    layer.rng = np.random.default_rng(5)
    out = layer.forward([x], train=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert 0.5 < kept.mean() < 0.95
    np.testing.assert_array_equal(kept, layer.keep_mask)
    np.testing.assert_array_equal(x, 1)  # input untouched
    with pytest.raises(ConfigError, match="probability"):
        make(Dropout, {"probability": "1"}, (8, 8, 4))


def test_cost_is_identity_and_checks_its_type():
    x = np.ones((1, 1, 1, 5), np.float32)
    layer = make(Cost, {"type": "smooth", "scale": "2", "noobj": "0.5"}, (1, 1, 5))
    assert layer.forward([x]) is x
    with pytest.raises(ConfigError, match="sse"):
        make(Cost, {"type": "mse"}, (1, 1, 5))


# Every key darknet's parsers (pjreddie and AlexeyAB src/parser.c) read for each section.
DARKNET_KEYS = {
    MaxPool: {"size", "stride", "stride_x", "stride_y", "padding", "maxpool_depth",
              "out_channels", "antialiasing", "maxpool_zero_nonmax"},
    AvgPool: set(),
    Shortcut: {"from", "activation", "alpha", "beta", "weights_type", "weights_normalization"},
    Route: {"layers", "groups", "group_id", "stream", "wait_stream"},
    Upsample: {"stride", "scale"},
    Reorg: {"stride", "reverse", "flatten", "extra"},
    Softmax: {"groups", "temperature", "tree", "spatial", "noloss"},
    Dropout: {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"},
    Cost: {"type", "scale", "ratio", "noobj", "thresh"},
    Shuffler: {"scale"},
}


@pytest.mark.parametrize("cls", list(DARKNET_KEYS))
def test_schema_lists_darknets_keys(cls):
    assert set(cls.keys) == DARKNET_KEYS[cls]


def test_kinds_and_aliases():
    assert (MaxPool.kind, MaxPool.aliases) == ("maxpool", ("max",))
    assert (AvgPool.kind, AvgPool.aliases) == ("avgpool", ("avg",))
    assert (Softmax.kind, Softmax.aliases) == ("softmax", ("soft",))
    assert [c.kind for c in (Shortcut, Route, Upsample, Reorg, Shuffler, Dropout, Cost)] == [
        "shortcut", "route", "upsample", "reorg", "shuffler", "dropout", "cost"]
