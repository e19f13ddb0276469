"""The errors a cfg author meets: bad references name both layers and their shapes, unknown
keys list the closest valid ones, keys of the other darknet say so."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from darkpy.cli import app
from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError, InputError
from darkpy.network import Network

runner = CliRunner()

NET = "[net]\nwidth=32\nheight=32\nchannels=3\n\n"
CONV = "[convolutional]\nfilters={f}\nsize=3\nstride={s}\npad=1\nactivation=leaky\n\n"


def build(text: str, fork=None) -> Network:
    return Network(parse_cfg_text(text, "t.cfg"), "t.cfg", fork=fork)


def test_route_mismatch_names_both_layers_and_their_shapes():
    # layer 0: 16x16x8, layer 1: 8x8x4; the route on line 21 asks for both
    text = NET + CONV.format(f=8, s=2) + CONV.format(f=4, s=2) + "[route]\nlayers=-1,0\n"
    assert text.splitlines()[20] == "layers=-1,0"
    with pytest.raises(ConfigError) as info:
        build(text)
    assert str(info.value) == ("t.cfg:21: layer 2 [route] layers=-1,0: layer 0 is 16x16x8, "
                               "layer 1 is 8x8x4: spatial sizes differ")


def test_shortcut_mismatch_names_both_layers_and_their_shapes():
    text = (NET + CONV.format(f=8, s=1) + CONV.format(f=8, s=2) + CONV.format(f=8, s=1)
            + "[maxpool]\nsize=2\nstride=1\nstride_x=2\nstride_y=1\n\n"
            + "[shortcut]\nfrom=-4\nactivation=linear\n")
    # layer 3 halves only the width: 8x16 (w x h) against layer 0's 32x32
    with pytest.raises(ConfigError) as info:
        build(text)
    message = str(info.value)
    assert message.startswith("t.cfg:")
    assert "layer 4 [shortcut] from=-4: layer 0 is 32x32x8, layer 3 is 8x16x8:" in message
    assert "same scale factor" in message


def test_route_channel_groups_name_the_layer():
    text = NET + CONV.format(f=3, s=1) + "[route]\nlayers=-1\ngroups=2\n"
    with pytest.raises(ConfigError, match=r"layer 1 \[route\] layers=-1: layer 0 is 32x32x3: "
                                          r"channels not divisible by groups=2"):
        build(text)


def test_sam_and_scale_channels_mismatches_name_the_layers():
    sam = NET + CONV.format(f=8, s=1) + CONV.format(f=4, s=1) + "[sam]\nfrom=-2\n"
    with pytest.raises(ConfigError, match=r"layer 2 \[sam\] from=-2: layer 0 is 32x32x8, "
                                          r"layer 1 is 32x32x4"):
        build(sam)
    se = NET + CONV.format(f=8, s=1) + "[avgpool]\n\n" + CONV.format(f=4, s=1) + \
        "[scale_channels]\nfrom=-3\n"
    with pytest.raises(ConfigError, match=r"layer 0 is 32x32x8, layer 2 is 1x1x4: the previous "
                                          r"layer must give 1x1x8 scales"):
        build(se)


def test_mismatch_at_another_input_size_names_the_layers():
    # fine at 32x32; at 36x36 the maxpool gives 18, the next one 9, upsampling 18 again, but
    # at 34x34: 17 -> 9 -> 18 against 17
    text = (NET + CONV.format(f=4, s=1) + "[maxpool]\nsize=2\nstride=2\n\n"
            + "[maxpool]\nsize=2\nstride=2\n\n[upsample]\nstride=2\n\n[route]\nlayers=-1,1\n")
    net = build(text)
    assert net.shapes[-1] == (16, 16, 8)
    with pytest.raises(InputError) as info:
        net.forward(np.zeros((1, 34, 34, 3), np.float32))
    message = str(info.value)
    assert "layer 4 [route] layers=-1,1: layer 1 is 17x17x4, layer 3 is 18x18x4: spatial " \
           "sizes differ" in message


def test_unknown_key_lists_the_closest_valid_keys():
    text = NET + "[convolutional]\nfilters=4\nsize=3\nstride_w=2\n"
    with pytest.raises(ConfigError) as info:
        build(text)
    message = str(info.value)
    assert message.startswith("t.cfg:9: unknown key `stride_w` in [convolutional]; did you mean")
    for near in ("`stride_x`", "`stride_y`", "`stride`"):
        assert near in message
    assert "darkpy keys convolutional" in message
    with pytest.raises(ConfigError, match=r"did you mean `filters`\? \("):
        build(NET + "[convolutional]\nfilter=4\n")


PJREDDIE_ROUTE = NET + CONV.format(f=8, s=1) + "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"


def test_a_key_only_the_other_darknet_reads_says_so():
    build(PJREDDIE_ROUTE)  # darkpy itself reads both forks' keys
    with pytest.raises(ConfigError) as info:
        build(PJREDDIE_ROUTE, fork="pjreddie")
    assert str(info.value) == ("t.cfg:15: key `groups` in [route] is read only by AlexeyAB's "
                               "darknet; pjreddie's ignores it (and 1 more)")
    build(PJREDDIE_ROUTE, fork="alexeyab")  # any capitalisation


def test_a_section_kind_of_the_other_darknet_says_so():
    text = NET + CONV.format(f=8, s=1) + "[reorg]\nstride=2\nflatten=0\n"
    with pytest.raises(ConfigError, match=r"t.cfg:15: key `flatten` in \[reorg\] is read only "
                                          r"by pjreddie's darknet; AlexeyAB's ignores it"):
        build(text, fork="AlexeyAB")
    sam = NET + CONV.format(f=8, s=1) + CONV.format(f=8, s=1) + "[sam]\nfrom=-2\n"
    with pytest.raises(ConfigError, match=r"t.cfg:20: \[sam\] exists only in AlexeyAB's "
                                          r"darknet; pjreddie's cannot load this cfg"):
        build(sam, fork="pjreddie")
    shuffle = NET + CONV.format(f=12, s=1) + "[shuffler]\nscale=2\n"
    with pytest.raises(ConfigError, match=r"\[shuffler\] is darkpy's own"):
        build(shuffle, fork="pjreddie")
    with pytest.raises(ConfigError, match="unknown darknet fork"):
        build(shuffle, fork="hank")


def test_a_cfg_needing_both_darknets_warns_and_a_plain_one_does_not():
    mixed = (NET + CONV.format(f=8, s=1) + "[route]\nlayers=-1\ngroups=2\n\n"
             + "[reorg]\nstride=2\nflatten=0\n")
    with pytest.warns(UserWarning, match=r"mixes the two darknets: key `groups` in \[route\] "
                                         r"\(t.cfg:15\) is AlexeyAB's only, key `flatten` in "
                                         r"\[reorg\] \(t.cfg:19\) pjreddie's only"):
        build(mixed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(PJREDDIE_ROUTE)


def test_cli_info_fork_is_one_line_exit_2(tmp_path):
    path = tmp_path / "route.cfg"
    path.write_text(PJREDDIE_ROUTE)
    result = runner.invoke(app, ["info", str(path), "--fork", "pjreddie"])
    assert result.exit_code == 2
    assert "key `groups` in [route] is read only by AlexeyAB's darknet" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(app, ["info", str(path), "--fork", "AlexeyAB"]).exit_code == 0
