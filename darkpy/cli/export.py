"""`darkpy export MODEL OUT.onnx`: a darkpy network as an ONNX model (darkpy.export_onnx)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from darkpy.cli.common import fail, user_errors
from darkpy.export.options import DEFAULT_OPSET, MIN_OPSET


def register(app: typer.Typer) -> None:
    @app.command("export")
    @user_errors
    def export(
        model: Path = typer.Argument(..., help="A darkpy .h5, or a darknet .cfg / .yaml (with --weights)."),
        out: Path = typer.Argument(..., metavar="OUT.onnx", help="The ONNX file to write (atomically)."),
        weights: Optional[Path] = typer.Option(None, "--weights", "-w",
                                               help="darknet .weights or darkpy .h5 for a .cfg/.yaml (overrides an .h5's own)."),
        opset: int = typer.Option(DEFAULT_OPSET, "--opset", help=f"ONNX opset to write ({MIN_OPSET} or newer)."),
        batch: str = typer.Option("dynamic", "--batch", metavar="N|dynamic",
                                  help="A fixed batch size, or 'dynamic' for any."),
        size: Optional[str] = typer.Option(None, "--size", metavar="WxH|dynamic",
                                           help="Input width x height, or 'dynamic' for any size the network takes (default: the \\[net] size)."),
        heads: str = typer.Option("raw", "--heads", metavar="raw|decoded",
                                  help="Detection heads as raw maps (darknet's layer outputs), or decoded: boxes, objectness and scores in the image's pixels (adds an image_size input)."),
        names: Optional[Path] = typer.Option(None, "--names", "-n",
                                             help="Class names file (one a line) for the metadata (default: the names an .h5 carries)."),
        letterbox: Optional[bool] = typer.Option(None, "--letterbox/--no-letterbox",
                                                 help="Record (and decode boxes for) letterboxed or stretched inputs (default: as darkpy detect)."),
        verify: bool = typer.Option(False, "--verify",
                                    help="Run the graph (its raw outputs) with ONNX Runtime on a random input and compare with darkpy; exit 1 if they differ by more than 1e-4 relative."),
    ):
        """Export a network to ONNX: the exact darkpy computation, batch norm folded, NCHW float32 input.

        The model's metadata records the input, darknet's preprocessing (scale, RGB, letterbox or resize), the class names and the heads' anchors. A layer with no ONNX equivalent (recurrent, local, xnor) is an error naming its cfg line.
        """
        from darkpy.api import H5_SUFFIXES, load
        from darkpy.export import export_onnx

        if model.suffix.lower() not in H5_SUFFIXES and weights is None:
            fail(f"{model}: a network description needs --weights (darknet .weights or darkpy .h5)")
        network = load(model, weights)
        result = export_onnx(network, out, opset=opset, batch=batch, size=size, heads=heads,
                             names=names, letterbox=letterbox)
        graph = result.graph
        inputs = ", ".join(f"{v.name} {_shape(v)}" for v in graph.input)
        outputs = ", ".join(f"{v.name} {_shape(v)}" for v in graph.output)
        typer.echo(f"{out}: {len(graph.node)} nodes, opset {opset}; inputs {inputs}; "
                   f"outputs {outputs}")
        if verify:
            _verify(network, result if heads == "raw" else
                    export_onnx(network, opset=opset, batch=batch, size=size, check=False))


VERIFY_TOLERANCE = 1e-4


def _verify(network, model) -> None:
    from darkpy.export.verify import compare_with_onnxruntime

    errors = compare_with_onnxruntime(network, model)
    worst = max(errors.values())
    typer.echo(f"ONNX Runtime vs darkpy: largest difference {worst:.2e} of the output's scale "
               f"({', '.join(errors)})")
    if worst > VERIFY_TOLERANCE:
        typer.echo(f"error: the exported graph differs from darkpy by more than "
                   f"{VERIFY_TOLERANCE:g} (a darkpy bug: please report it)", err=True)
        raise typer.Exit(1)


def _shape(value) -> str:
    dims = value.type.tensor_type.shape.dim
    return "x".join(d.dim_param or (str(d.dim_value) if d.dim_value else "?") for d in dims)
