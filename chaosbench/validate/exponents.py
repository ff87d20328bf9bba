"""Tests 5-6 of :mod:`chaosbench.validate`, on tangent runs: a positive leading Lyapunov exponent
(the variational equations with the exact Jacobian: Benettin et al. 1980, Meccanica 15, 9; delay
equations: Farmer 1982, Physica D 4, 366), and its persistence over long runs from displaced starts."""

from __future__ import annotations

import math

import numpy as np

from ..compiler import CompiledSystem, observe_function
from ..errors import IntegrationError
from ..integrate import STATUS_TEXT, integrate
from ..invariants.lyapunov import delay_sums, flow_sums, rk4_step
from .recording import Recording, columns
from .thresholds import (
    DELAY_EXPONENTS,
    DELAY_GRID,
    LYAPUNOV_STARTS,
    LYAPUNOV_TRANSIENT_PERIODS,
    LYAPUNOV_Z,
    MAX_EXCURSION,
    MAX_EXPONENTS,
    MAX_LYAPUNOV_STEPS,
    MAX_STEPS_PER_PERIOD,
    MIN_LYAPUNOV_GROWTH,
    PERSISTENCE_ATOL,
    PERSISTENCE_KICK,
    PERSISTENCE_LATE_PERIODS,
    PERSISTENCE_MIN_GROWTH,
    PERSISTENCE_PERIODS,
    PERSISTENCE_RTOL,
    PERSISTENCE_SEED,
    PERSISTENCE_STARTS,
    STEPS_PER_PERIOD,
    STIFFNESS,
    Check,
)


def tangent_step(cs: CompiledSystem, raw: np.ndarray, period: float) -> float:
    """RK4 step of the tangent runs: ``period / STEPS_PER_PERIOD``, at most ``STIFFNESS / rho(J)`` on ``raw``."""
    return rk4_step(cs, raw[:: max(1, len(raw) // 100)], period, steps_per_period=STEPS_PER_PERIOD, stiffness=STIFFNESS)


def tangent_exponents(
    cs: CompiledSystem, starts: np.ndarray, t_starts: np.ndarray, h: float, period: float, n_periods: float, k: int
) -> tuple[np.ndarray | None, dict]:
    """The ``k`` leading Lyapunov exponents (starts x k) of the flow or delay equation ``cs`` from ``starts``.

    The tangent kernels of :mod:`chaosbench.invariants.kernels` with the exact Jacobian (Benettin et al.
    1980; Farmer 1982 for delay equations), after ``LYAPUNOV_TRANSIENT_PERIODS`` of alignment; None if a
    run became non-finite (flows: at the step ``h`` and at half of it).
    """
    if cs.system.is_delay:
        try:
            logs, run = delay_sums(
                cs,
                starts,
                h,
                min(k, DELAY_EXPONENTS),
                period=period,
                n_periods=n_periods,
                transient=LYAPUNOV_TRANSIENT_PERIODS * period,
                max_steps=MAX_LYAPUNOV_STEPS,
                grid=DELAY_GRID,
            )
        except IntegrationError:
            return None, {}
        per = logs / (run["steps"] * run["dt"])
        return per, {"method": "discretised tangent method (Farmer 1982)", "dt": run["dt"], "steps": run["steps"]}
    k = min(cs.system.dimension, k)
    for _ in range(2):  # once more at half the step if RK4 was unstable
        n_steps = int(min(MAX_LYAPUNOV_STEPS, math.ceil(n_periods * period / h)))
        n_transient = int(math.ceil(LYAPUNOV_TRANSIENT_PERIODS * period / h))
        logs, _, _ = flow_sums(cs, starts, t_starts, len(starts), h, n_transient, n_steps, 4, k)
        if len(logs) == len(starts):
            break
        h /= 2
    if len(logs) < min(2, len(starts)):
        return None, {}
    return logs / (n_steps * h), {
        "method": "variational equations, RK4, Gram-Schmidt every 4 steps (Benettin et al. 1980)",
        "dt": h,
        "steps": n_steps,
    }


def lyapunov_exponents(
    cs: CompiledSystem,
    rec: Recording,
    period: float,
    n_periods: float,
) -> tuple[np.ndarray | None, dict]:
    """Leading Lyapunov exponents (starts x k) from ``LYAPUNOV_STARTS`` states of ``rec``
    (:func:`tangent_exponents`); None if the runs became non-finite."""
    idx = np.linspace(0, len(rec.raw) - 1, LYAPUNOV_STARTS).astype(int)
    t_starts = rec.times[idx] if cs.system.is_nonautonomous else np.zeros(len(idx))
    k = DELAY_EXPONENTS if cs.system.is_delay else MAX_EXPONENTS
    return tangent_exponents(cs, rec.raw[idx], t_starts, tangent_step(cs, rec.raw, period), period, n_periods, k)


def lyapunov(
    cs: CompiledSystem, rec: Recording, period: float, n_periods: float
) -> tuple[Check, np.ndarray | None, np.ndarray | None, dict]:
    """Test 5: the leading exponent exceeds ``LYAPUNOV_Z`` standard errors over the starts, and its growth over
    one run, lambda T, exceeds ``MIN_LYAPUNOV_GROWTH`` e-foldings. Also returns the spectrum's mean and std."""
    with np.errstate(all="ignore"):
        per, settings = lyapunov_exponents(cs, rec, period, n_periods)
    if per is None:
        return Check("lyapunov", None, False, "the tangent integration became non-finite"), None, None, {}
    mean, std = per.mean(axis=0), per.std(axis=0, ddof=1)
    sem = float(std[0] / math.sqrt(len(per)))
    lam = float(mean[0])
    duration = settings["steps"] * settings["dt"]
    ok = lam > LYAPUNOV_Z * sem and lam * duration > MIN_LYAPUNOV_GROWTH
    detail = (
        f"lambda_max = {lam:.4g} +- {sem:.2g} (standard error over {len(per)} starts), "
        f"lambda_max T = {lam * duration:.3g}"
    )
    settings = {**settings, "starts": len(per), "periods": settings["steps"] * settings["dt"] / period}
    return Check("lyapunov", lam, ok, detail), mean, std, settings


def persistence(
    cs: CompiledSystem, rec: Recording, period: float, ref_mean: np.ndarray | float, ref_std: np.ndarray
) -> tuple[Check, dict]:
    """Test 6 (see :mod:`chaosbench.validate`): long runs from displaced states of the recording stay chaotic."""
    system = cs.system
    idx = np.linspace(0, len(rec.raw) - 1, PERSISTENCE_STARTS).astype(int)
    clocks = list(system.clock_variables) if system.is_nonautonomous else []
    kick = (
        PERSISTENCE_KICK
        * rec.raw.std(axis=0)
        * np.random.default_rng(PERSISTENCE_SEED).standard_normal((len(idx), system.dimension))
    )
    kick[:, clocks] = 0.0
    n_long = int(round(PERSISTENCE_PERIODS - PERSISTENCE_LATE_PERIODS - LYAPUNOV_TRANSIENT_PERIODS))
    h = tangent_step(cs, rec.raw, period)
    observe = observe_function(system)
    cols = columns(system)
    growth, late = [], PERSISTENCE_LATE_PERIODS * period
    for y0, t0 in zip(rec.raw[idx] + kick, rec.times[idx]):
        t0 = float(t0) if system.is_nonautonomous else 0.0
        with np.errstate(all="ignore"):
            sol = integrate(
                cs,
                y0,
                dt=period,
                n_steps=n_long + 1,
                t0=t0,
                rtol=PERSISTENCE_RTOL,
                atol=PERSISTENCE_ATOL,
                max_steps=int(MAX_STEPS_PER_PERIOD * n_long),
            )
        if not sol.ok:
            return Check("persistence", None, False, f"a long run failed: {STATUS_TEXT[int(sol.status[0])]}"), {}
        states = sol.states[0]
        with np.errstate(all="ignore"):
            seen = (observe(states) if observe else states)[:, cols]
        excursion = float(np.max(np.abs(seen - ref_mean) / ref_std)) if np.all(np.isfinite(seen)) else math.inf
        if not excursion <= MAX_EXCURSION:
            return Check(
                "persistence",
                None,
                False,
                f"a long run left the attractor's region (excursion {excursion:.3g} reference stds)",
            ), {}
        with np.errstate(all="ignore"):
            per, _ = tangent_exponents(
                cs, states[-1:], np.array([t0 + n_long * period]), h, period, PERSISTENCE_LATE_PERIODS, 1
            )
        growth.append(float(per[0, 0]) * late if per is not None else -math.inf)
    worst = min(growth)
    ok = worst > PERSISTENCE_MIN_GROWTH
    detail = (
        "lambda_late T_late per start: "
        + ", ".join(f"{g:.3g}" for g in growth)
        + ("" if ok else " (a start settled on a fixed point, cycle or torus: transient or coexisting chaos)")
    )
    settings = {
        "starts": len(growth),
        "periods": PERSISTENCE_PERIODS,
        "late_periods": PERSISTENCE_LATE_PERIODS,
        "kick": PERSISTENCE_KICK,
    }
    return Check("persistence", worst, ok, detail), settings
