"""darkpy: darknet-style declarative networks in Python, with numba kernels."""

__version__ = "0.1.0"

from darkpy.api import load, load_weights, save  # noqa: E402
from darkpy.errors import DarkpyError  # noqa: E402
from darkpy.export import export_onnx  # noqa: E402  (imports onnx only when called)
from darkpy.network import Network  # noqa: E402


def __getattr__(name: str):
    """`evaluate` is imported on first use: every `darkpy` command imports this package, and
    the evaluation pipeline's imports cost `darkpy info` 0.02 s (tests/test_startup.py)."""
    if name != "evaluate":
        raise AttributeError(f"module 'darkpy' has no attribute '{name}'")
    from darkpy.evaluation import evaluate

    globals()["evaluate"] = evaluate
    return evaluate


__all__ = ["load", "load_weights", "save", "evaluate", "export_onnx", "Network", "DarkpyError",
           "__version__"]
