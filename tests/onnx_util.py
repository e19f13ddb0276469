"""Helpers for the ONNX export tests: random weights, ONNX Runtime, comparisons.

The reference is always darkpy's own Network.forward (NHWC, transposed here); ONNX Runtime
runs the exported graph, an implementation independent of darkpy's kernels.
"""
from __future__ import annotations

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.export.verify import random_parameters
from darkpy.network import Network

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

RTOL = 1e-4


def network(text: str, name: str = "test.cfg") -> Network:
    return Network(parse_cfg_text(text, name), name)


randomize = random_parameters  # (network, seed=0) -> network, darkpy.export.verify


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the machine has 2 cores shared with darkpy's workers
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run_onnx(model, x_nhwc: np.ndarray, **extra) -> dict:
    """{output name: array} for NHWC input x (transposed to NCHW for the graph)."""
    sess = session(model)
    feeds = {"input": np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2), np.float32), **extra}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def assert_close(actual, expected, what: str = "", rtol: float = RTOL):
    """Equal within rtol relative to the output's scale (its largest magnitude)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert np.isfinite(expected).all(), f"{what}: darkpy's output is not finite"
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def compare(net: Network, model, x_nhwc: np.ndarray, layers: list[int] | None = None):
    """ONNX Runtime's raw outputs equal darkpy's forward on x (NHWC)."""
    got = run_onnx(model, x_nhwc)
    outputs = [o.name for o in model.graph.output]
    if layers is None:
        layers = [int(name.rsplit("_", 1)[1]) if "_" in name else len(net.layers) - 1
                  for name in outputs]
    want = net.forward(x_nhwc, outputs=layers)
    for name, index in zip(outputs, layers):
        assert_close(got[name].transpose(0, 2, 3, 1), want[index], f"{name} (layer {index})")
    return got


def export_and_compare(net: Network, x_nhwc: np.ndarray, **options):
    """Export (onnx.checker runs inside), then compare ONNX Runtime with darkpy."""
    from darkpy.export import export_onnx

    model = export_onnx(net, **options)
    compare(net, model, x_nhwc)
    return model
