"""Parameter updates, element-wise, in the parameter's dtype, in darknet's order of operations.

`updates`, `m` and `v` are darknet's own state arrays (sign included): darknet accumulates
the negated gradient into `*_updates` during backward; here the caller's true gradient is
subtracted at update time, which is the same sum.

SGD (update_convolutional_layer / update_connected_layer):

    updates -= grad
    updates += -decay*batch * w          (weights only)
    w       += learning_rate/batch * updates
    updates *= momentum

Adam (adam_update_gpu; darknet has no CPU Adam), decay applied to every parameter:

    m *= B1;  v *= B2
    d  = -grad - decay*batch * w
    m += (1 - B1) * d;  v += (1 - B2) * d*d
    w += learning_rate * (m / (1 - B1^t)) / (sqrt(v / (1 - B2^t)) + eps)

The scalars come in already rounded to the parameter dtype by the caller, as darknet's float
arithmetic rounds them. Purely element-wise: results do not depend on the thread count.

The kernels update elements [i0, i1) of the flattened arrays, serially and without the GIL,
and clear those gradient elements once read: the optimiser hands chunks of every parameter
of the network to darkpy's workers in one batch (kernels/workers.run_blocks) instead of
waking a thread pool per parameter.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, fastmath=False)
def sgd_update(w, grad, updates, rate_over_batch, minus_decay_batch, momentum, decayed, i0, i1):
    wf = w.reshape(-1)
    gf = grad.reshape(-1)
    uf = updates.reshape(-1)
    for i in range(i0, i1):
        u = uf[i] - gf[i]
        if decayed:
            u = u + minus_decay_batch * wf[i]
        wf[i] = wf[i] + rate_over_batch * u
        uf[i] = u * momentum
        gf[i] = 0


@njit(nogil=True, cache=True, fastmath=False)
def adam_update(w, grad, m, v, rate, minus_decay_batch, b1, one_minus_b1, b2, one_minus_b2,
                correction1, correction2, eps, i0, i1):
    wf = w.reshape(-1)
    gf = grad.reshape(-1)
    mf = m.reshape(-1)
    vf = v.reshape(-1)
    for i in range(i0, i1):
        d = -gf[i] + minus_decay_batch * wf[i]
        mi = mf[i] * b1 + one_minus_b1 * d
        vi = vf[i] * b2 + one_minus_b2 * (d * d)
        mf[i] = mi
        vf[i] = vi
        wf[i] = wf[i] + rate * (mi / correction1) / (np.sqrt(vi / correction2) + eps)
        gf[i] = 0
