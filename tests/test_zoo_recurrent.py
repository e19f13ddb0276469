"""[rnn], [crnn], [gru], [lstm], [conv_lstm], [history] against darknet's equations.

Every reference below is written from darknet's forward functions (rnn_layer.c, crnn_layer.c,
gru_layer.c, lstm_layer.c, conv_lstm_layer.c) with plain numpy in float64, reading the
sub-layer parameters from the same flat float list the test writes as a darknet .weights
file, in the order darknet's load_weights_upto reads them. Inputs are batch*time_steps rows,
time-major, as darknet feeds them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import darkpy
from darkpy.config.cfg import parse_cfg_text
from darkpy.errors import ConfigError, InputError, WeightsError
from darkpy.info import summarize
from darkpy.io.darknet_weights import expected_floats, save_darknet_weights
from darkpy.layers.recurrent import reset_state, set_time_steps
from darkpy.network import Network

# --- independent reference maths ---------------------------------------------------------------


def act(name, x):
    if name == "linear":
        return x
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "loggy":
        return 2.0 / (1.0 + np.exp(-x)) - 1.0
    if name == "leaky":
        return np.where(x > 0, x, 0.1 * x)
    if name == "tanh":
        return np.tanh(x)
    raise AssertionError(name)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def batchnorm_bias(y, p, axis_shape):
    """darknet's inference batch norm then bias; y channels broadcast with axis_shape."""
    b = p["biases"].reshape(axis_shape)
    if "scales" in p:
        mean = p["rolling_mean"].reshape(axis_shape)
        std = np.sqrt(p["rolling_variance"].reshape(axis_shape)) + 1e-6
        return (y - mean) / std * p["scales"].reshape(axis_shape) + b
    return y + b


def ref_connected(x, p, activation):
    """x: (rows, inputs) in darknet's C,H,W flattening; weights (outputs, inputs)."""
    return act(activation, batchnorm_bias(x @ p["weights"].T, p, (1, -1)))


def ref_conv(x, p, activation, stride=1, pad=1):
    """x: (B, C, H, W); weights (n, C, k, k); plain loops over output pixels."""
    weights = p["weights"]
    k = weights.shape[2]
    b, _, h, w = x.shape
    out_h = (h + 2 * pad - k) // stride + 1
    out_w = (w + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((b, weights.shape[0], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.einsum("bckl,nckl->bn", patch, weights)
    return act(activation, batchnorm_bias(y, p, (1, -1, 1, 1)))


def nchw(a):
    return a.transpose(0, 3, 1, 2).astype(np.float64)


def nhwc(a):
    return a.transpose(0, 2, 3, 1)


# --- parameters, in darknet's .weights layout ----------------------------------------------------


def connected_params(rng, inputs, outputs, bn):
    p = {"biases": rng.uniform(-0.5, 0.5, outputs),
         "weights": rng.uniform(-1, 1, (outputs, inputs)) / np.sqrt(inputs)}
    if bn:
        p.update(scales=rng.uniform(0.5, 1.5, outputs),
                 rolling_mean=rng.uniform(-0.3, 0.3, outputs),
                 rolling_variance=rng.uniform(0.5, 2.0, outputs))
    return p


def conv_params(rng, channels, filters, size, bn):
    p = {"biases": rng.uniform(-0.5, 0.5, filters),
         "weights": (rng.uniform(-1, 1, (filters, channels, size, size))
                     / np.sqrt(channels * size * size))}
    if bn:
        p.update(scales=rng.uniform(0.5, 1.5, filters),
                 rolling_mean=rng.uniform(-0.3, 0.3, filters),
                 rolling_variance=rng.uniform(0.5, 2.0, filters))
    return p


def connected_floats(p):
    """load_connected_weights: biases, weights, then scales, rolling_mean, rolling_variance."""
    parts = [p["biases"], p["weights"].ravel()]
    if "scales" in p:
        parts += [p["scales"], p["rolling_mean"], p["rolling_variance"]]
    return parts


def conv_floats(p):
    """load_convolutional_weights: biases, [scales, rolling_mean, rolling_variance], weights."""
    parts = [p["biases"]]
    if "scales" in p:
        parts += [p["scales"], p["rolling_mean"], p["rolling_variance"]]
    return parts + [p["weights"].ravel()]


def write_weights(path, parts):
    flat = np.concatenate([np.asarray(a, np.float32).ravel() for a in parts])
    with open(path, "wb") as fh:
        fh.write(np.array([0, 2, 0], "<i4").tobytes())
        fh.write(np.array([0], "<i8").tobytes())
        fh.write(flat.astype("<f4").tobytes())
    return flat.size


def f32(p):
    """The parameters as darkpy holds them after a float32 file round trip."""
    return {k: np.asarray(v, np.float32).astype(np.float64) for k, v in p.items()}


def build(tmp_path, cfg, parts):
    (tmp_path / "net.cfg").write_text(cfg)
    count = write_weights(tmp_path / "net.weights", parts)
    net = darkpy.load(tmp_path / "net.cfg", tmp_path / "net.weights")
    assert expected_floats(net) == count
    return net


def close(got, want, tol=2e-5):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# --- [rnn] ------------------------------------------------------------------------------------


def ref_rnn(x, steps, p, activation, self_activation, shortcut, s=None):
    batch = x.shape[0] // steps
    s = np.zeros((batch, p["self"]["biases"].size)) if s is None else s
    ys = []
    for t in range(steps):
        xt = x[t * batch:(t + 1) * batch]
        new = (ref_connected(xt, p["input"], activation)
               + ref_connected(s, p["self"], self_activation))
        s = new + s if shortcut else new
        ys.append(ref_connected(s, p["output"], activation))
    return np.concatenate(ys), s


@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_rnn_matches_darknet_over_steps_and_carries_state(tmp_path, flavor):
    rng = np.random.default_rng(1)
    inputs, out, steps, batch = 5, 4, 3, 2
    hidden = out if flavor == "pjreddie" else 3
    bn = flavor == "pjreddie"
    p = {"input": connected_params(rng, inputs, hidden, bn),
         "self": connected_params(rng, hidden, hidden, bn),
         "output": connected_params(rng, hidden, out, bn)}
    extra = "shortcut=1\nbatch_normalize=1\n" if bn else f"hidden={hidden}\nlogistic=2\n"
    cfg = (f"[net]\ninputs={inputs}\nbatch={batch * steps}\ntime_steps={steps}\n\n"
           f"[rnn]\noutput={out}\nactivation=leaky\n{extra}")
    parts = [a for name in ("input", "self", "output") for a in connected_floats(p[name])]
    net = build(tmp_path, cfg, parts)
    layer = net.layers[0]
    assert layer.flavor == flavor and layer.hidden == hidden
    self_act = "leaky" if flavor == "pjreddie" else "loggy"
    x = rng.standard_normal((batch * steps, 1, 1, inputs)).astype(np.float32)
    x2 = rng.standard_normal((batch * steps, 1, 1, inputs)).astype(np.float32)
    q = {k: f32(v) for k, v in p.items()}
    want1, s = ref_rnn(x.reshape(-1, inputs).astype(np.float64), steps, q, "leaky", self_act, bn)
    want2, _ = ref_rnn(x2.reshape(-1, inputs).astype(np.float64), steps, q, "leaky", self_act,
                       bn, s)
    close(net.forward(x).reshape(-1, out), want1)
    close(net.forward(x2).reshape(-1, out), want2)  # the state carried over
    reset_state(net)
    close(net.forward(x).reshape(-1, out), want1)
    # darknet's training forward starts from zeros on every call
    close(layer.forward([x2], train=True).reshape(-1, out),
          ref_rnn(x2.reshape(-1, inputs).astype(np.float64), steps, q, "leaky", self_act, bn)[0])


def test_rnn_hand_worked_two_steps(tmp_path):
    # one unit, linear: s1 = (3*2 + 1) + (0.5*0 + 0.25) = 7.25, y1 = 2*7.25 - 1 = 13.5
    # s2 = (3*1 + 1) + (0.5*7.25 + 0.25) = 7.875, y2 = 2*7.875 - 1 = 14.75
    cfg = "[net]\ninputs=1\ntime_steps=2\n\n[rnn]\noutput=1\nactivation=linear\n"
    net = build(tmp_path, cfg, [[1.0], [3.0], [0.25], [0.5], [-1.0], [2.0]])
    y = net.forward(np.array([2.0, 1.0], np.float32).reshape(2, 1, 1, 1))
    np.testing.assert_allclose(y.ravel(), [13.5, 14.75], rtol=1e-6)


# --- [gru] ------------------------------------------------------------------------------------


def ref_gru(x, steps, p, h_act, s=None):
    batch = x.shape[0] // steps
    s = np.zeros((batch, p["wz"]["biases"].size)) if s is None else s
    ys = []
    for t in range(steps):
        xt = x[t * batch:(t + 1) * batch]
        z = sigmoid(ref_connected(xt, p["uz"], "linear") + ref_connected(s, p["wz"], "linear"))
        r = sigmoid(ref_connected(xt, p["ur"], "linear") + ref_connected(s, p["wr"], "linear"))
        h = act(h_act, (ref_connected(xt, p["uh"], "linear")
                        + ref_connected(s * r, p["wh"], "linear")))
        s = z * s + (1 - z) * h
        ys.append(s)
    return np.concatenate(ys), s


@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_gru_matches_darknet_with_image_input(tmp_path, flavor):
    rng = np.random.default_rng(2)
    h, w, c, out, steps, batch = 2, 2, 3, 4, 3, 2
    inputs = h * w * c
    p = {}
    for g in "zrh":
        p["u" + g] = connected_params(rng, inputs, out, True)
        p["w" + g] = connected_params(rng, out, out, True)
    # pjreddie: wz, wr, wh, uz, ur, uh; AlexeyAB: input_z/r/h then state_z/r/h
    order = (["wz", "wr", "wh", "uz", "ur", "uh"] if flavor == "pjreddie"
             else ["uz", "ur", "uh", "wz", "wr", "wh"])
    cfg = (f"[net]\nwidth={w}\nheight={h}\nchannels={c}\ntime_steps={steps}\n\n"
           f"[gru]\noutput={out}\nbatch_normalize=1\ntanh=1\nflavor={flavor}\n")
    net = build(tmp_path, cfg, [a for name in order for a in connected_floats(p[name])])
    assert [n for n, _ in net.layers[0].param_layout()][0] == order[0] + ".biases"
    x = rng.standard_normal((batch * steps, h, w, c)).astype(np.float32)
    # darknet's input rows are C,H,W flattened; AlexeyAB's GRU ignores tanh (logistic)
    x_chw = nchw(x).reshape(batch * steps, -1)
    want, _ = ref_gru(x_chw, steps, {k: f32(v) for k, v in p.items()},
                      "tanh" if flavor == "pjreddie" else "logistic")
    close(net.forward(x).reshape(-1, out), want)


def test_gru_hand_worked_two_steps(tmp_path):
    # one unit, all weights 0 except uh's = ln 3, logistic candidate:
    # z = sigmoid(0) = 0.5 always, h = sigmoid(ln 3 * x) = 0.75 for x = 1
    # s1 = 0.5*0 + 0.5*0.75 = 0.375; s2 = 0.5*0.375 + 0.5*0.75 = 0.5625
    cfg = "[net]\ninputs=1\ntime_steps=2\n\n[gru]\noutput=1\n"
    zero = [[0.0], [0.0]]  # biases, weights
    parts = zero * 3 + zero * 2 + [[0.0], [math.log(3.0)]]  # wz wr wh, uz ur, uh
    net = build(tmp_path, cfg, parts)
    y = net.forward(np.ones((2, 1, 1, 1), np.float32))
    np.testing.assert_allclose(y.ravel(), [0.375, 0.5625], rtol=1e-6)


# --- [lstm] -----------------------------------------------------------------------------------


def ref_lstm(x, steps, p, h=None, c=None):
    batch = x.shape[0] // steps
    units = p["wf"]["biases"].size
    h = np.zeros((batch, units)) if h is None else h
    c = np.zeros((batch, units)) if c is None else c
    ys = []
    for t in range(steps):
        xt = x[t * batch:(t + 1) * batch]

        def gate(g):
            return ref_connected(h, p["w" + g], "linear") + ref_connected(xt, p["u" + g], "linear")

        f, i, g, o = sigmoid(gate("f")), sigmoid(gate("i")), np.tanh(gate("g")), sigmoid(gate("o"))
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.concatenate(ys), h, c


@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_lstm_matches_darknet_and_carries_state(tmp_path, flavor):
    rng = np.random.default_rng(3)
    inputs, out, steps, batch = 4, 3, 2, 3
    p = {}
    for g in "figo":
        p["u" + g] = connected_params(rng, inputs, out, True)
        p["w" + g] = connected_params(rng, out, out, True)
    order = (["wi", "wf", "wo", "wg", "ui", "uf", "uo", "ug"] if flavor == "pjreddie"
             else ["wf", "wi", "wg", "wo", "uf", "ui", "ug", "uo"])
    cfg = (f"[net]\ninputs={inputs}\ntime_steps={steps}\n\n"
           f"[lstm]\noutput={out}\nbatch_normalize=1\n"
           + ("flavor=alexeyab\n" if flavor == "alexeyab" else ""))
    net = build(tmp_path, cfg, [a for name in order for a in connected_floats(p[name])])
    q = {k: f32(v) for k, v in p.items()}
    x1 = rng.standard_normal((batch * steps, 1, 1, inputs)).astype(np.float32)
    x2 = rng.standard_normal((batch * steps, 1, 1, inputs)).astype(np.float32)
    want1, h, c = ref_lstm(x1.reshape(-1, inputs).astype(np.float64), steps, q)
    want2, _, _ = ref_lstm(x2.reshape(-1, inputs).astype(np.float64), steps, q, h, c)
    close(net.forward(x1).reshape(-1, out), want1)
    close(net.forward(x2).reshape(-1, out), want2)


def test_lstm_hand_worked_two_steps(tmp_path):
    # one unit, all weights 0; biases: uf = ln 3 (f = 0.75), ug = atanh(0.5) (g = 0.5),
    # i = o = sigmoid(0) = 0.5. c1 = 0.5*0.5 = 0.25, c2 = 0.75*0.25 + 0.25 = 0.4375,
    # h = 0.5 * tanh(c)
    cfg = "[net]\ninputs=1\ntime_steps=1\n\n[lstm]\noutput=1\n"
    zero = [[0.0], [0.0]]
    parts = zero * 4 + zero + [[math.log(3.0)], [0.0]] + zero + [[math.atanh(0.5)], [0.0]]
    net = build(tmp_path, cfg, parts)  # wi wf wo wg, ui, uf, uo, ug
    x = np.ones((1, 1, 1, 1), np.float32)
    y1, y2 = net.forward(x).item(), net.forward(x).item()  # time_steps=1: state carries over
    np.testing.assert_allclose([y1, y2], [0.5 * math.tanh(0.25), 0.5 * math.tanh(0.4375)],
                               rtol=1e-6)


# --- [crnn] -----------------------------------------------------------------------------------


def ref_crnn(x, steps, p, activation, shortcut, swap):
    """x: (N, C, H, W). pjreddie's parser hands the layer (w, h) as (h, w): same buffer."""
    n, c, h, w = x.shape
    if swap:
        x = x.reshape(n, c, w, h)
    batch = n // steps
    s = None
    ys = []
    for t in range(steps):
        xt = x[t * batch:(t + 1) * batch]
        a = ref_conv(xt, p["input"], activation)
        s = np.zeros_like(a) if s is None else s
        new = a + ref_conv(s, p["self"], activation)
        s = new + s if shortcut else new
        ys.append(ref_conv(s, p["output"], activation))
    return np.concatenate(ys)


@pytest.mark.parametrize("flavor", ["pjreddie", "alexeyab"])
def test_crnn_matches_darknet_on_a_non_square_input(tmp_path, flavor):
    rng = np.random.default_rng(4)
    h, w, c, hidden, out, steps, batch = 3, 5, 2, 3, 2, 2, 2
    p = {"input": conv_params(rng, c, hidden, 3, True),
         "self": conv_params(rng, hidden, hidden, 3, True),
         "output": conv_params(rng, hidden, out, 3, True)}
    keys = (f"output_filters={out}\nhidden_filters={hidden}\n" if flavor == "pjreddie"
            else f"output={out}\nhidden={hidden}\nsize=3\npad=1\nshortcut=1\n")
    cfg = (f"[net]\nwidth={w}\nheight={h}\nchannels={c}\ntime_steps={steps}\n\n"
           f"[crnn]\nbatch_normalize=1\nactivation=leaky\n{keys}")
    net = build(tmp_path, cfg, [a for name in ("input", "self", "output")
                                for a in conv_floats(p[name])])
    assert net.layers[0].flavor == flavor
    x = rng.standard_normal((batch * steps, h, w, c)).astype(np.float32)
    want = nhwc(ref_crnn(nchw(x), steps, {k: f32(v) for k, v in p.items()}, "leaky",
                         flavor == "alexeyab", flavor == "pjreddie"))
    y = net.forward(x)
    assert y.shape == want.shape == ((batch * steps, w, h, out) if flavor == "pjreddie"
                                     else (batch * steps, h, w, out))
    assert net.shapes[0] == want.shape[1:]
    close(y, want)


def test_crnn_rejects_mixed_keys_and_shrinking_convolutions(tmp_path):
    base = "[net]\nwidth=4\nheight=4\nchannels=2\n\n[crnn]\n"
    with pytest.raises(ConfigError, match="flavor"):
        Network(parse_cfg_text(base + "output=2\nhidden_filters=2\n", "t"))
    with pytest.raises(ConfigError, match="keep the 4x4 size"):
        Network(parse_cfg_text(base + "output=2\nsize=3\n", "t"))


# --- [conv_lstm] ------------------------------------------------------------------------------


def ref_conv_lstm(x, steps, p, activation, peephole, constrain, lstm_act="tanh"):
    """x: (N, C, H, W) -> (N, out, H, W), darknet's forward_conv_lstm_layer."""
    batch = x.shape[0] // steps
    out = p["uf"]["biases"].size
    h = np.zeros((batch, out) + x.shape[2:])
    c = np.zeros_like(h)
    ys = []
    for t in range(steps):
        xt = x[t * batch:(t + 1) * batch]

        def pre(g):
            return ref_conv(h, p["w" + g], activation) + ref_conv(xt, p["u" + g], activation)

        f, i, g, o = pre("f"), pre("i"), pre("g"), pre("o")
        if peephole:
            f = f + ref_conv(c, p["vf"], activation)
            i = i + ref_conv(c, p["vi"], activation)
        c = sigmoid(f) * c + sigmoid(i) * act(lstm_act, g)
        if peephole:
            o = o + ref_conv(c, p["vo"], activation)
        h = sigmoid(o) * act(lstm_act, c)
        c = np.clip(c, -constrain, constrain)
        ys.append(h)
    return np.concatenate(ys)


@pytest.mark.parametrize("peephole", [0, 1])
def test_conv_lstm_matches_darknet(tmp_path, peephole):
    rng = np.random.default_rng(5)
    h, w, c, out, steps, batch, k = 3, 4, 2, 3, 3, 2, 3
    p = {}
    for g in "figo":
        p["u" + g] = conv_params(rng, c, out, k, True)
        p["w" + g] = conv_params(rng, out, out, k, True)
    for g in "fio":
        p["v" + g] = conv_params(rng, out, out, k, True)
    order = ((["vf", "vi", "vo"] if peephole else [])
             + ["wf", "wi", "wg", "wo", "uf", "ui", "ug", "uo"])
    # a tight state_constrain so that the clamp matters
    cfg = (f"[net]\nwidth={w}\nheight={h}\nchannels={c}\ntime_steps={steps}\n\n"
           f"[conv_lstm]\nbatch_normalize=1\noutput={out}\nsize={k}\npad=1\n"
           f"activation=leaky\npeephole={peephole}\nstate_constrain=1\n")
    net = build(tmp_path, cfg, [a for name in order for a in conv_floats(p[name])])
    x = (2 * rng.standard_normal((batch * steps, h, w, c))).astype(np.float32)
    want = nhwc(ref_conv_lstm(nchw(x), steps, {k_: f32(v) for k_, v in p.items()}, "leaky",
                              peephole, 1.0))
    close(net.forward(x), want)


def test_conv_lstm_bottleneck_follows_darknets_buffer_layout(tmp_path):
    rng = np.random.default_rng(6)
    h, w, out, steps, batch = 2, 3, 2, 2, 2
    p = {"wf": conv_params(rng, 2 * out, out, 3, False)}
    for g in "figo":
        p["u" + g] = conv_params(rng, out, out, 3, False)
    cfg = (f"[net]\nwidth={w}\nheight={h}\nchannels={out}\ntime_steps={steps}\n\n"
           f"[conv_lstm]\noutput={out}\nsize=3\npad=1\nbottleneck=1\nshortcut=1\n")
    net = build(tmp_path, cfg, [a for name in ["wf", "uf", "ui", "ug", "uo"]
                                for a in conv_floats(p[name])])
    q = {k: f32(v) for k, v in p.items()}
    x = rng.standard_normal((batch * steps, h, w, out)).astype(np.float32)
    xc = nchw(x)
    hs = np.zeros((batch, out, h, w))
    cs = np.zeros_like(hs)
    want = []
    for t in range(steps):
        # darknet copies all of h, then all of x_t, and reads that as 2*out-channel images
        buf = np.concatenate([hs.ravel(), xc[t * batch:(t + 1) * batch].ravel()])
        wf = np.tanh(ref_conv(buf.reshape(batch, 2 * out, h, w), q["wf"], "linear"))
        f, i, g, o = (ref_conv(wf, q["u" + g_], "linear") for g_ in "figo")
        cs = sigmoid(f) * cs + sigmoid(i) * np.tanh(g)
        hs = sigmoid(o) * np.tanh(cs)
        y = hs.ravel().copy()
        y[:y.size // 2] += wf.ravel()[:y.size // 2]  # partial residual, over the batch buffer
        want.append(y.reshape(hs.shape))
    close(net.forward(x), nhwc(np.concatenate(want)))


def test_conv_lstm_needs_the_size_kept():
    cfg = "[net]\nwidth=6\nheight=6\nchannels=2\n\n[conv_lstm]\noutput=2\nsize=3\nstride=2\npad=1\n"
    with pytest.raises(ConfigError, match="keep the 6x6 size"):
        Network(parse_cfg_text(cfg, "t"))


# --- [history] --------------------------------------------------------------------------------


def test_history_stacks_previous_steps_and_carries_over():
    cfg = "[net]\nwidth=2\nheight=1\nchannels=2\ntime_steps=2\n\n[history]\nhistory_size=3\n"
    net = Network(parse_cfg_text(cfg, "t"))
    rng = np.random.default_rng(7)
    x1 = rng.standard_normal((4, 1, 2, 2)).astype(np.float32)  # 2 steps x batch 2
    x2 = rng.standard_normal((4, 1, 2, 2)).astype(np.float32)
    y1, y2 = net.forward(x1), net.forward(x2)
    frames = [np.zeros((2, 1, 2, 2))] * 2 + [x1[0:2], x1[2:4], x2[0:2], x2[2:4]]
    for k, y in enumerate([y1[0:2], y1[2:4], y2[0:2], y2[2:4]]):
        now = k + 2  # index into frames: channels hold now, now-1, now-2
        want = np.concatenate([frames[now], frames[now - 1], frames[now - 2]], axis=-1)
        np.testing.assert_array_equal(y, want)


def test_history_with_one_time_step_copies_the_batch_buffer():
    cfg = "[net]\nwidth=2\nheight=1\nchannels=1\n\n[history]\nhistory_size=2\n"
    net = Network(parse_cfg_text(cfg, "t"))
    x = np.arange(1, 5, dtype=np.float32).reshape(2, 1, 2, 1)  # batch 2, 2 floats each
    y = net.forward(x)
    # darknet: output buffer [1 2 3 4 0 0 0 0], read as 2 samples of 2 channels x 1 x 2
    want = nhwc(np.array([1, 2, 3, 4, 0, 0, 0, 0], np.float64).reshape(2, 2, 1, 2))
    np.testing.assert_array_equal(y, want)


# --- time steps, weights files, darknet's float counts -----------------------------------------


def test_rows_must_be_a_multiple_of_time_steps_and_set_time_steps_changes_it():
    cfg = "[net]\ninputs=3\ntime_steps=4\n\n[lstm]\noutput=2\n"
    net = Network(parse_cfg_text(cfg, "t"))
    x = np.zeros((6, 1, 1, 3), np.float32)
    with pytest.raises(InputError, match="time_steps=4"):
        net.forward(x)
    set_time_steps(net, 3)
    assert net.forward(x).shape == (6, 1, 1, 2)


# darknet's float counts, worked out from load_weights_upto / load_connected_weights /
# load_convolutional_weights: connected = out + in*out (+ 3*out with batch norm),
# convolutional = n + c*n*k*k (+ 3*n with batch norm)
def conn_count(i, o, bn):
    return o + i * o + (3 * o if bn else 0)


def conv_count(c, n, k, bn):
    return n + c * n * k * k + (3 * n if bn else 0)


ROUND_TRIP_CASES = {
    "rnn": ("[net]\ninputs=7\n\n[rnn]\noutput=5\nbatch_normalize=1\n",
            conn_count(7, 5, 1) + 2 * conn_count(5, 5, 1)),
    "rnn_alexeyab": ("[net]\ninputs=7\n\n[rnn]\noutput=5\nhidden=3\n",
                     conn_count(7, 3, 0) + conn_count(3, 3, 0) + conn_count(3, 5, 0)),
    "gru": ("[net]\ninputs=6\n\n[gru]\noutput=4\nbatch_normalize=1\n",
            3 * conn_count(6, 4, 1) + 3 * conn_count(4, 4, 1)),
    "lstm": ("[net]\ninputs=6\n\n[lstm]\noutput=4\n",
             4 * conn_count(6, 4, 0) + 4 * conn_count(4, 4, 0)),
    "crnn": ("[net]\nwidth=4\nheight=3\nchannels=2\n\n[crnn]\noutput_filters=3\nhidden_filters=4\n"
             "batch_normalize=1\n",
             conv_count(2, 4, 3, 1) + conv_count(4, 4, 3, 1) + conv_count(4, 3, 3, 1)),
    "conv_lstm": ("[net]\nwidth=4\nheight=3\nchannels=2\n\n[conv_lstm]\noutput=3\nsize=3\npad=1\n"
                  "peephole=1\nbatch_normalize=1\n",
                  3 * conv_count(3, 3, 3, 1) + 4 * conv_count(3, 3, 3, 1)
                  + 4 * conv_count(2, 3, 3, 1)),
    "conv_lstm_bottleneck": ("[net]\nwidth=4\nheight=3\nchannels=3\n\n[conv_lstm]\noutput=3\n"
                             "size=1\nbottleneck=1\n",
                             conv_count(6, 3, 1, 0) + 4 * conv_count(3, 3, 1, 0)),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIP_CASES))
def test_weights_round_trip_is_bit_exact_with_darknets_float_count(tmp_path, case):
    cfg, count = ROUND_TRIP_CASES[case]
    (tmp_path / "net.cfg").write_text(cfg)
    values = np.random.default_rng(8).uniform(0.1, 2.0, count)  # positive: valid variances
    write_weights(tmp_path / "in.weights", [values])
    net = darkpy.load(tmp_path / "net.cfg", tmp_path / "in.weights")
    assert expected_floats(net) == count == net.num_params()
    save_darknet_weights(net, tmp_path / "out.weights")
    assert (tmp_path / "out.weights").read_bytes() == (tmp_path / "in.weights").read_bytes()
    for wrong in (count - 1, count + 1):
        write_weights(tmp_path / "bad.weights", [values[:wrong] if wrong < count
                                                 else np.append(values, 1.0)])
        with pytest.raises(WeightsError):
            darkpy.load(tmp_path / "net.cfg", tmp_path / "bad.weights")


def test_info_summarises_a_recurrent_network():
    cfg = ("[net]\nwidth=4\nheight=4\nchannels=3\ntime_steps=2\n\n"
           "[conv_lstm]\noutput=4\nsize=3\npad=1\n\n[history]\nhistory_size=2\n\n"
           "[crnn]\noutput=2\nhidden=3\nsize=3\npad=1\n\n[rnn]\noutput=3\n\n[gru]\noutput=3\n\n"
           "[lstm]\noutput=2\n")
    net = Network(parse_cfg_text(cfg, "t"))
    rows = summarize(net)
    assert [r.kind for r in rows] == ["conv_lstm", "history", "crnn", "rnn", "gru", "lstm"]
    assert [r.output_shape for r in rows] == [(4, 4, 4), (4, 4, 8), (4, 4, 2), (1, 1, 3),
                                              (1, 1, 3), (1, 1, 2)]
    assert all(r.flops > 0 for r in rows if r.kind != "history")
    x = np.random.default_rng(9).standard_normal((4, 4, 4, 3)).astype(np.float32)
    assert np.isfinite(net.forward(x)).all()


def test_flavor_auto_rules():
    def flavor(section):
        text = "[net]\nwidth=3\nheight=3\nchannels=2\n\n" + section
        return Network(parse_cfg_text(text, "t")).layers[0].flavor

    assert flavor("[rnn]\noutput=4\nhidden=4\n") == "pjreddie"  # pjreddie's own rnn.cfg style
    assert flavor("[rnn]\noutput=4\nhidden=2\n") == "alexeyab"
    assert flavor("[rnn]\noutput=4\nlogistic=1\n") == "alexeyab"
    assert flavor("[rnn]\noutput=4\nhidden=2\nflavor=pjreddie\n") == "pjreddie"
    assert flavor("[crnn]\noutput_filters=2\n") == "pjreddie"
    assert flavor("[crnn]\noutput=2\nsize=1\n") == "alexeyab"
    assert flavor("[gru]\noutput=2\n") == flavor("[lstm]\noutput=2\n") == "pjreddie"


def test_state_restarts_from_zero_when_the_batch_changes():
    cfg = "[net]\ninputs=3\n\n[gru]\noutput=2\n"
    net = Network(parse_cfg_text(cfg, "t"))
    fresh = Network(parse_cfg_text(cfg, "t"))
    x = np.random.default_rng(10).standard_normal((3, 1, 1, 3)).astype(np.float32)
    net.forward(x[:2])
    np.testing.assert_array_equal(net.forward(x), fresh.forward(x))


def test_conv_lstm_nonfinite_fix_and_clamp_are_darknets():
    from darkpy.layers.conv_lstm import _constrain, _fix_nonfinite

    a = np.zeros((1, 1, 2, 2), np.float32)  # NHWC: buffer index = c*H*W + y*W + x
    a[0, 0, 1, 0] = np.inf   # c=0, x=1: index 1 -> 1/1
    a[0, 0, 0, 1] = np.nan   # c=1, x=0: index 2 -> 1/2
    _fix_nonfinite(a)
    np.testing.assert_array_equal(a.ravel(), [0, 0.5, 1, 0])
    c = np.array([np.nan, -np.inf, 5.0, 0.25], np.float32)
    _constrain(c, 2)  # fminf(2, fmaxf(-2, v)): NaN -> -2
    np.testing.assert_array_equal(c, [-2, -2, 2, 0.25])
    net = Network(parse_cfg_text("[net]\nwidth=2\nheight=2\nchannels=1\ntime_steps=5\n\n"
                                 "[conv_lstm]\noutput=1\nsize=1\n", "t"))
    assert net.layers[0].constrain == 160  # darknet's default 32 * time_steps
    set_time_steps(net, 1)
    assert net.layers[0].constrain == 32
