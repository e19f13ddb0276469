"""ONNX export, layer by layer: every layer kind and option darkpy exports, in small
hand-written cfgs with random weights, gives ONNX Runtime's output equal to darkpy's forward
(1e-4 relative), for a fixed size and batch 2 through a dynamic batch, and where the network
allows it for a second image size through a dynamic-size export. onnx.checker (with shape
inference) runs on every export."""
from __future__ import annotations

import json

import numpy as np
import pytest

from darkpy.errors import ExportError
from darkpy.export import export_onnx
from darkpy.kernels.activations import ACTIVATION_NAMES
from tests.onnx_util import compare, network, randomize, run_onnx


def net(w=16, h=16, c=4):
    return f"[net]\nwidth={w}\nheight={h}\nchannels={c}\n\n"


def conv(filters=8, size=3, extra="", act="leaky"):
    return (f"[convolutional]\nfilters={filters}\nsize={size}\nstride=1\npad=1\n"
            f"activation={act}\n{extra}\n")


CASES = {
    # --- convolutions ------------------------------------------------------------------------
    "conv_bn": net() + conv(extra="batch_normalize=1") + conv(4, 1, act="linear"),
    "conv_stride_pad": net(17, 13) + "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=0\n"
    "padding=2\nactivation=relu\n\n[convolutional]\nfilters=5\nsize=5\nstride_x=2\nstride_y=1\n"
    "pad=1\nactivation=linear\n",
    "conv_groups": net(c=8) + conv(8, 3, "groups=8\nbatch_normalize=1") +
    conv(12, 3, "groups=4") + conv(12, 1, "groups=2", act="logistic"),
    "conv_dilation": net(20, 20) + conv(6, 3, "dilation=2") + conv(6, 3, "dilation=3"),
    "conv_share_index": net() + conv(4, 3, "batch_normalize=1") + conv(4, 3, "share_index=0"),
    "conv_binary": net(c=3) + conv(8, 3, "binary=1\nbatch_normalize=1") +
    conv(8, 3, "binary=1\nflavor=alexeyab\nbatch_normalize=1") + conv(4, 1, "binary=1"),
    "conv_normalize_channels": net() + conv(6, 3, act="normalize_channels") +
    conv(6, 1, act="normalize_channels_softmax") + conv(5, 1, act="normalize_channels_softmax_maxval"),
    "deconv": net(8, 6) + "[deconvolutional]\nfilters=6\nsize=4\nstride=2\npad=1\n"
    "activation=leaky\n\n[deconvolutional]\nfilters=3\nsize=3\nstride=1\npadding=1\n"
    "batch_normalize=1\nactivation=linear\n",
    "connected_softmax": net(6, 5, 3) + "[connected]\noutput=10\nactivation=relu\n"
    "batch_normalize=1\n\n[dropout]\nprobability=0.3\n\n[connected]\noutput=12\n"
    "activation=linear\n\n[softmax]\ngroups=3\ntemperature=2\n",
    "batchnorm": net() + conv(6, 3, act="linear") + "[batchnorm]\n",
    # --- pooling -----------------------------------------------------------------------------
    "maxpool": net(13, 13) + "[maxpool]\nsize=2\nstride=1\n\n[maxpool]\nsize=2\nstride=2\n\n"
    "[maxpool]\nsize=3\nstride=2\n\n[maxpool]\nsize=5\nstride=1\n",
    "maxpool_padding": net(12, 11) + "[maxpool]\nsize=3\nstride_x=2\nstride_y=1\npadding=1\n\n"
    "[maxpool]\nsize=2\nstride=1\npadding=4\n\n[maxpool]\nsize=1\nstride=1\npadding=2\n",
    "maxpool_depth": net(c=7) + "[empty]\n\n[maxpool]\nmaxpool_depth=1\nout_channels=3\n\n"
    "[route]\nlayers=-2\n\n[maxpool]\nmaxpool_depth=1\nout_channels=9\n\n[route]\nlayers=-1,-3\n",
    "spp": net(c=6) + "[empty]\n\n[maxpool]\nsize=5\nstride=1\n\n[route]\nlayers=-2\n\n[maxpool]\nsize=9\n"
    "stride=1\n\n[route]\nlayers=-4\n\n[maxpool]\nsize=13\nstride=1\n\n[route]\nlayers=-1,-3,-5,-6\n",
    "avgpool": net(7, 5, 6) + conv(8, 3) + "[avgpool]\n\n[connected]\noutput=4\nactivation=linear\n"
    "\n[softmax]\n",
    "local_avgpool": net(13, 11) + "[local_avgpool]\nsize=3\nstride=2\n\n[local_avgpool]\nsize=2\n"
    "stride=1\n\n[local_avg]\nsize=3\nstride=1\npadding=2\n",
    # --- resampling and shuffles ---------------------------------------------------------------
    "upsample": net(8, 6) + "[upsample]\nstride=2\n\n[upsample]\nstride=3\nscale=0.5\n\n"
    "[upsample]\nstride=-2\n\n[upsample]\nstride=-3\nscale=0.25\n",
    "route_groups": net(c=8) + conv(8, 3) + "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n\n" +
    conv(4, 3) + "[route]\nlayers=-1,-2\n\n[route]\nlayers=-3,0\ngroups=4\ngroup_id=2\n",
    "reorg": net(8, 8, 8) + "[empty]\n\n[reorg]\nstride=2\n\n[route]\nlayers=-2\n\n[reorg]\nstride=2\n"
    "reverse=1\n\n[route]\nlayers=-4\n\n[reorg]\nstride=2\nflatten=1\n\n[route]\nlayers=-6\n\n"
    "[reorg]\nstride=2\nflatten=1\nreverse=1\n",
    "reorg_extra": net(4, 3, 2) + "[reorg]\nextra=5\n",
    "reorg3d": net(8, 8, 32) + "[empty]\n\n[reorg3d]\nstride=2\n\n[route]\nlayers=-2\n\n[reorg3d]\n"
    "stride=2\nreverse=1\n",
    "shuffler": net(6, 5, 12) + "[shuffler]\nscale=2\n\n[convolutional]\nfilters=18\nsize=1\n"
    "activation=linear\n\n[shuffler]\nscale=3\n",
    "crop": net(10, 8, 3) + "[crop]\ncrop_height=5\ncrop_width=6\n\n[crop]\ncrop_height=3\n"
    "crop_width=4\nnoadjust=1\n",
    # --- combinations ------------------------------------------------------------------------------
    "shortcut": net() + conv(4, 3) + conv(4, 3) + "[shortcut]\nfrom=-2\nactivation=leaky\n\n"
    "[shortcut]\nfrom=0\nalpha=0.5\nbeta=-1.5\n\n[shortcut]\nfrom=-1\nactivation=mish\n",
    "shortcut_channels": net() + conv(6, 3) + conv(4, 3) + "[shortcut]\nfrom=-2\nalpha=2\n\n" +
    conv(9, 1) + "[shortcut]\nfrom=-2\nalpha=1.5\nbeta=0.5\nactivation=swish\n",
    "shortcut_grids": net(16, 16) + conv(4, 3) + "[maxpool]\nsize=2\nstride=2\n\n" +
    conv(6, 3) + "[shortcut]\nfrom=0\nalpha=0.5\n\n[upsample]\nstride=2\n\n" + conv(3, 1) +
    "[shortcut]\nfrom=-2\nbeta=2\nactivation=leaky\n",
    "scale_channels_sam": net() + conv(8, 3) + "[avgpool]\n\n" + conv(8, 1, act="logistic") +
    "[scale_channels]\nfrom=-3\n\n" + conv(1, 1, act="logistic") +
    "[scale_channels]\nfrom=-2\nscale_wh=1\nactivation=leaky\n\n" + conv(8, 1, act="logistic") +
    "[sam]\nfrom=-2\n",
    "implicit": net() + conv(6, 3) + "[implicit]\nfilters=6\n\n[shortcut]\nfrom=-2\n\n"
    "[implicit]\nfilters=6\natoms=1\n\n[scale_channels]\nfrom=-2\n\n[implicit]\nfilters=5\natoms=3\n",
    "mean_shift": net(c=3) + "[mean_shift]\n\n" + conv(3, 3, act="linear") +
    "[mean_shift]\nreverse=1\nmean=1,2,3\nscale=127.5\n\n[mean_shift]\nmean=0.5\nscale=2\n",
    # --- per-value layers ---------------------------------------------------------------------------
    "misc": net() + conv(8, 3) + "[logistic]\n\n[l2norm]\n\n[normalization]\nsize=5\nalpha=0.5\n"
    "beta=0.75\nkappa=2\n\n[empty]\n\n[silence]\n\n[dropout]\n\n[softmax]\nspatial=1\n\n"
    "[cost]\ntype=sse\n",
    "iseg": net() + conv(7, 3) + "[iseg]\nclasses=3\nids=4\n",
    "lrn_sizes": net(c=9) + "[normalization]\nsize=3\n\n[lrn]\nsize=4\nalpha=0.1\nbeta=0.5\nkappa=1\n",
    # --- detection heads (raw maps) ---------------------------------------------------------------
    "yolo": net(16, 16, 3) + conv(2 * 7, 3) + "[yolo]\nclasses=2\nnum=3\nmask=1,2\n"
    "anchors=4,5,8,9,12,13\n\n[route]\nlayers=-2\n\n" + conv(2 * 7, 1, act="logistic") +
    "[yolo]\nclasses=2\nnum=3\nmask=0,1\nanchors=4,5,8,9,12,13\nscale_x_y=1.2\nnew_coords=1\n\n"
    "[route]\nlayers=-4\n\n" + conv(3 * 7, 1) + "[yolo]\nclasses=2\nnum=3\nscale_x_y=1.05\n"
    "anchors=4,5,8,9,12,13\n",
    "region": net(12, 12, 3) + conv(2 * 8, 3) + "[region]\nclasses=3\ncoords=4\nnum=2\n"
    "anchors=1,2,3,4\nsoftmax=1\n\n[route]\nlayers=-2\n\n" + conv(2 * 8, 1) +
    "[region]\nclasses=3\nnum=2\nanchors=1,2,3,4\nsoftmax=1\nbackground=1\n\n[route]\nlayers=-4\n\n"
    + conv(2 * 9, 1) + "[region]\nclasses=3\ncoords=5\nnum=2\nanchors=1,2,3,4\n",
    "gaussian_yolo": net(12, 12, 3) + conv(2 * 11, 3) + "[Gaussian_yolo]\nclasses=2\nnum=2\n"
    "anchors=3,4,5,6\nscale_x_y=1.1\n\n[route]\nlayers=-2\n\n" + conv(11, 1) +
    "[Gaussian_yolo]\nclasses=2\nnum=2\nmask=1\nanchors=3,4,5,6\nyolo_point=left_top\n",
    "detection": net(8, 8, 3) + conv(4, 3) + "[connected]\noutput=" + str(4 * (5 * 2 + 3)) +
    "\nactivation=linear\n\n[detection]\nclasses=3\ncoords=4\nnum=2\nside=2\nsoftmax=1\nsqrt=1\n",
}

# fixed by [connected], [crop], [detection] or a shortcut across grids (darkpy's [implicit]
# adds to a square grid only): no dynamic size
FIXED_SIZE = {"connected_softmax", "crop", "shortcut_grids", "detection", "implicit"}


def _input(net_, batch=2, seed=1, h=None, w=None):
    h0, w0, c = net_.input_shape
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, h or h0, w or w0, c)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_kinds_match_darkpy(case):
    net_ = randomize(network(CASES[case], f"{case}.cfg"))
    model = export_onnx(net_)  # the [net] size, dynamic batch
    compare(net_, model, _input(net_))
    # every layer's output, in the oldest opset darkpy writes
    every = list(range(len(net_.layers)))
    model = export_onnx(net_, batch=1, opset=13, outputs=every)
    compare(net_, model, _input(net_, batch=1, seed=2), layers=every)


@pytest.mark.parametrize("case", sorted(set(CASES) - FIXED_SIZE))
def test_layer_kinds_at_a_dynamic_size(case):
    net_ = randomize(network(CASES[case], f"{case}.cfg"))
    every = list(range(len(net_.layers)))
    model = export_onnx(net_, size="dynamic", batch=2, outputs=every)
    props = {p.key: p.value for p in model.metadata_props}
    multiple = json.loads(props["input"])["size_multiple"]
    h, w = net_.input_shape[:2]
    other_h, other_w = h + 2 * multiple, w + 3 * multiple
    compare(net_, model, _input(net_, h=other_h, w=other_w), layers=every)


@pytest.mark.parametrize("case", sorted(FIXED_SIZE))
def test_fixed_size_networks_refuse_a_dynamic_size(case):
    net_ = randomize(network(CASES[case], f"{case}.cfg"))
    with pytest.raises(ExportError, match="fixed --size"):
        export_onnx(net_, size="dynamic")


def test_a_fixed_size_other_than_the_net_size():
    net_ = randomize(network(CASES["yolo"], "yolo.cfg"))
    model = export_onnx(net_, size="24x32", batch=3)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [3, 3, 32, 24]
    compare(net_, model, _input(net_, batch=3, h=32, w=24))


# --- activations: every one darkpy has, over ranges that reach every branch ------------------

def _activation_input():
    """Values from -30 to 30 (softplus/mish thresholds at +-20, plse knees at +-4, hard_mish at
    -2, stair's integers and half-integers) in an (1, 8, 16, 4) NHWC tensor."""
    base = np.linspace(-30, 30, 8 * 16 * 4 // 2)
    special = np.array([-20.5, -20, -19.5, -4.5, -4, -3.5, -2.5, -2, -1.5, -1, -0.5, 0, 0.5,
                        1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 19.5, 20, 20.5, 1e-3, -1e-3, 88, -88])
    rng = np.random.default_rng(3)
    rest = rng.normal(0, 3, 8 * 16 * 4 - base.size - special.size)
    return np.concatenate([base, special, rest]).astype(np.float32).reshape(1, 8, 16, 4)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_every_activation(name):
    net_ = network(net(16, 8, 4) + f"[empty]\n\n[activation]\nactivation={name}\n\n"
                   f"[shortcut]\nfrom=-2\nalpha=0.5\nactivation={name}\n", f"{name}.cfg")
    x = _activation_input()
    model = export_onnx(net_)
    got = run_onnx(model, x)["output"].transpose(0, 2, 3, 1)
    want = net_.forward(x)
    # element by element: relative to each value, not to the largest
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", ["mish", "swish", "gelu", "hard_mish", "softplus", "selu"])
def test_activations_inside_convolutions(name):
    net_ = randomize(network(net() + conv(8, 3, "batch_normalize=1", act=name) +
                             conv(4, 1, act=name), f"{name}.cfg"))
    compare(net_, export_onnx(net_), _input(net_))


# --- class trees ---------------------------------------------------------------------------------

TREE = "root -1\nanimal 0\nthing 0\ncat 1\ndog 1\nbird 1\ncar 2\nbike 2\n"


def test_tree_softmax_and_region_tree(tmp_path):
    (tmp_path / "t.tree").write_text(TREE)
    text = (net(4, 4, 3) + "[convolutional]\nfilters=8\nsize=1\nactivation=linear\n\n"
            "[softmax]\ntree=t.tree\ntemperature=0.5\n\n[route]\nlayers=0\n\n" +
            conv(2 * 14, 1) + "[region]\nclasses=9\nnum=2\nanchors=1,1,2,2\ntree=t.tree\n")
    cfg = tmp_path / "tree.cfg"
    cfg.write_text(text)
    import darkpy

    net_ = randomize(darkpy.load(cfg))
    compare(net_, export_onnx(net_, outputs=[1, 4]), _input(net_), layers=[1, 4])


# --- what cannot be exported ---------------------------------------------------------------------

@pytest.mark.parametrize("section,why", [
    ("[rnn]\noutput=4\nhidden=4\nactivation=leaky\n", "recurrent"),
    ("[local]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n", "locally connected"),
    ("[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nxnor=1\nactivation=leaky\n", "xnor"),
])
def test_layers_without_an_onnx_equivalent_name_file_line_and_layer(section, why):
    text = net(8, 8, 3) + conv(4, 3) + section + conv(2, 1)
    with pytest.raises(ExportError, match=rf"bad\.cfg:\d+: \[\w+\] layer 1 cannot be exported "
                                          rf"to ONNX: .*{why}"):
        export_onnx(network(text, "bad.cfg"))


def test_every_unexportable_layer_is_listed_at_once():
    local = "[local]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    text = (net(8, 8, 3) + local + conv(4, 3) + "[convolutional]\nfilters=4\nsize=3\n"
            "stride=1\npad=1\nxnor=1\nactivation=leaky\n\n" + local)
    with pytest.raises(ExportError) as info:
        export_onnx(network(text, "two.cfg"))
    message = str(info.value)
    assert message.startswith("two.cfg:6: [local] layer 0, two.cfg:28: [local] layer 3 cannot "
                              "be exported to ONNX: a locally connected layer")
    assert "; two.cfg:20: [convolutional] layer 2 cannot be exported to ONNX: xnor=1" in message
    assert "\n" not in message


@pytest.mark.parametrize("options,match", [
    ({"opset": 12}, "opset 12"), ({"heads": "boxes"}, "heads 'boxes'"),
    ({"batch": 0}, "batch 0"), ({"size": "big"}, "size 'big'"),
    ({"heads": "decoded"}, "cannot detect objects"), ({"outputs": [9]}, "output layer 9"),
])
def test_bad_options_are_darkpy_errors(options, match):
    net_ = network(CASES["batchnorm"])
    with pytest.raises(Exception) as info:
        export_onnx(net_, **options)
    from darkpy.errors import DarkpyError

    assert isinstance(info.value, DarkpyError)
    assert match in str(info.value)


def test_a_too_small_size_is_refused():
    with pytest.raises(Exception, match="too small"):
        export_onnx(network(CASES["deconv"]), size="1x1")


def test_unused_layers_are_pruned_and_outputs_can_be_chosen():
    net_ = randomize(network(CASES["shortcut"]))
    model = export_onnx(net_, outputs=[0, -2])
    assert [o.name for o in model.graph.output] == ["convolutional_0", "shortcut_3"]
    compare(net_, model, _input(net_), layers=[0, 3])
    # layer 4 (the last) is past both outputs: none of its nodes is left
    assert len(model.graph.node) < len(export_onnx(net_).graph.node)


@pytest.mark.parametrize("opset", [18, 19])
@pytest.mark.parametrize("case", ["maxpool_depth", "conv_normalize_channels", "misc", "region"])
def test_newer_opsets(case, opset):
    """From opset 18 the reductions take their axes as an input, not an attribute."""
    net_ = randomize(network(CASES[case], f"{case}.cfg"))
    every = list(range(len(net_.layers)))
    model = export_onnx(net_, opset=opset, outputs=every)
    assert model.opset_import[0].version == opset
    compare(net_, model, _input(net_), layers=every)
