"""darkpy: darknet-style declarative networks in Python, with numba kernels."""

__version__ = "0.1.0"

from darkpy.api import load, load_weights, save  # noqa: E402
from darkpy.errors import DarkpyError  # noqa: E402
from darkpy.evaluation import evaluate  # noqa: E402
from darkpy.export import export_onnx  # noqa: E402  (imports onnx only when called)
from darkpy.network import Network  # noqa: E402

__all__ = ["load", "load_weights", "save", "evaluate", "export_onnx", "Network", "DarkpyError",
           "__version__"]
