"""Lyapunov spectra from the variational equations, averaged over initial conditions on the attractor.

For an ordinary flow every exponent is computed from the catalog's exact Jacobian (Benettin et al.
1980; Shimada & Nagashima 1979); for a delay equation the leading ones, by the discretised
tangent method (Farmer 1982); for a discrete map, every exponent (per iteration) from products of
its exact Jacobian, re-orthonormalised by QR after each iteration (Eckmann & Ruelle 1985). Each
initial condition is a state drawn on the attractor from the reference run of
:mod:`chaosbench.trajectories`; the spread over initial conditions is the error bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..catalog import System
from ..compiler import CompiledSystem, compile_system, observe_function
from ..errors import IntegrationError
from ..trajectories import make_options, reference
from .kernels import OK, tangent_delay, tangent_map, tangent_rk4

#: RK4 step: at most period / STEPS_PER_PERIOD and STIFFNESS / (largest |eigenvalue| of J on the attractor)
STEPS_PER_PERIOD = 100
STIFFNESS = 0.5
#: the step is halved (at most MAX_HALVINGS times) until lambda_max at half the step agrees with it: within
#: STEP_TOLERANCE (relative) or Z_STEP combined error bars
MAX_HALVINGS = 6
STEP_TOLERANCE = 0.05
Z_STEP = 2.0
#: leading exponents computed for delay equations: more, in turn, until their sum is negative
DELAY_EXPONENTS = (6, 16, 40)
#: grid points per (smallest) delay, at least
DELAY_GRID = 200
#: times the step is halved when a run becomes non-finite
RETRIES = 3
#: a map's runs: iterations counted per initial condition, and iterations first discarded
MAP_ITERATIONS = 200_000
MAP_TRANSIENT = 1_000
#: each run of a map starts from a pool state kicked by this fraction of the attractor's std
MAP_KICK = 1e-6


@dataclass
class LyapunovResult:
    """Exponents per initial condition (rows), their mean and std, and how they were computed."""

    per_initial: np.ndarray
    divergence: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        return self.per_initial.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        if len(self.per_initial) > 1:
            return self.per_initial.std(axis=0, ddof=1)
        return np.zeros(self.per_initial.shape[1])


def _agree(coarse: np.ndarray, fine: np.ndarray) -> bool:
    """Whether two sets of per-state estimates of lambda_max agree (see :data:`STEP_TOLERANCE`)."""
    a, b = float(coarse.mean()), float(fine.mean())
    sigma = math.hypot(*(float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else 0.0 for x in (coarse, fine)))
    return abs(a - b) <= max(STEP_TOLERANCE * abs(a), Z_STEP * sigma)


def rk4_step(
    cs: CompiledSystem,
    states: np.ndarray,
    period: float,
    *,
    steps_per_period: int = STEPS_PER_PERIOD,
    stiffness: float = STIFFNESS,
) -> float:
    """Step of the tangent runs: ``period / steps_per_period``, at most ``stiffness / rho`` with ``rho`` the
    :func:`jacobian_scale` over ``states`` (so that RK4 stays stable where the flow is stiffest)."""
    rho = jacobian_scale(cs, states)
    h = period / steps_per_period
    return min(h, stiffness / rho) if rho > 0 else h


def jacobian_scale(cs: CompiledSystem, states: np.ndarray) -> float:
    """Largest modulus of an eigenvalue of df/dy (plus df/d(delayed terms)) over ``states``."""
    rho = 0.0
    for y in states:
        lag = y[cs.lag_var] if cs.n_lag else None
        J = cs.jacobian(0.0, y, lag)
        if cs.n_lag:
            JL = np.zeros((cs.dimension, cs.n_lag))
            cs.jac_lag(0.0, np.ascontiguousarray(y, float), np.ascontiguousarray(lag, float), cs.params, JL)
            rho = max(rho, float(np.abs(J).sum(axis=1).max() + np.abs(JL).sum(axis=1).max()))
        else:
            rho = max(rho, float(np.abs(np.linalg.eigvals(J)).max()))
    return rho


def starting_states(system: System, cs: CompiledSystem, n_candidates: int, seed: int):
    """Raw states on the attractor (not observed coordinates) and their times, in a seeded random order.

    They are drawn from the reference run of :func:`chaosbench.trajectories.reference`, whose samples lie
    ``period / 10`` apart after its transient; a nonautonomous system must restart each state at its
    own time, or it would start off the attractor (or, if conservative, in another region of phase space).
    Returns (states, times, the whole pool).
    """
    opts = make_options(length=2, n_trajectories=1, seed=seed)
    ref = reference(cs, opts, observe_function(system))
    rng = np.random.default_rng([seed, 0x1A9])
    idx = rng.permutation(len(ref.pool))[:n_candidates]
    dt_ref = system.period / 10.0
    n_transient = int(round(opts.transient_periods * 10)) + 1
    times = (n_transient + idx) * dt_ref if system.is_nonautonomous else np.zeros(len(idx))
    return ref.pool[idx].copy(), times, ref.pool


def lyapunov_spectrum(
    system: System,
    *,
    n_initial: int = 6,
    n_periods: float = 1000.0,
    transient_periods: float = 50.0,
    max_steps: int = 1_500_000,
    seed: int = 0,
    n_exponents: int | None = None,
) -> LyapunovResult:
    """The Lyapunov spectrum of ``system`` from ``n_initial`` states on its attractor.

    Parameters
    ----------
    system : System
    n_initial : number of initial conditions; the std over them is the error bar.
    n_periods : length of each run in catalog periods (fewer if ``max_steps`` steps are reached first).
    transient_periods : periods integrated first to align the tangent vectors (not counted).
    max_steps : cap on the counted steps of one run (stiff systems take short steps).
    seed : picks the initial conditions.
    n_exponents : how many exponents (default: all for flows, ``DELAY_EXPONENTS`` for delay equations).

    A map is passed on to :func:`map_lyapunov_spectrum` with its own run lengths (in iterations), and a
    flow whose field jumps (:func:`~chaosbench.invariants.jumps.jump_surfaces`) to
    :func:`~chaosbench.invariants.jumps.finite_difference_spectrum`.

    Returns
    -------
    LyapunovResult
        ``per_initial`` (n_initial x k), the time-averaged divergence (trace of the Jacobian) of each
        run, and the settings used.

    References
    ----------
    Benettin, G., Galgani, L., Giorgilli, A., & Strelcyn, J.-M. (1980). Lyapunov characteristic
    exponents for smooth dynamical systems and for Hamiltonian systems; a method for computing all
    of them. Meccanica 15, 9-30 (part 2: numerical application, 21-30).
    Shimada, I., & Nagashima, T. (1979). A numerical approach to ergodic problem of dissipative
    dynamical systems. Prog. Theor. Phys. 61(6), 1605-1616.
    Farmer, J. D. (1982). Chaotic attractors of an infinite-dimensional dynamical system.
    Physica D 4(3), 366-393.
    """
    if system.is_map:
        return map_lyapunov_spectrum(system, n_initial=n_initial, seed=seed, n_exponents=n_exponents)
    from .jumps import finite_difference_spectrum, jump_surfaces

    if jump_surfaces(system):  # the variational equations would miss the kicks at each crossing
        return finite_difference_spectrum(
            system,
            n_initial=n_initial,
            n_periods=n_periods,
            transient_periods=transient_periods,
            max_steps=max_steps,
            seed=seed,
        )
    cs = compile_system(system)
    y0s, t0s, pool = starting_states(system, cs, 4 * n_initial, seed)
    h = rk4_step(cs, pool, system.period)
    if system.is_delay:
        return _delay_spectrum(system, cs, y0s[:n_initial], h, n_periods, transient_periods, max_steps, n_exponents)
    k = system.dimension if n_exponents is None else min(int(n_exponents), system.dimension)
    qr_every = 4

    def run(h: float):
        for _ in range(RETRIES + 1):
            n_steps = int(min(max_steps, math.ceil(n_periods * system.period / h)))
            n_transient = int(math.ceil(transient_periods * system.period / h))
            n_transient = min(n_transient, max(n_steps // 10, 1))
            logs, div, escaped = flow_sums(cs, y0s, t0s, n_initial, h, n_transient, n_steps, qr_every, k)
            if len(logs) >= max(2, n_initial // 2):
                return h, n_steps, n_transient, logs, div, escaped
            h /= 2  # a rare excursion where the attractor is stiffer than the sampled states showed
        raise IntegrationError(
            f"system '{system.name}': the tangent integration became non-finite even with dt = {h * 2:.3g}"
        )

    h, n_steps, n_transient, logs, div, escaped = run(h)
    halvings = 0
    while halvings < MAX_HALVINGS:  # RK4's own map can have other exponents than the flow: check the step
        finer = run(h / 2)
        if _agree(logs[:, 0] / (n_steps * h), finer[3][:, 0] / (finer[1] * finer[0])):
            break
        (h, n_steps, n_transient, logs, div, escaped), halvings = finer, halvings + 1
    T = n_steps * h
    times = "once" if halvings == 1 else f"{halvings} times"
    halved = f"; step halved {times} until lambda_max agreed with a run at half the step" if halvings else ""
    settings = {
        "method": f"variational equations, RK4 on the augmented system, Gram-Schmidt every {qr_every} steps "
        f"(Benettin et al. 1980){halved}",
        "exponents": "all",
        "dt": h,
        "steps": n_steps,
        "duration": T,
        "periods": T / system.period,
        "transient": n_transient * h,
        "initial_conditions": len(logs),
        "seed": seed,
    }
    if escaped:
        settings["escaped"] = (
            f"{escaped} of the states drawn diverged under RK4 at this step and were replaced "
            "by others (the attractor lies close to unbounded orbits)"
        )
    return LyapunovResult(per_initial=logs / T, divergence=div / T, settings=settings)


def map_lyapunov_spectrum(
    system: System,
    *,
    n_initial: int = 8,
    n_iterations: int = MAP_ITERATIONS,
    n_transient: int = MAP_TRANSIENT,
    seed: int = 0,
    n_exponents: int | None = None,
) -> LyapunovResult:
    """The Lyapunov spectrum of a discrete map, per iteration, from ``n_initial`` states on its attractor.

    Each run starts from a pool state kicked by ``MAP_KICK`` times the attractor's std (pool states are
    one deterministic orbit: unkicked runs would repeat each other), iterates the map and ``k`` tangent
    vectors, Q <- J(x_n) Q with the exact Jacobian, and re-orthonormalises Q (QR by Gram-Schmidt) after
    every iteration; the exponents are the means of log R_jj over ``n_iterations`` iterations after
    ``n_transient`` aligning ones. A run that becomes
    non-finite is replaced by one from another state. The std over runs is the error bar;
    ``divergence`` holds each run's mean log |det J| (the sum of the exponents).

    References
    ----------
    Benettin, G., Galgani, L., Giorgilli, A., & Strelcyn, J.-M. (1980). Lyapunov characteristic
    exponents for smooth dynamical systems and for Hamiltonian systems; a method for computing all
    of them. Meccanica 15, 9-30.
    Eckmann, J.-P., & Ruelle, D. (1985). Ergodic theory of chaos and strange attractors. Rev. Mod.
    Phys. 57(3), 617-656 (Sec. IV.B).
    """
    if not system.is_map:
        raise IntegrationError(f"system '{system.name}' is a flow; use lyapunov_spectrum")
    cs = compile_system(system)
    y0s, _, pool = starting_states(system, cs, 4 * n_initial, seed)
    # the pool is one orbit and iteration is deterministic: a run from an earlier pool state passes through the
    # later ones and would repeat their run; a kick of 1e-6 of the attractor's std makes the runs independent
    # well within the transient (clipped into the pool's range, since a map may be defined on an interval only)
    rng = np.random.default_rng([seed, 0x3A9])
    y0s = np.clip(y0s + MAP_KICK * pool.std(0) * rng.standard_normal(y0s.shape), pool.min(0), pool.max(0))
    k = system.dimension if n_exponents is None else min(int(n_exponents), system.dimension)
    logs: list[np.ndarray] = []
    div: list[float] = []
    escaped = 0
    row, out = np.empty(k), np.empty(1)
    for y0 in y0s:
        if len(logs) == n_initial:
            break
        status = tangent_map(
            cs.rhs, cs.jac, np.ascontiguousarray(y0, float), int(n_transient), int(n_iterations), cs.params, row, out
        )
        if status != OK:
            escaped += 1
            continue
        logs.append(row.copy())
        div.append(out[0])
    if len(logs) < max(2, n_initial // 2):
        raise IntegrationError(
            f"system '{system.name}': the tangent iteration became non-finite from {escaped} of {len(y0s)} states"
        )
    per = -np.sort(-np.array(logs).reshape(-1, k), axis=1) / n_iterations
    settings = {
        "method": "products of the exact Jacobian along the orbit, QR (Gram-Schmidt) after every "
        "iteration (Benettin et al. 1980; Eckmann & Ruelle 1985)",
        "exponents": "all",
        "units": "per iteration",
        "iterations": int(n_iterations),
        "transient": int(n_transient),
        "initial_conditions": len(logs),
        "seed": seed,
    }
    if escaped:
        settings["escaped"] = f"{escaped} of the states drawn became non-finite and were replaced by others"
    return LyapunovResult(per_initial=per, divergence=np.array(div) / n_iterations, settings=settings)


def flow_sums(
    cs: CompiledSystem, y0s, t0s, n_wanted: int, h: float, n_transient: int, n_steps: int, qr_every: int, k: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Lyapunov and divergence sums (:func:`~chaosbench.invariants.kernels.tangent_rk4`) of the flow ``cs``
    from the first ``n_wanted`` candidate states ``y0s`` (at times ``t0s``) whose runs stay finite.

    Returns (sums ``(runs, k)``, each row sorted in decreasing order; divergence sums; number of
    candidates that diverged).
    """
    logs: list[np.ndarray] = []
    div: list[float] = []
    row, out = np.empty(k), np.empty(1)
    escaped = 0
    for y0, t0 in zip(y0s, t0s):
        if len(logs) == n_wanted:
            break
        status = tangent_rk4(
            cs.rhs,
            cs.jac,
            np.ascontiguousarray(y0, float),
            float(t0),
            h,
            n_transient,
            n_steps,
            qr_every,
            cs.params,
            row,
            out,
        )
        if status != OK:
            escaped += 1
            continue
        logs.append(row.copy())
        div.append(out[0])
    # Gram-Schmidt order is the order of the exponents only in the limit; sort each run's estimates
    return -np.sort(-np.array(logs).reshape(-1, k), axis=1), np.array(div), escaped


def delay_sums(
    cs: CompiledSystem,
    starts: np.ndarray,
    h: float,
    k: int,
    *,
    period: float,
    n_periods: float,
    transient: float,
    max_steps: int,
    grid: int = DELAY_GRID,
) -> tuple[np.ndarray, dict]:
    """Sums of log R_jj of the ``k`` leading exponents of the delay equation ``cs`` from each of ``starts``
    (:func:`~chaosbench.invariants.kernels.tangent_delay`, the discretised tangent method of Farmer 1982).

    The grid step is ``h`` refined to at least ``grid`` points per smallest delay; a run lasts
    ``n_periods`` periods (at most ``max_steps`` steps) after a transient of ``transient`` time units
    (at least 20 largest delays, which carries the constant initial history onto the attractor).
    Returns the sums ``(starts, k)``, each row sorted in decreasing order, and the run's ``dt``,
    ``steps``, ``transient_steps``, ``qr_every`` and ``lag_steps``; raises :class:`IntegrationError`
    if a run becomes non-finite.
    """
    tau_min = float(cs.lag_tau.min())
    h = tau_min / max(grid, int(math.ceil(tau_min / h)))
    lag_steps = np.rint(cs.lag_tau / h).astype(np.int64)
    n_steps = int(min(max_steps, math.ceil(n_periods * period / h)))
    n_transient = int(math.ceil(max(transient, 20 * float(cs.lag_tau.max())) / h))
    qr_every = max(1, int(lag_steps.max()) // 4)
    logs, state = np.empty((len(starts), k)), np.empty(cs.dimension)
    for i, y0 in enumerate(starts):
        status = tangent_delay(
            cs.rhs,
            cs.jac,
            cs.jac_lag,
            np.ascontiguousarray(y0, float),
            h,
            n_transient,
            n_steps,
            qr_every,
            cs.params,
            cs.lag_var,
            lag_steps,
            k,
            logs[i],
            state,
        )
        if status != OK:
            raise IntegrationError(
                f"system '{cs.system.name}': the tangent integration from initial condition {i} became non-finite"
            )
    run = {"dt": h, "steps": n_steps, "transient_steps": n_transient, "qr_every": qr_every, "lag_steps": lag_steps}
    return -np.sort(-logs, axis=1), run


def _delay_spectrum(system, cs, y0s, h, n_periods, transient_periods, max_steps, n_exponents):
    counts = DELAY_EXPONENTS if n_exponents is None else (int(n_exponents),)
    for k in counts:  # the Kaplan-Yorke dimension needs the exponents up to a negative cumulative sum
        logs, run = delay_sums(
            cs,
            y0s,
            h,
            k,
            period=system.period,
            n_periods=n_periods,
            transient=transient_periods * system.period,
            max_steps=max_steps,
        )
        if logs.mean(axis=0).sum() < 0:
            break
    h, n_steps = run["dt"], run["steps"]
    T = n_steps * h
    settings = {
        "method": "discretised tangent method on a uniform history grid, Heun rule, Gram-Schmidt "
        f"every {run['qr_every']} steps (Farmer 1982)",
        "exponents": f"leading {k} of infinitely many (delay equation)",
        "dt": h,
        "grid_points_per_delay": int(run["lag_steps"].min()),
        "steps": n_steps,
        "duration": T,
        "periods": T / system.period,
        "transient": run["transient_steps"] * h,
        "initial_conditions": len(y0s),
    }
    return LyapunovResult(per_initial=logs / T, divergence=np.full(len(y0s), np.nan), settings=settings)
