"""[contrastive]: AlexeyAB's supervised contrastive loss on embeddings; identity at inference.

    out = x            (the input array itself)

At inference darknet's forward returns at once (the layer's own output buffer stays zero and
nothing reads it); darkpy passes the embedding through so it can be inspected. The loss
compares the embeddings of one batch in training, which darkpy does not implement: the layer
is inference only. `yolo_layer` names the [yolo] head whose anchors and truth the detector
variant uses (darknet dereferences it blindly: it must name a [yolo] layer); 0 means the
classifier variant. darkpy checks that the index exists.
"""
from __future__ import annotations

from darkpy.config.schema import Key
from darkpy.layers.base import Layer

_U = dict(used=False)


class Contrastive(Layer):
    kind = "contrastive"
    keys = {
        "classes": Key("int", 1000, **_U),
        "yolo_layer": Key("int", 0, doc="the [yolo] layer (negative: relative); 0: none"),
        "temperature": Key("float", 1.0, **_U),
        "cls_normalizer": Key("float", 1.0, **_U),
        "max_delta": Key("float", 3.4028234663852886e38, **_U),
        "contrastive_neg_max": Key("int", 3, **_U),
    }

    @classmethod
    def references(cls, opts):
        return [(-1, None)] + ([(opts.yolo_layer, "yolo_layer")] if opts.yolo_layer else [])

    def forward(self, inputs, train=False):
        if train:
            raise self.error("is inference only: darkpy does not implement the contrastive loss")
        return inputs[0]

    def describe(self):
        return {"filters": "", "size": "identity"}
