"""numba signatures shared by compiled systems and integrators.

Every right-hand side has the same first-class function type, so each integrator is compiled
once for all systems instead of once per system. The integrators' argument lists are built from
the groups below, so the single-trajectory kernels and the parallel driver that calls them
cannot disagree on a type.
"""

from numba import types

F64_1D = types.float64[::1]
F64_2D = types.float64[:, ::1]
F64_3D = types.float64[:, :, ::1]
I64_1D = types.int64[::1]
I64_2D = types.int64[:, ::1]

#: rhs(t, y, lag, p, out): out = f(t, y, y_lagged, params)
RHS_SIG = types.void(types.float64, F64_1D, F64_1D, F64_1D, F64_1D)
RHS_TYPE = types.FunctionType(RHS_SIG)
#: jac(t, y, lag, p, J): J = df/dy (n x n); jac_lag fills df/dy_lagged (n x n_lag)
JAC_SIG = types.void(types.float64, F64_1D, F64_1D, F64_1D, F64_2D)
JAC_TYPE = types.FunctionType(JAC_SIG)

#: the output grid: t0, dt_out, n_out
GRID = (types.float64, types.float64, types.int64)
#: the system's arguments: params, lag_var, lag_tau
SYSTEM = (F64_1D, I64_1D, F64_1D)
#: adaptive step control: rtol, atol, h_max, max_steps
TOLERANCES = (types.float64, types.float64, types.float64, types.int64)
#: additive noise: sigma, seed, stream
NOISE = (F64_1D, types.int64, types.int64)
