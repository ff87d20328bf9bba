"""Compiled tangent-space integrators: the variational equations with periodic re-orthonormalisation.

Both kernels take a system's right-hand side and Jacobians as first-class functions of the types
in :mod:`chaosbench.integrate.signatures`, so each is compiled once (and cached on disk) for every
system in the catalog.

- :func:`tangent_rk4` integrates an ordinary flow together with ``k`` tangent vectors,
  dy/dt = f(t, y), dQ/dt = J(t, y) Q, by classical RK4 on the augmented system, and
  re-orthonormalises Q every ``qr_every`` steps (Benettin, Galgani, Giorgilli & Strelcyn 1980,
  Meccanica 15, 9-30; Shimada & Nagashima 1979, Prog. Theor. Phys. 61, 1605). The logarithms of
  the diagonal of R accumulate into the exponents. The trace of J is integrated by the same
  quadrature, so the sum of the exponents can be checked against the phase-space contraction.
- :func:`tangent_delay` treats a delay equation as the map that advances its history on a uniform
  grid (delays are whole multiples of the step) by the trapezoidal Heun rule, and propagates ``k``
  tangent histories by the exact derivative of that map (df/dy and df/d(delayed terms)). This is
  the discretised tangent method of Farmer (1982, Physica D 4, 366-393): it gives the leading
  exponents of the discretised, finite-dimensional system, which converge to the delay
  equation's as the grid is refined.
- :func:`tangent_map` iterates a discrete map with ``k`` tangent vectors, Q <- J(x_n) Q, and
  re-orthonormalises them after every iteration (the QR method for maps: Benettin et al. 1980;
  Eckmann & Ruelle 1985, Rev. Mod. Phys. 57, 617, Sec. IV.B); no quadrature, so the exponents per
  iteration are exact up to the finite length of the run. log |det J| is summed alongside, so the
  sum of the exponents can be checked against the mean phase-space contraction.
"""

import math

import numba as nb
import numpy as np

from ..integrate.signatures import F64_1D, I64_1D, JAC_TYPE, RHS_TYPE
from ..integrate.status import NOT_FINITE, OK

ODE_SIGNATURE = nb.types.int64(
    RHS_TYPE,
    JAC_TYPE,
    F64_1D,
    nb.types.float64,
    nb.types.float64,
    nb.types.int64,
    nb.types.int64,
    nb.types.int64,
    F64_1D,
    F64_1D,
    F64_1D,
)
MAP_SIGNATURE = nb.types.int64(RHS_TYPE, JAC_TYPE, F64_1D, nb.types.int64, nb.types.int64, F64_1D, F64_1D, F64_1D)
DELAY_SIGNATURE = nb.types.int64(
    RHS_TYPE,
    JAC_TYPE,
    JAC_TYPE,
    F64_1D,
    nb.types.float64,
    nb.types.int64,
    nb.types.int64,
    nb.types.int64,
    F64_1D,
    I64_1D,
    I64_1D,
    nb.types.int64,
    F64_1D,
    F64_1D,
)


@nb.njit(cache=True)
def _orthonormalise(Q, logs, accumulate):
    """Modified Gram-Schmidt on the columns of Q (rows are coordinates), twice for stability.

    Adds log of each column's norm (the diagonal of R) to ``logs`` when ``accumulate``.
    """
    n, k = Q.shape
    for j in range(k):
        for _ in range(2):
            for i in range(j):
                dot = 0.0
                for r in range(n):
                    dot += Q[r, i] * Q[r, j]
                for r in range(n):
                    Q[r, j] -= dot * Q[r, i]
        norm = 0.0
        for r in range(n):
            norm += Q[r, j] * Q[r, j]
        norm = math.sqrt(norm)
        if accumulate:
            logs[j] += math.log(norm)
        for r in range(n):
            Q[r, j] /= norm


@nb.njit(cache=True)
def _all_finite(v):
    """Whether every entry of the vector ``v`` is finite."""
    for i in range(v.size):
        if not math.isfinite(v[i]):
            return False
    return True


@nb.njit(cache=True)
def _renormalise(y, Q, logs, accumulate):
    """:func:`_orthonormalise` the tangent vectors ``Q`` of the state ``y``; False if ``y`` or the
    sums ``logs`` are no longer finite (the run has diverged)."""
    if not _all_finite(y):
        return False
    _orthonormalise(Q, logs, accumulate)
    return _all_finite(logs)


@nb.njit(cache=True)
def _generic_frame(n, logs):
    """``logs.size`` orthonormal tangent vectors in ``n`` dimensions from a fixed generic start (a linear
    congruential sequence): axis-aligned vectors can stay in invariant subspaces (a forcing phase, say)
    and then come out in the wrong order."""
    Q = np.empty((n, logs.size))
    seed = 12345
    for i in range(n):
        for j in range(logs.size):
            seed = (1103515245 * seed + 12345) % 2147483648
            Q[i, j] = seed / 2147483648.0 - 0.5
    _orthonormalise(Q, logs, False)
    return Q


@nb.njit(cache=True)
def _trace(J):
    s = 0.0
    for i in range(J.shape[0]):
        s += J[i, i]
    return s


@nb.njit(ODE_SIGNATURE, cache=True, error_model="numpy")
def tangent_rk4(f, jac, y0, t0, h, n_transient, n_steps, qr_every, p, logs, div):
    """Lyapunov sums of a flow: ``logs[j]`` = sum of log R_jj over ``n_steps`` RK4 steps of size ``h``.

    The first ``n_transient`` steps align the tangent vectors and are not counted; ``div[0]``
    receives the integral of trace(J) over the counted steps. ``logs.size`` is the number of
    exponents wanted. Returns 0, or 3 if the state or the tangent vectors became non-finite.
    """
    n = y0.size
    k = logs.size
    lag = np.zeros(0)
    y = y0.copy()
    Q = _generic_frame(n, logs)
    J = np.zeros((n, n))
    ky = np.empty((4, n))
    kQ = np.empty((4, n, k))
    ys = np.empty(n)
    Qs = np.empty((n, k))
    weights = (1.0, 2.0, 2.0, 1.0)
    offsets = (0.0, 0.5, 0.5, 1.0)
    logs[:] = 0.0
    div[0] = 0.0
    t = t0
    for step in range(n_transient + n_steps):
        counted = step >= n_transient
        tr = 0.0
        for s in range(4):
            if s == 0:
                ys[:] = y
                Qs[:, :] = Q
            else:
                c = offsets[s] * h
                for i in range(n):
                    ys[i] = y[i] + c * ky[s - 1, i]
                    for j in range(k):
                        Qs[i, j] = Q[i, j] + c * kQ[s - 1, i, j]
            ts = t + offsets[s] * h
            f(ts, ys, lag, p, ky[s])
            jac(ts, ys, lag, p, J)
            tr += weights[s] * _trace(J)
            for i in range(n):
                for j in range(k):
                    acc = 0.0
                    for r in range(n):
                        acc += J[i, r] * Qs[r, j]
                    kQ[s, i, j] = acc
        for i in range(n):
            y[i] += h / 6.0 * (ky[0, i] + 2.0 * ky[1, i] + 2.0 * ky[2, i] + ky[3, i])
            for j in range(k):
                Q[i, j] += h / 6.0 * (kQ[0, i, j] + 2.0 * kQ[1, i, j] + 2.0 * kQ[2, i, j] + kQ[3, i, j])
        t = t0 + (step + 1) * h
        if counted:
            div[0] += h / 6.0 * tr
        if (step + 1) % qr_every == 0 or step + 1 == n_transient or step + 1 == n_transient + n_steps:
            if not _renormalise(y, Q, logs, counted):
                return NOT_FINITE
    return OK


@nb.njit(DELAY_SIGNATURE, cache=True, error_model="numpy")
def tangent_delay(f, jac, jac_lag, y0, h, n_transient, n_steps, qr_every, p, lag_var, lag_steps, k, logs, state_out):
    """Leading Lyapunov sums of a delay equation on a grid of step ``h``.

    The delayed term k reads variable ``lag_var[k]`` ``lag_steps[k]`` grid steps back; the
    history before the start is the constant ``y0``. Each step is the Heun rule
    y+ = y + h/2 (f(y, lag) + f(y + h f(y, lag), lag+)), and the tangent histories are advanced by
    its exact derivative. ``logs`` (size ``k``) receives the sums of log R_jj over the counted steps;
    ``state_out`` the final state. Returns 0 or 3 (not finite).
    """
    n = y0.size
    n_lag = lag_var.size
    M = 1
    for q in range(n_lag):
        M = max(M, lag_steps[q] + 1)
    Y = np.empty((M, n))  # circular buffer of the last M grid states
    for r in range(M):
        Y[r] = y0
    V = np.zeros((k, M, n))  # k tangent histories, same circular layout
    rng_state = 12345
    for j in range(k):  # a fixed pseudo-random start, normalised below
        for r in range(M):
            for i in range(n):
                rng_state = (1103515245 * rng_state + 12345) % 2147483648
                V[j, r, i] = rng_state / 2147483648.0 - 0.5
    logs[:] = 0.0
    dummy = np.zeros(k)
    flat = V.reshape((k, M * n)).T
    _orthonormalise(flat, dummy, False)
    J0, J1 = np.zeros((n, n)), np.zeros((n, n))
    L0, L1 = np.zeros((n, max(n_lag, 1))), np.zeros((n, max(n_lag, 1)))
    lag0, lag1 = np.empty(n_lag), np.empty(n_lag)
    f0, f1, pred, y = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    dpred, d0, d1 = np.empty(n), np.empty(n), np.empty(n)
    cur = 0
    for step in range(n_transient + n_steps):
        counted = step >= n_transient
        t = step * h
        nxt = (cur + 1) % M
        y[:] = Y[cur]
        for q in range(n_lag):
            lag0[q] = Y[(cur - lag_steps[q]) % M, lag_var[q]]
            lag1[q] = Y[(cur + 1 - lag_steps[q]) % M, lag_var[q]]
        f(t, y, lag0, p, f0)
        for i in range(n):
            pred[i] = y[i] + h * f0[i]
        f(t + h, pred, lag1, p, f1)
        jac(t, y, lag0, p, J0)
        jac_lag(t, y, lag0, p, L0)
        jac(t + h, pred, lag1, p, J1)
        jac_lag(t + h, pred, lag1, p, L1)
        for j in range(k):
            for i in range(n):  # derivative of the stages
                a = 0.0
                for r in range(n):
                    a += J0[i, r] * V[j, cur, r]
                for q in range(n_lag):
                    a += L0[i, q] * V[j, (cur - lag_steps[q]) % M, lag_var[q]]
                d0[i] = a
                dpred[i] = V[j, cur, i] + h * a
            for i in range(n):
                a = 0.0
                for r in range(n):
                    a += J1[i, r] * dpred[r]
                for q in range(n_lag):
                    a += L1[i, q] * V[j, (cur + 1 - lag_steps[q]) % M, lag_var[q]]
                d1[i] = a
            for i in range(n):
                V[j, nxt, i] = V[j, cur, i] + 0.5 * h * (d0[i] + d1[i])
        for i in range(n):
            Y[nxt, i] = y[i] + 0.5 * h * (f0[i] + f1[i])
            if not math.isfinite(Y[nxt, i]):
                return NOT_FINITE
        cur = nxt
        if (step + 1) % qr_every == 0 or step + 1 == n_transient or step + 1 == n_transient + n_steps:
            flat = V.reshape((k, M * n)).T
            _orthonormalise(flat, logs, counted)
            if not _all_finite(logs):
                return NOT_FINITE
    state_out[:] = Y[cur]
    return OK


@nb.njit(cache=True)
def _log_abs_det(J, work):
    """log |det J| by Gaussian elimination with partial pivoting (``work`` is scratch of J's shape)."""
    n = J.shape[0]
    work[:, :] = J
    total = 0.0
    for c in range(n):
        piv = c
        for r in range(c + 1, n):
            if abs(work[r, c]) > abs(work[piv, c]):
                piv = r
        if work[piv, c] == 0.0:
            return -math.inf
        if piv != c:
            for q in range(n):
                work[c, q], work[piv, q] = work[piv, q], work[c, q]
        total += math.log(abs(work[c, c]))
        for r in range(c + 1, n):
            factor = work[r, c] / work[c, c]
            for q in range(c, n):
                work[r, q] -= factor * work[c, q]
    return total


@nb.njit(MAP_SIGNATURE, cache=True, error_model="numpy")
def tangent_map(f, jac, y0, n_transient, n_steps, p, logs, div):
    """Lyapunov sums of a map: ``logs[j]`` = sum of log R_jj over ``n_steps`` iterations.

    The first ``n_transient`` iterations align the tangent vectors and are not counted; ``div[0]``
    receives the sum of log |det J| over the counted ones. ``logs.size`` is the number of exponents
    wanted. Returns 0, or 3 if the state or the tangent vectors became non-finite (or degenerate).
    """
    n = y0.size
    k = logs.size
    lag = np.zeros(0)
    y = y0.copy()
    nxt = np.empty(n)
    Q = _generic_frame(n, logs)
    J = np.zeros((n, n))
    work = np.zeros((n, n))
    JQ = np.empty((n, k))
    logs[:] = 0.0
    div[0] = 0.0
    for step in range(n_transient + n_steps):
        counted = step >= n_transient
        jac(0.0, y, lag, p, J)
        if counted:
            div[0] += _log_abs_det(J, work)
        for i in range(n):
            for j in range(k):
                acc = 0.0
                for r in range(n):
                    acc += J[i, r] * Q[r, j]
                JQ[i, j] = acc
        Q[:, :] = JQ
        f(0.0, y, lag, p, nxt)
        y[:] = nxt
        if not _renormalise(y, Q, logs, counted):
            return NOT_FINITE
    return OK
