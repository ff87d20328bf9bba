"""Compiled integrators: DOP853 (adaptive, dense output), RK4 and stochastic Heun (fixed step).

:func:`integrate` is the one entry point; it runs a batch of initial conditions in parallel and
returns the sampled states with a status per trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ChaosbenchError
from .status import STATUS_TEXT

METHODS = {"dop853": 0, "rk4": 1, "heun": 2}
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-10


@dataclass
class Solution:
    """States (trajectories x steps x variables), per-trajectory status codes and counters."""

    states: np.ndarray
    status: np.ndarray
    nfev: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray

    @property
    def ok(self) -> bool:
        return bool(np.all(self.status == 0))

    def failures(self) -> list[tuple[int, str]]:
        return [(int(i), STATUS_TEXT[int(s)]) for i, s in enumerate(self.status) if s != 0]


def integrate(
    compiled,
    y0,
    *,
    dt: float,
    n_steps: int,
    t0: float = 0.0,
    method: str = "dop853",
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    h_max: float | None = None,
    max_steps: int = 50_000_000,
    substeps: int | None = None,
    noise=None,
    seed: int = 0,
    stream: int = 0,
) -> Solution:
    """Integrate one or many initial conditions of a compiled system.

    Parameters
    ----------
    compiled : CompiledSystem
    y0 : array (n,) or (m, n)
        Initial states (for delay systems also the constant history before ``t0``).
    dt, n_steps : output spacing and number of output points (the first is ``y0``).
    method : "dop853" (adaptive, ``rtol``/``atol``), "rk4" or "heun" (fixed, ``substeps`` per ``dt``).
    noise : per-variable amplitudes sigma of additive noise dX = f dt + sigma dW (forces "heun").
    seed, stream : seed the noise; trajectory i draws from stream ``stream + i`` of ``seed``, so results
        depend neither on threads nor on how trajectories are batched.

    A map (``compiled.system.is_map``) is iterated instead: ``dt`` is then a whole number of
    iterations between outputs, and ``method``, tolerances, ``t0`` and ``substeps`` do not apply.
    """
    if compiled.system.is_map:
        return _iterate(compiled, y0, dt, n_steps, noise)
    if method not in METHODS:
        raise ChaosbenchError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    y0 = _initial_states(compiled, y0, n_steps)
    n = compiled.dimension
    if not (dt > 0 and np.isfinite(dt)):
        raise ChaosbenchError(f"dt must be a positive number, got {dt}")
    if not (rtol > 0 and atol > 0):
        raise ChaosbenchError(f"rtol and atol must be positive, got rtol={rtol}, atol={atol}")
    sigma = np.zeros(n) if noise is None else np.broadcast_to(np.asarray(noise, float), (n,)).copy()
    if np.any(sigma < 0) or not np.all(np.isfinite(sigma)):
        raise ChaosbenchError("noise amplitudes must be finite and non-negative")
    if np.any(sigma > 0):
        method = "heun"
    if substeps is None:
        substeps = 1 if method == "dop853" else 10
    if compiled.n_lag and method != "dop853":
        substeps = max(int(substeps), int(np.ceil(dt / compiled.lag_tau.min() - 1e-12)))
    m = y0.shape[0]
    out, status, stats = _outputs(m, n_steps, n)
    # the kernels' argument groups (chaosbench.integrate.signatures): output grid, system, step control, noise
    grid = (float(t0), float(dt), int(n_steps))
    system = (compiled.params, compiled.lag_var, compiled.lag_tau)
    control = (float(rtol), float(atol), float(h_max if h_max is not None else np.inf), int(max_steps))
    noisy = (sigma, int(seed), int(stream))
    if m == 1 and method == "dop853":  # one trajectory: skip the parallel driver (and its compilation)
        from .dop853 import dop853

        status[0] = dop853(compiled.rhs, y0[0].copy(), *grid, *system, *control, out[0], stats[0])
    elif m == 1:
        from .fixed import fixed_step

        scheme = METHODS[method] - 1
        status[0] = fixed_step(
            compiled.rhs, scheme, y0[0].copy(), *grid, int(substeps), *system, *noisy, out[0], stats[0]
        )
    else:
        from .batch import integrate_batch

        integrate_batch(
            compiled.rhs,
            METHODS[method],
            np.ascontiguousarray(y0),
            *grid,
            *system,
            *control,
            int(substeps),
            *noisy,
            out,
            status,
            stats,
        )
    return Solution(out, status, stats[:, 0], stats[:, 1], stats[:, 2])


def _initial_states(compiled, y0, n_steps: int) -> np.ndarray:
    """``y0`` as rows ``(m, n)`` of float, checked against the system's dimension (and ``n_steps``)."""
    y0 = np.atleast_2d(np.asarray(y0, dtype=float))
    n = compiled.dimension
    if y0.shape[1] != n:
        raise ChaosbenchError(f"system '{compiled.system.name}': initial states need {n} values, got {y0.shape[1]}")
    if int(n_steps) < 1:
        raise ChaosbenchError(f"n_steps must be at least 1, got {n_steps}")
    return y0


def _outputs(m: int, n_steps: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the kernels fill for ``m`` trajectories: the states ``(m, n_steps, n)``, a status code each
    and counters ``(m, 3)``: [right-hand-side evaluations, accepted steps, rejected steps]."""
    return np.empty((m, int(n_steps), n)), np.zeros(m, dtype=np.int64), np.zeros((m, 3), dtype=np.int64)


def _iterate(compiled, y0, stride, n_steps: int, noise) -> Solution:
    """Iterate a map: every ``stride``-th state, ``n_steps`` of them, for each row of ``y0``."""
    name = compiled.system.name
    y0 = _initial_states(compiled, y0, n_steps)
    if not (np.isfinite(stride) and stride >= 1 and float(stride) == int(stride)):
        raise ChaosbenchError(f"system '{name}' is a map: dt must be a whole number of iterations, got {stride}")
    if noise is not None and np.any(np.asarray(noise, float) != 0):
        raise ChaosbenchError(f"system '{name}' is a map: additive noise is not supported for maps")
    m = y0.shape[0]
    out, status, stats = _outputs(m, n_steps, compiled.dimension)
    if m == 1:
        from .iterate import iterate

        status[0] = iterate(compiled.rhs, y0[0].copy(), int(stride), int(n_steps), compiled.params, out[0], stats[0])
    else:
        from .iterate import iterate_batch

        iterate_batch(
            compiled.rhs, np.ascontiguousarray(y0), int(stride), int(n_steps), compiled.params, out, status, stats
        )
    return Solution(out, status, stats[:, 0], stats[:, 1], stats[:, 2])
