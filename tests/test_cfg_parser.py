"""darknet .cfg reading and writing: what darknet accepts, and errors that name file:line."""
from __future__ import annotations

import os

import pytest

from darkpy.config.cfg import format_cfg, parse_cfg_text, read_cfg, write_cfg
from darkpy.errors import ConfigError

# line numbers in the asserts are counted by hand
SAMPLE = """\
# a comment line
; another comment style
[net]
width=32
  height = 16\t
channels=3

[convolutional]
batch_normalize=1
 filters = 8
size=3
# a comment between options
activation=leaky

[yolo]
anchors = 10,14,  23,27, 37 ,58
mask=0, 1,2
[ route ]
layers = -1, 4
"""


def test_sections_options_and_origins():
    sections = parse_cfg_text(SAMPLE, "s.cfg")
    assert [s.kind for s in sections] == ["net", "convolutional", "yolo", "route"]
    net, conv, yolo, route = sections
    assert net.options == {"width": "32", "height": "16", "channels": "3"}
    assert list(conv.options) == ["batch_normalize", "filters", "size", "activation"]
    assert conv.options == {"batch_normalize": "1", "filters": "8", "size": "3", "activation": "leaky"}
    # darknet strips every whitespace character, so lists with spaces become plain lists
    assert yolo.options == {"anchors": "10,14,23,27,37,58", "mask": "0,1,2"}
    assert route.options == {"layers": "-1,4"}
    assert net.origin == "s.cfg:3"
    assert net.key_origins == {"width": "s.cfg:4", "height": "s.cfg:5", "channels": "s.cfg:6"}
    assert conv.origin == "s.cfg:8"
    assert conv.where("filters") == "s.cfg:10" and conv.where("activation") == "s.cfg:13"
    assert conv.where("nonexistent") == "s.cfg:8"  # falls back to the header
    assert yolo.origin == "s.cfg:15" and yolo.where("mask") == "s.cfg:17"
    assert route.origin == "s.cfg:18" and route.where("layers") == "s.cfg:19"


def test_network_alias_crlf_and_odd_values():
    text = "[network]\r\nwidth=4\r\nheight=4\r\nchannels=1\r\n[maxpool]\r\nnote=a=b\r\nempty=\r\n"
    net, pool = parse_cfg_text(text, "w.cfg")
    assert net.kind == "network" and net.options["channels"] == "1"
    # only the first '=' splits; an empty value is kept (the layer's schema judges it)
    assert pool.options == {"note": "a=b", "empty": ""}
    assert pool.where("empty") == "w.cfg:7"


def test_inline_comments_are_dropped():
    # darknet has none, but `key=value # note` is a common hand-edit; no value holds # or ;
    text = "[net] # input\nwidth=8  # pixels\nheight=8 ; rows\nchannels=3\n[maxpool];x\nsize=2\n"
    net, pool = parse_cfg_text(text, "c.cfg")
    assert net.options == {"width": "8", "height": "8", "channels": "3"}
    assert pool.kind == "maxpool" and pool.options == {"size": "2"}


def test_sections_without_options_and_blank_file_ends():
    sections = parse_cfg_text("\n\n[net]\n[maxpool]\n[upsample]\n\n\n", "e.cfg")
    assert [(s.kind, s.options, s.origin) for s in sections] == [
        ("net", {}, "e.cfg:3"), ("maxpool", {}, "e.cfg:4"), ("upsample", {}, "e.cfg:5")]


@pytest.mark.parametrize("text, line, words", [
    ("[net]\nwidth=1\nheight 2\n", 3, "expected `key=value`"),
    ("[net]\nwidth=1\n[convolutional\nfilters=1\n", 3, "malformed section header"),
    ("[net]\n[]\n", 2, "malformed section header"),
    ("[net]\n[  ]\n", 2, "malformed section header"),
    ("[net]\n=5\n", 2, "empty key"),
    ("width=1\n[net]\n", 1, "before the first [section]"),
    ("\n# comment\n[convolutional]\nfilters=1\n", 3, "first section must be [net] or [network]"),
    ("", None, "no sections found"),
    ("# only\n; comments\n\n", None, "no sections found"),
])
def test_errors_name_file_and_line(text, line, words):
    with pytest.raises(ConfigError) as info:
        parse_cfg_text(text, "bad.cfg")
    message = str(info.value)
    prefix = "bad.cfg: " if line is None else f"bad.cfg:{line}: "
    assert message.startswith(prefix), message
    assert words in message, message


def test_repeated_key_keeps_the_first_value_with_a_warning():
    """darknet's option_find returns the first occurrence (efficientnet_b0.cfg repeats keys)."""
    with pytest.warns(UserWarning, match=r"bad.cfg:5: key `width` repeated in \[net\] \(first set at bad.cfg:3\)"):
        (net,) = parse_cfg_text("# header\n[net]\nwidth=1\nheight=2\nwidth=3\n", "bad.cfg")
    assert net.options == {"width": "1", "height": "2"}
    with pytest.warns(UserWarning, match="first set at bad.cfg:3"):
        _, conv = parse_cfg_text("[net]\n[conv]\nsize=1\nsize = 3\n", "bad.cfg")
    assert conv.options == {"size": "1"}


def test_repeated_key_in_another_section_is_fine():
    net, a, b = parse_cfg_text("[net]\n[maxpool]\nsize=2\n[maxpool]\nsize=3\n")
    assert a.options == {"size": "2"} and b.options == {"size": "3"}


def test_read_cfg_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_cfg(tmp_path / "missing.cfg")
    with pytest.raises(ConfigError, match="cannot read"):
        read_cfg(tmp_path)
    latin = tmp_path / "latin1.cfg"
    latin.write_bytes(b"[net]\nnote=\xe9\n")
    with pytest.raises(ConfigError, match="cannot read"):
        read_cfg(latin)
    bom = tmp_path / "bom.cfg"
    bom.write_bytes(b"\xef\xbb\xbf[net]\nwidth=2\n")  # as Windows editors save it
    (net,) = read_cfg(bom)
    assert net.kind == "net" and net.origin == f"{bom}:1" and net.where("width") == f"{bom}:2"


def test_format_and_write_round_trip(tmp_path):
    sections = parse_cfg_text(SAMPLE, "s.cfg")
    text = format_cfg(sections)
    assert text.startswith("[net]\nwidth=32\nheight=16\nchannels=3\n\n[convolutional]\n")
    assert text.endswith("[route]\nlayers=-1,4\n")
    target = tmp_path / "out" / "model.cfg"
    write_cfg(sections, target)
    assert os.listdir(target.parent) == ["model.cfg"]  # the temporary was renamed away
    back = read_cfg(target)
    assert [(s.kind, list(s.options.items())) for s in back] == \
        [(s.kind, list(s.options.items())) for s in sections]
    assert format_cfg(back) == text


@pytest.mark.parametrize("section, key, value, minimum", [
    ("shuffler", "scale", "0", 1),
    ("route", "groups", "-2", 1),
    ("reorg", "extra", "-1", 0),
    ("local", "pad", "-1", 0),
])
def test_key_minimum_names_file_line_and_key(tmp_path, section, key, value, minimum):
    from darkpy.api import load

    extra = "layers=-1\n" if section == "route" else ""
    path = tmp_path / "m.cfg"
    path.write_text(f"[net]\nwidth=8\nheight=8\nchannels=4\n\n[{section}]\n{extra}{key}={value}\n")
    line = 7 + (1 if extra else 0)
    with pytest.raises(ConfigError, match=rf"m\.cfg:{line}: key `{key}` in \[{section}\] "
                                          rf"must be >= {minimum}, got '{value}'"):
        load(path)


@pytest.mark.parametrize("value", ["2147483648", "-2147483649", "99999999999999999999", "1e30",
                                   "inf"])
def test_integers_beyond_32_bits_are_refused(value):
    """darknet reads integers into C ints; a bigger one is a typo, not a request (the fuzz
    tests found one reaching numba as an overflow)."""
    from darkpy.config.schema import parse_options
    from darkpy.layers.convolutional import Convolutional

    sections = parse_cfg_text(f"[net]\nwidth=8\n\n[convolutional]\npadding={value}\n", "big.cfg")
    with pytest.raises(ConfigError, match=r"big\.cfg:5: key `padding` in \[convolutional\] "
                                          r"expects an integer of at most 32 bits"):
        parse_options(sections[1], Convolutional.keys)
    largest = parse_cfg_text("[net]\n[convolutional]\npadding=2147483647\n", "ok.cfg")[1]
    assert parse_options(largest, Convolutional.keys).padding == 2**31 - 1
