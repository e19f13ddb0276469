"""Run an exported model with ONNX Runtime and compare it with darkpy's own forward.

`darkpy export --verify` and tools/check_export.py use this: the graph is run on an input
(random by default) and every output is compared with darkpy's output of the same layer,
as the largest difference relative to the largest magnitude of darkpy's values. Decoded
models are verified through their raw maps (the decoding is tested apart).
"""
from __future__ import annotations

import numpy as np

from darkpy.errors import ExportError


def random_parameters(network, seed: int = 0):
    """Random parameters for every layer, through set_param (darknet layout), for checking an
    export without trained weights: weights with a fan-in scale that keeps deep networks'
    activations near 1, batch-norm values away from the identity so that the fold is
    exercised, small biases. Returns the network."""
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        for name, shape in layer.param_layout():
            size = int(np.prod(shape))
            if name == "weights":
                fan_in = max(1, size // shape[0]) if len(shape) > 1 else 1
                value = rng.standard_normal(size) * np.sqrt(1.0 / fan_in)
            elif name == "scales":
                value = rng.uniform(0.5, 1.5, size)
            elif name == "rolling_variance":
                value = rng.uniform(0.5, 2.0, size)
            else:  # biases, rolling_mean
                value = rng.normal(0, 0.2, size)
            layer.set_param(name, value.astype(np.float32).reshape(shape))
        layer.invalidate()
    return network


def onnxruntime_session(model, threads: int = 1):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("verifying needs ONNX Runtime: pip install onnxruntime") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def compare_with_onnxruntime(network, model, x: np.ndarray | None = None,
                             seed: int = 0) -> dict[str, float]:
    """{output name: max |onnx - darkpy| / max |darkpy|} for NHWC input x (default: uniform
    0..1, or 0..255 for an image-to-image model, at the model's input size and batch 1 where
    they are not fixed)."""
    meta = {p.key: p.value for p in model.metadata_props}
    if x is None:
        x = _random_input(network, model, meta, seed)
    feeds = {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32)}
    outputs = [o.name for o in model.graph.output]
    layers = [output_layer(network, name) for name in outputs]
    if None in layers:
        raise ExportError("only raw exports can be verified layer by layer (export with "
                          "heads='raw')")
    got = onnxruntime_session(model).run(outputs, feeds)
    want = network.forward(x, outputs=layers)
    errors = {}
    for name, index, value in zip(outputs, layers, got):
        ref = want[index]
        value = value.transpose(0, 2, 3, 1)
        if value.shape != ref.shape:
            raise ExportError(f"output {name}: ONNX Runtime gives {value.shape}, darkpy "
                              f"{ref.shape}")
        scale = float(np.abs(ref).max(initial=0.0)) or 1.0
        errors[name] = float(np.abs(value - ref).max(initial=0.0)) / scale
    return errors


def output_layer(network, name: str) -> int | None:
    """The darkpy layer a raw export's output `name` holds ('output': the last layer,
    '<kind>_<index>': layer <index>), or None for a decoded output."""
    if name == "output":
        return len(network.layers) - 1
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _random_input(network, model, meta: dict, seed: int) -> np.ndarray:
    dims = [d.dim_value or None for d in model.graph.input[0].type.tensor_type.shape.dim]
    n, c, h, w = dims
    net_h, net_w, _ = network.input_shape
    high = 255.0 if meta.get("task") == "image-to-image" else 1.0
    shape = (n or 1, h or net_h, w or net_w, c)
    return np.random.default_rng(seed).uniform(0.0, high, shape).astype(np.float32)
