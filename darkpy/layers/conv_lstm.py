"""[conv_lstm]: AlexeyAB's convolutional LSTM, built from [convolutional] sub-layers.

For each time step t (rows t*batch .. t*batch+batch-1, see layers/recurrent.py), with h and c
the output and cell feature maps carried over (zeros at first), u* reading the input, w* h
and the peephole v* c (each a [convolutional] layer with `size`, `stride`, `pad`,
`dilation`, `groups`, its own biases, optional batch norm and `activation`, default linear):

    f = logistic(wf(h) + uf(x_t) [+ vf(c)])      i = logistic(wi(h) + ui(x_t) [+ vi(c)])
    g = act(wg(h) + ug(x_t))
    c = f * c + i * g
    o = logistic(wo(h) + uo(x_t) [+ vo(c)])      (vo sees the new c)
    h = y_t = o * act(c)

act is `lstm_activation` (tanh). Then, as darknet's CPU forward does, c is clamped to
[-state_constrain, state_constrain] (default 32 * time_steps, see `constrain`; 0 = off; NaN
becomes the lower bound, as C's fmaxf/fminf make it) and any NaN or infinity left in c or h
is replaced by 1/i, i its index in darknet's batch buffer (darknet's fix_nan_and_inf). The
convolutions must keep the spatial size (the state is fed back into them).

bottleneck=1 (darknet runs it on the GPU only; its CPU forward cannot): wf alone reads
darknet's buffer [all of h, then all of x_t] as images of 2*output channels (for batch 1 the
channel concatenation of h and x_t), its output goes through act and replaces x_t as the
input of u*, and wi, wg, wo do not exist (the input must have `output` channels). With
shortcut=1 the first half of that buffer-ordered wf output is added to y_t. AlexeyAB's CPU
forward ignores lstm_activation (always tanh); darkpy follows his GPU forward, which uses it.

.weights order: [vf, vi, vo if peephole], wf, [wi, wg, wo unless bottleneck], uf, ui, ug, uo,
each a convolutional layer (biases, [scales, rolling_mean, rolling_variance], weights).
time_normalizer only scales training gradients.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.recurrent import Recurrent, from_chw_flat, to_chw_flat

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")
cells = kernels("recurrent")

_U = dict(used=False)


class ConvLSTM(Recurrent):
    kind = "conv_lstm"
    summary = "convolutional LSTM over the time steps"
    fork = ALEXEYAB
    keys = {
        "output": Key("int", 1, minimum=1, fork=ALEXEYAB, doc="output (state) channels"),
        "size": Key("int", 3, fork=ALEXEYAB, doc="kernel size of every gate convolution"),
        "stride": Key("int", 1, fork=ALEXEYAB, doc="stride of every gate convolution"),
        "dilation": Key("int", 1, fork=ALEXEYAB, doc="dilation of the gate convolutions"),
        "pad": Key("int", 0, fork=ALEXEYAB, doc="1: padding = size/2 (overrides padding)"),
        "padding": Key("int", 0, fork=ALEXEYAB, doc="zero padding on each side when pad=0"),
        "groups": Key("int", 1, fork=ALEXEYAB, doc="grouped gate convolutions"),
        "activation": Key("str", "linear", choices=codes.ACTIVATION_NAMES, fork=ALEXEYAB,
                          doc="activation of every gate convolution (before the gate function)"),
        "batch_normalize": Key("int", 0, fork=ALEXEYAB,
                               doc="1: batch normalisation in every gate convolution"),
        "xnor": Key("int", 0, fork=ALEXEYAB,
                    doc="1: XNOR (binary) gate convolutions; darkpy: not supported"),
        "peephole": Key("int", 0, fork=ALEXEYAB,
                        doc="1: the cell state also feeds the f, i, o gates (peephole "
                            "convolutions)"),
        "bottleneck": Key("int", 0, fork=ALEXEYAB,
                          doc="1: one convolution over [input features, state] (2x channels) "
                              "replaces the four state convolutions"),
        "state_constrain": Key("int", None, fork=ALEXEYAB, default_text="32*time_steps",
                               doc="clamps the cell state to -this..this"),
        "shortcut": Key("int", 0, fork=ALEXEYAB,
                        doc="with bottleneck: a partial residual connection"),
        "lstm_activation": Key("str", "tanh", choices=codes.ACTIVATION_NAMES,
                               fork=ALEXEYAB,
                               doc="the function on the candidate and on the cell state "
                                   "(tanh in the textbook LSTM)"),
        "time_normalizer": Key("float", 1.0, **_U, fork=ALEXEYAB, phase=TRAINING,
                               doc="scales the gradient carried back through time"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        if opts.xnor:
            raise self.error("xnor=1 (XNOR convolutions) is not supported")
        self.outputs = opts.output
        self.peephole = bool(opts.peephole)
        self.bottleneck = bool(opts.bottleneck)
        self.shortcut = bool(opts.shortcut)
        self._constrain = opts.state_constrain
        self.code = codes.activation_code(opts.lstm_activation)
        self.size, self.stride = opts.size, opts.stride
        h, w, c = self.input_shapes[0]
        if self.bottleneck and c != self.outputs:
            raise self.error(f"bottleneck=1 needs an input of output={self.outputs} channels, "
                             f"got {c}")
        out = self.outputs
        conv = dict(size=opts.size, stride=opts.stride, dilation=opts.dilation,
                    padding=opts.size // 2 if opts.pad else opts.padding, groups=opts.groups,
                    activation=opts.activation, batch_normalize=opts.batch_normalize)
        for gate in "figo":
            self._add_conv("u" + gate, (h, w, c), out, **conv)
        w_gates = "f" if self.bottleneck else "figo"
        for gate in w_gates:
            self._add_conv("w" + gate, (h, w, 2 * out if self.bottleneck else out), out, **conv)
        v_gates = "fio" if self.peephole else ""
        for gate in v_gates:
            self._add_conv("v" + gate, (h, w, out), out, **conv)
        order = (["v" + g for g in v_gates] + ["wf"]
                 + ([] if self.bottleneck else ["wi", "wg", "wo"]) + ["uf", "ui", "ug", "uo"])
        self._set_file_order(order)
        self.output_shape(self.input_shapes)

    @property
    def constrain(self) -> int:
        """The cell clamp; darknet's default follows the time_steps it was parsed with (its
        detector parses with time_steps=1: 32), so set_time_steps moves it too."""
        return 32 * self.steps if self._constrain is None else self._constrain

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        out_h, out_w, _ = self.sublayers["uf"].output_shape([(h, w, c)])
        if (out_h, out_w) != (h, w):
            raise self.error(f"its convolutions must keep the {h}x{w} size (they give "
                             f"{out_h}x{out_w}): the state is fed back into them")
        return (h, w, self.outputs)

    # --- compute -------------------------------------------------------------------------
    def forward(self, inputs, train=False):
        x = np.ascontiguousarray(inputs[0])
        n, h, w, _ = x.shape
        batch = self.time_batch(x)
        self.output_shape([x.shape[1:]])
        sub, units = self.sublayers, self.outputs
        shape = (batch, h, w, units)
        state = self.carried_state((batch, h, w), {"h": shape, "c": shape})
        hs, c = state["h"], state["c"]
        # without a bottleneck the input side does not depend on the state: all steps at once
        u_all = None if self.bottleneck else {g: sub["u" + g].forward([x]) for g in "figo"}
        out = np.empty((n, h, w, units), np.float32)
        flat = (batch * h * w, units)
        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            if self.bottleneck:
                both = np.concatenate([to_chw_flat(hs), to_chw_flat(x[rows])])
                wf_out = sub["wf"].forward([from_chw_flat(both, (batch, h, w, 2 * units))])
                activations.activate(wf_out, self.code)
                u = {g: sub["u" + g].forward([wf_out]) for g in "figo"}
                pre = {g: u[g] for g in "figo"}
            else:
                pre = {g: sub["w" + g].forward([hs]) + u_all[g][rows] for g in "figo"}
            if self.peephole:
                pre["f"] = pre["f"] + sub["vf"].forward([c])
                pre["i"] = pre["i"] + sub["vi"].forward([c])
            pre = {g: np.ascontiguousarray(v).reshape(flat) for g, v in pre.items()}
            cells.lstm_cell(pre["f"], pre["i"], pre["g"], c.reshape(flat), self.code)
            if self.peephole:
                pre["o"] = pre["o"] + sub["vo"].forward([c]).reshape(flat)
            hs = np.empty(shape, np.float32)
            cells.lstm_hidden(np.ascontiguousarray(pre["o"]), c.reshape(flat), hs.reshape(flat),
                              self.code)
            if self.constrain:
                _constrain(c, self.constrain)
            _fix_nonfinite(c)
            _fix_nonfinite(hs)
            out[rows] = hs
            if self.shortcut and self.bottleneck:
                out[rows] = _add_first_half(hs, wf_out)
        state["h"] = hs
        return out

    def describe(self):
        return {"filters": str(self.outputs),
                "size": f"{self.size}x{self.size}/{self.stride}"}

    def flops(self, input_shapes):
        h, w, _ = input_shapes[0]
        return sum(layer.flops([(h, w, layer.channels)]) for layer in self.sublayers.values())


def _constrain(c: np.ndarray, limit: float) -> None:
    """C's fminf(limit, fmaxf(-limit, v)) in place: NaN becomes -limit."""
    limit = np.float32(limit)
    nan = np.isnan(c)
    np.clip(c, -limit, limit, out=c)
    c[nan] = -limit


def _fix_nonfinite(a: np.ndarray) -> None:
    """darknet's fix_nan_and_inf_cpu on an NHWC batch: a bad value at buffer index i -> 1/i."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    n, h, w, c = a.shape
    index = np.arange(a.size, dtype=np.float32).reshape(n, c, h, w).transpose(0, 2, 3, 1)
    with np.errstate(divide="ignore"):
        a[bad] = np.float32(1.0) / index[bad]


def _add_first_half(y: np.ndarray, wf_out: np.ndarray) -> np.ndarray:
    """y + wf_out over the first half of darknet's batch buffer (the rest of y unchanged)."""
    y_flat, add = to_chw_flat(y), to_chw_flat(wf_out)
    half = y_flat.size // 2
    y_flat[:half] += add[:half]
    return from_chw_flat(y_flat, y.shape)
