"""The forecaster interface every model implements, in the estimator style of scikit-learn.

- ``Model(**hyperparameters)``: the constructor only stores its keyword arguments (with their
  defaults, which are the model's defaults), including ``seed``; no work, no data.
- ``.fit(train, *, dt, validation=None)``: learns from one trajectory ``(n_steps, n)`` or a list
  of them (normalised data, step ``dt``); ``validation`` is a held-out continuation for early
  stopping or hyperparameter search. Learned state goes in attributes ending with ``_``.
  Returns ``self``.
- ``.forecast(context, horizon)``: reads a context ``(n_context, n)`` that follows on from any
  state of the system and returns the next ``horizon`` steps ``(horizon, n)``, running freely
  (closed loop: its own outputs are its next inputs).
- ``.forecast_windows(contexts, horizon)``: the same for ``(K, n_context, n)`` windows at once;
  the default loops over :meth:`forecast`, batched models override it.
- ``.n_parameters``: the number of learned numbers (0 before ``fit``).

The same seed and data must give the same forecasts. A model never sees the test targets.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import numpy as np

from ..errors import ChaosbenchError


class Model:
    """Base class of every forecaster: parameters, checks and the batched default.

    Subclasses declare their hyperparameters as keyword arguments of ``__init__`` (each stored under
    its own name) and implement :meth:`_fit` and either :meth:`_forecast` (one window) or
    :meth:`_forecast_windows` (all windows at once); contexts reach them checked.
    """

    #: the optional dependency group needed, e.g. ``"darts"`` (None: core dependencies only)
    extra: str | None = None

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    # -- parameters ---------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        names = []
        for klass in cls.__mro__:
            if klass is object:
                continue
            # getattr, not klass.__init__: mypy reads the latter as an instance's __init__, but klass is a class
            for p in inspect.signature(getattr(klass, "__init__")).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names:
                    names.append(p.name)
        return names

    @classmethod
    def defaults(cls) -> dict:
        """The model's default hyperparameters (a constructor does no work, so build one and ask)."""
        return cls().get_params()

    def get_params(self) -> dict:
        """The hyperparameters this instance was built with (what reproduces it)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- the verbs ----------------------------------------------------------------------------
    def fit(self, train, *, dt: float, validation=None) -> "Model":
        """Learn from ``train``: an array ``(n_steps, n)`` or a list of them, sampled every ``dt``."""
        trajectories = as_trajectories(train)
        empty = (
            validation is None
            or (isinstance(validation, np.ndarray) and validation.size == 0)
            or (not isinstance(validation, np.ndarray) and len(validation) == 0)
        )
        val = None if empty else as_trajectories(validation)
        self.dimension_ = trajectories[0].shape[1]
        self.dt_ = float(dt)
        self._fit(trajectories, val)
        return self

    def forecast(self, context, horizon: int) -> np.ndarray:
        """The next ``horizon`` steps after ``context`` ``(n_context, n)``: array ``(horizon, n)``."""
        context = self._check_context(context)
        return np.asarray(self._forecast(context, int(horizon)), float).reshape(int(horizon), self.dimension_)

    def forecast_windows(self, contexts, horizon: int) -> np.ndarray:
        """Forecast every window of ``contexts`` ``(K, n_context, n)``: array ``(K, horizon, n)``."""
        contexts = np.asarray(contexts, float)
        for c in contexts:
            self._check_context(c)
        return np.asarray(self._forecast_windows(contexts, int(horizon)), float)

    @property
    def n_parameters(self) -> int:
        return 0

    def check(self) -> None:
        """Raise a one-line ChaosbenchError for a bad hyperparameter value, before any data are seen
        (the harness calls it when it plans a run, so a typo fails there rather than in every cell)."""

    # -- for subclasses -----------------------------------------------------------------------
    def _fit(self, trajectories: list[np.ndarray], validation: list[np.ndarray] | None) -> None:
        raise NotImplementedError

    def _forecast(self, context: np.ndarray, horizon: int) -> np.ndarray:
        """One window; by default a batch of one through :meth:`_forecast_windows`."""
        if type(self)._forecast_windows is Model._forecast_windows:
            raise NotImplementedError(f"{type(self).__name__} implements neither _forecast nor _forecast_windows")
        return self._forecast_windows(context[None], horizon)[0]

    def _forecast_windows(self, contexts: np.ndarray, horizon: int) -> np.ndarray:
        """Checked windows ``(K, n_context, n)``; by default one at a time through :meth:`_forecast`
        (models that advance all windows together override this instead)."""
        return np.stack(
            [np.asarray(self._forecast(c, horizon), float).reshape(horizon, self.dimension_) for c in contexts]
        )

    def _check_context(self, context) -> np.ndarray:
        if not hasattr(self, "dimension_"):
            raise ChaosbenchError(f"{type(self).__name__}: call fit before forecast")
        context = np.asarray(context, float)
        if context.ndim != 2 or context.shape[1] != self.dimension_ or len(context) < 1:
            raise ChaosbenchError(
                f"{type(self).__name__}: context must be (n_context, {self.dimension_}), got {context.shape}"
            )
        return context


def as_trajectories(train) -> list[np.ndarray]:
    """One array ``(n_steps, n)`` or a sequence of them -> list of float arrays, checked alike."""
    if isinstance(train, np.ndarray) and train.ndim == 2:
        items: Sequence = [train]
    elif isinstance(train, np.ndarray) and train.ndim == 3:
        items = list(train)
    else:
        items = list(train)
    out = [np.asarray(t, float) for t in items]
    if not out or any(t.ndim != 2 or len(t) < 2 for t in out):
        raise ChaosbenchError("train must be an array (n_steps, n) with n_steps >= 2, or a list of them")
    if len({t.shape[1] for t in out}) != 1:
        raise ChaosbenchError("all training trajectories must have the same number of variables")
    if not all(np.all(np.isfinite(t)) for t in out):
        raise ChaosbenchError("training data contain NaN or infinite values")
    return out
