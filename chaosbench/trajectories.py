"""Trajectories at a chosen resolution, started from independent points on each attractor.

A reference run from the catalog's point (past a transient) gives the attractor's statistics and
a pool of states. Each trajectory starts from its own state:

1. a pool state drawn with a seeded generator,
2. perturbed by a seeded random displacement of ``perturbation`` (1e-3) times the attractor's std
   in every variable (or, with ``relative_perturbation``, of 1e-3 times each variable's own value, which
   keeps its sign: for attractors that come close to a boundary such as a zero population),
3. run through a **decorrelation transient** of ``decorrelation_lyap`` (20) Lyapunov times (and at
   least ``transient_periods`` periods) before its first recorded step. A start whose transient fails
   (the kick carried it out of the attractor's basin) is kicked again from its pool state with a
   generator of its own, at most :data:`REDRAWS` times; the starts that succeed are never redrawn.

A perturbation of 1e-3 grows to the attractor's size in about ln(1e3) ≈ 7 Lyapunov times, so
after 20 two trajectories share nothing of the pool orbit they came from, even when they were drawn
from the same pool state or from states on one orbit: without step 3 a trajectory started at an
early pool state passes through the later ones, and a "test" trajectory started there would copy
it (:mod:`chaosbench.bench.leakage` measures this). Nonautonomous systems are restarted at the time of
their pool state and all brought to one common time, so their forcing phase stays consistent.
Every trajectory is checked finite and within bounds before anything is returned.

A **map** (catalog ``kind: map``) is iterated rather than integrated: its time step is one
iteration (``dt = 1``; resolution options are refused), the reference run records every iterate,
the decorrelation transient is rounded up to whole iterations, a perturbed start is clipped into the
reference run's range (a map may be defined on an interval only, as the Chebyshev map on [-1, 1]),
and noise is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import numpy as np

from .catalog import System
from .compiler import CompiledSystem, compile_system, observe_function
from .errors import ChaosbenchError, IntegrationError
from .integrate import DEFAULT_ATOL, DEFAULT_RTOL, METHODS, integrate

#: trajectories leave the reference run's range by at most this many ranges before we call them unbounded
BOUND_FACTOR = 10.0


@dataclass(frozen=True)
class Resolution:
    """Sampling step, given as exactly one of points per period, points per Lyapunov time or dt."""

    pts_per_period: float | None = None
    pts_per_lyapunov: float | None = None
    dt: float | None = None

    def __post_init__(self):
        given = [k for k, v in asdict(self).items() if v is not None]
        if len(given) > 1:
            raise ChaosbenchError(f"give one resolution, not {' and '.join(given)}")
        for k in given:
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ChaosbenchError(f"{k} must be a positive number, got {v}")

    def step(self, system: System) -> float:
        if system.is_map:
            given = [k for k, v in asdict(self).items() if v is not None]
            if given:
                raise ChaosbenchError(
                    f"system '{system.name}' is a map: its time step is one iteration, so "
                    f"{given[0]} does not apply; leave the resolution out"
                )
            return 1.0
        if self.dt is not None:
            return float(self.dt)
        if self.pts_per_lyapunov is not None:
            if system.lyapunov_time is None:
                raise ChaosbenchError(
                    f"system '{system.name}': no Lyapunov exponent in the catalog yet; "
                    "run 'chaosbench annotate' or give pts_per_period or dt"
                )
            return system.lyapunov_time / self.pts_per_lyapunov
        return system.period / (self.pts_per_period or 100.0)


def _nonneg(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


@dataclass(frozen=True)
class Options:
    """How trajectories are produced; everything that changes the numbers is in here."""

    n_steps: int = 1000
    resolution: Resolution = field(default_factory=Resolution)
    n_trajectories: int = 1
    seed: int = 0
    initial: str = "attractor"
    method: str = "dop853"
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    noise: float = 0.0
    standardize: bool = False
    transient_periods: float = 20.0
    decorrelation_lyap: float = 20.0
    perturbation: float = 1e-3
    relative_perturbation: bool = False

    def __post_init__(self):
        checks = {
            "n_steps": isinstance(self.n_steps, int) and self.n_steps >= 2,
            "n_trajectories": isinstance(self.n_trajectories, int) and self.n_trajectories >= 1,
            "seed": isinstance(self.seed, int) and 0 <= self.seed < 2**63,
            "noise": isinstance(self.noise, (int, float)) and math.isfinite(self.noise) and self.noise >= 0,
            "rtol": 0 < self.rtol < 1,
            "atol": 0 < self.atol < 1,
            "transient_periods": _nonneg(self.transient_periods),
            "decorrelation_lyap": _nonneg(self.decorrelation_lyap),
            "perturbation": _nonneg(self.perturbation) and self.perturbation < 1,
            "relative_perturbation": isinstance(self.relative_perturbation, bool),
        }
        hints = {
            "n_steps": "an integer of at least 2",
            "n_trajectories": "a positive integer",
            "seed": "a non-negative integer",
            "noise": "a non-negative number",
            "rtol": "a number in (0, 1)",
            "atol": "a number in (0, 1)",
            "transient_periods": "a non-negative number",
            "decorrelation_lyap": "a non-negative number",
            "perturbation": "a number in [0, 1)",
            "relative_perturbation": "true or false",
        }
        for k, ok in checks.items():
            if not ok:
                raise ChaosbenchError(f"{k} must be {hints[k]}, got {getattr(self, k)!r}")
        if self.method not in METHODS:
            raise ChaosbenchError(f"method must be one of {', '.join(METHODS)}, got '{self.method}'")
        if self.initial not in ("attractor", "catalog"):
            raise ChaosbenchError(f"initial must be 'attractor' or 'catalog', got '{self.initial}'")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["resolution"] = {k: v for k, v in d["resolution"].items() if v is not None} or {"pts_per_period": 100.0}
        return d


@dataclass
class Reference:
    """What the reference run tells about a system's attractor (in observed coordinates)."""

    pool: np.ndarray
    times: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _fail(system: System, what: str) -> IntegrationError:
    return IntegrationError(f"system '{system.name}': {what}")


def reference(cs: CompiledSystem, opts: Options, observe) -> Reference:
    """Integrate past a transient from the catalog's point and record the attractor's range."""
    system = cs.system
    dt_ref = reference_step(system)
    n_pool = max(500, min(20 * opts.n_trajectories, 200_000))  # bounded memory for huge datasets
    n_transient = int(round(opts.transient_periods * 10)) + 1
    sol = integrate(
        cs, system.initial_conditions, dt=dt_ref, n_steps=n_transient + n_pool, rtol=opts.rtol, atol=opts.atol
    )
    if not sol.ok:
        raise _fail(system, f"the run from its catalog point failed: {sol.failures()[0][1]}")
    pool = sol.states[0, n_transient:]
    seen = observe(pool) if observe else pool
    if not np.all(np.isfinite(seen)):
        raise _fail(system, "the run from its catalog point produced non-finite observables")
    times = (n_transient + np.arange(n_pool)) * dt_ref
    return Reference(pool=pool, times=times, mean=seen.mean(0), std=seen.std(0), low=seen.min(0), high=seen.max(0))


def reference_step(system: System) -> float:
    """Spacing of the reference run's samples: 10 per period for a flow, every iterate of a map."""
    return 1.0 if system.is_map else system.period / 10.0


def decorrelation_time(system: System, opts: Options) -> float:
    """How long each trajectory runs before its first recorded step (0 from the catalog point)."""
    if opts.initial == "catalog":
        return 0.0
    t = opts.transient_periods * system.period
    lam = system.max_lyapunov
    if lam is not None and lam > 0:
        t = max(t, opts.decorrelation_lyap / lam)
    return float(math.ceil(t - 1e-9)) if system.is_map else float(t)


def initial_states(cs: CompiledSystem, opts: Options, ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """Starting states and their times: the catalog point, or pool states drawn with ``opts.seed`` and
    perturbed (see the module's docstring); the decorrelation transient comes after."""
    m = opts.n_trajectories
    if opts.initial == "catalog":
        return np.tile(np.asarray(cs.system.initial_conditions, float), (m, 1)), np.zeros(m)
    idx, rng = _draw(opts, ref)
    return _kicked(cs, opts, ref, ref.pool[idx], rng), ref.times[idx].copy()


def _draw(opts: Options, ref: Reference):
    """The pool indices the starts are drawn from, and the generator that then draws their kicks."""
    rng = np.random.default_rng([opts.seed, 0x5EED])
    m = opts.n_trajectories
    return rng.choice(len(ref.pool), size=m, replace=len(ref.pool) < m), rng


def _pool_points(opts: Options, ref: Reference) -> np.ndarray:
    return ref.pool[_draw(opts, ref)[0]]


def _kicked(cs: CompiledSystem, opts: Options, ref: Reference, points: np.ndarray, rng) -> np.ndarray:
    """``points`` displaced by ``opts.perturbation`` of the attractor's std (or of their own size)."""
    scale = ref.pool.std(0)
    size = np.abs(points) if opts.relative_perturbation else np.where(scale > 0, scale, 1.0)
    starts = points + opts.perturbation * size * rng.standard_normal(points.shape)
    if cs.system.is_map:  # a map may be defined on an interval only (the Chebyshev map's [-1, 1])
        starts = np.clip(starts, ref.pool.min(0), ref.pool.max(0))
    return starts


#: a perturbed start whose decorrelation transient fails (the kick carried it out of the attractor's basin
#: or into an excursion the integrator cannot follow) is kicked again, from the pool state it was kicked
#: from, with a generator of its own, at most this many times; the starts that succeed are never redrawn,
#: and when more than a tenth of the starts (at least one) fail, the system fails, not the kicks
REDRAWS = 5


def decorrelate(
    cs: CompiledSystem,
    y0: np.ndarray,
    t0: np.ndarray,
    duration: float,
    opts: Options,
    *,
    ref: Reference | None = None,
    points: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Run every state for at least ``duration``; return the states and the common time they reach.

    Autonomous flows run from time 0 in one batch; nonautonomous ones each from its own time to the
    same end time. A delay system's run starts from a constant history, so its recorded run later
    discards a few delays again (:func:`plan`). Given the pool ``points`` the starts were kicked from
    (and the reference run ``ref``), a start that fails is kicked again (:data:`REDRAWS`).
    """
    system = cs.system
    if duration <= 0:
        return y0, 0.0
    y0 = np.array(y0, float)
    end = float(t0.max()) + duration if system.is_nonautonomous else 0.0
    out = np.empty_like(y0)
    todo = np.arange(len(y0))
    # more failures than this are the system's, not a kick's: the task fails at once, as it always did
    allowed = max(1, len(y0) // 10) if points is not None and ref is not None else 0
    for attempt in range(REDRAWS + 1):
        failed = []
        if not system.is_nonautonomous:
            sol = integrate(cs, y0[todo], dt=duration, n_steps=2, rtol=opts.rtol, atol=opts.atol)
            out[todo] = sol.states[:, -1]
            failed = [(int(todo[j]), why) for j, why in sol.failures()]
        else:
            for i in todo:
                sol = integrate(cs, y0[i], dt=end - t0[i], n_steps=2, t0=float(t0[i]), rtol=opts.rtol, atol=opts.atol)
                out[i] = sol.states[0, -1]
                failed += [(int(i), why) for _, why in sol.failures()]
                if len(failed) > allowed:  # each failure can take 50 million steps: stop counting
                    break
        if not failed:
            return out, end
        if len(failed) > allowed or attempt == REDRAWS:
            first, why = failed[0]
            tries = f" (and {attempt} redrawn kicks)" if attempt else ""
            raise _fail(system, f"trajectory {first}: {why} during its decorrelation transient{tries}")
        assert points is not None and ref is not None  # allowed > 0
        todo = np.array([i for i, _ in failed])
        for i in todo:
            rng = np.random.default_rng([opts.seed, 0x5EED, int(i), attempt + 1])
            y0[i] = _kicked(cs, opts, ref, points[i : i + 1], rng)[0]
    raise AssertionError("unreachable")


def noise_limit(noise: float) -> str:
    """Why a noisy trajectory can fail where the noiseless one does not (the end of the error message)."""
    return (
        f"additive noise (noise={noise:g}) can carry a state out of its attractor's basin, or across a "
        "boundary the noiseless flow never crosses (a population's zero); use a smaller noise or leave "
        "this system out"
    )


def check_noise_options(options: dict) -> None:
    """Refuse, given ``noise > 0``, the options in ``options`` (those the caller gave) that cannot apply.

    With noise the recorded run is stochastic Heun at a fixed step (period/1000): another method
    is not used and no tolerance sets its accuracy (``rtol``/``atol`` would only set the noiseless
    reference run and transient)."""
    noise = options.get("noise")
    if not (isinstance(noise, (int, float)) and noise > 0):
        return
    method = options.get("method")
    if method is not None and method != "heun":
        raise ChaosbenchError(
            f"method '{method}' cannot apply with noise={noise:g}: noisy trajectories are "
            "integrated by stochastic Heun with a fixed step; leave method out or give 'heun'"
        )
    given = [k for k in ("rtol", "atol") if options.get(k) is not None]
    if given:
        raise ChaosbenchError(
            f"{' and '.join(given)} cannot apply with noise={noise:g}: noisy trajectories are "
            f"integrated by stochastic Heun with a fixed step; leave {' and '.join(given)} out"
        )


def _check(system: System, states: np.ndarray, ref: Reference, first: int, noise: float = 0.0) -> None:
    bad = ~np.all(np.isfinite(states), axis=(1, 2))
    if bad.any():
        raise _fail(
            system,
            f"trajectory {first + int(np.argmax(bad))} became NaN or infinite; "
            + (noise_limit(noise) if noise > 0 else "try a tighter rtol/atol or a smaller dt"),
        )
    span = np.maximum(ref.high - ref.low, 1e-12)
    lo, hi = ref.low - BOUND_FACTOR * span, ref.high + BOUND_FACTOR * span
    out = np.any((states < lo) | (states > hi), axis=(1, 2))
    if out.any():
        raise _fail(
            system,
            f"trajectory {first + int(np.argmax(out))} left the attractor's range "
            f"(more than {BOUND_FACTOR:g} ranges away): "
            + (noise_limit(noise) if noise > 0 else "unbounded at these settings"),
        )


@dataclass
class Plan:
    """Everything fixed before the recorded run: the compiled system, its reference run, the
    decorrelated starting states and how they will be integrated."""

    cs: CompiledSystem
    observe: Callable[[np.ndarray], np.ndarray] | None  # raw states -> observables (None: identity)
    ref: Reference
    states: np.ndarray  # (m, n) raw starting states, after the decorrelation transient
    t_start: float  # the time of those states
    n_discard: int  # steps integrated and dropped first (delay systems leave a constant history)
    dt: float
    method: str
    substeps: int
    sigma: np.ndarray | None
    info: dict


def plan(system: System, opts: Options, *, parameters: dict | None = None) -> Plan:
    """Compile, run the reference, draw and decorrelate the starting states (see the module docstring)."""
    cs = compile_system(system, parameters)
    observe = observe_function(system)
    ref = reference(cs, opts, observe)
    dt = opts.resolution.step(system)
    y0, t_pool = initial_states(cs, opts, ref)
    t_decor = decorrelation_time(system, opts)
    points = _pool_points(opts, ref) if opts.initial == "attractor" else None
    y0, t_start = decorrelate(cs, y0, t_pool, t_decor, opts, ref=ref, points=points)
    if system.is_map and opts.noise > 0:
        raise ChaosbenchError(f"system '{system.name}' is a map: noise is not supported for maps")
    sigma = opts.noise * ref.std / math.sqrt(system.period) if opts.noise > 0 else None
    if sigma is not None:  # a clock (dz/dt = w) is time itself: noise there would jitter the forcing's phase
        sigma[list(system.clock_variables)] = 0.0
    method = "heun" if sigma is not None else opts.method
    substeps = max(1, math.ceil(dt / (system.period / 1000.0))) if method != "dop853" else 1
    if system.is_map:
        method, substeps = "iteration", 1
    # a delay system restarts from a constant history, which is not a point of its attractor
    n_discard = math.ceil(5.0 * float(cs.lag_tau.max()) / dt) if system.is_delay and opts.initial == "attractor" else 0
    info = {
        "dt": dt,
        "method": method,
        "substeps": substeps,
        "mean": ref.mean.tolist(),
        "std": ref.std.tolist(),
        "t_start": t_start + n_discard * dt,
        "decorrelation_time": t_decor,
        "noise_sigma": None if sigma is None else sigma.tolist(),
        "discarded_steps": n_discard,
        "parameters": {k: float(v) for k, v in zip(system.parameters, cs.params)},
    }
    return Plan(cs, observe, ref, y0, t_start, n_discard, dt, method, substeps, sigma, info)


def record(
    p: Plan,
    first: int,
    count: int,
    n_steps: int,
    opts: Options,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    raw: bool = False,
):
    """Integrate starting states ``first .. first + count`` for ``n_steps`` recorded steps (tolerances
    default to ``opts``'): array ``(count, n_steps, n)`` of observed states, checked finite and bounded
    (with ``raw``, a pair: observed and raw states)."""
    system = p.cs.system
    sol = integrate(
        p.cs,
        p.states[first : first + count],
        dt=p.dt,
        n_steps=n_steps + p.n_discard,
        t0=p.t_start,
        method=p.method,
        rtol=opts.rtol if rtol is None else rtol,
        atol=opts.atol if atol is None else atol,
        substeps=p.substeps,
        noise=p.sigma,
        seed=opts.seed,
        stream=first,
    )
    noise = opts.noise if p.sigma is not None else 0.0
    for i, why in sol.failures():
        raise _fail(
            system,
            f"trajectory {first + i}: {why}; "
            + (noise_limit(noise) if noise > 0 else "try a tighter rtol/atol or a smaller dt"),
        )
    unobserved = sol.states[:, p.n_discard :]
    states = p.observe(unobserved) if p.observe else unobserved
    _check(system, states, p.ref, first, noise)
    return (states, unobserved) if raw else states


def batches(
    system: System, opts: Options, *, parameters: dict | None = None, max_bytes: int = 256 * 2**20
) -> Iterator[tuple[int, np.ndarray, np.ndarray, dict]]:
    """Yield (first trajectory index, times, observed states (b x n_steps x n), info) batch by batch.

    Memory stays below about ``max_bytes`` per batch whatever the number of trajectories.
    """
    p = plan(system, opts, parameters=parameters)
    per_traj = (opts.n_steps + p.n_discard) * system.dimension * 8
    size = max(1, min(opts.n_trajectories, max_bytes // max(per_traj, 1)))
    times = np.arange(opts.n_steps) * p.dt
    for first in range(0, opts.n_trajectories, size):
        states = record(p, first, min(size, opts.n_trajectories - first), opts.n_steps, opts)
        if opts.standardize:
            states = (states - p.ref.mean) / np.where(p.ref.std > 0, p.ref.std, 1.0)
        yield first, times, states, p.info


def trajectory(system: System, **kwargs) -> np.ndarray:
    """All trajectories of one system in memory: array (n_trajectories, n_steps, dimension).

    Keyword arguments are those of :class:`Options`, plus ``pts_per_period``/``pts_per_lyapunov``/``dt``.
    """
    parameters = kwargs.pop("parameters", None)
    check_noise_options(kwargs)
    opts = make_options(**kwargs)
    return np.concatenate([states for _, _, states, _ in batches(system, opts, parameters=parameters)])


def make_options(
    *,
    length: int | None = None,
    pts_per_period: float | None = None,
    pts_per_lyapunov: float | None = None,
    dt: float | None = None,
    **kwargs,
) -> Options:
    """Build :class:`Options` from flat keyword arguments (``length`` is ``n_steps``)."""
    if length is not None:
        if not (isinstance(length, int) and not isinstance(length, bool) and length >= 2):
            raise ChaosbenchError(f"length must be an integer of at least 2, got {length!r}")
        kwargs["n_steps"] = length
    return Options(resolution=Resolution(pts_per_period, pts_per_lyapunov, dt), **kwargs)
