"""Shared test fixtures. Tests that read ../shared skip with a reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path inside ../shared. The calling test skips only where ../shared itself is absent
    (a user's machine); where it is present, and always in CI, a missing file fails the test:
    a renamed or lost oracle file must not turn a comparison with darknet into a quiet skip."""
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    if SHARED.is_dir() or os.environ.get("CI"):
        why = "../shared is present" if SHARED.is_dir() else "../shared is absent, but CI is set"
        pytest.fail(f"reference file {path} is missing ({why})", pytrace=False)
    pytest.skip(f"reference data {SHARED} not present (../shared is only on the developers' machines)")


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def threads(request):
    """darkpy's worker count for one test: 1, and 3 (odd splits on any machine)."""
    from darkpy.kernels import workers

    saved = workers.num_threads()
    workers.set_num_threads(request.param)
    yield request.param
    workers.set_num_threads(saved)
