"""`darkpy convert-cfg SRC DST`: a network description from darknet .cfg to YAML or back."""
from __future__ import annotations

from pathlib import Path

import typer

from darkpy.cli.common import user_errors
from darkpy.errors import ConfigError

CFG_SUFFIXES = (".cfg",)
YAML_SUFFIXES = (".yaml", ".yml")


def convert_description(src: Path, dst: Path) -> int:
    """Write the network in `src` (.cfg or .yaml) to `dst` in the form its suffix names.

    YAML `repeat:` blocks and layer names are expanded on the way (a cfg has neither), so a
    YAML -> YAML conversion prints the network as darknet sees it. The write is atomic.
    Returns the number of layers after [net].
    """
    from darkpy.api import read_sections
    from darkpy.config.cfg import write_cfg
    from darkpy.config.yaml import write_yaml

    src, dst = Path(src), Path(dst)
    writers = {**{s: write_cfg for s in CFG_SUFFIXES}, **{s: write_yaml for s in YAML_SUFFIXES}}
    writer = writers.get(dst.suffix.lower())
    if writer is None:
        raise ConfigError(f"{dst}: cannot tell the output format from '{dst.suffix}' (use .cfg, .yaml or .yml)")
    if src.suffix.lower() not in writers:
        raise ConfigError(f"{src}: cannot tell the input format from '{src.suffix}' (use .cfg, .yaml or .yml)")
    if dst.resolve() == src.resolve() or (dst.exists() and src.exists() and dst.samefile(src)):
        raise ConfigError(f"{dst}: refusing to overwrite the source file")
    sections = read_sections(src)
    writer(sections, dst)
    return len(sections) - 1


def register(app: typer.Typer) -> None:
    @app.command("convert-cfg")
    @user_errors
    def convert_cfg(
        src: Path = typer.Argument(..., help="Network description to read: .cfg (darknet) or .yaml/.yml."),
        dst: Path = typer.Argument(..., help="File to write; its suffix picks the format (.cfg, .yaml or .yml)."),
    ):
        """Convert a network description between darknet .cfg and YAML:
        `darkpy convert-cfg yolov3-tiny.cfg yolov3-tiny.yaml`.

        Every section, option and value carries over unchanged; YAML repeat blocks and layer
        names are expanded. Writing is atomic and never overwrites SRC."""
        count = convert_description(src, dst)
        typer.echo(f"wrote {dst} ([net] and {count} layers)")
