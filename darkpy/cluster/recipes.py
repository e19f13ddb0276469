"""How a worker gets the model: a small picklable recipe (the files a network was loaded from
and their digest) instead of the network itself, loaded once per worker process and then
reused by every task there (worker.py)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from darkpy.errors import ClusterError


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class NetworkRecipe:
    model: str                 # absolute path of the .h5 / .cfg / .yaml
    weights: str | None
    max_layers: int | None
    fork: str | None
    digest: str                # sha256 of the files: the cache key, and checked on each worker

    @classmethod
    def of(cls, network) -> "NetworkRecipe":
        loaded = getattr(network, "loaded_from", None)
        if loaded is None:
            raise ClusterError("a cluster's workers load the model from its files, and this network "
                               "was not loaded from files (use darkpy.load or load_model)")
        return cls(**loaded, digest=cls._digest(loaded["model"], loaded["weights"]))

    @staticmethod
    def _digest(model: str, weights: str | None) -> str:
        return ":".join(file_digest(p) for p in (model, weights) if p is not None)

    @property
    def key(self) -> tuple:
        return ("network", self.model, self.weights, self.max_layers, self.fork, self.digest)

    def load(self):
        from darkpy.api import load

        for path in (self.model, self.weights):
            if path is not None and not Path(path).is_file():
                raise ClusterError(f"{path}: not on this worker; models, inputs and outputs must be "
                                   "on storage every worker sees")
        if self._digest(self.model, self.weights) != self.digest:
            raise ClusterError(f"{self.model}: this worker sees a different file than the client")
        return load(self.model, self.weights, max_layers=self.max_layers, fork=self.fork)


@dataclass(frozen=True)
class DetectorRecipe:
    network: NetworkRecipe
    options: tuple             # Detector's keyword arguments as sorted (name, value) pairs

    @classmethod
    def of(cls, detector) -> "DetectorRecipe":
        options = dict(names=tuple(detector.names), thresh=detector.thresh,
                       hier_thresh=detector.hier_thresh, nms=detector.nms,
                       agnostic=detector.agnostic, letterbox=detector.letterbox)
        return cls(NetworkRecipe.of(detector.network), tuple(sorted(options.items())))

    @property
    def key(self) -> tuple:
        return ("detector", self.network.key, self.options)

    def load(self):
        from darkpy.detect.api import Detector

        options = dict(self.options)
        options["names"] = list(options["names"])
        return Detector(self.network.load(), **options)


@dataclass(frozen=True)
class ModelsRecipe:
    """darkpy evaluate's rows: (label, NetworkRecipe) per model."""

    models: tuple

    @classmethod
    def of(cls, loaded) -> "ModelsRecipe":
        return cls(tuple((model.label, NetworkRecipe.of(model.network)) for model in loaded))

    @property
    def key(self) -> tuple:
        return ("models",) + tuple((label, recipe.key) for label, recipe in self.models)

    def load(self):
        from darkpy.evaluation.models import load

        return [load((label, recipe.load())) for label, recipe in self.models]
