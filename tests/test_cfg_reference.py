"""The cfg key reference: complete, right about which darknet reads what, never stale.

Which fork reads which key is checked against tests/fixtures/darknet_keys.json, a list of the
option_find calls in pjreddie's and AlexeyAB's src/parser.c (written by tools/darknet_keys.py
from those files, commits recorded inside): an independent record of darknet, not of darkpy.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.config import reference
from darkpy.config.common_keys import COMMON_KEYS
from darkpy.config.net_keys import NET_KEYS
from darkpy.config.schema import DARKNET_FORKS, FORKS, PHASES
from darkpy.errors import ConfigError
from darkpy.kernels.activations import ACTIVATION_NAMES
from darkpy.kernels.channel_activations import CHANNEL_ACTIVATION_NAMES
from darkpy.layers.registry import LAYER_CLASSES

REPO = Path(__file__).resolve().parents[1]
DARKNET = json.loads((REPO / "tests" / "fixtures" / "darknet_keys.json").read_text())
runner = CliRunner()


def all_tables():
    """(section name, keys) for [net], every layer kind and the common keys."""
    yield "net", NET_KEYS
    for cls in LAYER_CLASSES:
        yield cls.kind, cls.keys
    yield "common", COMMON_KEYS


def test_every_key_has_a_one_line_meaning_and_valid_labels():
    missing = []
    for section, keys in all_tables():
        for name, key in keys.items():
            if not key.doc.strip() or "\n" in key.doc or len(key.doc) > 120:
                missing.append(f"[{section}] {name}: {key.doc!r}")
            assert key.fork in FORKS and key.phase in PHASES, (section, name)
    assert not missing, "keys without a one-line meaning:\n" + "\n".join(missing)


def test_every_section_kind_has_a_purpose_and_a_fork():
    for cls in LAYER_CLASSES:
        assert cls.summary.strip() and "\n" not in cls.summary, cls.kind
        assert cls.fork in FORKS, cls.kind


def expected_fork(in_pjreddie: bool, in_alexeyab: bool) -> str | None:
    if in_pjreddie and in_alexeyab:
        return "both"
    if in_pjreddie:
        return "pjreddie"
    if in_alexeyab:
        return "AlexeyAB"
    return None  # read by no darknet: the schema must say darkpy or neither


@pytest.mark.parametrize("section,keys", [pytest.param(s, k, id=s) for s, k in all_tables()])
def test_key_forks_match_the_darknet_parsers(section, keys):
    pj = DARKNET["pjreddie"].get(section)
    ab = DARKNET["AlexeyAB"].get(section)
    wrong = []
    for name, key in keys.items():
        want = expected_fork(pj is not None and name in pj, ab is not None and name in ab)
        ok = key.fork in ("darkpy", "neither") if want is None else key.fork == want
        if not ok:
            wrong.append(f"{name}: schema says {key.fork}, darknet's parsers say {want}")
    # and nothing either darknet reads is missing from the schema
    for fork, read in (("pjreddie", pj), ("AlexeyAB", ab)):
        for name in read or ():
            if name not in keys:
                wrong.append(f"{name}: read by {fork}'s darknet, missing from the schema")
    assert not wrong, f"[{section}]\n" + "\n".join(wrong)


def test_section_kind_forks_match_the_darknet_parsers():
    for cls in LAYER_CLASSES:
        want = expected_fork(cls.kind in DARKNET["pjreddie"], cls.kind in DARKNET["AlexeyAB"])
        assert cls.fork == (want or "darkpy"), cls.kind


def test_activation_forks_match_darknet():
    pj = set(DARKNET["pjreddie"]["activation names"])
    ab = set(DARKNET["AlexeyAB"]["activation names"])
    for name in ACTIVATION_NAMES + CHANNEL_ACTIVATION_NAMES:
        want = expected_fork(name in pj, name in ab) or "darkpy"
        assert reference.activation_fork(name) == want, name
    assert pj | ab <= set(ACTIVATION_NAMES + CHANNEL_ACTIVATION_NAMES)


def test_committed_reference_is_what_the_schemas_generate():
    committed = (REPO / "docs" / "cfg-reference.md").read_text(encoding="utf-8")
    assert committed == reference.markdown(), (
        "docs/cfg-reference.md is stale: run `python tools/make_cfg_reference.py`")


def test_reference_document_lists_every_kind_alias_and_key():
    text = (REPO / "docs" / "cfg-reference.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    by_title = {part.split("\n", 1)[0]: part for part in parts}
    for section, keys in all_tables():
        title = "keys every layer section accepts" if section == "common" else f"[{section}]"
        body = by_title[title]
        for name in keys:
            assert re.search(rf"^\| `{re.escape(name)}` \|", body, re.M), (section, name)
    for cls in LAYER_CLASSES:
        for alias in cls.aliases:
            assert f"`[{alias}]`" in by_title[f"[{cls.kind}]"]


def test_readme_links_the_reference():
    assert "docs/cfg-reference.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_find_section_accepts_aliases_and_suggests_on_typos():
    assert reference.find_section("conv").kind == "convolutional"
    assert reference.find_section("[network]").kind == "net"
    assert reference.find_section("gaussian_yolo").kind == "Gaussian_yolo"
    with pytest.raises(ConfigError, match=r"did you mean \[convolutional\]"):
        reference.find_section("convolutinal")


def test_cli_keys_lists_every_section_kind_with_aliases():
    result = runner.invoke(app, ["keys"])
    assert result.exit_code == 0, result.output
    for cls in LAYER_CLASSES:
        assert f"[{cls.kind}]" in result.output
        for alias in cls.aliases:
            assert f"[{alias}]" in result.output
    assert "[net]" in result.output and "[network]" in result.output


def test_cli_keys_section_table_by_alias():
    result = runner.invoke(app, ["keys", "conv"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[convolutional]" in out
    for name in ("filters", "stride_x", "share_index", "flavor"):
        assert name in out
    assert "AlexeyAB" in out and "darkpy only" in out and "training" in out


def test_cli_keys_json_and_fork_filter():
    result = runner.invoke(app, ["keys", "route", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["key"]: r for r in data["keys"]}
    assert data["kind"] == "route"
    assert rows["groups"]["fork"] == "AlexeyAB" and rows["layers"]["fork"] == "both"
    assert rows["stream"]["phase"] == "runtime" and rows["stream"]["darkpy"] == "keeps it"
    pj = json.loads(runner.invoke(app, ["keys", "route", "--json", "--fork", "pjreddie"]).output)
    assert [r["key"] for r in pj["keys"]] == ["layers"]
    listing = json.loads(runner.invoke(app, ["keys", "--json"]).output)
    assert {d["kind"] for d in listing} >= {"net", "common", "yolo", "sam"}


def test_cli_keys_net_shows_its_groups():
    result = runner.invoke(app, ["keys", "net"])
    assert result.exit_code == 0, result.output
    for group in ("input", "optimiser", "augmentation"):
        assert group in result.output
    assert "mosaic" in result.output and "burn_in" in result.output


def test_cli_keys_typo_is_one_line_exit_2():
    result = runner.invoke(app, ["keys", "yolov"])
    assert result.exit_code == 2
    assert "did you mean [yolo]" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(app, ["keys", "conv", "--fork", "darknet"]).exit_code == 2


def test_darknet_forks_are_the_two_the_fixture_describes():
    assert set(DARKNET) - {"source"} == set(DARKNET_FORKS)
