"""[local_avgpool] / [local_avg]: AlexeyAB's windowed average pool (maxpool geometry, mean).

    out_h = (h + padding - size) / stride_y + 1      (C division; padding is the TOTAL padding)
    out[oy, ox, k] = mean of the in-image cells of the size x size window starting at
                     (oy*stride_y - padding/2, ox*stride_x - padding/2)

Keys and defaults are [maxpool]'s (AlexeyAB's parse_local_avgpool): stride 1, size = stride,
padding = size - 1, stride_x/stride_y = stride. The mean divides by the number of cells
inside the image (kernels/local_avgpool.py), so border cells are not diluted by padding.
"""
from __future__ import annotations

from darkpy.config.schema import ALEXEYAB, Key
from darkpy.kernels.lazy import kernels
from darkpy.layers.base import Layer
from darkpy.layers.convolutional import _c_div

# kernels, loaded on first use (darkpy/kernels/lazy.py)
kernel = kernels("local_avgpool")


class LocalAvgPool(Layer):
    kind = "local_avgpool"
    aliases = ("local_avg",)
    summary = "average pooling over a sliding window"
    fork = ALEXEYAB
    keys = {
        "stride": Key("int", 1, fork=ALEXEYAB, doc="step of the window"),
        "stride_x": Key("int", None, fork=ALEXEYAB, default_text="stride",
                        doc="horizontal step of the window"),
        "stride_y": Key("int", None, fork=ALEXEYAB, default_text="stride",
                        doc="vertical step of the window"),
        "size": Key("int", None, fork=ALEXEYAB, default_text="stride",
                    doc="window size (size x size)"),
        "padding": Key("int", None, fork=ALEXEYAB, default_text="size-1",
                       doc="total padding; padding/2 before"),
    }

    def __init__(self, opts, input_shapes, index, origin):
        super().__init__(opts, input_shapes, index, origin)
        self.stride_x = opts.stride_x if opts.stride_x is not None else opts.stride
        self.stride_y = opts.stride_y if opts.stride_y is not None else opts.stride
        self.size = opts.size if opts.size is not None else opts.stride
        self.padding = opts.padding if opts.padding is not None else self.size - 1
        if min(self.size, self.stride_x, self.stride_y) < 1:
            raise self.error(f"size and strides must be >= 1, got size={self.size} "
                             f"stride_x={self.stride_x} stride_y={self.stride_y}")
        self.offset = _c_div(-self.padding, 2)
        self.output_shape(self.input_shapes)

    def output_shape(self, input_shapes):
        h, w, c = input_shapes[0]
        out_h = _c_div(h + self.padding - self.size, self.stride_y) + 1
        out_w = _c_div(w + self.padding - self.size, self.stride_x) + 1
        if out_h < 1 or out_w < 1:
            raise self.error(f"a {self.size}x{self.size} window with padding {self.padding} "
                             f"does not fit a {h}x{w} input")
        return (out_h, out_w, c)

    def forward(self, inputs, train=False):
        x = inputs[0]
        out_h, out_w, _ = self.output_shape([x.shape[1:]])
        return kernel.local_avgpool(x, self.size, self.stride_y, self.stride_x, self.offset,
                                    out_h, out_w)

    def backward(self, delta, inputs, output):
        _, h, w, _ = inputs[0].shape
        return [kernel.local_avgpool_backward(delta, h, w, self.size, self.stride_y,
                                              self.stride_x, self.offset)]

    def describe(self):
        stride = (str(self.stride_x) if self.stride_x == self.stride_y
                  else f"{self.stride_x}x{self.stride_y}")
        return {"filters": "", "size": f"{self.size}x{self.size}/{stride}"}

    def flops(self, input_shapes):
        out_h, out_w, c = self.output_shape(input_shapes)
        return self.size * self.size * c * out_h * out_w
