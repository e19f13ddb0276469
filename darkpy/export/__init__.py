"""Writing darkpy networks in other formats: ONNX (`export_onnx`, darkpy/export/api.py)."""
from darkpy.export.api import export_onnx

__all__ = ["export_onnx"]
