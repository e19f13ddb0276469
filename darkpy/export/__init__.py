"""Writing darkpy networks in other formats: ONNX (darkpy/export/api.py)."""


def export_onnx(network, path=None, **options):
    """Write `network` as an ONNX model; see darkpy.export.api.export_onnx for the options.
    (A wrapper, so that importing darkpy imports neither onnx nor the layer table.)"""
    from darkpy.export.api import export_onnx as export

    return export(network, path, **options)


__all__ = ["export_onnx"]
