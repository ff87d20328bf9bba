"""What the reservoir computers share: a ridge readout of increments, chosen and searched on validation data.

The echo state network (:mod:`.esn`) and the next-generation reservoir computer (:mod:`.ngrc`) both
map the recent past to a feature vector and learn, by ridge regression, a linear readout that
predicts the next *increment* ``x(t+1) - x(t)``; both forecast in closed loop (each prediction is the
next input). They share the fitting code here (:class:`RidgeReadoutModel`): the Gram matrix of the
features, the ridge path of :mod:`chaosbench.models.search` (``ridge=None`` chooses the
regularisation on the validation part, from :data:`RIDGE_GRID`), and the random search of the other
knobs when ``search_trials > 1`` (bounded by its number of trials, so the result does not depend on
the machine's load; ``search_safety_seconds`` only stops a runaway search, and says so in
``fit_info_``). What was tried and chosen is in ``fit_info_``.

Regularisation is per training row: the readout solves ``(Phi^T Phi / m + ridge I) W = Phi^T Y / m``
for ``m`` feature rows ``Phi``, so a ridge value means the same for 1000 or 100,000 points.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..errors import ChaosbenchError
from .base import Model
from .baselines import require_int
from .search import forecast_error, random_search, ridge_path, validation_windows

#: regularisations tried when ``ridge=None`` (noiseless data favour the smallest ones)
RIDGE_GRID = tuple(10.0**p for p in range(-14, -1))
#: the ridge used when ``ridge=None`` and no validation part is given
FALLBACK_RIDGE = 1e-8
#: validation windows: context points and number of windows
VALIDATION_CONTEXT = 500
VALIDATION_WINDOWS = 5


class RidgeReadoutModel(Model):
    """Features of the recent past -> increments, by ridge regression; subclasses define the features.

    A subclass implements ``_check`` (hyperparameters), ``_prepare`` (fixed random parts),
    ``_training_rows(x) -> (Phi, dX)`` for one trajectory, ``_drive(contexts) -> state`` (teacher
    forcing over ``(K, n_context, n)``) and ``_run(state, horizon) -> (K, horizon, n)`` (closed loop
    with ``readout_``), and lists its searchable knobs in ``_search_space``.

    Parameters
    ----------
    ridge : float or None
        Readout regularisation per training row; None chooses it on the validation part.
    search_trials : int
        Trials of a seeded random search over the subclass's ``_search_space`` on the validation part
        (the given values are the first trial; 0 or 1: no search). The result depends on the data and
        seed only.
    search_safety_seconds : float
        Stops a runaway search; recorded in ``fit_info_["search"]["safety_limit_hit"]`` if it bites.
    seed : int
        Seeds the model's random parts and the search.
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
        if self.ridge is not None and not (is_number(self.ridge) and self.ridge >= 0):
            raise ChaosbenchError(f"{self._name}: ridge must be a number >= 0 or None, got {self.ridge!r}")
        if not (is_number(self.search_safety_seconds) and self.search_safety_seconds > 0):
            raise ChaosbenchError(
                f"{self._name}: search_safety_seconds must be a number of seconds > 0, "
                f"got {self.search_safety_seconds!r}"
            )
        require_int(self, "search_trials", 0)

    # -- forecasting ---------------------------------------------------------------------------
    def _forecast_windows(self, contexts, horizon):
        with np.errstate(all="ignore"):  # a diverging forecast is scored, not raised
            return self._run(self._drive(contexts), int(horizon))

    @property
    def n_parameters(self) -> int:
        return int(self.readout_.size) if hasattr(self, "readout_") else 0


def _tile(state, times: int):
    """A driven state (an array or a tuple of arrays with windows along axis 0) repeated ``times`` times."""
    if isinstance(state, tuple):
        return tuple(_tile(s, times) for s in state)
    return np.concatenate([state] * times)


def is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
