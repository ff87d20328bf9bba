"""Reference forecasters every model must beat: persistence, climatology and a linear VAR.

On normalised chaotic data, persistence is right for a fraction of a Lyapunov time, climatology
(the training mean) has NRMSE about 1 at every horizon, and a linear vector autoregression decays
to the mean like any stable linear model: its long-term statistics are those of a fixed point.
"""

from __future__ import annotations

import numpy as np

from ..errors import ChaosbenchError
from .base import Model


class Persistence(Model):
    """The naive forecast: the last context value repeated, ``xhat(t + k dt) = x(t)``."""

    def _fit(self, trajectories, validation):
        pass

    def _forecast(self, context, horizon):
        return np.repeat(context[-1:], horizon, axis=0)


class Climatology(Model):
    """The training mean at every step: the best constant forecast in mean square."""

    def _fit(self, trajectories, validation):
        self.mean_ = np.concatenate(trajectories).mean(0)

    def _forecast(self, context, horizon):
        return np.repeat(self.mean_[None], horizon, axis=0)

    @property
    def n_parameters(self) -> int:
        return int(self.mean_.size) if hasattr(self, "mean_") else 0


class VAR(Model):
    """Linear vector autoregression ``x(t) = c + sum_{j=1}^{p} A_j x(t - j) + e(t)``, fit by least squares
    with statsmodels (Lütkepohl 2005, *New Introduction to Multiple Time Series Analysis*, ch. 3).

    Parameters
    ----------
    maxlags : int
        Largest lag order considered.
    ic : str or None
        Information criterion choosing the order up to ``maxlags`` (``"aic"``, ``"bic"``, ``"hqic"``,
        ``"fpe"``), or None to use ``maxlags`` itself.
    seed : int
        Unused (the fit is deterministic); kept for the common interface.

    Several training trajectories are concatenated (the few lag vectors spanning a junction are a
    negligible error for trajectories much longer than ``maxlags``). A one-variable system is fit
    as an autoregression (``AutoReg``), which statsmodels' VAR refuses. Where the states span fewer
    dimensions than the system has (a conserved linear quantity, as in a chemostat whose nutrient and
    biomass sum to the supply), the residual covariance is singular and statsmodels cannot fit; the
    VAR is then fit on the principal components the data span (singular values above
    ``SUBSPACE_RTOL`` of the largest) and written back in the system's variables, so the forecast
    keeps the conserved quantities exactly. ``fit_info_["subspace"]`` records the dimension used.
    """

    _name = "var"
    CRITERIA = ("aic", "bic", "hqic", "fpe")
    SUBSPACE_RTOL = 1e-9

    def __init__(self, *, maxlags: int = 20, ic: str | None = "aic", seed: int = 0):
        super().__init__(seed=seed)
        self.maxlags = maxlags
        self.ic = ic

    def check(self) -> None:
        require_int(self, "maxlags", 1)
        if self.ic is not None and self.ic not in self.CRITERIA:
            raise ChaosbenchError(f"var: ic must be one of {', '.join(self.CRITERIA)} or null, got {self.ic!r}")

    def _fit(self, trajectories, validation):
        self.check()
        data = np.concatenate(trajectories)
        n = data.shape[1]
        if n == 1:
            self.intercept_, self.coefs_ = self._fit_ar(data[:, 0])
        else:
            try:
                self.intercept_, self.coefs_ = self._fit_var(data)
            except np.linalg.LinAlgError:
                self._fit_in_subspace(data)
        self.order_ = self.coefs_.shape[0]

    def _fit_ar(self, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from statsmodels.tsa.ar_model import AutoReg, ar_select_order

        lags = self.maxlags
        if self.ic:
            sel = ar_select_order(series, maxlag=self.maxlags, ic=self.ic if self.ic != "fpe" else "aic")
            lags = max(sel.ar_lags) if sel.ar_lags else 1
        params = np.asarray(AutoReg(series, lags=lags, trend="c").fit().params)
        return params[:1], params[1:].reshape(lags, 1, 1)

    def _fit_var(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from statsmodels.tsa.api import VAR as _StatsmodelsVAR

        res = _StatsmodelsVAR(data).fit(maxlags=self.maxlags, ic=self.ic, trend="c")
        if res.k_ar == 0:  # the criterion chose no lags: keep one so the forecast depends on the context
            res = _StatsmodelsVAR(data).fit(maxlags=1, trend="c")
        return np.asarray(res.intercept, float), np.asarray(res.coefs, float)

    def _fit_in_subspace(self, data: np.ndarray) -> None:
        # x = mu + V z: a VAR z_t = c + sum_j A_j z_{t-j} is x_t = mu + V c + sum_j V A_j V^T (x_{t-j} - mu)
        mu = data.mean(0)
        _, sing, vt = np.linalg.svd(data - mu, full_matrices=False)
        k = int(np.sum(sing > self.SUBSPACE_RTOL * sing[0]))
        if k == data.shape[1]:  # full rank: the failure was not a missing dimension
            raise ChaosbenchError(f"var: statsmodels could not fit {k} full-rank variables; try a smaller maxlags")
        basis = vt[:k].T  # (n, k)
        z = (data - mu) @ basis
        c, a = self._fit_ar(z[:, 0]) if k == 1 else self._fit_var(z)
        self.coefs_ = np.einsum("ik,pkl,jl->pij", basis, a, basis)
        self.intercept_ = mu + basis @ c - self.coefs_.sum(0) @ mu
        self.fit_info_ = {"subspace": k}

    def _forecast_windows(self, contexts, horizon):
        # all windows advance together: one (K, n) product per lag and step
        p = self.order_
        if contexts.shape[1] < p:
            raise ChaosbenchError(f"var: the context ({contexts.shape[1]} steps) is shorter than the lag order {p}")
        history = [contexts[:, -1 - j] for j in range(p)]
        out = np.empty((contexts.shape[0], horizon, contexts.shape[2]))
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(horizon):
                x = self.intercept_ + sum(history[j] @ self.coefs_[j].T for j in range(p))
                out[:, k] = x
                history = [x] + history[:-1]
        return out

    @property
    def n_parameters(self) -> int:
        return int(self.coefs_.size + self.intercept_.size) if hasattr(self, "coefs_") else 0


def require_int(model, name: str, low: int, *, none_ok: bool = False) -> None:
    """Refuse hyperparameter ``name`` of ``model`` (named by its ``_name``) unless an integer >= ``low``."""
    v = getattr(model, name)
    if v is None and none_ok:
        return
    if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low):
        raise ChaosbenchError(
            f"{model._name}: {name} must be an integer >= {low}{' or null' if none_ok else ''}, got {v!r}"
        )
