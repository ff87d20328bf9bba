"""Hyperparameter search on the validation part: windows, a score, a ridge path and a random search.

A model is scored on **validation windows**: closed-loop forecasts started at several points of
the validation part, each given as context the data just before it (the end of the training
trajectory, then the validation points already passed). The test windows are never seen.

The score is the **mean log error**: the mean over windows and steps of ``ln NRMSE(t)`` (NRMSE in
the data's units; the data are standardised), each step's error capped at :data:`ERROR_CAP` and a
non-finite forecast counted at the cap; lower is better. It is used instead of the valid
prediction time because validation windows are short (1000 points are under 7 Lyapunov times of
Lorenz at 100 points per period): a good model stays within ``eps`` over the whole window, where
the VPT saturates but the log error still ranks models. If the error grows as ``e0 exp(lambda t)``,
minimising its mean log is maximising the VPT ``ln(eps / e0) / lambda``. The VPT in steps is
recorded beside it. A model only knows ``dt``, not ``lambda``, so nothing is in Lyapunov times.

Readouts that are linear in their features share one trick: for fixed features the Gram matrix
and its eigendecomposition give the ridge solution for every regularisation at the cost of a
matrix product each (:func:`ridge_path`), so a ridge grid costs little more than one fit.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable

import numpy as np

from .. import metrics

#: NRMSE above this counts as this (a forecast far off the attractor is no worse than a wrong one)
ERROR_CAP = 2.0
#: smallest NRMSE that counts (keeps the log finite for perfect forecasts)
ERROR_FLOOR = 1e-12


def validation_windows(
    history: np.ndarray, start: int, *, context: int, horizon: int | None = None, n_windows: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(contexts (K, context, n), targets (K, horizon, n))`` whose targets lie in ``history[start:]``.

    ``history`` is the last training trajectory followed by the validation part that continues
    it, ``start`` the index where validation begins. Targets start at ``n_windows`` points spread
    evenly over the validation part; each context is the ``context`` points just before its target
    (shortened if the history is shorter). ``horizon`` defaults to 60% of the validation part.
    """
    n_val = len(history) - start
    if n_val < 2:
        raise ValueError("the validation part needs at least 2 points")
    horizon = max(1, int(0.6 * n_val)) if horizon is None else min(int(horizon), n_val)
    context = max(1, min(int(context), start))
    last = start + n_val - horizon
    starts = np.unique(np.linspace(start, last, max(1, int(n_windows))).round().astype(int))
    contexts = np.stack([history[s - context : s] for s in starts])
    targets = np.stack([history[s : s + horizon] for s in starts])
    return contexts, targets


def forecast_error(targets: np.ndarray, forecasts: np.ndarray, *, eps: float = 0.3) -> tuple[float, float]:
    """``(mean log error, median VPT in steps)`` of forecasts ``(K, H, n)`` against ``targets``.

    The mean log error is the module's score (lower is better); the VPT in steps counts the steps
    before the NRMSE first exceeds ``eps`` (:func:`chaosbench.metrics.first_exceedance`).
    """
    targets, forecasts = np.asarray(targets, float), np.asarray(forecasts, float)
    errors = np.stack([metrics.nrmse(t, f) for t, f in zip(targets, forecasts)])
    vpt_steps = float(np.median([metrics.first_exceedance(e, eps) for e in errors]))
    capped = np.where(np.isfinite(errors), np.clip(errors, ERROR_FLOOR, ERROR_CAP), ERROR_CAP)
    return float(np.mean(np.log(capped))), vpt_steps


def ridge_path(gram: np.ndarray, cross: np.ndarray, ridges) -> list[np.ndarray]:
    """Ridge solutions ``W = (G + r I)^{-1} B`` for every ``r`` in ``ridges``, from one eigendecomposition.

    ``G = Phi^T Phi / m`` and ``B = Phi^T Y / m`` are the Gram and cross matrices of ``m`` feature
    rows ``Phi`` and targets ``Y`` (Tikhonov 1963; Hoerl & Kennard 1970, Technometrics 12, 55).
    ``G = Q diag(e) Q^T`` is computed once in float64; eigenvalues below zero (rounding) are set
    to zero, so every solve is as well conditioned as ``max(e) / r`` allows; ``r = 0`` gives the
    minimum-norm least-squares solution (eigenvalues below ``n eps max(e)`` dropped). A single positive ``r``
    is solved by Cholesky instead (``scipy.linalg.solve(..., assume_a="pos")``).
    """
    from scipy.linalg import LinAlgError, eigh, solve

    if len(ridges) == 1 and ridges[0] > 0:  # one value: a Cholesky solve is cheaper than eigenvectors
        try:
            with warnings.catch_warnings():  # a tiny ridge is ill-conditioned on purpose
                warnings.simplefilter("ignore")
                return [solve(gram + ridges[0] * np.eye(len(gram)), cross, assume_a="pos", check_finite=False)]
        except LinAlgError:
            pass
    e, q = eigh(gram, check_finite=False)
    e = np.maximum(e, 0.0)
    qb = q.T @ cross
    # r = 0 is the limit r -> 0: the minimum-norm least-squares solution (pseudo-inverse)
    cut = e.max() * len(e) * np.finfo(float).eps
    return [
        q @ (qb * (1.0 / (e + r) if r > 0 else np.divide(1.0, e, out=np.zeros_like(e), where=e > cut))[:, None])
        for r in map(float, ridges)
    ]


def _json_value(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def random_search(
    build: Callable[[dict], object],
    space: dict,
    evaluate: Callable[[object], tuple[float, float]],
    *,
    max_trials: int = 50,
    safety_seconds: float = 3600.0,
    seed: int = 0,
    allowed: Callable[[dict], bool] | None = None,
) -> tuple[object, dict]:
    """Random search (Bergstra & Bengio 2012, JMLR 13, 281) over a fixed, seeded list of trials.

    The search is bounded by its number of trials, never by the clock, so its result depends on the
    data and the seed only, not on how busy the machine is. ``safety_seconds`` only guards against a
    runaway search: if it bites, the search stops early and ``info["safety_limit_hit"]`` says so (a
    result that then depends on the machine, and is marked as such).

    Parameters
    ----------
    build : callable
        ``params -> fitted model``, for a dict holding one value per knob of ``space``.
    space : dict
        Knob name -> list of candidate values. The first candidate of every knob is the first
        trial (put the user's values first: the search never returns a worse validation score).
    evaluate : callable
        ``model -> (score, vpt_steps)``, lower score is better (:func:`forecast_error`).
    max_trials : int
        The number of trials (all distinct; fewer if the space has fewer candidates), fixed by
        ``seed`` in order.
    safety_seconds : float
        A safety limit on wall time, recorded when it bites (see above).

    A drawn candidate whose fit raises a ``ValueError`` (e.g. a
    :class:`~chaosbench.errors.ChaosbenchError`) or ``ArithmeticError`` is recorded with its error and
    skipped; the first (the given values) raises.
    allowed : callable, optional
        ``params -> bool``: candidates it refuses are skipped (e.g. too many features).

    Returns
    -------
    ``(best model, info)`` with ``info`` a JSON-serialisable dict: ``chosen``, ``best_score``,
    ``best_vpt_steps``, ``n_trials``, ``seconds`` and every trial's values and score.
    """
    rng = np.random.default_rng(seed)
    names = list(space)
    sizes = [len(space[k]) for k in names]
    n_configs = math.prod(sizes)

    def params_of(c):
        return {k: space[k][i] for k, i in zip(names, c)}

    candidates = [tuple(0 for _ in names)]
    seen = set(candidates)
    draws = 0
    while len(candidates) < max_trials and len(seen) < n_configs and draws < 20 * max_trials:
        draws += 1
        c = tuple(int(rng.integers(s)) for s in sizes)
        if c not in seen:
            seen.add(c)
            if allowed is None or allowed(params_of(c)):
                candidates.append(c)
    t0 = time.perf_counter()
    best = None
    trials: list[dict] = []
    hit = False
    for c in candidates:
        if trials and time.perf_counter() - t0 > safety_seconds:
            hit = True
            break
        t1 = time.perf_counter()
        params = params_of(c)
        try:
            model = build(params)
            score, vpt_steps = evaluate(model)
        except (ValueError, ArithmeticError) as exc:  # the given values must work; a drawn one may not
            if not trials:
                raise
            trials.append(
                {
                    **{k: _json_value(v) for k, v in params.items()},
                    "error": str(exc).splitlines()[0][:200],
                    "seconds": round(time.perf_counter() - t1, 3),
                }
            )
            continue
        seconds = time.perf_counter() - t1
        trials.append(
            {
                **{k: _json_value(v) for k, v in params.items()},
                "score": score,
                "vpt_steps": vpt_steps,
                "seconds": round(seconds, 3),
                **{
                    k: _json_value(v)
                    for k, v in getattr(model, "fit_info_", {}).items()
                    if not isinstance(v, (dict, list))
                },
            }
        )
        if best is None or score < best[0]:
            best = (score, vpt_steps, model, params)
    if best is None:  # cannot happen: the first trial (the given values) either succeeds or raises
        raise RuntimeError("search: no trial succeeded")
    score, vpt_steps, model, params = best
    info = {
        "chosen": {k: _json_value(v) for k, v in params.items()},
        "best_score": score,
        "best_vpt_steps": vpt_steps,
        "n_trials": len(trials),
        "planned_trials": len(candidates),
        "safety_limit_hit": hit,
        "seconds": round(time.perf_counter() - t0, 3),
        "safety_seconds": float(safety_seconds),
        "trials": trials,
    }
    return model, info
