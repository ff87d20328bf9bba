"""Fixed-step integrators: classical RK4, and stochastic Heun for additive noise.

RK4 (Kutta 1901) takes ``substeps`` equal steps between outputs. The stochastic Heun scheme
(Kloeden & Platen 1992, Sec. 15.1; strong order 1 for additive noise) integrates
dX = f(t, X) dt + sigma dW with a seeded counter-based generator. Both carry delay equations with
a cubic Hermite history (method of steps; the step must not exceed the smallest delay).
"""

import math

import numba as nb
import numpy as np

from .history import fill_lags, hermite, new_history, push
from .rng import normals, seed_state
from .signatures import F64_1D, F64_2D, GRID, I64_1D, NOISE, RHS_TYPE, SYSTEM
from .status import NOT_FINITE, OK

RK4, HEUN = 0, 1
#: fixed_step(f, scheme, y0, *grid, substeps, *system, *noise, out, stats) -> status
SIGNATURE = nb.types.int64(RHS_TYPE, nb.types.int64, F64_1D, *GRID, nb.types.int64, *SYSTEM, *NOISE, F64_2D, I64_1D)


@nb.njit(SIGNATURE, cache=True)
def fixed_step(f, scheme, y0, t0, dt_out, n_out, substeps, p, lag_var, lag_tau, sigma, seed, stream, out, stats):
    """Integrate with ``substeps`` equal steps per output interval; returns OK or NOT_FINITE."""
    n = y0.size
    h = dt_out / substeps
    y = y0.copy()
    k1, k2, k3, k4 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    tmp, y_new, xi = np.empty(n), np.empty(n), np.empty(n)
    lag = np.empty(lag_var.size)
    R = np.empty((8, n))
    delay = lag_var.size > 0
    max_tau = lag_tau.max() if delay else 0.0
    ht, hh, hR = new_history(n, lag_var.size)
    count = 0
    state = seed_state(seed, stream)
    sqrt_h = math.sqrt(h)
    out[0] = y
    t = t0
    if delay:
        fill_lags(t, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
    f(t, y, lag, p, k1)
    nfev = 1
    for j in range(1, n_out):
        for _ in range(substeps):
            if scheme == RK4:
                for c, src, dst in ((0.5, k1, k2), (0.5, k2, k3), (1.0, k3, k4)):
                    for i in range(n):
                        tmp[i] = y[i] + c * h * src[i]
                    if delay:
                        fill_lags(t + c * h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
                    f(t + c * h, tmp, lag, p, dst)
                for i in range(n):
                    y_new[i] = y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
                nfev += 3
            else:
                state = normals(state, xi)
                for i in range(n):
                    tmp[i] = y[i] + h * k1[i] + sigma[i] * sqrt_h * xi[i]
                if delay:
                    fill_lags(t + h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
                f(t + h, tmp, lag, p, k2)
                for i in range(n):
                    y_new[i] = y[i] + 0.5 * h * (k1[i] + k2[i]) + sigma[i] * sqrt_h * xi[i]
                nfev += 1
            if delay:
                fill_lags(t + h, lag_var, lag_tau, t0, y0, ht, hh, hR, count, lag)
            f(t + h, y_new, lag, p, k4)  # slope at the new point: the next step's first stage
            nfev += 1
            if delay:
                hermite(R, y, y_new, k1, k4, h)
                ht, hh, hR, count = push(ht, hh, hR, count, t, h, R, t + h, max_tau)
            t = t0 + (j - 1) * dt_out + (_ + 1) * h
            y[:] = y_new
            k1[:] = k4
        out[j] = y
        for i in range(n):
            if not math.isfinite(y[i]):
                stats[0] += nfev
                return NOT_FINITE
    stats[0] += nfev
    stats[1] += (n_out - 1) * substeps
    return OK
