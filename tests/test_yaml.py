"""YAML network descriptions: repeat expansion, layer names, file:line origins, errors and
lossless cfg -> yaml -> cfg round trips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from darkpy.config.cfg import format_cfg, parse_cfg_text, read_cfg
from darkpy.config.section import Section
from darkpy.config.yaml import format_yaml, parse_yaml_text, read_yaml, write_yaml
from darkpy.errors import ConfigError
from tests.conftest import SHARED, shared_path

# line numbers below are counted by hand; keep the text and the numbers in step
EDSR_LIKE = """\
# a small EDSR-like network
net: {width: 48, height: 48, channels: 3}
layers:
  - convolutional: {filters: 8, size: 3, pad: 1, activation: linear, name: head}
  - repeat: 2
    layers:
      - convolutional: {filters: 8, size: 3, pad: 1, activation: relu, name: body}
      - convolutional:
          filters: 8
          size: 3
          pad: 1
          activation: linear
      - shortcut: {from: body, alpha: 1}
  - route: {layers: [-1, head]}
  - convolutional: {filters: 3, size: 3, pad: 1, activation: linear}
"""


def kinds(sections):
    return [s.kind for s in sections]


def test_repeat_and_names_expand_to_darknet_sections():
    sections = parse_yaml_text(EDSR_LIKE, "edsr.yaml")
    assert kinds(sections) == ["net", "convolutional",
                               "convolutional", "convolutional", "shortcut",
                               "convolutional", "convolutional", "shortcut",
                               "route", "convolutional"]
    net = sections[0]
    assert net.options == {"width": "48", "height": "48", "channels": "3"}
    assert net.origin == "edsr.yaml:2" and net.key_origins["width"] == "edsr.yaml:2"
    head = sections[1]
    # `name` is YAML's own: it never reaches the darknet section
    assert head.options == {"filters": "8", "size": "3", "pad": "1", "activation": "linear"}
    assert list(head.options) == ["filters", "size", "pad", "activation"]
    assert head.origin == "edsr.yaml:4"
    # layer indices after [net]: 0 head, 1-3 first copy, 4-6 second copy, 7 route, 8 tail
    # `from: body` in layer 3 -> layer 1 (-2); in layer 6 -> the second copy's layer 4 (-2)
    assert sections[4].options == {"from": "-2", "alpha": "1"}
    assert sections[7].options == {"from": "-2", "alpha": "1"}
    # route at layer 7: [-1, head] -> [-1, 0 - 7]
    assert sections[8].options == {"layers": "-1,-7"}
    # both copies carry the template's lines
    for first, second in ((2, 5), (3, 6), (4, 7)):
        assert sections[first].origin == sections[second].origin
        assert sections[first].options == sections[second].options
        assert sections[first] is not sections[second]
    assert sections[2].origin == "edsr.yaml:7"
    block = sections[3]
    assert block.origin == "edsr.yaml:8"
    assert block.key_origins == {"filters": "edsr.yaml:9", "size": "edsr.yaml:10",
                                 "pad": "edsr.yaml:11", "activation": "edsr.yaml:12"}
    assert sections[4].origin == "edsr.yaml:13" and sections[4].where("from") == "edsr.yaml:13"
    assert sections[8].origin == "edsr.yaml:14"
    assert sections[9].origin == "edsr.yaml:15"


def test_nested_repeats_and_shadowed_names():
    text = """\
net: {width: 8, height: 8, channels: 1}
layers:
  - maxpool: {name: a}
  - repeat: 2
    layers:
      - upsample: {name: a}
      - repeat: 3
        layers:
          - shortcut: {from: a}
  - route: {layers: "a, -2, 0"}
"""
    sections = parse_yaml_text(text, "n.yaml")[1:]
    assert kinds(sections) == ["maxpool"] + (["upsample"] + ["shortcut"] * 3) * 2 + ["route"]
    # each shortcut points at the upsample of its own copy: the most recent `a`
    assert [s.options["from"] for s in sections if s.kind == "shortcut"] == \
        ["-1", "-2", "-3"] * 2
    # the last `a` is layer 5; the route is layer 9; names and indices mix in one list
    assert sections[-1].options["layers"] == "-4,-2,0"


def test_values_become_cfg_strings():
    text = """\
network:
  learning_rate: 1e-3
  hue: .1
  momentum: 0.90
  steps: [400000, 450000]
  scales: [.1, .1]
  flip: true
  policy: steps
layers:
  - maxpool:
  - yolo: {mask: [0, 1, 2], anchors: '10,14,  23,27', random: false, adam: yes, note: ''}
  - shortcut: {from: -3, activation: linear}
"""
    sections = parse_yaml_text(text)
    assert sections[0].kind == "network"
    assert sections[0].options == {
        "learning_rate": "1e-3", "hue": ".1", "momentum": "0.90", "steps": "400000,450000",
        "scales": ".1,.1", "flip": "1", "policy": "steps",
    }
    assert sections[1].kind == "maxpool" and sections[1].options == {}
    # whitespace inside values is dropped, as darknet does for cfg lines
    assert sections[2].options == {"mask": "0,1,2", "anchors": "10,14,23,27", "random": "0",
                                   "adam": "1", "note": ""}
    assert sections[3].options == {"from": "-3", "activation": "linear"}


def test_empty_layer_list():
    sections = parse_yaml_text("net: {width: 4, height: 4, channels: 1}\nlayers: []\n")
    assert kinds(sections) == ["net"]


@pytest.mark.parametrize("text, line, words", [
    ("- net\n- layers\n", 1, "must be a mapping"),
    ("", None, "empty YAML document"),
    ("layers: []\n", 1, "missing `net:`"),
    ("net: {}\nlayer: []\n", 2, "did you mean `layers`"),
    ("net: {}\nnetwork: {}\n", 2, "both given"),
    ("net: {}\nnet: {}\n", 2, "repeated"),
    ("net: {}\nlayers: {maxpool: {}}\n", 2, "must be a list"),
    ("net: {}\nlayers:\n  - maxpool\n", 3, "must be a mapping"),
    ("net: {}\nlayers:\n  - maxpool: {}\n    upsample: {}\n", 3, "exactly one key"),
    ("net: {}\nlayers:\n  - maxpool: 2\n", 3, "must be a mapping"),
    ("net: {}\nlayers:\n  - maxpool: {size: 2, size: 3}\n", 3, "key `size` repeated"),
    ("net: {}\nlayers:\n  - maxpool: {size: }\n", 3, "has no value"),
    ("net: {}\nlayers:\n  - maxpool: {size: {a: 1}}\n", 3, "not a mapping"),
    ("net: {}\nlayers:\n  - maxpool: {size: [[1]]}\n", 3, "plain values"),
    ("net: {}\nlayers:\n  - repeat: 2\n", 3, "needs `layers:`"),
    ("net: {}\nlayers:\n  - repeat: 2\n    layers: []\n", 4, "non-empty list"),
    ("net: {}\nlayers:\n  - repeat: 0\n    layers:\n      - maxpool: {}\n", 3, "at least 1"),
    ("net: {}\nlayers:\n  - repeat: -1\n    layers:\n      - maxpool: {}\n", 3, "at least 1"),
    ("net: {}\nlayers:\n  - repeat: 1.5\n    layers:\n      - maxpool: {}\n", 3, "whole number"),
    ("net: {}\nlayers:\n  - repeat: 2\n    layers:\n      - maxpool: {}\n    size: 3\n", 3,
     "only `repeat:` and `layers:`"),
    ("net: {}\nlayers:\n  - maxpool: {name: 3x}\n", 3, "layer name"),
    ("net: {}\nlayers:\n  - maxpool: {name: head}\n  - route: {layers: [-1, haed]}\n", 4,
     "did you mean 'head'"),
    ("net: {}\nlayers:\n  - maxpool: {}\n  - shortcut: {from: tail}\n  - upsample: {name: tail}\n",
     4, "not an earlier layer"),
    ("net: {}\nlayers:\n  - maxpool: {name: self}\n  - shortcut: {from: self, name: self}\n", None,
     None),  # refers to the earlier `self`, not to itself: valid
    ("net: {width: 3\nlayers:\n  - maxpool: {}\n", 2, "invalid YAML"),
    ("net:\n  width: 3\n height: 4\n", 3, "invalid YAML"),
    ("net: {}\n---\nnet: {}\n", 2, "single document"),
])
def test_errors_name_file_and_line(text, line, words):
    if words is None:
        sections = parse_yaml_text(text, "bad.yaml")
        assert sections[2].options["from"] == "-1"
        return
    with pytest.raises(ConfigError) as info:
        parse_yaml_text(text, "bad.yaml")
    message = str(info.value)
    prefix = "bad.yaml:" if line is None else f"bad.yaml:{line}:"
    assert message.startswith(prefix), message
    assert words in message, message


def test_unsafe_tags_are_never_constructed():
    # nodes are only composed, never constructed: python tags stay inert text
    text = "net: {width: !!python/object/apply:os.getcwd [], height: !!python/name:os.system x}\n"
    assert parse_yaml_text(text)[0].options == {"width": "", "height": "x"}


def test_read_yaml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        read_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"net: {note: \xe9}\n")
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml(bad)
    good = tmp_path / "ok.yaml"
    good.write_text(EDSR_LIKE, encoding="utf-8")
    sections = read_yaml(good)
    assert sections[1].origin == f"{good}:4"


def test_write_yaml_is_atomic_and_reads_back(tmp_path):
    sections = parse_yaml_text(EDSR_LIKE)
    target = tmp_path / "sub" / "model.yaml"
    write_yaml(sections, target)
    assert sorted(os.listdir(target.parent)) == ["model.yaml"]  # no temporary left behind
    back = read_yaml(target)
    assert [(s.kind, s.options) for s in back] == [(s.kind, s.options) for s in sections]


def test_format_yaml_writes_typed_values():
    cfg = """\
[net]
width=416
learning_rate=0.001
hue=.1
steps=400000,450000
policy=steps
[yolo]
mask=3,4,5
anchors=10,14,23,27
jitter=.3
ignore_thresh=0.7
classes=80
note=yes
odd=1,,2
[route]
layers=-1,8
[maxpool]
"""
    text = format_yaml(parse_cfg_text(cfg))
    plain = yaml.safe_load(text)  # any YAML reader sees the same numbers darknet does
    assert plain["net"] == {"width": 416, "learning_rate": 0.001, "hue": 0.1,
                            "steps": [400000, 450000], "policy": "steps"}
    assert plain["layers"][0] == {"yolo": {"mask": [3, 4, 5], "anchors": [10, 14, 23, 27],
                                           "jitter": 0.3, "ignore_thresh": 0.7, "classes": 80,
                                           "note": "yes", "odd": "1,,2"}}
    assert plain["layers"][1] == {"route": {"layers": [-1, 8]}}
    assert plain["layers"][2] == {"maxpool": {}}
    # one line per layer, flow style
    layer_lines = text.split("layers:\n", 1)[1].splitlines()
    assert layer_lines == [
        "  - yolo: {mask: [3, 4, 5], anchors: [10, 14, 23, 27], jitter: .3, ignore_thresh: 0.7, "
        "classes: 80, note: 'yes', odd: '1,,2'}",
        "  - route: {layers: [-1, 8]}",
        "  - maxpool: {}",
    ]


def test_format_yaml_needs_net_first():
    with pytest.raises(ConfigError, match=r"\[net\]"):
        format_yaml([Section("convolutional", {"filters": "1"})])


def assert_round_trip(sections):
    text = format_yaml(sections)
    back = parse_cfg_text(format_cfg(parse_yaml_text(text, "rt.yaml")), "rt.cfg")
    assert kinds(back) == kinds(sections)
    for original, copy in zip(sections, back):
        assert list(copy.options.items()) == list(original.options.items()), original.origin
    assert format_cfg(back) == format_cfg(sections)


# values a cfg can hold that YAML would read differently if written bare
AWKWARD_CFG = """\
[network]
width=33
height=17
channels=3
hue=.1
eps=1e-07
decay=5e-4
max_crop=010
note=yes
other=Off
empty=
tilde=~
clock=1:30
hexa=0x1F
inf=.inf
under=1_000
plus=+5
neg=-0
dot=1.
hash=a#b
[convolutional]
filters=5
activation=leaky
list=1,,2
words=a,b
quote='q'
double="q"
colon=a:b
brace={x}
bracket=[1]
star=*ref
amp=&anchor
bang=!tag
pct=%x
[shortcut]
from=-3
activation=linear
[route]
layers=-1,-4
[maxpool]
"""


def test_round_trip_awkward_values():
    sections = parse_cfg_text(AWKWARD_CFG.replace("hash=a#b\n", ""), "awkward.cfg")
    assert sections[0].options["empty"] == ""
    assert_round_trip(sections)


def test_yaml_round_trip_of_values_a_cfg_cannot_hold():
    # '#' and ';' would start a cfg comment; YAML keeps them
    sections = [Section("net", {"width": "4", "hash": "a#b", "semi": "x;y"}),
                Section("route", {"layers": "-1,"})]
    back = parse_yaml_text(format_yaml(sections))
    assert [(s.kind, list(s.options.items())) for s in back] == \
        [(s.kind, list(s.options.items())) for s in sections]


SHARED_CFGS = ["darknet-cfg/yolov3.cfg", "darknet-cfg/yolov2-tiny.cfg", "darknet-cfg/yolov4-tiny.cfg",
               "darknet-cfg/yolov4.cfg", "models/yolov3-tiny/yolov3-tiny.cfg"]


@pytest.mark.parametrize("name", SHARED_CFGS)
def test_round_trip_shared_cfgs(name):
    assert_round_trip(read_cfg(shared_path(name)))


def test_every_shared_cfg_is_covered():
    found = {str(p.relative_to(SHARED)) for p in shared_path("darknet-cfg").glob("*.cfg")}
    found |= {str(p.relative_to(SHARED)) for p in shared_path("models", "yolov3-tiny").glob("*.cfg")}
    assert found <= set(SHARED_CFGS), f"add {sorted(found - set(SHARED_CFGS))} to SHARED_CFGS"


def test_yaml_network_builds_like_its_cfg():
    """The YAML example and its hand-expanded cfg build the same network (needs the layers)."""
    from darkpy.layers.registry import LAYER_CLASSES
    from darkpy.network import Network

    assert LAYER_CLASSES  # every layer module imports: a broken one fails here, not skipped
    from_yaml = Network(parse_yaml_text(EDSR_LIKE, "edsr.yaml"))
    cfg = "[net]\nwidth=48\nheight=48\nchannels=3\n" + "".join(
        f"[{s.kind}]\n" + "".join(f"{k}={v}\n" for k, v in s.options.items())
        for s in parse_yaml_text(EDSR_LIKE)[1:]
    )
    from_cfg = Network(parse_cfg_text(cfg, "edsr.cfg"))
    assert from_yaml.sources == from_cfg.sources
    # shortcuts: [previous, body of the same copy]; route: [previous, head]
    assert from_yaml.sources[3] == [2, 1] and from_yaml.sources[6] == [5, 4]
    assert from_yaml.sources[7] == [6, 0]
    assert from_yaml.shapes == from_cfg.shapes
    assert from_yaml.shapes[-1] == (48, 48, 3)


REPO_CFG = Path(__file__).resolve().parents[1] / "cfg"


@pytest.mark.parametrize("name", sorted(p.stem for p in REPO_CFG.glob("*.yaml")))
def test_shipped_yaml_matches_its_cfg_twin(name):
    """cfg/NAME.yaml (repeats, names) and cfg/NAME.cfg describe the same darknet sections."""
    from_yaml = read_yaml(REPO_CFG / f"{name}.yaml")
    from_cfg = read_cfg(REPO_CFG / f"{name}.cfg")
    assert [(s.kind, list(s.options.items())) for s in from_yaml] == \
        [(s.kind, list(s.options.items())) for s in from_cfg]
