"""The benchmark protocol: what a model is given, what it must forecast, and the named presets.

A :class:`Task` is one system at one resolution for one seed:

- a **training trajectory** of ``n_train`` points and, continuing it, a **validation part** of
  ``n_validation`` points (for early stopping or hyperparameter search; never scored);
- ``n_windows`` **test windows**, each started from its own point on the attractor (independent of
  the training trajectory and of each other), made of a **context** of ``context`` points that
  the model may read (warm-up) and a **horizon** of at least ``horizon_lyap`` Lyapunov times that
  it must forecast.

All arrays are normalised with the *training* part's per-variable mean and std, so a score in
normalised units is a score relative to the attractor's spread. Everything follows from
``(system, spec, seed)``: the same triple gives the same numbers on any machine.

Compared with Gilpin 2023 ("Model scale versus domain knowledge in statistical forecasting of
chaotic systems", Phys. Rev. Research 5, 043252) — 10 periods of training data, one test window
of 2 periods — windows here are many and horizons long enough (>= 15 Lyapunov times) that valid
prediction times are not capped by the horizon, and long-term statistics can be scored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .catalog import Catalog, System, load_catalog
from .errors import ChaosbenchError
from .generate import trajectory


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
        Test windows K, each from an independent point on the attractor.
    context : int
        Points of each window given to the model before it forecasts.
    horizon_lyap : float
        Minimum forecast horizon in Lyapunov times (the horizon in steps is rounded up).
    noise : float
        Dynamical noise passed to the generator (0: deterministic flows).
    """

    pts_per_period: float = 100.0
    n_train: int = 10_000
    n_validation: int = 1_000
    n_windows: int = 10
    context: int = 500
    horizon_lyap: float = 15.0
    noise: float = 0.0

    def __post_init__(self):
        ints = {"n_train": 2, "n_validation": 0, "n_windows": 1, "context": 1}
        for name, low in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ChaosbenchError(f"task {name} must be an integer >= {low}, got {v!r}")
        for name in ("pts_per_period", "horizon_lyap"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ChaosbenchError(f"task {name} must be a positive number, got {v!r}")
        if not (isinstance(self.noise, (int, float)) and self.noise >= 0):
            raise ChaosbenchError(f"task noise must be a non-negative number, got {self.noise!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TaskSpec":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ChaosbenchError(f"unknown task setting(s) {sorted(unknown)}; settings are "
                                  f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)


@dataclass
class Task:
    """A system's training data and test windows, normalised with training statistics."""

    system: str
    seed: int
    spec: TaskSpec
    variables: tuple[str, ...]
    dt: float
    max_lyapunov: float
    train: np.ndarray          # (n_train, n)
    validation: np.ndarray     # (n_validation, n)
    contexts: np.ndarray       # (K, context, n)
    targets: np.ndarray        # (K, horizon, n)
    mean: np.ndarray           # training mean, original units
    std: np.ndarray            # training std, original units
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

    def save(self, path) -> None:
        """Write the task to an ``.npz`` file (atomic: a temporary file renamed into place)."""
        import os
        import tempfile

        meta = {"system": self.system, "seed": self.seed, "spec": self.spec.as_dict(),
                "variables": list(self.variables), "dt": self.dt, "max_lyapunov": self.max_lyapunov,
                "system_hash": self.system_hash, "catalog_hash": self.catalog_hash}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), train=self.train, validation=self.validation,
                     contexts=self.contexts, targets=self.targets, mean=self.mean, std=self.std)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> "Task":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("train", "validation", "contexts", "targets", "mean", "std")}
        return cls(system=meta["system"], seed=meta["seed"], spec=TaskSpec(**meta["spec"]),
                   variables=tuple(meta["variables"]), dt=meta["dt"], max_lyapunov=meta["max_lyapunov"],
                   system_hash=meta["system_hash"], catalog_hash=meta["catalog_hash"], **arrays)


def require_lyapunov(system: System) -> float:
    """The system's leading Lyapunov exponent, or a one-line error saying how to get it."""
    lam = system.max_lyapunov
    if lam is None or not lam > 0:
        have = "no Lyapunov exponent" if lam is None else f"a non-positive leading exponent ({lam})"
        raise ChaosbenchError(f"system '{system.name}' has {have} in the catalog; forecasts are scored in "
                              "Lyapunov times: run 'chaosbench annotate' (or give the invariants in a user catalog)")
    return float(lam)


def task_id(system: str, system_hash: str, spec: TaskSpec, seed: int) -> str:
    """A short hash naming a task by what determines its numbers (system entry, spec, seed)."""
    text = json.dumps({"system": system, "system_hash": system_hash, "spec": spec.as_dict(), "seed": seed},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_task(system: str | System, spec: TaskSpec | None = None, *, seed: int = 0,
              catalog: Catalog | str | None = None) -> Task:
    """Build the task for one system and seed.

    One call to the generator draws ``n_windows + 1`` distinct starting points on the attractor
    (seeded by ``seed``): the first trajectory gives training and validation data, the others one
    test window each. Training mean and std normalise everything.
    """
    spec = spec or TaskSpec()
    if not isinstance(catalog, Catalog):
        catalog = load_catalog(catalog)
    system = catalog[system] if isinstance(system, str) else system
    lam = require_lyapunov(system)
    dt = system.period / spec.pts_per_period
    horizon = math.ceil(spec.horizon_lyap / (lam * dt))
    n_fit = spec.n_train + spec.n_validation
    n_window = spec.context + horizon
    length = max(n_fit, n_window)
    x = trajectory(system, length=length, pts_per_period=spec.pts_per_period, n_trajectories=spec.n_windows + 1,
                   seed=seed, noise=spec.noise)
    train = x[0, :spec.n_train]
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)

    def norm(a):
        return (a - mean) / std

    windows = norm(x[1:, :n_window])
    return Task(system=system.name, seed=seed, spec=spec, variables=system.variables, dt=dt, max_lyapunov=lam,
                train=norm(train), validation=norm(x[0, spec.n_train:n_fit]),
                contexts=windows[:, :spec.context], targets=windows[:, spec.context:],
                mean=mean, std=std, system_hash=system.content_hash, catalog_hash=catalog.hash)


@dataclass(frozen=True)
class Preset:
    """A named benchmark: systems, models, seeds, task settings and per-cell budget.

    ``systems`` is a tuple of names or ``"chaotic"`` (every system of the chaotic catalog).
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
        return catalog.chaotic() if self.systems == "chaotic" else [catalog[s].name for s in self.systems]


_BASELINES = ("persistence", "climatology", "var")
_RESERVOIRS = ("esn", "ngrc")  # core dependencies only, like the baselines
#: a per-system search on the validation part, capped in trials (deterministic unless the budget ends it first)
_SEARCH = {"esn": {"search_budget": 60.0, "search_trials": 6}, "ngrc": {"search_budget": 30.0, "search_trials": 12}}
_TORCH = ("lstm", "gru", "transformer", "lru", "mamba", "shplrnn", "alrnn", "plrnn")
_DARTS = ("darts-linear", "darts-nbeats", "darts-nhits", "darts-tcn", "darts-transformer", "darts-rnn")

PRESETS: dict[str, Preset] = {
    "quick": Preset(
        name="quick",
        description="five classic systems, 5000 training points, small neural budgets: minutes on a laptop",
        systems=("Lorenz", "Rossler", "Chen", "Lorenz96", "MackeyGlass"),
        models=_BASELINES + _RESERVOIRS,
        optional_models=("darts-linear", "darts-nbeats"),
        task=TaskSpec(n_train=5000, n_validation=500),
        overrides={"darts-nbeats": {"n_epochs": 10, "max_samples_per_epoch": 5000}},
        time_budget=300.0,
    ),
    "standard": Preset(
        name="standard",
        description="every system of the chaotic catalog, 10,000 training points, 10 windows of >= 15 Lyapunov times",
        systems="chaotic",
        models=_BASELINES + _RESERVOIRS,
        optional_models=_DARTS + _TORCH,
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
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ChaosbenchError(f"unknown preset '{name}'; presets are {', '.join(PRESETS)}") from None
