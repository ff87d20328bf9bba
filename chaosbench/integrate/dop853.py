"""Adaptive Dormand-Prince 8(5,3) with 7th-order dense output, in numba.

Hairer, Norsett & Wanner, *Solving Ordinary Differential Equations I* (1993), Sec. II.5 and
II.10: an 8th-order step with a 5th- and 3rd-order error estimate combined into one norm,
step-size control with exponent 1/8, and three extra stages for continuous output. Outputs on a
uniform grid come from the dense output, so sampling never shortens the steps. Delay equations
(method of steps) keep every step's interpolant in a history buffer and cap the step at the
smallest delay, so every delayed value lies in an already completed step.
"""

import math

import numba as nb
import numpy as np

from .history import dense_value, fill_lags, new_history, push
from .signatures import F64_1D, F64_2D, GRID, I64_1D, RHS_TYPE, SYSTEM, TOLERANCES
from .status import MAX_STEPS, NOT_FINITE, OK, STEP_UNDERFLOW
from .tableau import A, B, C, D, E3, E5, N_STAGES, N_STAGES_EXTENDED

SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0

#: dop853(f, y0, *grid, *system, *tolerances, out, stats) -> status
SIGNATURE = nb.types.int64(RHS_TYPE, F64_1D, *GRID, *SYSTEM, *TOLERANCES, F64_2D, I64_1D)


@nb.njit(cache=True)
def _combine(y, h, K, coef, s, out):
    """out = y + h * sum_{q<s} coef[q] K[q]."""
    for i in range(y.size):
        acc = 0.0
        for q in range(s):
            acc += coef[q] * K[q, i]
        out[i] = y[i] + h * acc


@nb.njit(SIGNATURE, cache=True)
def dop853(f, y0, t0, dt_out, n_out, p, lag_var, lag_tau, rtol, atol, h_max, max_steps, out, stats):
    """Integrate from (t0, y0) and write ``n_out`` states at t0 + j*dt_out into ``out``.

    ``stats`` receives [right-hand-side evaluations, accepted steps, rejected steps]; the return
    value is a status code (0 ok, 1 too many steps, 2 step underflow, 3 not finite).
    """
    n = y0.size
    K = np.empty((N_STAGES_EXTENDED, n))
    y = y0.copy()
    y_new = np.empty(n)
    tmp = np.empty(n)
    lag = np.empty(lag_var.size)
    R = np.empty((8, n))
    delay = lag_var.size > 0
    max_tau = lag_tau.max() if delay else 0.0
    if delay:
        h_max = min(h_max, lag_tau.min())
    ht, hh, hR = new_history(n, lag_var.size)
    count = 0
    t = t0
    t_end = t0 + (n_out - 1) * dt_out
    out[0] = y
    j = 1
    nfev = accepted = rejected = 0

    if delay:
        fill_lags(t, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
    f(t, y, lag, p, K[0])
    nfev += 1
    d0 = d1 = 0.0
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (K[0, i] / sc) ** 2
    d0, d1 = math.sqrt(d0 / n), math.sqrt(d1 / n)
    h = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6
    h = min(h, h_max, dt_out if dt_out > 0 else h)
    status = OK
    last_rejected = False
    while j < n_out:
        if accepted + rejected >= max_steps:
            status = MAX_STEPS
            break
        h = min(h, h_max)
        if t + h >= t_end:
            h = t_end - t
        if h <= 1e-14 * max(1.0, abs(t)):
            status = STEP_UNDERFLOW
            break
        for s in range(1, N_STAGES):
            _combine(y, h, K, A[s], s, tmp)
            if delay:
                fill_lags(t + C[s] * h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
            f(t + C[s] * h, tmp, lag, p, K[s])
        _combine(y, h, K, B, N_STAGES, y_new)
        if delay:
            fill_lags(t + h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
        f(t + h, y_new, lag, p, K[N_STAGES])
        nfev += N_STAGES
        e5 = e3 = 0.0
        for i in range(n):
            sc = atol + rtol * max(abs(y[i]), abs(y_new[i]))
            a5 = a3 = 0.0
            for q in range(N_STAGES + 1):
                a5 += E5[q] * K[q, i]
                a3 += E3[q] * K[q, i]
            e5 += (a5 / sc) ** 2
            e3 += (a3 / sc) ** 2
        if e5 == 0.0 and e3 == 0.0:
            err = 0.0
        else:
            err = abs(h) * e5 / math.sqrt((e5 + 0.01 * e3) * n)
        if not math.isfinite(err):
            rejected += 1
            h *= MIN_FACTOR
            last_rejected = True
            if h <= 1e-14 * max(1.0, abs(t)):
                status = NOT_FINITE
                break
            continue
        if err > 1.0:
            rejected += 1
            h *= max(MIN_FACTOR, SAFETY * err ** (-1.0 / 8.0))
            last_rejected = True
            continue

        accepted += 1
        t_new = t + h
        if delay or t0 + j * dt_out <= t_new * (1.0 + 1e-14) + 1e-300:
            for s in range(N_STAGES + 1, N_STAGES_EXTENDED):
                _combine(y, h, K, A[s], s, tmp)
                if delay:
                    fill_lags(t + C[s] * h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
                f(t + C[s] * h, tmp, lag, p, K[s])
            nfev += N_STAGES_EXTENDED - N_STAGES - 1
            for i in range(n):
                dy = y_new[i] - y[i]
                R[0, i] = y[i]
                R[1, i] = dy
                R[2, i] = h * K[0, i] - dy
                R[3, i] = 2.0 * dy - h * (K[N_STAGES, i] + K[0, i])
                for r in range(4):
                    acc = 0.0
                    for q in range(N_STAGES_EXTENDED):
                        acc += D[r, q] * K[q, i]
                    R[4 + r, i] = h * acc
            while j < n_out:
                tq = t0 + j * dt_out
                if tq > t_new + 1e-12 * max(1.0, abs(t_new)):
                    break
                dense_value(R, min(max((tq - t) / h, 0.0), 1.0), out[j])
                j += 1
            if delay:
                ht, hh, hR, count = push(ht, hh, hR, count, t, h, R, t_new, max_tau)
        finite = True
        for i in range(n):
            if not math.isfinite(y_new[i]):
                finite = False
        if not finite:
            status = NOT_FINITE
            break
        t = t_new
        y[:] = y_new
        K[0] = K[N_STAGES]
        factor = MAX_FACTOR if err == 0.0 else min(MAX_FACTOR, SAFETY * err ** (-1.0 / 8.0))
        if last_rejected:
            factor = min(factor, 1.0)
        last_rejected = False
        h *= factor
    stats[0] += nfev
    stats[1] += accepted
    stats[2] += rejected
    return status
