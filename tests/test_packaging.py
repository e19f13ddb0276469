"""A wheel carries the shipped models: built, installed into a fresh venv, it upscales an image
from outside the checkout with the default model, as a user of `pip install darkpy` would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "darkpy", "weights", "cfg")


def _run(args, **kwargs):
    # without PYTHONPATH: a checkout on it (as the project runs its tests) would be imported
    # instead of the installed wheel
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900,
                          env=env, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_installs_the_models_and_upscales(tmp_path):
    pytest.importorskip("wheel", reason="the test extra installs `wheel` to build offline")
    import cv2

    from darkpy.upscale.models import load_model, shipped_names
    from darkpy.upscale.pipeline import upscale_float

    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
        else:
            shutil.copy2(item, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".",
          "-w", tmp_path / "dist"], cwd=source)
    wheels = list((tmp_path / "dist").glob("darkpy-*.whl"))
    assert len(wheels) == 1
    # the dependencies come from this environment; darkpy itself only from the wheel
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheels[0]])
    where = _run([python, "-c", "import darkpy, darkpy.upscale.models as m; print(darkpy.__file__); "
                                "print(m.models_root())"], cwd=tmp_path).stdout.split()
    assert where[0].startswith(str(env_dir)) and where[1].startswith(str(env_dir))

    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "small.png"), image)
    _run([env_dir / "bin" / "darkpy", "upscale", "small.png", "--out", "up"], cwd=tmp_path)
    result = cv2.imread(str(tmp_path / "up" / "small_x2.png"))
    assert result.shape == (24, 20, 3)
    expected = upscale_float(load_model(), image[:, :, ::-1].astype(np.float32))
    expected = np.clip(np.rint(expected), 0, 255).astype(np.uint8)[:, :, ::-1]
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1

    listed = _run([env_dir / "bin" / "darkpy", "models", "--json"], cwd=tmp_path).stdout
    for name in shipped_names():
        assert name.replace("_", "-") in listed
