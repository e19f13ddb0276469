"""Start-up stays light: the CLI, `darkpy info` and building a network import no numba;
the CLI and `darkpy info` import no pydantic either (typer's converter for every value,
replaced for plain values by darkpy/cli/plain_values.py).

Kernel modules load on first use (darkpy/kernels/lazy.py); a module-level kernel import
anywhere on these paths would put numba into sys.modules, which each check runs in a fresh
interpreter to see. The last test is the control: a forward does import numba.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# a network of several kinds, detection head included (shapes only: nothing runs)
CFG = """[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=8
size=3
stride=1
pad=1
activation=mish

[shortcut]
from=-2
activation=linear

[upsample]
stride=2

[route]
layers=-1,0

[convolutional]
filters=18
size=1
stride=1
pad=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=1
num=3
"""


def modules_after(code: str, top_level: bool = True) -> set[str]:
    """The module names (top-level only unless told) a fresh interpreter has imported after
    running `code` (with this repository first on the path)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    name = "m.split('.')[0]" if top_level else "m"
    code += f"\nimport sys\nprint(' '.join(sorted({{{name} for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split()[-1000:])


def test_importing_the_cli_imports_no_numba_nor_pydantic():
    assert not {"numba", "pydantic"} & modules_after("import darkpy.cli")


def test_info_imports_no_numba_nor_pydantic(tmp_path):
    cfg = tmp_path / "mixed.cfg"
    cfg.write_text(CFG)
    code = ("from darkpy.cli import app\n"
            f"for model in ({str(REPO / 'cfg' / 'edsr_x2.cfg')!r}, {str(cfg)!r}):\n"
            "    try:\n"
            "        app(['info', model])\n"
            "    except SystemExit as done:\n"
            "        assert not done.code, done.code\n")
    assert not {"numba", "pydantic"} & modules_after(code)


INFO = ("from darkpy.cli import app\n"
        "try:\n"
        f"    app(['info', {str(REPO / 'cfg' / 'edsr_x2.cfg')!r}])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n")

# what `darkpy info` on EDSR needs none of: the pipelines other commands run (each command
# module imports its library inside the command), layer modules of kinds EDSR lacks (the
# registry imports a kind's module on first use) and rich's Table (darkpy/cli/info.py lays
# out its table itself)
NOT_FOR_INFO = {"darkpy.evaluation", "darkpy.export.api", "darkpy.upscale.pipeline",
                "darkpy.upscale.halo", "darkpy.detect", "darkpy.train", "darkpy.io.image",
                "darkpy.layers.yolo", "darkpy.layers.maxpool", "darkpy.layers.route",
                "rich.table"}


def test_info_imports_only_what_it_uses():
    assert not NOT_FOR_INFO & modules_after(INFO, top_level=False)


def test_the_lazy_names_still_import():
    """The control: darkpy.evaluate and darkpy.upscale's names load their modules on first
    use."""
    code = ("import darkpy, darkpy.upscale\n"
            "assert callable(darkpy.evaluate) and 'evaluate' in darkpy.__all__\n"
            "from darkpy.upscale import upscale_files, DEFAULT_MEMORY, Geometry\n"
            "assert set(dir(darkpy.upscale)) >= set(darkpy.upscale.__all__)\n"
            "for name in darkpy.upscale.__all__:\n"
            "    getattr(darkpy.upscale, name)\n")
    loaded = modules_after(code, top_level=False)
    assert {"darkpy.evaluation", "darkpy.upscale.pipeline"} <= loaded


def test_upscale_reads_its_options_without_pydantic(tmp_path):
    """Every option converted (typer converts all of them before the command runs), then a
    model that does not exist: exit 2, and typer's pydantic converter never built."""
    code = ("from darkpy.cli import app\n"
            "try:\n"
            f"    app(['upscale', {str(tmp_path / 'a.png')!r}, {str(tmp_path / 'b.png')!r},\n"
            "         '--model', 'no-such-model', '--out', "
            f"{str(tmp_path / 'out')!r}, '--tile', '16', '--memory', '64', '--axis', '1',\n"
            "         '--channel', 'mean', '--suffix', '_big'])\n"
            "except SystemExit as done:\n"
            "    assert done.code == 2, done.code\n")
    assert "pydantic" not in modules_after(code)


def test_loading_every_shipped_cfg_imports_no_numba(tmp_path):
    cfg = tmp_path / "mixed.cfg"
    cfg.write_text(CFG)
    code = ("import glob, darkpy\n"
            f"for path in sorted(glob.glob({str(REPO / 'cfg' / '*.cfg')!r})) + [{str(cfg)!r}]:\n"
            "    darkpy.load(path, params=False)\n")
    assert "numba" not in modules_after(code)


def test_a_forward_loads_the_kernels(tmp_path):
    """The control: the check above sees numba once a kernel has run."""
    cfg = tmp_path / "mixed.cfg"
    cfg.write_text(CFG)
    code = ("import numpy as np, darkpy\n"
            f"net = darkpy.load({str(cfg)!r})\n"
            "net.forward(np.zeros((1, 32, 32, 3), np.float32))\n")
    assert "numba" in modules_after(code)
