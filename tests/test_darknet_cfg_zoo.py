"""Quirks of the cfgs shipped in darknet's cfg/ folders (pjreddie's and AlexeyAB's).

`tools/check_cfgs.py` runs darkpy over those files (they are third-party and not vendored);
each quirk it turned up is pinned here with a small cfg written in the test: keys darknet
never reads but its own cfgs carry (darknet only prints "Unused field"), comments glued to
values, and the way darknet pairs an odd anchor count.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from darkpy.config.cfg import parse_cfg_text
from darkpy.config.net_keys import NET_KEYS
from darkpy.errors import ConfigError
from darkpy.layers.detection import DetectionLayer
from darkpy.layers.gaussian_yolo import GaussianYolo
from darkpy.layers.region import Region
from darkpy.layers.yolo import Yolo
from darkpy.network import Network
from tests.zoo_util import make


def network(text: str) -> Network:
    return Network(parse_cfg_text(text, "zoo.cfg"), "zoo.cfg")


def test_net_seen_is_accepted_and_ignored():
    # pjreddie's jnet-conv.cfg, vgg-conv.cfg and writing.cfg set seen=0 in [net]
    net = network("[net]\nwidth=6\nheight=5\nchannels=2\nseen=0\n\n"
                  "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n")
    assert net.net.seen == 0 and not NET_KEYS["seen"].used
    assert net.infer_shapes((5, 6, 2))[-1] == (5, 6, 3)


def test_detection_accepts_the_yolov1_keys_darknet_never_read():
    # the original yolo.cfg (kept in AlexeyAB's cfg folder) ends with joint=0, objectness=1
    size = 2 * 2 * ((1 + 4) * 1 + 3)
    layer = make(DetectionLayer, {"classes": 3, "coords": 4, "side": 2, "num": 1, "joint": 0,
                             "objectness": 1}, [(1, 1, size)])
    assert not DetectionLayer.keys["joint"].used and not DetectionLayer.keys["objectness"].used
    x = np.arange(size, dtype=np.float32).reshape(1, 1, 1, size)
    np.testing.assert_array_equal(layer.forward([x]), x)


def test_yolo_accepts_uc_normalizer_and_beta1():
    # yolov4-sam-mish-csp-reorg-bfm.cfg and csresnext50-panet-spp-original-optimal.cfg set
    # both in [yolo]; darknet's [yolo] parser reads neither ([Gaussian_yolo] reads the first)
    layer = make(Yolo, {"classes": 1, "num": 1, "anchors": "4,6", "uc_normalizer": 0.07,
                        "beta1": 0.6}, [(2, 2, 6)])
    assert not Yolo.keys["uc_normalizer"].used and not Yolo.keys["beta1"].used
    assert "uc_normalizer" in GaussianYolo.keys
    np.testing.assert_array_equal(layer.anchors, [[4, 6]])


def test_odd_anchor_count_is_paired_like_darknet():
    # cspx-p7-mish_hp.cfg writes "61,45    61,45": darknet removes the whitespace, reads
    # 61,4561,45 and so one number short; the values fill w,h,w,h... in order and the last
    # height keeps darknet's initial 0.5
    text = ("[net]\nwidth=2\nheight=2\nchannels=18\n\n"
            "[yolo]\nclasses=1\nnum=3\nmask=0,1,2\nanchors = 10,14,  23,27 37,58\n")
    with pytest.warns(UserWarning, match=r"zoo\.cfg:\d+: \[yolo\] layer 0: anchors has 5 "
                                         r"numbers.*last height is 0\.5"):
        layer = network(text).layers[0]
    np.testing.assert_array_equal(layer.all_anchors, [[10, 14], [23, 2737], [58, 0.5]])
    # an even count stays silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(Yolo, {"classes": 1, "num": 2, "anchors": "1,2,3,4"}, [(2, 2, 12)])


@pytest.mark.parametrize("cls,opts,shape", [
    (Region, {"classes": 1, "coords": 4, "num": 2, "anchors": "1,2,3"}, (3, 3, 12)),
    (GaussianYolo, {"classes": 1, "num": 2, "anchors": "1,2,3"}, (3, 3, 2 * 10)),
])
def test_odd_anchor_count_in_the_other_heads(cls, opts, shape):
    with pytest.warns(UserWarning, match="anchors has 3 numbers"):
        layer = make(cls, opts, [shape])
    anchors = layer.anchors if cls is Region else layer.all_anchors
    np.testing.assert_array_equal(anchors, [[1, 2], [3, 0.5]])


def test_mask_beyond_num_uses_the_listed_anchors():
    # cspx-p7-mish.cfg lists 20 anchors but num=16 and its last head uses mask=16..19:
    # darknet reads past the num anchors it keeps (into the listed values in practice);
    # darkpy uses the anchors as listed, with a warning naming the fix
    opts = {"classes": 1, "num": 2, "mask": "1,2", "anchors": "1,2, 3,4, 5,6"}
    with pytest.warns(UserWarning, match=r"mask uses anchor 2 but num=2.*set num=3"):
        layer = make(Yolo, opts, [(2, 2, 12)])
    np.testing.assert_array_equal(layer.anchors, [[3, 4], [5, 6]])
    # without anchors to cover the mask, there is nothing sensible to read: refused
    with pytest.raises(ConfigError, match=r"zoo\.cfg:7.*mask value 2 .*num=2"):
        make(Yolo, dict(opts, anchors="1,2"), [(2, 2, 12)])


def test_comments_glued_to_values():
    # efficientnet-lite3.cfg: "filters=40<TAB>#32"; cspx-p7-mish.cfg: "layers = 180 ###P6"
    net = network(
        "[net]\nwidth=4\nheight=4\nchannels=3\n\n"
        "[convolutional]\nfilters=5\t#32\nsize=1\nactivation=linear\n\n"
        "[convolutional]\ngroups=5\t\t#32\nfilters=5\t#32\nsize=3\npad=1\nactivation=linear\n\n"
        "[route]\nlayers = 0 ###P6\n")
    conv, depthwise, route = net.layers
    assert conv.filters == 5 and depthwise.groups == 5 and depthwise.filters == 5
    assert net.infer_shapes((4, 4, 3)) == [(4, 4, 5), (4, 4, 5), (4, 4, 5)]
    assert depthwise.num_params() == 5 * 3 * 3 + 5
