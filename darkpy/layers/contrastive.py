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

from darkpy.config.schema import ALEXEYAB, TRAINING, Key
from darkpy.layers.base import Layer

_T = dict(used=False, fork=ALEXEYAB, phase=TRAINING)  # AlexeyAB's loss settings


class Contrastive(Layer):
    kind = "contrastive"
    summary = "contrastive loss on embeddings; identity at inference"
    fork = ALEXEYAB
    keys = {
        "classes": Key("int", 1000, doc="classes of the supervised contrastive loss", **_T),
        "yolo_layer": Key("int", 0, fork=ALEXEYAB, doc="the [yolo] head whose boxes pick the "
                                                       "embeddings (negative: relative); 0: none"),
        "temperature": Key("float", 1.0, doc="softmax temperature of the contrastive loss", **_T),
        "cls_normalizer": Key("float", 1.0, doc="weight of the contrastive loss", **_T),
        "max_delta": Key("float", 3.4028234663852886e38, default_text="FLT_MAX",
                         doc="clips the gradient of each value", **_T),
        "contrastive_neg_max": Key("int", 3, doc="negative samples kept per positive", **_T),
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
