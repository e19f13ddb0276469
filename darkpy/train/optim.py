"""darknet's parameter update (update_network): SGD with momentum and decay, or Adam.

The hyper-parameters come from [net]: learning_rate and its policy (darkpy.train.schedule),
momentum, decay, adam=1 with B1, B2, eps, and batch/subdivisions. darknet trains a batch as
`subdivisions` minibatches of batch/subdivisions images each, accumulating gradients, then
updates once with

    batch = (batch // subdivisions) * subdivisions    (images per update; darknet's a.batch)

Gradients are sums over those images (darkpy's layers give dL/dparam of the summed loss), so
darknet's division by batch happens here, in the update rule (kernels/update.py):

    SGD:  updates = momentum * updates_prev - grad [- decay * batch * w  for weights only]
          w += learning_rate / batch * updates
    Adam: as darknet's adam_update_gpu, decay on every parameter, bias correction by t

Biases and batch-norm scales get no decay in SGD, as in darknet. A layer's own
`learning_rate` key scales the rate (darknet's learning_rate_scale). After each step the
gradients are zeroed and every updated layer's cached inference tensors are invalidated.

State (momentum buffers, Adam's m and v, the update count t) is kept per parameter and
exported by `state_dict()` as a flat {str: numpy array} dict that `load_state_dict` takes
back, so a resumed run continues bit for bit.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from darkpy.errors import ConfigError
from darkpy.kernels.workers import SERIAL_WORK, run_blocks
from darkpy.kernels.update import adam_update, sgd_update
from darkpy.train.schedule import learning_rate

# parameters SGD decays (darknet: weights only; biases and scales are left alone)
DECAYED = frozenset({"weights"})
# elements per job of the update (every parameter of the network goes in one batch of jobs)
UPDATE_CHUNK = 1 << 16


def _run_updates(updates) -> None:
    """Run every update kernel over its whole parameter: big parameters in chunks, all in
    one batch on darkpy's workers (serially when there is little to do). Each element is
    updated on its own, so the result does not depend on the split."""
    jobs = [(kernel, i0, min(size, i0 + UPDATE_CHUNK))
            for kernel, size in updates for i0 in range(0, size, UPDATE_CHUNK)]
    if sum(size for _, size in updates) < SERIAL_WORK:
        for kernel, i0, i1 in jobs:
            kernel(i0, i1)
        return
    run_blocks(jobs, lambda job: job[0](job[1], job[2]))


class Optimizer:
    """One optimiser for one network; `step(net, batch_num)` applies darknet's update."""

    def __init__(self, net_options, seed: int = 0, where: str = "[net]"):
        o = net_options
        self.options = o
        self.where = where
        self.seed = int(seed)
        self.adam = bool(o["adam"])
        self.momentum = float(o["momentum"])
        self.decay = float(o["decay"])
        self.b1, self.b2, self.eps = float(o["B1"]), float(o["B2"]), float(o["eps"])
        batch, subdivisions = int(o["batch"]), int(o["subdivisions"])
        if batch < 1 or subdivisions < 1 or batch < subdivisions:
            raise ConfigError(f"{where}: need batch >= subdivisions >= 1 (got batch={batch}, "
                              f"subdivisions={subdivisions})")
        self.minibatch = batch // subdivisions  # images per train_step
        self.subdivisions = subdivisions
        self.batch = self.minibatch * subdivisions  # images per update
        self.t = 0  # updates done (darknet's net->t), for Adam's bias correction
        self.state: dict[str, np.ndarray] = {}

    @classmethod
    def for_network(cls, network) -> "Optimizer":
        seed = network.net.get("seed", 0) or 0
        return cls(network.net, seed=seed, where=network.sections[0].origin)

    def learning_rate(self, batch_num: int) -> float:
        return learning_rate(self.options, batch_num, self.seed, self.where)

    # --- the update ---------------------------------------------------------------------
    def step(self, network, batch_num: int) -> float:
        """Update every trainable parameter from its accumulated gradient, then zero the
        gradients. `batch_num` is darknet's get_current_batch (batches seen, this one
        included; 1 for the first update). Returns the learning rate used."""
        rate = self.learning_rate(batch_num)
        self.t += 1
        touched = []
        updates = []  # (update kernel with its arguments but the element range, size)
        for layer, name, param, grad in network.parameters():
            scale = layer.opts.get("learning_rate", 1.0)
            layer_rate = float(np.float32(rate) * np.float32(1.0 if scale is None else scale))
            if self.adam:
                updates.append((self._adam(layer, name, param, grad, layer_rate), param.size))
            else:
                updates.append((self._sgd(layer, name, param, grad, layer_rate), param.size))
            if not touched or touched[-1] is not layer:
                touched.append(layer)
        _run_updates(updates)
        for layer in touched:
            layer.invalidate()
        return rate

    def _buffer(self, kind: str, layer, name: str, param: np.ndarray) -> np.ndarray:
        key = f"{kind}/{layer.index}/{name}"
        buf = self.state.get(key)
        if buf is None or buf.shape != param.shape or buf.dtype != param.dtype:
            buf = self.state[key] = np.zeros_like(param)
        return buf

    def _sgd(self, layer, name, param, grad, rate):
        t = param.dtype.type
        updates = self._buffer("updates", layer, name, param)
        return partial(sgd_update, param, grad, updates, t(t(rate) / t(self.batch)),
                       t(-t(self.decay) * t(self.batch)), t(self.momentum), name in DECAYED)

    def _adam(self, layer, name, param, grad, rate):
        t = param.dtype.type
        m = self._buffer("m", layer, name, param)
        v = self._buffer("v", layer, name, param)
        b1, b2 = t(self.b1), t(self.b2)
        correction1 = t(t(1) - b1 ** self.t)
        correction2 = t(t(1) - b2 ** self.t)
        return partial(adam_update, param, grad, m, v, t(rate), t(-t(self.decay) * t(self.batch)),
                       b1, t(t(1) - b1), b2, t(t(1) - b2), correction1, correction2, t(self.eps))

    # --- resume ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything `step` depends on besides the network: {name: array} (copies)."""
        out = {"t": np.array(self.t, dtype=np.int64),
               "adam": np.array(int(self.adam), dtype=np.int64)}
        for key, buf in self.state.items():
            out[f"state/{key}"] = buf.copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        if int(np.asarray(state.get("adam", int(self.adam)))) != int(self.adam):
            raise ConfigError(f"{self.where}: the saved optimiser state is for "
                              f"{'Adam' if not self.adam else 'SGD'}, the cfg asks for "
                              f"{'Adam' if self.adam else 'SGD'}")
        self.t = int(np.asarray(state["t"]))
        self.state = {key[len("state/"):]: np.array(value, copy=True)
                      for key, value in state.items() if key.startswith("state/")}
