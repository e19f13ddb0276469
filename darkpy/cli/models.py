"""`darkpy models`: the shipped super-resolution models, their scale, size and benchmark scores."""
from __future__ import annotations

import typer

from darkpy.cli.common import user_errors


def register(app: typer.Typer) -> None:
    @app.command("models")
    @user_errors
    def models(
        json_out: bool = typer.Option(False, "--json", help="Print the list as JSON instead of a table."),
    ):
        """List the models darkpy ships (usable as `darkpy upscale --model NAME`, or by `--scale N`).

        Scores are Y-PSNR/SSIM recorded when the model shipped: on Set5 by the benchmark protocol (MATLAB bicubic LR, shave = scale) for the photo models, on held-out MRI slices by the theses' protocol (tools/mri_study.py) for the MRI models; `darkpy evaluate NAME --data DIR` measures them again.
        """  # noqa: E501
        import json

        from darkpy.upscale.models import DEFAULT_MODEL, shipped_models

        found = shipped_models()
        if json_out:
            rows = [{"name": m.name.replace("_", "-"), "scale": m.scale, "parameters": m.parameters,
                     "default": m.name.replace("_", "-") == DEFAULT_MODEL, "benchmark": m.benchmark}
                    for m in found]
            typer.echo(json.dumps(rows, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="shipped models")
        for column, justify in (("model", "left"), ("scale", "right"), ("parameters", "right"),
                                ("PSNR", "right"), ("SSIM", "right"), ("bicubic", "right"), ("scored on", "left")):
            table.add_column(column, justify=justify)
        for m in found:
            b = m.benchmark or {}
            name = m.name.replace("_", "-")
            table.add_row(name + (" (default)" if name == DEFAULT_MODEL else ""), f"x{m.scale}",
                          f"{m.parameters:,}",
                          f"{b['psnr']:.2f}" if "psnr" in b else "-", f"{b['ssim']:.4f}" if "ssim" in b else "-",
                          f"{b['bicubic_psnr']:.2f}" if "bicubic_psnr" in b else "-", b.get("set", "-"))
        Console().print(table)
