"""darkpy: darknet-style declarative networks in Python, with numba kernels."""

__version__ = "0.1.0"

from darkpy.api import load, load_weights, save  # noqa: E402
from darkpy.errors import DarkpyError  # noqa: E402
from darkpy.network import Network  # noqa: E402


def export_onnx(network, path=None, **options):
    """Write `network` as an ONNX model (darkpy.export.api.export_onnx has the options)."""
    from darkpy.export.api import export_onnx as export  # onnx is imported only when used

    return export(network, path, **options)


__all__ = ["load", "load_weights", "save", "export_onnx", "Network", "DarkpyError",
           "__version__"]
