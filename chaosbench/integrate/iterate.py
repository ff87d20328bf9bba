"""Iteration of discrete maps: ``x_{n+1} = f(x_n)``, exact up to floating-point rounding.

A map's compiled ``rhs`` (the same first-class function type as a flow's right-hand side, see
:mod:`chaosbench.integrate.signatures`) writes the next state; these kernels apply it ``stride``
times between recorded states, one trajectory or many in parallel, compiled once for every map.
"""

import math

import numba as nb
import numpy as np

from .signatures import F64_1D, F64_2D, F64_3D, I64_1D, I64_2D, RHS_TYPE
from .status import NOT_FINITE, OK

SIGNATURE = nb.types.int64(RHS_TYPE, F64_1D, nb.types.int64, nb.types.int64, F64_1D, F64_2D, I64_1D)
BATCH_SIGNATURE = nb.types.void(RHS_TYPE, F64_2D, nb.types.int64, nb.types.int64, F64_1D, F64_3D, I64_1D, I64_2D)


@nb.njit(SIGNATURE, cache=True, error_model="numpy")
def iterate(f, y0, stride, n_out, p, out, stats):
    """Write ``y0`` and then every ``stride``-th iterate into ``out`` (``n_out`` rows).

    ``stats`` receives [map evaluations, iterations]; returns 0, or 3 once a state is not finite.
    """
    n = y0.size
    y = y0.copy()
    nxt = np.empty(n)
    lag = np.zeros(0)
    out[0] = y
    count = 0
    for j in range(1, n_out):
        for _ in range(stride):
            f(0.0, y, lag, p, nxt)
            y[:] = nxt
        count += stride
        out[j] = y
        for i in range(n):
            if not math.isfinite(y[i]):
                stats[0] += count
                stats[1] += count
                return NOT_FINITE
    stats[0] += count
    stats[1] += count
    return OK


@nb.njit(BATCH_SIGNATURE, cache=True, parallel=True)
def iterate_batch(f, y0s, stride, n_out, p, out, status, stats):
    """:func:`iterate` for every row of ``y0s``, in parallel; trajectory i writes out[i], status[i], stats[i]."""
    for i in nb.prange(y0s.shape[0]):
        status[i] = iterate(f, y0s[i].copy(), stride, n_out, p, out[i], stats[i])
