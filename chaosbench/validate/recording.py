"""The one integration every chaos test reads: a transient dropped, then a recording in observed coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalog import System
from ..compiler import CompiledSystem, observe_function
from ..integrate import STATUS_TEXT, integrate
from .thresholds import ATOL, MAX_STEPS_PER_PERIOD, PTS_PER_PERIOD, RECORD_PERIODS, RTOL, TRANSIENT_PERIODS


@dataclass
class Recording:
    """``RECORD_PERIODS`` periods at ``PTS_PER_PERIOD`` points per period, after the transient."""

    raw: np.ndarray  # (N, n) raw states
    observed: np.ndarray  # (N, n) observed states
    seen: np.ndarray  # (N, m) observed, non-clock columns
    whole: tuple[np.ndarray, np.ndarray]  # mean and std of those columns over the transient and the recording
    times: np.ndarray
    dt: float


def columns(system: System) -> list[int]:
    """The observed variables the tests read: all but clock variables (``dz/dt = w``: time itself)."""
    clocks = set(system.clock_variables) if system.is_nonautonomous else set()
    return [i for i in range(system.dimension) if i not in clocks]


def record(cs: CompiledSystem, y0: np.ndarray, period: float) -> tuple[Recording | None, str]:
    """Integrate from ``y0`` with DOP853 (rtol = atol = ``RTOL``) for ``TRANSIENT_PERIODS`` periods, which
    are dropped, then record; None and the reason if the integration fails or the states stop being finite."""
    system = cs.system
    dt = period / PTS_PER_PERIOD
    n_transient = int(round(TRANSIENT_PERIODS * PTS_PER_PERIOD))
    n_record = int(round(RECORD_PERIODS * PTS_PER_PERIOD))
    max_steps = int(MAX_STEPS_PER_PERIOD * (TRANSIENT_PERIODS + RECORD_PERIODS))
    with np.errstate(all="ignore"):
        sol = integrate(cs, y0, dt=dt, n_steps=n_transient + n_record, rtol=RTOL, atol=ATOL, max_steps=max_steps)
    if not sol.ok:
        return None, f"integration failed: {STATUS_TEXT[int(sol.status[0])]}"
    observe = observe_function(system)
    with np.errstate(all="ignore"):
        observed = observe(sol.states[0]) if observe else sol.states[0]
    whole = observed[:, columns(system)]
    if not np.all(np.isfinite(whole)):
        return None, "the observed states became non-finite"
    times = (n_transient + np.arange(n_record)) * dt
    return Recording(
        raw=sol.states[0, n_transient:],
        observed=observed[n_transient:],
        seen=whole[n_transient:],
        whole=(whole.mean(axis=0), whole.std(axis=0)),
        times=times,
        dt=dt,
    ), ""
