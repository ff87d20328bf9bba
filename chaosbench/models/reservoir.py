"""Reservoir computers: an echo state network and a next-generation reservoir computer.

Both map the recent past to a feature vector and learn, by ridge regression, a linear readout
that predicts the next *increment* ``x(t+1) - x(t)``; both forecast in closed loop (each
prediction is the next input). They share the fitting code here: the Gram matrix of the features,
the ridge path of :mod:`chaosbench.models.search` (``ridge=None`` chooses the regularisation on
the validation part, from :data:`RIDGE_GRID`), and the random search of the other knobs when
``search_trials > 1`` (bounded by its number of trials, so the result does not depend on the
machine's load; ``search_safety_seconds`` only stops a runaway search, and says so in ``fit_info_``).
What was tried and chosen is in ``fit_info_``.

Regularisation is per training row: the readout solves ``(Phi^T Phi / m + ridge I) W = Phi^T Y / m``
for ``m`` feature rows ``Phi``, so a ridge value means the same for 1000 or 100,000 points.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numba as nb
import numpy as np

from ..errors import ChaosbenchError
from .base import Model
from .search import forecast_error, random_search, ridge_path, validation_windows

#: regularisations tried when ``ridge=None`` (noiseless data favour the smallest ones)
RIDGE_GRID = tuple(10.0**p for p in range(-14, -1))
#: the ridge used when ``ridge=None`` and no validation part is given
FALLBACK_RIDGE = 1e-8
#: validation windows: context points and number of windows
VALIDATION_CONTEXT = 500
VALIDATION_WINDOWS = 5


class _RidgeReadoutModel(Model):
    """Features of the recent past -> increments, by ridge regression; subclasses define the features.

    A subclass implements ``_check`` (hyperparameters), ``_prepare`` (fixed random parts),
    ``_training_rows(x) -> (Phi, dX)`` for one trajectory, ``_drive(contexts) -> state`` (teacher
    forcing over ``(K, n_context, n)``) and ``_run(state, horizon) -> (K, horizon, n)`` (closed loop
    with ``readout_``), and lists its searchable knobs in ``_search_space``.
    """

    _search_space: ClassVar[dict] = {}
    _name = "model"  # the registry name, for messages

    def __init__(
        self,
        *,
        ridge: float | None = None,
        search_trials: int = 0,
        search_safety_seconds: float = 3600.0,
        seed: int = 0,
    ):
        super().__init__(seed=seed)
        self.ridge = ridge
        self.search_safety_seconds = search_safety_seconds
        self.search_trials = search_trials

    def _check(self) -> None:
        """Check the subclass's own hyperparameters (raise :class:`ChaosbenchError` naming the bad one)."""
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, trajectories, validation):
        self._check_common()
        self._check()
        if self.search_trials > 1 and validation:
            self._search(trajectories, validation)
        else:
            self._fit_readout(trajectories, validation)

    def _fit_readout(self, trajectories, validation):
        self._prepare(trajectories)
        gram = cross = None
        rows = 0
        for x in trajectories:
            phi, dx = self._training_rows(x)
            if len(phi) == 0:
                continue
            gram = phi.T @ phi if gram is None else gram + phi.T @ phi
            cross = phi.T @ dx if cross is None else cross + phi.T @ dx
            rows += len(phi)
        if rows == 0:
            raise ChaosbenchError(
                f"{self._name}: the training trajectories are too short for the "
                "warm-up / delay taps (no training rows left)"
            )
        gram, cross = gram / rows, cross / rows
        self.n_features_ = gram.shape[0]
        if self.ridge is not None:
            self.readout_ = ridge_path(gram, cross, [self.ridge])[0]
            self.fit_info_ = {"ridge": float(self.ridge), "training_rows": rows}
            return
        if not validation:
            self.readout_ = ridge_path(gram, cross, [FALLBACK_RIDGE])[0]
            self.fit_info_ = {"ridge": FALLBACK_RIDGE, "training_rows": rows, "ridge_chosen_by": "fallback"}
            return
        contexts, targets = self._validation_windows(trajectories, validation)
        paths = ridge_path(gram, cross, RIDGE_GRID)
        # every ridge value forecasts every window in one batch: copies of the driven state, one readout each
        state = _tile(self._drive(contexts), len(paths))
        self.readout_ = np.stack(paths)
        with np.errstate(all="ignore"):
            forecasts = self._run(state, targets.shape[1]).reshape(len(paths), *targets.shape)
            scores = [forecast_error(targets, f) for f in forecasts]
        best = min(range(len(scores)), key=lambda i: scores[i][0])
        self.readout_ = paths[best]
        self.fit_info_ = {
            "ridge": RIDGE_GRID[best],
            "ridge_score": scores[best][0],
            "ridge_vpt_steps": scores[best][1],
            "training_rows": rows,
            "ridge_scores": {f"{r:g}": s[0] for r, s in zip(RIDGE_GRID, scores)},
        }

    def _increment(self, phi: np.ndarray) -> np.ndarray:
        """The readout ``phi @ W_out`` of feature rows ``(K, F)``; with a stack of ``R`` readouts
        ``(R, F, n)`` the rows are ``R`` consecutive blocks, one per readout."""
        w = self.readout_
        if w.ndim == 2:
            return phi @ w
        return np.matmul(phi.reshape(len(w), -1, phi.shape[1]), w).reshape(len(phi), -1)

    def _validation_windows(self, trajectories, validation):
        history = np.concatenate([trajectories[-1], validation[0]])
        return validation_windows(
            history, len(trajectories[-1]), context=VALIDATION_CONTEXT, n_windows=VALIDATION_WINDOWS
        )

    def _search(self, trajectories, validation):
        space = {k: list(dict.fromkeys([getattr(self, k), *v])) for k, v in self._search_space.items()}
        contexts, targets = self._validation_windows(trajectories, validation)
        base = {**self.get_params(), "search_trials": 0}

        def build(params):
            return type(self)(**{**base, **params}).fit(trajectories, dt=self.dt_, validation=validation)

        def evaluate(model):
            if "ridge_score" in model.fit_info_:  # the ridge was chosen on these same windows
                return model.fit_info_["ridge_score"], model.fit_info_["ridge_vpt_steps"]
            with np.errstate(all="ignore"):
                return forecast_error(targets, model.forecast_windows(contexts, targets.shape[1]))

        best, info = random_search(
            build,
            space,
            evaluate,
            max_trials=int(self.search_trials),
            safety_seconds=float(self.search_safety_seconds),
            seed=self.seed,
            allowed=self._allowed,
        )
        for k, v in vars(best).items():
            if k.endswith("_"):
                setattr(self, k, v)
        self.fit_info_ = {**best.fit_info_, "search": info}

    def _allowed(self, params: dict) -> bool:
        return True

    def check(self) -> None:
        self._check_common()
        self._check()

    def _check_common(self):
        if self.ridge is not None and not (_is_number(self.ridge) and self.ridge >= 0):
            raise ChaosbenchError(f"{self._name}: ridge must be a number >= 0 or None, got {self.ridge!r}")
        if not (_is_number(self.search_safety_seconds) and self.search_safety_seconds > 0):
            raise ChaosbenchError(
                f"{self._name}: search_safety_seconds must be a number of seconds > 0, "
                f"got {self.search_safety_seconds!r}"
            )
        _require_int(self, "search_trials", 0)

    # -- forecasting ---------------------------------------------------------------------------
    def _forecast_windows(self, contexts, horizon):
        with np.errstate(all="ignore"):  # a diverging forecast is scored, not raised
            return self._run(self._drive(contexts), int(horizon))

    @property
    def n_parameters(self) -> int:
        return int(self.readout_.size) if hasattr(self, "readout_") else 0


class EchoStateNetwork(_RidgeReadoutModel):
    """Echo state network with a leaky tanh reservoir and a ridge readout of increments.

    ``r(t+1) = (1 - a) r(t) + a tanh(W r(t) + W_in x(t) + b)`` (Jaeger 2001, GMD Report 148;
    leaky units: Jaeger et al. 2007, Neural Networks 20, 335), read out as
    ``x(t+1) = x(t) + W_out [1, x(t), r~(t+1)]`` where ``r~`` squares every other unit (Pathak
    et al. 2018, PRL 120, 024102) or appends ``r^2``. ``W`` is a sparse random matrix of mean degree
    ``mean_degree`` rescaled to ``spectral_radius``; ``W_in`` and ``b`` are dense uniform in
    ``[-input_scaling, input_scaling]`` and ``[-bias_scaling, bias_scaling]`` (choices as in
    Lukoševičius 2012, "A practical guide to applying echo state networks", LNCS 7700). Each
    training trajectory drives the reservoir from zero; its first ``warmup`` states are discarded.
    Forecasting drives the reservoir with the context (teacher forcing), then runs closed loop.
    The defaults (1000 units, spectral radius 0.8, leak rate 0.5) were the best compromise of a few
    settings over 20 systems at 100 points per period: a short memory (0.6, 0.6) did better on most
    3-variable flows but lost Mackey-Glass, a long one (0.9, 0.3) lost Rössler and Thomas.

    Parameters
    ----------
    units : int
        Reservoir size N.
    mean_degree : float
        Mean number of nonzero entries per row of ``W`` (density ``mean_degree / N``).
    spectral_radius, leak_rate, input_scaling, bias_scaling : float
        ``|eig(W)|_max``, ``a`` in (0, 1], and the input and bias ranges.
    squared : {"half", "append", "none"}
        Readout features: square every other unit, append ``r^2``, or the states as they are.
    warmup : int
        States discarded at the start of every training trajectory (with the default spectral radius
        and leak rate the initial state is forgotten by a factor ~0.9 per step).
    ridge : float or None
        Readout regularisation per training row; None chooses it on the validation part.
    search_trials : int
        Trials of a seeded random search over spectral radius, leak rate and input scaling on the
        validation part (the given values are the first trial; 0 or 1: no search). The result depends on
        the data and seed only.
    search_safety_seconds : float
        Stops a runaway search; recorded in ``fit_info_["search"]["safety_limit_hit"]`` if it bites.
    seed : int
        Seeds ``W``, ``W_in``, ``b`` and the search.
    """

    _name = "esn"
    _search_space: ClassVar[dict] = {
        "spectral_radius": [0.3, 0.6, 0.9, 1.2],
        "leak_rate": [0.1, 0.3, 0.6, 1.0],
        "input_scaling": [0.1, 0.25, 0.5, 1.0, 2.0],
    }

    def __init__(
        self,
        *,
        units: int = 1000,
        mean_degree: float = 3.0,
        spectral_radius: float = 0.8,
        leak_rate: float = 0.5,
        input_scaling: float = 0.5,
        bias_scaling: float = 0.5,
        squared: str = "half",
        warmup: int = 100,
        ridge: float | None = None,
        search_trials: int = 0,
        search_safety_seconds: float = 3600.0,
        seed: int = 0,
    ):
        super().__init__(
            ridge=ridge, search_trials=search_trials, search_safety_seconds=search_safety_seconds, seed=seed
        )
        self.units = units
        self.mean_degree = mean_degree
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.squared = squared
        self.warmup = warmup

    def _check(self):
        _require_int(self, "units", 1)
        _require_int(self, "warmup", 0)
        for name, low, high in (
            ("mean_degree", 0, math.inf),
            ("spectral_radius", 0, math.inf),
            ("leak_rate", 0, 1),
            ("input_scaling", 0, math.inf),
        ):
            v = getattr(self, name)
            if not (_is_number(v) and low < v <= high):
                raise ChaosbenchError(f"esn: {name} must be a number in ({low}, {high}], got {v!r}")
        if not (_is_number(self.bias_scaling) and self.bias_scaling >= 0):
            raise ChaosbenchError(f"esn: bias_scaling must be a number >= 0, got {self.bias_scaling!r}")
        if self.squared not in ("half", "append", "none"):
            raise ChaosbenchError(f"esn: squared must be 'half', 'append' or 'none', got {self.squared!r}")

    def _prepare(self, trajectories):
        rng = np.random.default_rng(self.seed)
        n, d = self.units, self.dimension_
        self.reservoir_ = random_reservoir(n, self.mean_degree, self.spectral_radius, rng)
        self.input_weights_ = rng.uniform(-1, 1, (n, d)) * self.input_scaling
        self.bias_ = rng.uniform(-1, 1, n) * self.bias_scaling
        self.leak_rate_ = float(self.leak_rate)
        self.squared_ = self.squared

    def step(self, r: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The reservoir's next states ``(K, N)`` from states ``r`` ``(K, N)`` and inputs ``x`` ``(K, n)``."""
        return self._advance(r, x @ self.input_weights_.T + self.bias_)

    def _advance(self, r, drive):
        # (1 - a) r + a tanh(W r + drive): the sparse product in numba, tanh vectorised by numpy
        w, a = self.reservoir_, self.leak_rate_
        z = np.empty_like(r)
        _sparse_rows_product(w.indptr, w.indices, w.data, r, drive, z)
        np.tanh(z, out=z)
        z *= a
        z += (1.0 - a) * r
        return z

    def features(self, r: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Readout features ``[1, x, r~]`` of states ``(M, N)`` and inputs ``(M, n)``: ``(M, F)``."""
        m, n, d = len(r), r.shape[1], x.shape[1]
        phi = np.empty((m, 1 + d + (2 * n if self.squared_ == "append" else n)))
        phi[:, 0] = 1.0
        phi[:, 1 : 1 + d] = x
        phi[:, 1 + d : 1 + d + n] = r
        if self.squared_ == "append":
            np.multiply(r, r, out=phi[:, 1 + d + n :])
        elif self.squared_ == "half":
            states = phi[:, 1 + d :: 2][:, : (n + 1) // 2]  # units 0, 2, 4, ...
            np.multiply(states, states, out=states)
        return phi

    def _training_rows(self, x):
        drive = x[:-1] @ self.input_weights_.T + self.bias_
        states = np.empty_like(drive)
        r = np.zeros((1, self.units))
        for t in range(len(drive)):
            r = states[t] = self._advance(r, drive[t : t + 1])
        keep = slice(self.warmup, None)
        return self.features(states[keep], x[:-1][keep]), np.diff(x, axis=0)[keep]

    def _drive(self, contexts):
        r = np.zeros((len(contexts), self.units))
        for t in range(contexts.shape[1]):
            r = self.step(r, contexts[:, t])
        return r, contexts[:, -1].copy()

    def _run(self, state, horizon):
        r, x = state
        out = np.empty((len(x), horizon, self.dimension_))
        for h in range(horizon):
            x = x + self._increment(self.features(r, x))
            out[:, h] = x
            r = self.step(r, x)
        return out


# A CSR product in numba beats a dense one for any N we use (measured at N = 1000, mean degree 3: 21 us per
# state against 164 us dense; 157 us against 1110 us for 10 states at once), and scipy's sparse product
# for batches, which it would transpose.
@nb.njit(cache=True)
def _sparse_rows_product(indptr, indices, data, r, drive, out):
    """``out[k] = W r[k] + drive[k]`` for each row ``k`` of ``r`` ``(K, N)``, ``W`` in CSR form."""
    for k in range(r.shape[0]):
        for i in range(r.shape[1]):
            acc = drive[k, i]
            for p in range(indptr[i], indptr[i + 1]):
                acc += data[p] * r[k, indices[p]]
            out[k, i] = acc


def random_reservoir(n: int, mean_degree: float, spectral_radius: float, rng: np.random.Generator):
    """A sparse ``(n, n)`` CSR matrix with ``round(n * mean_degree)`` uniform(-1, 1) entries at random
    places, rescaled to the given spectral radius (largest |eigenvalue| by ARPACK, dense below 64 units)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import ArpackNoConvergence, eigs

    nnz = min(n * n, max(1, round(n * mean_degree)))
    flat = rng.choice(n * n, size=nnz, replace=False)
    w = sp.csr_matrix((rng.uniform(-1, 1, nnz), (flat // n, flat % n)), shape=(n, n))
    v0 = rng.uniform(-1, 1, n)  # drawn even when unused, so W_in and b do not depend on n < 64
    radius = None
    if n >= 64:
        try:
            radius = abs(eigs(w, k=1, which="LM", return_eigenvectors=False, v0=v0, tol=1e-8, maxiter=50 * n)[0])
        except ArpackNoConvergence:
            pass
    if radius is None:
        radius = np.abs(np.linalg.eigvals(w.toarray())).max()
    if not radius > 1e-12:
        raise ChaosbenchError(
            f"esn: the random reservoir ({n} units, mean degree {mean_degree}) is nilpotent; "
            "increase units or mean_degree"
        )
    return (w * (spectral_radius / radius)).tocsr()


class NextGenerationRC(_RidgeReadoutModel):
    """Next-generation reservoir computer: polynomial features of time-delay taps, ridge readout of increments.

    Gauthier, Bollt, Griffith & Barbosa 2021, "Next generation reservoir computing", Nat. Commun.
    12, 5564: the linear part is ``[x(t), x(t - s), ..., x(t - (k-1) s)]`` (``k = taps``,
    ``s = skip`` steps), the nonlinear part every unique monomial of the linear part of degree 2 up
    to ``degree``, plus a constant; ``x(t+1) = x(t) + W_out [1, lin, nonlin]``. Gauthier et al.
    used ``dt = 0.025`` with two adjacent taps and quadratic monomials on Lorenz; at 100 points per
    period (Lorenz ``dt = 0.0075``) taps a few steps apart and cubic monomials forecast much further,
    hence the defaults ``taps=2, skip=5, degree=3`` (standard Lorenz task, ridge chosen on validation:
    median VPT 15.0 Lyapunov times, the horizon, against 6.6 with ``degree=2``).

    Parameters
    ----------
    taps : int
        Number of delay taps ``k`` (1: the current point only).
    skip : int
        Steps between taps ``s``.
    degree : int
        Highest monomial degree, 1 to 3 (1: a linear autoregression on the taps).
    max_features : int
        Refuse (or, in the search, skip) configurations with more features than this.
    ridge : float or None
        Readout regularisation per training row; None chooses it on the validation part.
    search_trials : int
        Trials of a seeded random search over taps, skip and degree on the validation part (the given
        values are the first trial; 0 or 1: no search). The result depends on the data and seed only.
    search_safety_seconds : float
        Stops a runaway search; recorded in ``fit_info_["search"]["safety_limit_hit"]`` if it bites.
    seed : int
        Seeds the search (the model itself has nothing random).
    """

    _name = "ngrc"
    _search_space: ClassVar[dict] = {"taps": [1, 2, 3, 4, 6], "skip": [1, 2, 3, 5, 8, 13, 21], "degree": [2, 3]}

    def __init__(
        self,
        *,
        taps: int = 2,
        skip: int = 5,
        degree: int = 3,
        max_features: int = 4000,
        ridge: float | None = None,
        search_trials: int = 0,
        search_safety_seconds: float = 3600.0,
        seed: int = 0,
    ):
        super().__init__(
            ridge=ridge, search_trials=search_trials, search_safety_seconds=search_safety_seconds, seed=seed
        )
        self.taps = taps
        self.skip = skip
        self.degree = degree
        self.max_features = max_features

    def _check(self):
        _require_int(self, "taps", 1)
        _require_int(self, "skip", 1)
        _require_int(self, "max_features", 1)
        if not (
            isinstance(self.degree, (int, np.integer)) and not isinstance(self.degree, bool) and 1 <= self.degree <= 3
        ):
            raise ChaosbenchError(f"ngrc: degree must be 1, 2 or 3, got {self.degree!r}")
        if not hasattr(self, "dimension_"):  # planned, not fitted: the feature count needs the data
            return
        n = n_ngrc_features(self.dimension_, self.taps, self.degree)
        if n > self.max_features:
            raise ChaosbenchError(
                f"ngrc: taps={self.taps}, degree={self.degree} on {self.dimension_} variables "
                f"give {n} features, more than max_features={self.max_features}"
            )

    def _allowed(self, params):
        p = {**self.get_params(), **params}
        return n_ngrc_features(self.dimension_, p["taps"], p["degree"]) <= p["max_features"]

    def _prepare(self, trajectories):
        self.lags_ = np.arange(self.taps) * self.skip
        self.monomials_ = monomial_steps(self.taps * self.dimension_, self.degree)

    def features(self, lin: np.ndarray) -> np.ndarray:
        """``[1, lin, monomials of lin]`` of linear parts ``(M, k n)``: ``(M, F)``."""
        cols, prev = [np.ones((len(lin), 1)), lin], lin
        for parent, factor in self.monomials_:
            prev = prev[:, parent] * lin[:, factor]
            cols.append(prev)
        return np.concatenate(cols, axis=1)

    def _linear(self, x: np.ndarray, t) -> np.ndarray:
        """Linear parts at times ``t`` (newest tap first) of ``x`` ``(T, n)`` or ``(K, T, n)``."""
        taps = x[..., np.asarray(t)[..., None] - self.lags_, :]  # (..., M, k, n)
        return taps.reshape(*taps.shape[:-2], -1)

    def _training_rows(self, x):
        t = np.arange(self.lags_[-1], len(x) - 1)
        return self.features(self._linear(x, t)), x[t + 1] - x[t]

    def _drive(self, contexts):
        need = int(self.lags_[-1]) + 1
        if contexts.shape[1] < need:
            raise ChaosbenchError(
                f"ngrc: the context ({contexts.shape[1]} steps) is shorter than the delay taps need ({need})"
            )
        return contexts[:, -need:].copy()

    def _run(self, state, horizon):
        m = state.shape[1] - 1
        buf = np.empty((len(state), m + 1 + horizon, self.dimension_))
        buf[:, : m + 1] = state
        for t in range(m, m + horizon):
            lin = buf[:, t - self.lags_].reshape(len(state), -1)
            buf[:, t + 1] = buf[:, t] + self._increment(self.features(lin))
        return buf[:, m + 1 :]


def monomial_steps(n_linear: int, degree: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each degree ``p = 2..degree``, index arrays ``(parent, factor)`` such that the unique
    monomials of degree ``p`` (in ``itertools.combinations_with_replacement`` order) are those of
    degree ``p - 1`` at ``parent`` times the linear term at ``factor``."""
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    last: list[tuple[int, ...]] = [(i,) for i in range(n_linear)]
    for _ in range(2, degree + 1):
        parent, factor, new = [], [], []
        for j, mono in enumerate(last):
            for i in range(mono[-1], n_linear):
                parent.append(j)
                factor.append(i)
                new.append(mono + (i,))
        steps.append((np.array(parent, dtype=np.intp), np.array(factor, dtype=np.intp)))
        last = new
    return steps


def n_ngrc_features(dimension: int, taps: int, degree: int) -> int:
    """Features of an NG-RC: 1 + sum over p = 1..degree of C(k n + p - 1, p)."""
    lin = dimension * taps
    return 1 + sum(math.comb(lin + p - 1, p) for p in range(1, degree + 1))


def _tile(state, times: int):
    """A driven state (an array or a tuple of arrays with windows along axis 0) repeated ``times`` times."""
    if isinstance(state, tuple):
        return tuple(_tile(s, times) for s in state)
    return np.concatenate([state] * times)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _require_int(model, name: str, low: int) -> None:
    v = getattr(model, name)
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low):
        raise ChaosbenchError(f"{model._name}: {name} must be an integer >= {low}, got {v!r}")
