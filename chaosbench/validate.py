"""Is a system chaotic at these parameters? Five tests on one integration, cheapest first, then a sixth on long runs.

:func:`validate` integrates the system from a given point (default: its catalog point) with the
package's DOP853 (rtol = atol = ``RTOL``) for ``TRANSIENT_PERIODS`` periods, which are dropped, then
records ``RECORD_PERIODS`` periods at ``PTS_PER_PERIOD`` points per period. The tests read the
recording in observed coordinates (the catalog's ``observe``), leaving out clock variables
(``dz/dt = w``: time itself). Each test measures one number and compares it with a named constant:

1. **bounded** — the integrator finished (no overflow, step underflow or more than
   ``MAX_STEPS_PER_PERIOD`` steps a period) and the recording stays within ``MAX_EXCURSION``
   reference standard deviations of the reference mean (the parent's attractor for a sampled system,
   else the whole run, transient included). Measured: the largest excursion, in reference stds.
2. **fixed_point** — the recording's second half still moves: the largest per-variable std over it,
   in reference stds, exceeds ``MIN_MOTION``.
3. **periodic** — not a limit cycle or periodic orbit: on a Poincaré section (upward crossings through
   its mean of the principal component that crosses most often, located by cubic interpolation) the points of a
   periodic orbit repeat, so each has a near-duplicate. Measured: the median distance from a section
   point to its nearest other one, in units of the recording's std; it must exceed
   ``MIN_SECTION_SPREAD``, and at least ``MIN_CROSSINGS`` crossings are needed to tell.
4. **broadband** — the power spectrum (Welch, :func:`chaosbench.invariants.spectrum.power_spectrum`) has
   a continuous part: below the frequency holding 99% of the power, the fraction of the power that
   survives a running minimum over ``2 BROADBAND_HALF_WIDTH + 1`` bins (the floor between peaks) must
   exceed ``MIN_BROADBAND``. The lines of a periodic or quasi-periodic signal leave only leakage there.
5. **lyapunov** — the leading Lyapunov exponent from the variational equations with the catalog's exact
   Jacobian (Benettin et al. 1980), the package's compiled kernel
   :func:`chaosbench.invariants.kernels.tangent_rk4` (delay equations:
   :func:`~chaosbench.invariants.kernels.tangent_delay`, Farmer 1982), run from ``LYAPUNOV_STARTS``
   states of the recording. Passes if its mean exceeds ``LYAPUNOV_Z`` standard errors (std over the
   starts / sqrt(starts)) and the separation it implies over one run, lambda T, exceeds
   ``MIN_LYAPUNOV_GROWTH`` e-foldings: the alignment of the tangent vector alone can add O(1) to
   log |v| on a periodic orbit, which over a short run looks like a small positive exponent.
6. **persistence** — the chaos is not a long transient (or one of coexisting attractors that a start
   can leave): ``PERSISTENCE_STARTS`` states of the recording, each displaced by ``PERSISTENCE_KICK``
   of the recording's std per variable, are integrated for ``PERSISTENCE_PERIODS`` periods (DOP853 at
   ``PERSISTENCE_RTOL``), and over the last ``PERSISTENCE_LATE_PERIODS`` of them the leading exponent is measured with
   the tangent kernel of test 5. Every start must stay bounded (``MAX_EXCURSION``) and grow by more
   than ``PERSISTENCE_MIN_GROWTH`` e-foldings over that late part, lambda_late T_late: a start that
   settled on a fixed point has lambda_late < 0, one on a cycle or torus |lambda_late| T_late = O(1).
   Measured: the smallest lambda_late T_late over the starts. Lorenz at rho = 25.67, beta = 3.196
   (below the Hopf point, so C+- are stable) is chaotic over the recording but every start reaches
   C+- within a few hundred periods.

References
----------
Benettin, G., Galgani, L., Giorgilli, A., & Strelcyn, J.-M. (1980). Lyapunov characteristic exponents
for smooth dynamical systems and for Hamiltonian systems. Meccanica 15, 9-30.
Farmer, J. D. (1982). Chaotic attractors of an infinite-dimensional dynamical system. Physica D 4, 366-393.
Welch, P. D. (1967). IEEE Trans. Audio Electroacoust. 15(2), 70-73.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .catalog import System
from .compiler import CompiledSystem, compile_system, observe_function
from .integrate import STATUS_TEXT, integrate
from .invariants.kernels import OK, tangent_delay, tangent_rk4
from .invariants.lyapunov import jacobian_scale
from .invariants.spectrum import power_spectrum, timescales

# -- the integration ---------------------------------------------------------------------------------
TRANSIENT_PERIODS = 100.0
RECORD_PERIODS = 256.0
PTS_PER_PERIOD = 64
RTOL = ATOL = 1e-9
MAX_STEPS_PER_PERIOD = 20_000
# -- the tests -------------------------------------------------------------------------------------
MAX_EXCURSION = 100.0
MIN_MOTION = 1e-5
MIN_CROSSINGS = 20
MIN_SECTION_SPREAD = 1e-4
SPECTRUM_SEGMENT = 2048
BROADBAND_HALF_WIDTH = 4
MIN_BROADBAND = 1e-3
LYAPUNOV_STARTS = 4
LYAPUNOV_Z = 3.0
MIN_LYAPUNOV_GROWTH = 5.0
#: each tangent run: at least this many periods, and as many as this many reference Lyapunov times
LYAPUNOV_PERIODS = 100.0
LYAPUNOV_TIMES = 30.0
LYAPUNOV_TRANSIENT_PERIODS = 10.0
MAX_LYAPUNOV_STEPS = 200_000
MAX_LYAPUNOV_PERIODS = 2000.0
#: RK4 step of the tangent runs: period / STEPS_PER_PERIOD, at most STIFFNESS / max |eigenvalue of J|
STEPS_PER_PERIOD = 100
STIFFNESS = 0.5
#: exponents computed (all of them for flows up to this dimension); delay equations: the leading ones
MAX_EXPONENTS = 10
DELAY_EXPONENTS = 3
DELAY_GRID = 200
#: test 6: the long runs (as long as the 2000-period runs that exposed transient chaos), their late part
PERSISTENCE_STARTS = 4
PERSISTENCE_PERIODS = 2000.0
PERSISTENCE_LATE_PERIODS = 200.0
PERSISTENCE_KICK = 1e-3
#: the long runs decide where an orbit ends up, not its path: a looser tolerance halves their cost
PERSISTENCE_RTOL = PERSISTENCE_ATOL = 1e-6
PERSISTENCE_MIN_GROWTH = 5.0
PERSISTENCE_SEED = 0

TESTS = ("bounded", "fixed_point", "periodic", "broadband", "lyapunov", "persistence")
THRESHOLDS = {
    "bounded": f"excursion <= {MAX_EXCURSION:g} reference stds",
    "fixed_point": f"motion > {MIN_MOTION:g} reference stds",
    "periodic": f"section spread > {MIN_SECTION_SPREAD:g} stds with >= {MIN_CROSSINGS} crossings",
    "broadband": f"continuum fraction > {MIN_BROADBAND:g}",
    "lyapunov": f"lambda_max > {LYAPUNOV_Z:g} standard errors and lambda_max T > {MIN_LYAPUNOV_GROWTH:g}",
    "persistence": f"every one of {PERSISTENCE_STARTS} starts bounded after {PERSISTENCE_PERIODS:g} periods "
    f"with lambda T > {PERSISTENCE_MIN_GROWTH:g} over the last {PERSISTENCE_LATE_PERIODS:g}",
}


@dataclass
class Check:
    """One test: its measured value, whether it passed, and why in words."""

    name: str
    value: float | None
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict:
        v = None if self.value is None or not math.isfinite(self.value) else float(f"{self.value:.6g}")
        return {
            "test": self.name,
            "value": v,
            "passed": self.passed,
            "threshold": THRESHOLDS[self.name],
            "detail": self.detail,
        }


@dataclass
class Verdict:
    """The tests run (in order), whether all passed, and what the accepted system's entry needs."""

    checks: list[Check]
    lyapunov_spectrum: np.ndarray | None = None
    lyapunov_std: np.ndarray | None = None
    final_state: np.ndarray | None = None
    dominant_period: float | None = None
    suggested_dt: float | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def chaotic(self) -> bool:
        return len(self.checks) == len(TESTS) and all(c.passed for c in self.checks)

    @property
    def rejected_by(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)

    def summary(self) -> dict:
        return {c.name: c.as_dict() for c in self.checks}


@dataclass
class _Recording:
    raw: np.ndarray  # (N, n) raw states
    observed: np.ndarray  # (N, n) observed states
    seen: np.ndarray  # (N, m) observed, non-clock columns
    whole: tuple[np.ndarray, np.ndarray]  # mean and std of those columns over the transient and the recording
    times: np.ndarray
    dt: float


def _columns(system: System) -> list[int]:
    clocks = set(system.clock_variables) if system.is_nonautonomous else set()
    return [i for i in range(system.dimension) if i not in clocks]


def _record(cs: CompiledSystem, y0: np.ndarray, period: float) -> tuple[_Recording | None, str]:
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
    whole = observed[:, _columns(system)]
    if not np.all(np.isfinite(whole)):
        return None, "the observed states became non-finite"
    times = (n_transient + np.arange(n_record)) * dt
    return _Recording(
        raw=sol.states[0, n_transient:],
        observed=observed[n_transient:],
        seen=whole[n_transient:],
        whole=(whole.mean(axis=0), whole.std(axis=0)),
        times=times,
        dt=dt,
    ), ""


def _bounded(rec: _Recording | None, why: str, ref_mean: np.ndarray | float, ref_std: np.ndarray) -> Check:
    if rec is None:
        return Check("bounded", math.inf, False, why)
    excursion = float(np.max(np.abs(rec.seen - ref_mean) / ref_std))
    ok = excursion <= MAX_EXCURSION
    return Check("bounded", excursion, ok, "" if ok else "the orbit leaves the reference attractor's region")


def _fixed_point(rec: _Recording, ref_std: np.ndarray) -> Check:
    half = rec.seen[len(rec.seen) // 2 :]
    motion = float(np.max(half.std(axis=0) / ref_std))
    ok = motion > MIN_MOTION
    return Check("fixed_point", motion, ok, "" if ok else "the orbit settles on a fixed point")


def _standardised(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    keep = std > 0
    return (x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]


def section_points(z: np.ndarray) -> np.ndarray:
    """Upward crossings through zero of the principal component of ``z`` (N x m, standardised) that crosses
    most often (the first one can be a slow drift, such as a field's reversals).

    Each crossing is located by Newton's method on the cubic through the four samples around it
    (error ~ (sampling step x frequency)^4), and all coordinates are interpolated with the same cubic.
    """
    if z.shape[1] == 0:
        return np.empty((0, 0))
    _, _, vt = np.linalg.svd(z[:: max(1, len(z) // 4096)], full_matrices=False)
    best = None
    for v in vt:
        s = z @ v
        j = np.nonzero((s[1:-2] < 0) & (s[2:-1] >= 0))[0] + 1  # between j and j + 1, with j - 1 and j + 2
        if best is None or len(j) > len(best[1]):
            best = (s, j)
    if best is None:  # z has no rows (so vt has none): no crossings, as below
        return np.empty((0, z.shape[1]))
    s, j = best
    if len(j) == 0:
        return np.empty((0, z.shape[1]))
    nodes = np.array([-1.0, 0.0, 1.0, 2.0])
    samples = np.stack([s[j - 1], s[j], s[j + 1], s[j + 2]], axis=1)
    u = -s[j] / (s[j + 1] - s[j])

    def basis(u):
        L = np.ones((len(u), 4))
        dL = np.zeros((len(u), 4))
        for k in range(4):
            others = [m for m in range(4) if m != k]
            denom = np.prod([nodes[k] - nodes[m] for m in others])
            terms = [u - nodes[m] for m in others]
            L[:, k] = terms[0] * terms[1] * terms[2] / denom
            dL[:, k] = (terms[1] * terms[2] + terms[0] * terms[2] + terms[0] * terms[1]) / denom
        return L, dL

    for _ in range(6):
        L, dL = basis(u)
        ds = np.sum(samples * dL, axis=1)
        u = np.clip(u - np.sum(samples * L, axis=1) / np.where(ds != 0, ds, 1.0), 0.0, 1.0)
    L, _ = basis(u)
    return np.einsum("ck,ckm->cm", L, np.stack([z[j - 1], z[j], z[j + 1], z[j + 2]], axis=1))


def _embedded(seen: np.ndarray) -> np.ndarray:
    """At least three coordinates: a scalar (a delay equation's) is completed by delayed copies."""
    if seen.shape[1] >= 3:
        return seen
    lag = PTS_PER_PERIOD // 4
    copies = 3 - seen.shape[1] + (seen.shape[1] == 0)
    parts = [seen[lag * copies :]] + [seen[lag * (copies - c) : len(seen) - lag * c] for c in range(1, copies + 1)]
    return np.concatenate(parts, axis=1)


def _periodic(rec: _Recording) -> Check:
    from scipy.spatial import cKDTree

    z = _standardised(_embedded(rec.seen))
    points = section_points(z)
    if len(points) < MIN_CROSSINGS:
        return Check(
            "periodic",
            None,
            False,
            f"only {len(points)} section crossings in {RECORD_PERIODS:g} periods (no sustained oscillation)",
        )
    dist, _ = cKDTree(points).query(points, k=2)
    spread = float(np.median(dist[:, 1]))
    ok = spread > MIN_SECTION_SPREAD
    return Check("periodic", spread, ok, "" if ok else f"{len(points)} section points repeat: a periodic orbit")


def broadband_fraction(x: np.ndarray, dt: float) -> float:
    """Fraction of the power of ``x`` (N x m) below its 99% frequency that lies in the spectrum's continuum:
    what survives a running minimum over ``2 BROADBAND_HALF_WIDTH + 1`` bins of the Welch spectrum."""
    from scipy.ndimage import minimum_filter1d

    freqs, psd = power_spectrum(x, dt, segment=SPECTRUM_SEGMENT)
    psd = psd[1:]
    total = psd.sum()
    if not total > 0:
        return 0.0
    top = int(np.searchsorted(np.cumsum(psd) / total, 0.99)) + 1
    floor = minimum_filter1d(psd, 2 * BROADBAND_HALF_WIDTH + 1, mode="nearest")
    return float(floor[:top].sum() / psd[:top].sum())


def _broadband(rec: _Recording) -> Check:
    fraction = broadband_fraction(rec.seen, rec.dt)
    ok = fraction > MIN_BROADBAND
    return Check("broadband", fraction, ok, "" if ok else "the power spectrum is a set of lines")


def _tangent_step(cs: CompiledSystem, raw: np.ndarray, period: float) -> float:
    """RK4 step of the tangent runs: ``period / STEPS_PER_PERIOD``, at most ``STIFFNESS / rho(J)`` on ``raw``."""
    rho = jacobian_scale(cs, raw[:: max(1, len(raw) // 100)])
    h = period / STEPS_PER_PERIOD
    return min(h, STIFFNESS / rho) if rho > 0 else h


def tangent_exponents(
    cs: CompiledSystem, starts: np.ndarray, t_starts: np.ndarray, h: float, period: float, n_periods: float, k: int
) -> tuple[np.ndarray | None, dict]:
    """The ``k`` leading Lyapunov exponents (starts x k) of the flow or delay equation ``cs`` from ``starts``.

    The tangent kernels of :mod:`chaosbench.invariants.kernels` with the exact Jacobian (Benettin et al.
    1980; Farmer 1982 for delay equations), after ``LYAPUNOV_TRANSIENT_PERIODS`` of alignment; None if a
    run became non-finite (flows: at the step ``h`` and at half of it).
    """
    system = cs.system
    if system.is_delay:
        tau_min = float(cs.lag_tau.min())
        h = tau_min / max(DELAY_GRID, int(math.ceil(tau_min / h)))
        lag_steps = np.rint(cs.lag_tau / h).astype(np.int64)
        k = min(k, DELAY_EXPONENTS)
        n_steps = int(min(MAX_LYAPUNOV_STEPS, math.ceil(n_periods * period / h)))
        n_transient = int(math.ceil(max(LYAPUNOV_TRANSIENT_PERIODS * period, 20 * float(cs.lag_tau.max())) / h))
        qr_every = max(1, int(lag_steps.max()) // 4)
        logs, state = np.empty((len(starts), k)), np.empty(system.dimension)
        for i, y0 in enumerate(starts):
            if (
                tangent_delay(
                    cs.rhs,
                    cs.jac,
                    cs.jac_lag,
                    np.ascontiguousarray(y0),
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
                != OK
            ):
                return None, {}
        per = -np.sort(-logs / (n_steps * h), axis=1)
        return per, {"method": "discretised tangent method (Farmer 1982)", "dt": h, "steps": n_steps}
    k = min(system.dimension, k)
    for _ in range(2):  # once more at half the step if RK4 was unstable
        n_steps = int(min(MAX_LYAPUNOV_STEPS, math.ceil(n_periods * period / h)))
        n_transient = int(math.ceil(LYAPUNOV_TRANSIENT_PERIODS * period / h))
        rows, row, div = [], np.empty(k), np.empty(1)
        for y0, t0 in zip(starts, t_starts):
            if (
                tangent_rk4(
                    cs.rhs, cs.jac, np.ascontiguousarray(y0), float(t0), h, n_transient, n_steps, 4, cs.params, row, div
                )
                == OK
            ):
                rows.append(row / (n_steps * h))
        if len(rows) == len(starts):
            break
        h /= 2
    if len(rows) < min(2, len(starts)):
        return None, {}
    per = -np.sort(-np.array(rows), axis=1)
    return per, {
        "method": "variational equations, RK4, Gram-Schmidt every 4 steps (Benettin et al. 1980)",
        "dt": h,
        "steps": n_steps,
    }


def lyapunov_exponents(
    cs: CompiledSystem,
    rec: _Recording,
    period: float,
    n_periods: float,
) -> tuple[np.ndarray | None, dict]:
    """Leading Lyapunov exponents (starts x k) from ``LYAPUNOV_STARTS`` states of ``rec``
    (:func:`tangent_exponents`); None if the runs became non-finite."""
    idx = np.linspace(0, len(rec.raw) - 1, LYAPUNOV_STARTS).astype(int)
    t_starts = rec.times[idx] if cs.system.is_nonautonomous else np.zeros(len(idx))
    k = DELAY_EXPONENTS if cs.system.is_delay else MAX_EXPONENTS
    return tangent_exponents(cs, rec.raw[idx], t_starts, _tangent_step(cs, rec.raw, period), period, n_periods, k)


def _lyapunov(
    cs: CompiledSystem, rec: _Recording, period: float, n_periods: float
) -> tuple[Check, np.ndarray | None, np.ndarray | None, dict]:
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


def _persistence(
    cs: CompiledSystem, rec: _Recording, period: float, ref_mean: np.ndarray | float, ref_std: np.ndarray
) -> tuple[Check, dict]:
    """Test 6 (see the module docstring): long runs from displaced states of the recording stay chaotic."""
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
    h = _tangent_step(cs, rec.raw, period)
    observe = observe_function(system)
    cols = _columns(system)
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


def validate(
    system: System,
    parameters: Mapping[str, float] | None = None,
    *,
    initial_state: Sequence[float] | None = None,
    period: float | None = None,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    lyapunov_time: float | None = None,
    stop_early: bool = True,
) -> Verdict:
    """Run the six tests of this module on ``system`` (with ``parameters`` overriding its own).

    Parameters
    ----------
    system : System
    parameters : values replacing the catalog's, by name (no recompilation).
    initial_state : where to start (default: the catalog's point); the transient is dropped.
    period : the time scale that sets the transient, the recording and the steps (default: catalog period).
    reference : (mean, std) of the attractor that bounds the orbit, in observed coordinates without clock
        variables (default: the system's stored invariants, else the whole run with its transient, so that
        an orbit settling on a fixed point is measured against the way it came).
    lyapunov_time : the expected Lyapunov time, which lengthens the tangent runs to ``LYAPUNOV_TIMES`` of
        it (default: from the stored invariants).
    stop_early : stop at the first failed test (as the sampler does); otherwise run every test that can run.

    Returns
    -------
    Verdict
        ``checks`` in the order of ``TESTS``; ``chaotic`` if all six passed.
    """
    t0 = time.perf_counter()
    cs = compile_system(system, parameters)
    period = float(period or system.period)
    y0 = np.asarray(system.initial_conditions if initial_state is None else initial_state, dtype=float)
    rec, why = _record(cs, y0, period)
    cols = _columns(system)
    if reference is None and system.invariants.get("std") and len(system.invariants["std"]) == system.dimension:
        inv = system.invariants
        reference = (np.asarray(inv["mean"], float)[cols], np.asarray(inv["std"], float)[cols])
    if reference is None and rec is not None:
        reference = rec.whole
    ref_mean, ref_std = reference if reference is not None else (0.0, 1.0)
    ref_std = np.where(np.asarray(ref_std) > 0, ref_std, 1.0)
    verdict = Verdict(checks=[_bounded(rec, why, ref_mean, ref_std)])
    if rec is not None:
        steps = [lambda: _fixed_point(rec, ref_std), lambda: _periodic(rec), lambda: _broadband(rec)]
        for step in steps:
            if stop_early and not verdict.checks[-1].passed:
                break
            verdict.checks.append(step())
        if not stop_early or verdict.checks[-1].passed:
            lam_time = lyapunov_time or system.lyapunov_time
            n_periods = (
                min(MAX_LYAPUNOV_PERIODS, max(LYAPUNOV_PERIODS, LYAPUNOV_TIMES * lam_time / period))
                if lam_time
                else LYAPUNOV_PERIODS
            )
            check, mean, std, settings = _lyapunov(cs, rec, period, n_periods)
            verdict.checks.append(check)
            verdict.lyapunov_spectrum, verdict.lyapunov_std = mean, std
            verdict.settings["lyapunov"] = settings
        if not stop_early or verdict.checks[-1].passed:
            check, settings = _persistence(cs, rec, period, ref_mean, ref_std)
            verdict.checks.append(check)
            verdict.settings["persistence"] = settings
        verdict.final_state = rec.raw[-1].copy()
        verdict.mean, verdict.std = rec.observed.mean(axis=0), rec.observed.std(axis=0)
        if verdict.chaotic:
            ts = timescales(rec.seen, rec.dt, segment=SPECTRUM_SEGMENT)
            verdict.dominant_period, verdict.suggested_dt = ts.dominant_period, ts.suggested_dt
    verdict.settings["recording"] = {
        "rtol": RTOL,
        "transient_periods": TRANSIENT_PERIODS,
        "record_periods": RECORD_PERIODS,
        "pts_per_period": PTS_PER_PERIOD,
        "period": period,
    }
    verdict.seconds = time.perf_counter() - t0
    return verdict
