"""Continuous history for delay equations (method of steps with a dense-output history).

Each accepted step stores its interpolant in one nested form shared by every method,

    y(t0 + s h) = R0 + s (R1 + (1-s)(R2 + s (R3 + (1-s)(R4 + s (R5 + (1-s)(R6 + s R7)))))),

which is the 7th-order DOP853 dense output (Hairer, Norsett & Wanner 1993, Sec. II.6) and, with
R4..R7 = 0, the cubic Hermite interpolant of a one-step method. Delayed values x(t - tau) are read
from it, never interpolated linearly. Steps no older than the largest delay are kept.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def dense_component(R, s, i):
    """Component ``i`` of the interpolant ``R`` (8 x n) at the fraction ``s`` of the step."""
    u = 1.0 - s
    acc = R[7, i]
    acc = R[6, i] + s * acc
    acc = R[5, i] + u * acc
    acc = R[4, i] + s * acc
    acc = R[3, i] + u * acc
    acc = R[2, i] + s * acc
    acc = R[1, i] + u * acc
    return R[0, i] + s * acc


@nb.njit(cache=True)
def dense_value(R, s, out):
    for i in range(out.size):
        out[i] = dense_component(R, s, i)


@nb.njit(cache=True)
def hermite(R, y, y_new, f0, f1, h):
    """Fill ``R`` with the cubic Hermite interpolant of one step (values and slopes at both ends)."""
    for i in range(y.size):
        d = y_new[i] - y[i]
        R[0, i] = y[i]
        R[1, i] = d
        R[2, i] = h * f0[i] - d
        R[3, i] = 2.0 * d - h * (f0[i] + f1[i])
        for r in range(4, 8):
            R[r, i] = 0.0


@nb.njit(cache=True)
def new_history(n, n_lag):
    cap = 256 if n_lag > 0 else 1
    return np.empty(cap), np.empty(cap), np.empty((cap, 8, n))


@nb.njit(cache=True)
def push(ht, hh, hR, count, t, h, R, t_now, max_tau):
    """Append one step; drop steps older than ``t_now - max_tau`` or grow when full."""
    if count == ht.size:
        first = 0
        while first < count - 1 and ht[first] + hh[first] < t_now - max_tau:
            first += 1
        if first > 0:
            keep = count - first
            ht[:keep] = ht[first:count].copy()
            hh[:keep] = hh[first:count].copy()
            hR[:keep] = hR[first:count].copy()
            count = keep
        if count > ht.size // 2:
            cap = 2 * ht.size
            nt, nh, nR = np.empty(cap), np.empty(cap), np.empty((cap, 8, hR.shape[2]))
            nt[:count] = ht[:count]
            nh[:count] = hh[:count]
            nR[:count] = hR[:count]
            ht, hh, hR = nt, nh, nR
    ht[count] = t
    hh[count] = h
    hR[count] = R
    return ht, hh, hR, count + 1


@nb.njit(cache=True)
def fill_lags(tq, lag_var, lag_tau, t_start, y_start, ht, hh, hR, count, lag):
    """Delayed values x_k(tq - tau_k): the constant initial history before ``t_start``."""
    for k in range(lag_var.size):
        s = tq - lag_tau[k]
        v = lag_var[k]
        if s <= t_start or count == 0:
            lag[k] = y_start[v]
            continue
        lo, hi = 0, count - 1
        while lo < hi:  # last step starting at or before s
            mid = (lo + hi + 1) // 2
            if ht[mid] <= s:
                lo = mid
            else:
                hi = mid - 1
        theta = (s - ht[lo]) / hh[lo]
        theta = min(max(theta, 0.0), 1.0)
        lag[k] = dense_component(hR[lo], theta, v)
