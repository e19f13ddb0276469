"""Element-wise steps of darknet's gated recurrent cells (LSTM, GRU), fused into one pass each.

Every array is (rows, units) C-contiguous; gate inputs are pre-activations already summed the
way darknet sums them (the layer adds the input-side and state-side sub-layer outputs). The
products and sums are evaluated in darknet's order, so results match its float32 arithmetic
up to the activation functions' own rounding (kernels/activations.py).
"""
from __future__ import annotations

from numba import njit, prange

from darkpy.kernels.activations import LOGISTIC, ONE, act_scalar


@njit(parallel=True, cache=True, fastmath=False)
def lstm_cell(f, i, g, c, code):
    """c = logistic(f) * c + logistic(i) * act(g), in place on c (act = activation `code`)."""
    rows, cols = c.shape
    for r in prange(rows):
        for k in range(cols):
            fv = act_scalar(f[r, k], LOGISTIC)
            iv = act_scalar(i[r, k], LOGISTIC)
            gv = act_scalar(g[r, k], code)
            c[r, k] = fv * c[r, k] + iv * gv


@njit(parallel=True, cache=True, fastmath=False)
def lstm_hidden(o, c, h, code):
    """h = logistic(o) * act(c)."""
    rows, cols = c.shape
    for r in prange(rows):
        for k in range(cols):
            h[r, k] = act_scalar(c[r, k], code) * act_scalar(o[r, k], LOGISTIC)


@njit(parallel=True, cache=True, fastmath=False)
def gru_gates(z, r, state, forgot):
    """z = logistic(z) in place; forgot = state * logistic(r) (the reset-gated state)."""
    rows, cols = z.shape
    for n in prange(rows):
        for k in range(cols):
            z[n, k] = act_scalar(z[n, k], LOGISTIC)
            forgot[n, k] = state[n, k] * act_scalar(r[n, k], LOGISTIC)


@njit(parallel=True, cache=True, fastmath=False)
def gru_output(h, z, state, out, code):
    """out = z * state + (1 - z) * act(h): darknet's weighted_sum of old state and candidate."""
    rows, cols = z.shape
    for n in prange(rows):
        for k in range(cols):
            zv = z[n, k]
            out[n, k] = zv * state[n, k] + (ONE - zv) * act_scalar(h[n, k], code)
