"""`darkpy convert-cfg`: cfg <-> yaml by suffix, atomic, never over its source."""
from __future__ import annotations

from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.config.cfg import read_cfg
from darkpy.config.yaml import read_yaml

CFG = "[net]\nwidth=8\nheight=8\nchannels=3\nhue=.1\n\n[convolutional]\nfilters=4\nsize=3\n\n[route]\nlayers=-1,0\n"
YAML = """\
net: {width: 8, height: 8, channels: 3}
layers:
  - convolutional: {filters: 4, size: 3, name: stem}
  - repeat: 2
    layers:
      - convolutional: {filters: 4, size: 3}
  - route: {layers: [-1, stem]}
"""


def run(*args):
    return CliRunner().invoke(app, ["convert-cfg", *map(str, args)])


def test_cfg_to_yaml_and_back(tmp_path):
    src = tmp_path / "m.cfg"
    src.write_text(CFG)
    result = run(src, tmp_path / "m.yaml")
    assert result.exit_code == 0, result.output
    assert "2 layers" in result.stdout
    result = run(tmp_path / "m.yaml", tmp_path / "back.cfg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "back.cfg").read_text() == CFG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.cfg", "m.cfg", "m.yaml"]


def test_yaml_expands_into_cfg(tmp_path):
    src = tmp_path / "m.yml"
    src.write_text(YAML)
    assert run(src, tmp_path / "m.cfg").exit_code == 0
    sections = read_cfg(tmp_path / "m.cfg")
    assert [s.kind for s in sections] == ["net", "convolutional", "convolutional", "convolutional", "route"]
    assert sections[-1].options == {"layers": "-1,-3"}
    assert [s.options for s in read_yaml(src)] == [s.options for s in sections]


def test_refusals_exit_2_with_one_line(tmp_path):
    src = tmp_path / "m.cfg"
    src.write_text(CFG)
    for dst, words in ((src, "refusing to overwrite"), (tmp_path / "." / "m.cfg", "refusing to overwrite"),
                       (tmp_path / "m.txt", "output format")):
        result = run(src, dst)
        assert result.exit_code == 2, result.output
        assert words in result.output and "Traceback" not in result.output
    assert src.read_text() == CFG
    result = run(tmp_path / "missing.cfg", tmp_path / "x.yaml")
    assert result.exit_code == 2 and "no such file" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("net: {}\nlayers:\n  - maxpool: {}\n    upsample: {}\n")
    result = run(bad, tmp_path / "bad.cfg")
    assert result.exit_code == 2 and f"{bad}:3:" in result.output
    assert not (tmp_path / "bad.cfg").exists()
