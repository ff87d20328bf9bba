"""The benchmark protocol: what a model is given, what it must forecast, and the named presets.

A :class:`Task` is one system at one resolution for one seed, built from ``n_windows + 3``
trajectories whose starting points are independent (perturbed and decorrelated for 20 Lyapunov
times, :mod:`chaosbench.trajectories`; checked by :mod:`chaosbench.bench.leakage`):

- a **training trajectory** of ``n_train`` points and, continuing it, a **validation part** of
  ``n_validation`` points (early stopping or hyperparameter search; never scored);
- ``n_windows`` **test windows**, each its own trajectory: a **context** of ``context`` points the
  model may read, then a **horizon** of ``horizon_lyap`` Lyapunov times (25) that it must forecast,
  capped at ``max_horizon_periods`` dominant periods (250) for systems whose Lyapunov time spans
  many periods (``horizon_capped``; their valid prediction time is also reported in periods);
- a **certified truth**: the windows are integrated at ``truth_rtol`` (1e-14) and again at
  ``check_rtol`` (1e-13) from the same states; ``truth_error`` is the NRMSE between the two. Where it
  exceeds ε/10 the truth itself is no longer certain, and a forecast still valid there can only be
  scored as a lower bound (censored). Hurley & Shaheen (2025) call this the valid ground-truth time;
- two **long independent truths** of ``long_run_lyap`` Lyapunov times (500, clipped to 20,000–100,000
  steps): the first is what a model's long free run is compared with (long-term statistics D_stsp and
  D_H), the second scored against the first gives the system's **noise floor** for those statistics.

**Forced systems** (catalog field ``forcing_phase``) are given their forcing phase as observed inputs:
``cos`` and ``sin`` of every phase angle are appended as columns after the system's variables. They are
not scored (``n_scored`` counts the scored leading columns); a model forecasts them like any column,
which for a rotation at a fixed rate is easy. A phase variable of an autonomised system (one whose
equation is a constant rate, e.g. ``dz/dt = w``) is replaced by these columns.

**Maps** (catalog ``kind: map``) are sampled at every iteration (``dt = 1``; a task spec for a map
must say ``pts_per_period=1``, as :data:`MAP_TASK` and the ``maps`` preset do), and Lyapunov times
use the exponent per iteration. Iteration is exact up to rounding, so their truth is certified by a
**twin**: from each window's last context state perturbed by a relative ``MAP_TWIN_PERTURBATION``
(1e-15, the rounding level) in every variable, iterated over the horizon; ``truth_error`` is the
NRMSE between truth and twin, censored at ε/10 as for flows (recorded in ``tolerances``).

All arrays are normalised with the *training* part's per-column mean and std. Everything follows
from ``(system, spec, seed)``: the same triple gives the same numbers on any machine.

Compared with Gilpin 2023 ("Model scale versus domain knowledge in statistical forecasting of
chaotic systems", Phys. Rev. Research 5, 043252) — 10 periods of training data, one test window of 2
periods — windows here are many, independent of the training data, long enough that the best
models are rarely censored, and certified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from ..catalog import Catalog, System, load_catalog
from ..errors import ChaosbenchError, IntegrationError
from ..expressions import evaluate_numpy, parse
from ..integrate import DEFAULT_RTOL
from ..trajectories import make_options, plan, record

#: bumped whenever how a task is built changes without its spec changing (it is part of every task
#: and cell id, so stale caches and results are never mixed with new ones)
PROTOCOL = 2
#: the default valid-prediction threshold ε (NRMSE of standardised data; Pathak et al. 2018)
EPS = 0.3
#: the truth is certified while it differs from the check integration by less than ε times this
CERTIFY_FRACTION = 0.1
#: a map's truth is checked against a twin started this far (relative, per variable) from its forecast origin
MAP_TWIN_PERTURBATION = 1e-15


@dataclass(frozen=True)
class TaskSpec:
    """Everything that shapes a task's numbers, except the system and the seed.

    Parameters
    ----------
    pts_per_period : float
        Resolution: sampling points per dominant period of the system (default 100).
    n_train, n_validation : int
        Points in the training trajectory and in the validation part that continues it.
    n_windows : int
        Test windows K, each an independent trajectory.
    context : int
        Points of each window given to the model before it forecasts.
    horizon_lyap : float
        Forecast horizon in Lyapunov times (rounded up to whole steps) ...
    max_horizon_periods : float
        ... but at most this many dominant periods.
    truth_rtol, check_rtol : float
        Tolerances (relative = absolute) of the truth and of the integration that certifies it.
    long_run_lyap : float
        Length of the long truths for long-term statistics, in Lyapunov times, clipped to
        ``[min_long_run_steps, max_long_run_steps]`` steps.
    forcing_phase : bool
        Give forced systems their forcing phase as (unscored) cos/sin columns.
    noise : float
        Dynamical noise passed to the generator (0: deterministic flows).
    """

    pts_per_period: float = 100.0
    n_train: int = 10_000
    n_validation: int = 1_000
    n_windows: int = 10
    context: int = 500
    horizon_lyap: float = 25.0
    max_horizon_periods: float = 250.0
    truth_rtol: float = 1e-14
    check_rtol: float = 1e-13
    long_run_lyap: float = 500.0
    min_long_run_steps: int = 20_000
    max_long_run_steps: int = 100_000
    forcing_phase: bool = True
    noise: float = 0.0

    def __post_init__(self):
        ints = {
            "n_train": 2,
            "n_validation": 0,
            "n_windows": 1,
            "context": 1,
            "min_long_run_steps": 100,
            "max_long_run_steps": 100,
        }
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ChaosbenchError(f"task {name} must be an integer >= {low}, got {v!r}")
        for name in ("pts_per_period", "horizon_lyap", "max_horizon_periods", "long_run_lyap"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ChaosbenchError(f"task {name} must be a positive number, got {v!r}")
        for name in ("truth_rtol", "check_rtol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 1e-15 <= v < 1e-3):
                raise ChaosbenchError(f"task {name} must be a number in [1e-15, 1e-3), got {v!r}")
        if self.check_rtol <= self.truth_rtol:
            raise ChaosbenchError(
                f"task check_rtol ({self.check_rtol:g}) must be looser than truth_rtol "
                f"({self.truth_rtol:g}): the check certifies the truth"
            )
        if self.max_long_run_steps < self.min_long_run_steps:
            raise ChaosbenchError("task max_long_run_steps must be >= min_long_run_steps")
        if not isinstance(self.forcing_phase, bool):
            raise ChaosbenchError(f"task forcing_phase must be true or false, got {self.forcing_phase!r}")
        if not (isinstance(self.noise, (int, float)) and self.noise >= 0):
            raise ChaosbenchError(f"task noise must be a non-negative number, got {self.noise!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def as_json(self) -> str:
        """The settings as a cell's ``task`` column holds them (sorted keys)."""
        return json.dumps(self.as_dict(), sort_keys=True)

    def replace(self, **changes) -> "TaskSpec":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ChaosbenchError(
                f"unknown task setting(s) {sorted(unknown)}; settings are "
                f"{', '.join(f.name for f in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **changes)


#: the task spec for maps: one point per iteration; otherwise the flows' protocol (25 Lyapunov times, capped
#: at 250 iterations; 10,000 training points; long runs of 500 Lyapunov times, at least 20,000 iterations)
MAP_TASK = TaskSpec(pts_per_period=1.0)

_ARRAYS = ("train", "validation", "contexts", "targets", "mean", "std", "truth_error", "long_truth")


@dataclass
class Task:
    """A system's training data, test windows and long truth, normalised with training statistics."""

    system: str
    seed: int
    spec: TaskSpec
    variables: tuple[str, ...]  # every column; the first n_scored are the system's, the rest forcing phases
    dt: float
    max_lyapunov: float
    train: np.ndarray  # (n_train, n)
    validation: np.ndarray  # (n_validation, n)
    contexts: np.ndarray  # (K, context, n)
    targets: np.ndarray  # (K, horizon, n)
    mean: np.ndarray  # training mean, original units
    std: np.ndarray  # training std, original units
    truth_error: np.ndarray  # (K, horizon): NRMSE between the truth and its check integration
    long_truth: np.ndarray  # (n_long, n_scored): an independent long truth
    n_scored: int = 0
    period: float = 1.0
    horizon_capped: bool = False
    noise_floor: dict = field(default_factory=dict)
    tolerances: dict = field(default_factory=dict)  # what the truth and its check were integrated at
    system_hash: str = ""
    catalog_hash: str = ""

    @property
    def lyapunov_time(self) -> float:
        return 1.0 / self.max_lyapunov

    @property
    def id(self) -> str:
        return task_id(self.system, self.system_hash, self.spec, self.seed)

    @property
    def horizon(self) -> int:
        return self.targets.shape[1]

    @property
    def dimension(self) -> int:
        return self.train.shape[1]

    @property
    def steps_per_lyapunov(self) -> float:
        return self.lyapunov_time / self.dt

    def certified_steps(self, eps: float = EPS) -> np.ndarray:
        """Per window, the forecast steps over which the truth is certified at threshold ``eps``."""
        return np.array([metrics.first_exceedance(e, CERTIFY_FRACTION * eps) for e in self.truth_error])

    def save(self, path) -> None:
        """Write the task to an ``.npz`` file (atomic: a temporary file renamed into place)."""
        from ..files import atomic_path

        meta = {
            "system": self.system,
            "seed": self.seed,
            "spec": self.spec.as_dict(),
            "variables": list(self.variables),
            "dt": self.dt,
            "max_lyapunov": self.max_lyapunov,
            "n_scored": self.n_scored,
            "period": self.period,
            "horizon_capped": self.horizon_capped,
            "noise_floor": self.noise_floor,
            "tolerances": self.tolerances,
            "system_hash": self.system_hash,
            "catalog_hash": self.catalog_hash,
            "protocol": PROTOCOL,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **{k: getattr(self, k) for k in _ARRAYS})

    @classmethod
    def load(cls, path) -> "Task":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in _ARRAYS}
        meta.pop("protocol", None)
        return cls(**{**meta, "spec": TaskSpec(**meta["spec"]), "variables": tuple(meta["variables"])}, **arrays)


def require_lyapunov(system: System) -> float:
    """The system's leading Lyapunov exponent, or a one-line error saying how to get it."""
    lam = system.max_lyapunov
    if lam is None or not lam > 0:
        have = "no Lyapunov exponent" if lam is None else f"a non-positive leading exponent ({lam})"
        raise ChaosbenchError(
            f"system '{system.name}' has {have} in the catalog; forecasts are scored in "
            "Lyapunov times: run 'chaosbench annotate' (or give the invariants in a user catalog)"
        )
    return float(lam)


def task_id(system: str, system_hash: str, spec: TaskSpec, seed: int) -> str:
    """A short hash naming a task by what determines its numbers (system entry, spec, seed, protocol)."""
    text = json.dumps(
        {"system": system, "system_hash": system_hash, "spec": spec.as_dict(), "seed": seed, "protocol": PROTOCOL},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_spec(system: System, spec: TaskSpec) -> None:
    """Refuse a spec that cannot apply to ``system``: a map is sampled at every iteration."""
    if system.is_map and spec.pts_per_period != 1:
        raise ChaosbenchError(
            f"system '{system.name}' is a map: a task samples every iteration, so the task "
            f"spec needs pts_per_period=1, not {spec.pts_per_period:g} (tasks.MAP_TASK and "
            "the 'maps' preset have it)"
        )


def sampling_step(system: System, spec: TaskSpec) -> float:
    """The task's time step: period / pts_per_period for a flow, one iteration for a map."""
    check_spec(system, spec)
    return 1.0 if system.is_map else system.period / spec.pts_per_period


def horizon_steps(system: System, spec: TaskSpec) -> tuple[int, bool]:
    """The forecast horizon in steps, and whether the cap in periods (a map: iterations) shortened it."""
    lam = require_lyapunov(system)
    dt = sampling_step(system, spec)
    wanted = math.ceil(spec.horizon_lyap / (lam * dt) - 1e-9)
    cap = math.ceil(spec.max_horizon_periods * spec.pts_per_period - 1e-9)
    return min(wanted, cap), wanted > cap


def long_run_steps(system: System, spec: TaskSpec) -> int:
    """Length of the long truths (and of a model's long free run), in steps."""
    lam = require_lyapunov(system)
    dt = sampling_step(system, spec)
    wanted = math.ceil(spec.long_run_lyap / (lam * dt))
    return int(min(max(wanted, spec.min_long_run_steps), spec.max_long_run_steps))


def _columns(system: System, spec: TaskSpec, observed: np.ndarray, raw: np.ndarray, times: np.ndarray):
    """The task's columns from observed and raw states ``(m, steps, n)``: the scored variables, then the
    forcing phases' cos and sin. Returns (array, names, n_scored)."""
    if not (spec.forcing_phase and system.forcing_phase):
        return observed, list(system.variables), len(system.variables)
    clocks = set(system.clock_variables)
    keep = [i for i in range(len(system.variables)) if i not in clocks]
    env = dict(system.parameters) | {v: raw[..., i] for i, v in enumerate(system.variables)}
    env["t"] = np.broadcast_to(times, raw.shape[:-1])
    cols, names = [observed[..., keep]], [system.variables[i] for i in keep]
    for k, text in enumerate(system.forcing_phase):
        tree = parse(
            text,
            where=f"system '{system.name}', field 'forcing_phase[{k}]'",
            names=set(system.variables) | set(system.parameters) | {"t"},
        )
        angle = np.broadcast_to(evaluate_numpy(tree, env), raw.shape[:-1])
        cols += [np.cos(angle)[..., None], np.sin(angle)[..., None]]
        names += [f"cos({text})", f"sin({text})"]
    return np.concatenate(cols, axis=-1), names, len(keep)


def _integrate(
    system: System, spec: TaskSpec, seed: int, rtol: float, check_rtol: float, horizon: int, n_long: int, relative: bool
):
    """The task's raw columns at one tolerance: training+validation, windows, their check, long truths."""
    k = spec.n_windows
    n_fit, n_window = spec.n_train + spec.n_validation, spec.context + horizon
    opts = make_options(
        length=max(n_fit, n_window),
        pts_per_period=None if system.is_map else spec.pts_per_period,
        n_trajectories=k + 3,
        seed=seed,
        noise=spec.noise,
        rtol=rtol,
        atol=rtol,
        relative_perturbation=relative,
    )
    p = plan(system, opts)
    if system.is_map:
        return _iterate_map(system, spec, p, opts, horizon, n_long, relative)

    def columns(first, count, n_steps, tol):
        seen, raw = record(p, first, count, n_steps, opts, rtol=tol, atol=tol, raw=True)
        return _columns(system, spec, seen, raw, p.info["t_start"] + p.dt * np.arange(n_steps))

    fit, names, n_scored = columns(0, 1, n_fit, rtol)
    windows = columns(1, k, n_window, rtol)[0]
    check = columns(1, k, n_window, check_rtol)[0]
    longs = columns(k + 1, 2, n_long, max(rtol, DEFAULT_RTOL))[0][..., :n_scored]
    return (
        fit,
        windows,
        check,
        longs,
        names,
        n_scored,
        p.dt,
        {"truth_rtol": rtol, "check_rtol": check_rtol, "perturbation": "relative" if relative else "std"},
    )


def _iterate_map(system: System, spec: TaskSpec, p, opts, horizon: int, n_long: int, relative: bool):
    """:func:`_integrate` for a map: the windows' check is a twin iterated from each forecast origin
    perturbed by a relative MAP_TWIN_PERTURBATION (a zero variable: that times the attractor's std)."""
    k = spec.n_windows
    n_fit, n_window = spec.n_train + spec.n_validation, spec.context + horizon
    fit = record(p, 0, 1, n_fit, opts)
    windows, raw = record(p, 1, k, n_window, opts, raw=True)
    origin = raw[:, spec.context - 1]
    rng = np.random.default_rng([opts.seed, 0x7A1])
    size = np.where(origin != 0, np.abs(origin), p.ref.pool.std(0))
    twin_starts = origin + MAP_TWIN_PERTURBATION * size * rng.choice([-1.0, 1.0], size=origin.shape)
    twin = record(dataclasses.replace(p, states=twin_starts), 0, k, horizon + 1, opts)
    check = windows.copy()
    check[:, spec.context :] = twin[:, 1:]
    longs = record(p, k + 1, 2, n_long, opts)
    names = list(system.variables)
    used = {
        "truth": "iteration in float64 (exact up to rounding)",
        "check": f"twin from each forecast origin perturbed by a relative {MAP_TWIN_PERTURBATION:g} per variable",
        "perturbation": "relative" if relative else "std",
    }
    return fit, windows, check, longs, names, len(names), p.dt, used


def make_task(
    system: str | System, spec: TaskSpec | None = None, *, seed: int = 0, catalog: Catalog | str | None = None
) -> Task:
    """Build the task for one system and seed (see the module docstring for the protocol); without
    ``spec``, the default :class:`TaskSpec` for a flow and :data:`MAP_TASK` for a map."""
    if not isinstance(catalog, Catalog):
        catalog = load_catalog(catalog)
    system = catalog[system] if isinstance(system, str) else system
    spec = spec or (MAP_TASK if system.is_map else TaskSpec())
    check_spec(system, spec)
    lam = require_lyapunov(system)
    horizon, capped = horizon_steps(system, spec)
    n_long = long_run_steps(system, spec)
    n_fit = spec.n_train + spec.n_validation
    # the tightest tolerance the integrator manages: a non-smooth right-hand side (sign, abs, piecewise)
    # can underflow DOP853's step at 1e-14; then 10x looser, up to the generator's default, recorded
    # in the task (and the certified time says what that costs)
    tolerances = [spec.truth_rtol]
    while tolerances[-1] * 10 <= DEFAULT_RTOL * 1.001 and not system.is_map:
        tolerances.append(tolerances[-1] * 10)
    # and if a start perturbed by 1e-3 of the attractor's std leaves the attractor (one that comes within
    # 1e-7 of a zero population, say), perturbations of 1e-3 of each variable's own value, which keep signs
    attempts = [(relative, rtol) for relative in (False, True) for rtol in tolerances]
    for i, (relative, rtol) in enumerate(attempts):
        try:
            built = _integrate(
                system, spec, seed, rtol, spec.check_rtol * rtol / spec.truth_rtol, horizon, n_long, relative
            )
            break
        except IntegrationError:
            if i + 1 == len(attempts):
                raise
    fit, windows, check, longs, names, n_scored, dt, used = built
    train = fit[0, : spec.n_train]
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)

    def norm(a, cols=slice(None)):
        return (a - mean[cols]) / std[cols]

    windows, check = norm(windows), norm(check)
    truth_error = np.stack(
        [metrics.nrmse(w[spec.context :, :n_scored], c[spec.context :, :n_scored]) for w, c in zip(windows, check)]
    )
    long_a, long_b = norm(longs[0], slice(0, n_scored)), norm(longs[1], slice(0, n_scored))
    floor = {
        "d_stsp": metrics.state_space_divergence(long_a, long_b),
        "d_h": metrics.power_spectrum_distance(long_a, long_b),
    }
    return Task(
        system=system.name,
        seed=seed,
        spec=spec,
        variables=tuple(names),
        dt=dt,
        max_lyapunov=lam,
        train=norm(train),
        validation=norm(fit[0, spec.n_train : n_fit]),
        contexts=windows[:, : spec.context],
        targets=windows[:, spec.context :],
        mean=mean,
        std=std,
        truth_error=truth_error,
        long_truth=long_a,
        n_scored=n_scored,
        period=system.period,
        horizon_capped=capped,
        noise_floor=floor,
        tolerances=used,
        system_hash=system.content_hash,
        catalog_hash=catalog.hash,
    )


@dataclass(frozen=True)
class Preset:
    """A named benchmark: systems, models, seeds, task settings and per-cell budget.

    ``systems`` is a tuple of names, ``"chaotic"`` (every flow of the chaotic catalog) or ``"chaotic-maps"``
    (every map of it).
    ``optional_models`` run only when their extra is installed (the run says which were skipped).
    ``overrides`` are hyperparameters per model for this preset (small budgets for ``quick``).
    """

    name: str
    description: str
    systems: tuple[str, ...] | str
    models: tuple[str, ...]
    optional_models: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    task: TaskSpec = field(default_factory=TaskSpec)
    overrides: dict = field(default_factory=dict)
    time_budget: float = 1800.0

    def system_names(self, catalog: Catalog) -> list[str]:
        if self.systems in ("chaotic", "chaotic-maps"):
            return catalog.chaotic(kind="map" if self.systems == "chaotic-maps" else "flow")
        return [catalog[s].name for s in self.systems]


_BASELINES = ("persistence", "climatology", "var", "parrot", "analogue")
_RESERVOIRS = ("esn", "ngrc")  # core dependencies only, like the baselines
#: a per-system search on the validation part, bounded by its number of trials (never by seconds)
_SEARCH = {"esn": {"search_trials": 6}, "ngrc": {"search_trials": 12}}
_TORCH = ("lstm", "gru", "transformer", "lru", "mamba", "shplrnn", "alrnn", "plrnn")
_DARTS = ("darts-linear", "darts-nbeats", "darts-nhits", "darts-tcn", "darts-transformer", "darts-rnn")

PRESETS: dict[str, Preset] = {
    "quick": Preset(
        name="quick",
        description="five classic systems, 5000 training points, long runs of 100 Lyapunov times, small neural "
        "budgets: minutes on a laptop",
        systems=("Lorenz", "Rossler", "Chen", "Lorenz96", "MackeyGlass"),
        models=_BASELINES + _RESERVOIRS,
        optional_models=("darts-linear", "darts-nbeats"),
        # long free runs of 100 Lyapunov times (at least 5000 steps) instead of 500: darts models forecast
        # step by step through Python, and the quick preset is meant to take minutes
        task=TaskSpec(n_train=5000, n_validation=500, long_run_lyap=100.0, min_long_run_steps=5000),
        overrides={"darts-nbeats": {"n_epochs": 10, "max_samples_per_epoch": 5000}},
        time_budget=900.0,
    ),
    "standard": Preset(
        name="standard",
        description="every system of the chaotic catalog, 10,000 training points, 10 independent windows of 25 "
        "Lyapunov times, 3 task seeds",
        systems="chaotic",
        models=_BASELINES + _RESERVOIRS,
        optional_models=_DARTS + _TORCH,
        seeds=(0, 1, 2),
        task=TaskSpec(),
        overrides=_SEARCH,
    ),
    "data-limited": Preset(
        name="data-limited",
        description="every chaotic system with 1000 training points (10 periods), as in Gilpin 2023",
        systems="chaotic",
        models=_BASELINES + _RESERVOIRS,
        optional_models=_DARTS + _TORCH,
        task=TaskSpec(n_train=1000, n_validation=200),
        overrides=_SEARCH,
    ),
    "maps": Preset(
        name="maps",
        description="every discrete map of the chaotic catalog, one point per iteration, 10,000 training points, "
        "10 independent windows of 25 Lyapunov times (at most 250 iterations), 3 task seeds",
        systems="chaotic-maps",
        models=_BASELINES + _RESERVOIRS,
        seeds=(0, 1, 2),
        task=MAP_TASK,
        overrides=_SEARCH,
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ChaosbenchError(f"unknown preset '{name}'; presets are {', '.join(PRESETS)}") from None
