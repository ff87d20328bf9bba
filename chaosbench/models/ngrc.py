"""The next-generation reservoir computer: polynomial features of time-delay taps, with a ridge readout.

Gauthier, Bollt, Griffith & Barbosa 2021 (Nat. Commun. 12, 5564); the readout, its ridge and the
search are those every reservoir computer shares (:mod:`.reservoir`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..errors import ChaosbenchError
from .baselines import require_int
from .reservoir import RidgeReadoutModel


class NextGenerationRC(RidgeReadoutModel):
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
    **common
        ``ridge``, ``search_trials`` (over taps, skip and degree), ``search_safety_seconds`` and ``seed``
        (of the search: the model itself has nothing random): see
        :class:`~chaosbench.models.reservoir.RidgeReadoutModel`.
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
        **common,
    ):
        super().__init__(**common)
        self.taps = taps
        self.skip = skip
        self.degree = degree
        self.max_features = max_features

    def _check(self):
        require_int(self, "taps", 1)
        require_int(self, "skip", 1)
        require_int(self, "max_features", 1)
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
