"""tests/conftest.py::shared_path: skip only where ../shared is absent, never in CI."""
import pytest

import tests.conftest as conftest


def test_missing_file_fails_where_shared_is_present(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    (tmp_path / "oracle").mkdir()
    assert conftest.shared_path("oracle") == tmp_path / "oracle"
    with pytest.raises(pytest.fail.Exception, match="renamed.json is missing"):
        conftest.shared_path("oracle", "renamed.json")


def test_absent_shared_skips_except_in_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path / "shared")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not present"):
        conftest.shared_path("oracle", "dog.jsonl")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="dog.jsonl is missing"):
        conftest.shared_path("oracle", "dog.jsonl")
