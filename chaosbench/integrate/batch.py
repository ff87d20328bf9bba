"""Many initial conditions at once: one compiled driver, trajectories in parallel with ``prange``."""

import numba as nb

from .dop853 import dop853
from .fixed import fixed_step
from .signatures import F64_2D, F64_3D, GRID, I64_1D, I64_2D, NOISE, RHS_TYPE, SYSTEM, TOLERANCES

DOP853, RK4, HEUN = 0, 1, 2
#: integrate_batch(f, method, y0s, *grid, *system, *tolerances, substeps, *noise, out, status, stats)
SIGNATURE = nb.types.void(
    RHS_TYPE, nb.types.int64, F64_2D, *GRID, *SYSTEM, *TOLERANCES, nb.types.int64, *NOISE, F64_3D, I64_1D, I64_2D
)


@nb.njit(SIGNATURE, cache=True, parallel=True)
def integrate_batch(
    f,
    method,
    y0s,
    t0,
    dt_out,
    n_out,
    p,
    lag_var,
    lag_tau,
    rtol,
    atol,
    h_max,
    max_steps,
    substeps,
    sigma,
    seed,
    stream0,
    out,
    status,
    stats,
):
    """Integrate every row of ``y0s``; trajectory i writes out[i], status[i] and stats[i]."""
    for i in nb.prange(y0s.shape[0]):
        y0 = y0s[i].copy()
        if method == DOP853:
            status[i] = dop853(
                f, y0, t0, dt_out, n_out, p, lag_var, lag_tau, rtol, atol, h_max, max_steps, out[i], stats[i]
            )
        else:
            scheme = 0 if method == RK4 else 1
            status[i] = fixed_step(
                f,
                scheme,
                y0,
                t0,
                dt_out,
                n_out,
                substeps,
                p,
                lag_var,
                lag_tau,
                sigma,
                seed,
                stream0 + i,
                out[i],
                stats[i],
            )
