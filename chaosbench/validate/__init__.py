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

The tests live in :mod:`.orbit` (1-4, on the recording of :mod:`.recording`) and :mod:`.exponents`
(5-6, on tangent runs); their numbers in :mod:`.thresholds`.

References
----------
Benettin, G., Galgani, L., Giorgilli, A., & Strelcyn, J.-M. (1980). Lyapunov characteristic exponents
for smooth dynamical systems and for Hamiltonian systems. Meccanica 15, 9-30.
Farmer, J. D. (1982). Chaotic attractors of an infinite-dimensional dynamical system. Physica D 4, 366-393.
Welch, P. D. (1967). IEEE Trans. Audio Electroacoust. 15(2), 70-73.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..catalog import System
from ..compiler import compile_system
from ..invariants.kernels import OK  # noqa: F401  (an upper-case number here: the sampler's spec has always held it)
from ..invariants.spectrum import timescales
from .exponents import lyapunov, lyapunov_exponents, persistence, tangent_exponents
from .orbit import broadband, broadband_fraction, bounded, fixed_point, periodic, section_points
from .recording import columns, record

# every threshold, here where the sampler reads them all (upper-case numbers) into its spec
from .thresholds import (  # noqa: F401
    ATOL,
    BROADBAND_HALF_WIDTH,
    DELAY_EXPONENTS,
    DELAY_GRID,
    LYAPUNOV_PERIODS,
    LYAPUNOV_STARTS,
    LYAPUNOV_TIMES,
    LYAPUNOV_TRANSIENT_PERIODS,
    LYAPUNOV_Z,
    MAX_EXCURSION,
    MAX_EXPONENTS,
    MAX_LYAPUNOV_PERIODS,
    MAX_LYAPUNOV_STEPS,
    MAX_STEPS_PER_PERIOD,
    MIN_BROADBAND,
    MIN_CROSSINGS,
    MIN_LYAPUNOV_GROWTH,
    MIN_MOTION,
    MIN_SECTION_SPREAD,
    PERSISTENCE_ATOL,
    PERSISTENCE_KICK,
    PERSISTENCE_LATE_PERIODS,
    PERSISTENCE_MIN_GROWTH,
    PERSISTENCE_PERIODS,
    PERSISTENCE_RTOL,
    PERSISTENCE_SEED,
    PERSISTENCE_STARTS,
    PTS_PER_PERIOD,
    RECORD_PERIODS,
    RTOL,
    SPECTRUM_SEGMENT,
    STEPS_PER_PERIOD,
    STIFFNESS,
    TESTS,
    THRESHOLDS,
    TRANSIENT_PERIODS,
    Check,
)


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
    rec, why = record(cs, y0, period)
    cols = columns(system)
    if reference is None and system.invariants.get("std") and len(system.invariants["std"]) == system.dimension:
        inv = system.invariants
        reference = (np.asarray(inv["mean"], float)[cols], np.asarray(inv["std"], float)[cols])
    if reference is None and rec is not None:
        reference = rec.whole
    ref_mean, ref_std = reference if reference is not None else (0.0, 1.0)
    ref_std = np.where(np.asarray(ref_std) > 0, ref_std, 1.0)
    verdict = Verdict(checks=[bounded(rec, why, ref_mean, ref_std)])
    if rec is not None:
        steps = [lambda: fixed_point(rec, ref_std), lambda: periodic(rec), lambda: broadband(rec)]
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
            check, mean, std, settings = lyapunov(cs, rec, period, n_periods)
            verdict.checks.append(check)
            verdict.lyapunov_spectrum, verdict.lyapunov_std = mean, std
            verdict.settings["lyapunov"] = settings
        if not stop_early or verdict.checks[-1].passed:
            check, settings = persistence(cs, rec, period, ref_mean, ref_std)
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


__all__ = [
    "validate",
    "Verdict",
    "Check",
    "TESTS",
    "THRESHOLDS",
    "section_points",
    "broadband_fraction",
    "tangent_exponents",
    "lyapunov_exponents",
]
