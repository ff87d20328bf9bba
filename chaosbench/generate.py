"""Trajectories at a chosen resolution, started from points sampled on each attractor.

A reference run from the catalog's point (past a transient) gives the attractor's statistics and
a pool of states; trajectories start from states drawn from that pool with a seeded generator, so
every trajectory is on the attractor from its first step. Every trajectory is checked finite and
within bounds before anything is returned.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterator

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
        if self.dt is not None:
            return float(self.dt)
        if self.pts_per_lyapunov is not None:
            if system.lyapunov_time is None:
                raise ChaosbenchError(f"system '{system.name}': no Lyapunov exponent in the catalog yet; "
                                      "run 'chaosbench annotate' or give pts_per_period or dt")
            return system.lyapunov_time / self.pts_per_lyapunov
        return system.period / (self.pts_per_period or 100.0)


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

    def __post_init__(self):
        checks = {
            "n_steps": isinstance(self.n_steps, int) and self.n_steps >= 2,
            "n_trajectories": isinstance(self.n_trajectories, int) and self.n_trajectories >= 1,
            "seed": isinstance(self.seed, int) and 0 <= self.seed < 2**63,
            "noise": isinstance(self.noise, (int, float)) and math.isfinite(self.noise) and self.noise >= 0,
            "rtol": 0 < self.rtol < 1, "atol": 0 < self.atol < 1,
            "transient_periods": self.transient_periods >= 0,
        }
        hints = {"n_steps": "an integer of at least 2", "n_trajectories": "a positive integer",
                 "seed": "a non-negative integer", "noise": "a non-negative number",
                 "rtol": "a number in (0, 1)", "atol": "a number in (0, 1)",
                 "transient_periods": "a non-negative number"}
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
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _fail(system: System, what: str) -> IntegrationError:
    return IntegrationError(f"system '{system.name}': {what}")


def reference(cs: CompiledSystem, opts: Options, observe) -> Reference:
    """Integrate past a transient from the catalog's point and record the attractor's range."""
    system = cs.system
    dt_ref = system.period / 10.0  # 50 periods of attractor at least, 10 points per period
    n_pool = max(500, min(20 * opts.n_trajectories, 200_000))  # bounded memory for huge datasets
    n_transient = int(round(opts.transient_periods * 10)) + 1
    sol = integrate(cs, system.initial_conditions, dt=dt_ref, n_steps=n_transient + n_pool, rtol=opts.rtol,
                    atol=opts.atol)
    if not sol.ok:
        raise _fail(system, f"the run from its catalog point failed: {sol.failures()[0][1]}")
    pool = sol.states[0, n_transient:]
    seen = observe(pool) if observe else pool
    if not np.all(np.isfinite(seen)):
        raise _fail(system, "the run from its catalog point produced non-finite observables")
    return Reference(pool=pool, mean=seen.mean(0), std=seen.std(0), low=seen.min(0), high=seen.max(0))


def initial_states(cs: CompiledSystem, opts: Options, ref: Reference) -> np.ndarray:
    """Starting states: the catalog point, or states drawn on the attractor with ``opts.seed``."""
    if opts.initial == "catalog":
        return np.tile(np.asarray(cs.system.initial_conditions, float), (opts.n_trajectories, 1))
    rng = np.random.default_rng([opts.seed, 0x5EED])
    idx = rng.choice(len(ref.pool), size=opts.n_trajectories, replace=len(ref.pool) < opts.n_trajectories)
    return ref.pool[idx].copy()


def _check(system: System, states: np.ndarray, ref: Reference, first: int) -> None:
    bad = ~np.all(np.isfinite(states), axis=(1, 2))
    if bad.any():
        raise _fail(system, f"trajectory {first + int(np.argmax(bad))} became NaN or infinite; "
                            "try a tighter rtol/atol or a smaller dt")
    span = np.maximum(ref.high - ref.low, 1e-12)
    lo, hi = ref.low - BOUND_FACTOR * span, ref.high + BOUND_FACTOR * span
    out = np.any((states < lo) | (states > hi), axis=(1, 2))
    if out.any():
        raise _fail(system, f"trajectory {first + int(np.argmax(out))} left the attractor's range "
                            f"(more than {BOUND_FACTOR:g} ranges away): unbounded at these settings")


def batches(system: System, opts: Options, *, parameters: dict | None = None,
            max_bytes: int = 256 * 2**20) -> Iterator[tuple[int, np.ndarray, np.ndarray, dict]]:
    """Yield (first trajectory index, times, observed states (b x n_steps x n), info) batch by batch.

    Memory stays below about ``max_bytes`` per batch whatever the number of trajectories.
    """
    cs = compile_system(system, parameters)
    observe = observe_function(system)
    ref = reference(cs, opts, observe)
    dt = opts.resolution.step(system)
    y0 = initial_states(cs, opts, ref)
    sigma = opts.noise * ref.std / math.sqrt(system.period) if opts.noise > 0 else None
    method = "heun" if sigma is not None else opts.method
    substeps = max(1, math.ceil(dt / (system.period / 1000.0))) if method != "dop853" else 1
    n_discard = 0
    if system.is_delay and opts.initial == "attractor":
        # a state drawn from the pool is a constant history, not a point of the delay attractor
        n_discard = math.ceil(5.0 * float(cs.lag_tau.max()) / dt)
    per_traj = (opts.n_steps + n_discard) * system.dimension * 8
    size = max(1, min(opts.n_trajectories, max_bytes // max(per_traj, 1)))
    times = np.arange(opts.n_steps) * dt
    info = {"dt": dt, "method": method, "substeps": substeps, "mean": ref.mean.tolist(), "std": ref.std.tolist(),
            "noise_sigma": None if sigma is None else sigma.tolist(), "discarded_steps": n_discard,
            "parameters": {k: float(v) for k, v in zip(system.parameters, cs.params)}}
    for first in range(0, opts.n_trajectories, size):
        block = y0[first:first + size]
        sol = integrate(cs, block, dt=dt, n_steps=opts.n_steps + n_discard, method=method, rtol=opts.rtol,
                        atol=opts.atol, substeps=substeps, noise=sigma, seed=opts.seed, stream=first)
        for i, why in sol.failures():
            raise _fail(system, f"trajectory {first + i}: {why}; try a tighter rtol/atol or a smaller dt")
        states = sol.states[:, n_discard:]
        if observe:
            states = observe(states)
        _check(system, states, ref, first)
        if opts.standardize:
            states = (states - ref.mean) / np.where(ref.std > 0, ref.std, 1.0)
        yield first, times, states, info


def trajectory(system: System, **kwargs) -> np.ndarray:
    """All trajectories of one system in memory: array (n_trajectories, n_steps, dimension).

    Keyword arguments are those of :class:`Options`, plus ``pts_per_period``/``pts_per_lyapunov``/``dt``.
    """
    parameters = kwargs.pop("parameters", None)
    opts = make_options(**kwargs)
    return np.concatenate([states for _, _, states, _ in batches(system, opts, parameters=parameters)])


def make_options(*, length: int | None = None, pts_per_period: float | None = None,
                 pts_per_lyapunov: float | None = None, dt: float | None = None, **kwargs) -> Options:
    """Build :class:`Options` from flat keyword arguments (``length`` is ``n_steps``)."""
    if length is not None:
        kwargs["n_steps"] = length
    return Options(resolution=Resolution(pts_per_period, pts_per_lyapunov, dt), **kwargs)
