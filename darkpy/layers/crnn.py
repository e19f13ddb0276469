"""[crnn]: darknet's convolutional recurrent layer, [rnn] with three [convolutional] sub-layers.

For each time step t (rows t*batch .. t*batch+batch-1, see layers/recurrent.py), with s the
hidden feature map carried over (zeros at first):

    s = [s if shortcut] + input_layer(x_t) + self_layer(s)
    y_t = output_layer(s)

input_layer: C -> hidden filters, self_layer: hidden -> hidden, output_layer: hidden ->
output filters, each a [convolutional] layer (its own biases, optional batch norm,
`activation`) that must keep the spatial size. The .weights file holds the three
convolutional layers in that order (biases, [scales, rolling_mean, rolling_variance],
weights each).

pjreddie vs AlexeyAB: pjreddie reads `output_filters` and `hidden_filters` and always uses
3x3 kernels, stride 1, padding 1, one group; its parser also hands the layer the input's
width as height and its height as width, so a W x H input is processed as if it were the
same buffer read with H and W swapped (the output is W x H; square inputs are unaffected).
darkpy reproduces that. AlexeyAB reads `output`, `hidden`, `size` (3), `stride`, `dilation`,
`pad`/`padding` (default no padding), `groups`, `xnor` and passes h and w in order.
flavor=auto picks the darknet whose keys the section uses (an error if it uses both); with
neither, pjreddie's.
"""
from __future__ import annotations

import numpy as np

from darkpy.config.schema import ALEXEYAB, PJREDDIE, Key
from darkpy.kernels import activation_codes as codes
from darkpy.kernels.lazy import kernels
from darkpy.layers.recurrent import FLAVOR_KEY, Recurrent

# kernels, loaded on first use (darkpy/kernels/lazy.py)
activations = kernels("activations")

_PJREDDIE_KEYS = ("output_filters", "hidden_filters")
_ALEXEYAB_KEYS = ("output", "hidden", "size", "stride", "dilation", "pad", "padding", "groups",
                  "xnor")


class CRNN(Recurrent):
    kind = "crnn"
    summary = "convolutional RNN over the time steps"
    keys = {
        "output_filters": Key("int", None, fork=PJREDDIE, default_text="1",
                              doc="output channels"),
        "hidden_filters": Key("int", None, fork=PJREDDIE, default_text="1",
                              doc="hidden-state channels"),
        "output": Key("int", None, fork=ALEXEYAB, default_text="1", doc="output channels"),
        "hidden": Key("int", None, fork=ALEXEYAB, default_text="1",
                      doc="hidden-state channels"),
        "size": Key("int", None, fork=ALEXEYAB, default_text="3",
                    doc="kernel size of the three convolutions (pjreddie: always 3)"),
        "stride": Key("int", None, fork=ALEXEYAB, default_text="1",
                      doc="stride of the three convolutions"),
        "dilation": Key("int", None, fork=ALEXEYAB, default_text="1",
                        doc="dilation of the three convolutions"),
        "pad": Key("int", None, fork=ALEXEYAB, default_text="0",
                   doc="1: padding = size/2 (overrides padding)"),
        "padding": Key("int", None, fork=ALEXEYAB, default_text="0",
                       doc="zero padding on each side when pad=0 (pjreddie: always 1)"),
        "groups": Key("int", None, fork=ALEXEYAB, default_text="1",
                      doc="grouped convolutions"),
        "xnor": Key("int", None, fork=ALEXEYAB, default_text="0",
                    doc="1: XNOR (binary) convolutions; darkpy: not supported"),
        "activation": Key("str", "logistic", choices=codes.ACTIVATION_NAMES,
                          doc="activation of the three convolutions"),
        "batch_normalize": Key("int", 0, doc="1: batch normalisation in the three convolutions"),
        "shortcut": Key("int", 0, doc="1: add the previous hidden state into the new one"),
        "flavor": FLAVOR_KEY,
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.flavor = self._resolve_flavor(
            any(opts[k] is not None for k in _ALEXEYAB_KEYS),
            any(opts[k] is not None for k in _PJREDDIE_KEYS))
        if self.flavor == "pjreddie":
            self.outputs = _given(opts.output_filters, 1)
            self.hidden = _given(opts.hidden_filters, 1)
            size, stride, dilation, padding, groups = 3, 1, 1, 1, 1
        else:
            if opts.xnor:
                raise self.error("xnor=1 (XNOR convolutions) is not supported")
            self.outputs = _given(opts.output, 1)
            self.hidden = _given(opts.hidden, 1)
            size = _given(opts.size, 3)
            stride = _given(opts.stride, 1)
            dilation = _given(opts.dilation, 1)
            padding = size // 2 if opts.pad else _given(opts.padding, 0)
            groups = _given(opts.groups, 1)
        if min(self.outputs, self.hidden) < 1:
            raise self.error(f"output and hidden must be >= 1 (output={self.outputs}, "
                             f"hidden={self.hidden})")
        self.size, self.stride = size, stride
        self.swap_hw = self.flavor == "pjreddie"
        self.shortcut = bool(opts.shortcut)
        h, w, c = self._geometry(self.input_shapes[0])
        conv = dict(size=size, stride=stride, padding=padding, dilation=dilation, groups=groups,
                    activation=opts.activation, batch_normalize=opts.batch_normalize)
        self._add_conv("input_layer", (h, w, c), self.hidden, **conv)
        self._add_conv("self_layer", (h, w, self.hidden), self.hidden, **conv)
        self._add_conv("output_layer", (h, w, self.hidden), self.outputs, **conv)
        self._set_file_order(["input_layer", "self_layer", "output_layer"])
        self.output_shape(self.input_shapes)

    def _geometry(self, shape):
        h, w, c = shape
        return (w, h, c) if self.swap_hw else (h, w, c)

    def output_shape(self, input_shapes):
        h, w, c = self._geometry(input_shapes[0])
        out_h, out_w, _ = self.sublayers["input_layer"].output_shape([(h, w, c)])
        if (out_h, out_w) != (h, w):
            raise self.error(f"its convolutions must keep the {h}x{w} size (they give "
                             f"{out_h}x{out_w}): the state is fed back into them")
        return (h, w, self.outputs)

    def forward(self, inputs, train=False):
        x = inputs[0]
        n = x.shape[0]
        batch = self.time_batch(x)
        h, w, c = self._geometry(x.shape[1:])
        self.output_shape([x.shape[1:]])
        x = np.ascontiguousarray(x).reshape(n, h, w, c)  # pjreddie: same buffer, h and w swapped
        sub = self.sublayers
        pre = sub["input_layer"].forward([x])
        state = self.carried_state((batch, h, w), {"s": (batch, h, w, self.hidden)}, zero=train)
        s = state["s"]
        states = np.empty_like(pre)
        for t in range(self.steps):
            rows = slice(t * batch, (t + 1) * batch)
            recurrent = sub["self_layer"].forward([s])
            s = (s + pre[rows]) + recurrent if self.shortcut else pre[rows] + recurrent
            states[rows] = s
        state["s"] = np.zeros_like(s) if train else s
        return sub["output_layer"].forward([states])

    def describe(self):
        return {"filters": str(self.outputs),
                "size": f"{self.size}x{self.size}/{self.stride}"}

    def flops(self, input_shapes):
        h, w, c = self._geometry(input_shapes[0])
        sub = self.sublayers
        return (sub["input_layer"].flops([(h, w, c)])
                + sub["self_layer"].flops([(h, w, self.hidden)])
                + sub["output_layer"].flops([(h, w, self.hidden)]))


def _given(value, default):
    return default if value is None else value
