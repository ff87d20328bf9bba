"""Scoring a cell's forecasts against its task: valid prediction time, errors against the horizon and
long-run statistics, all in the task's normalised units (definitions in :mod:`chaosbench.metrics`).

:func:`score` gives every score a cell records; :func:`first_step_failure` tells a broken forecast (a
failed cell) from one that diverges later (scored up to that point).
"""

from __future__ import annotations

import math

import numpy as np

from .. import metrics
from .tasks import EPS, Task

#: grid of the stored error-vs-horizon curves, in Lyapunov times
CURVE_STEP_LYAP = 0.25


def censored_median(values, censored) -> tuple[float, bool]:
    """Median of values some of which are lower bounds, and whether it is itself only a lower bound:
    it is when a censored value lies at or below the upper middle, since raising it could raise the
    median (a censored value above the middle cannot move it)."""
    v, c = np.asarray(values, float), np.asarray(censored, bool)
    if not len(v):
        return float("nan"), False
    upper_middle = v[np.argsort(v, kind="stable")[len(v) // 2]]
    return float(np.median(v)), bool(np.any(c & (v <= upper_middle)))


def first_step_failure(forecasts: np.ndarray) -> str | None:
    """A reason if some window's forecast is non-finite from its first step (a broken model, not a
    divergence), else None."""
    bad = ~np.all(np.isfinite(forecasts[:, 0]), axis=-1)
    if bad.any():
        return f"forecast is NaN or infinite from its first step (window {int(np.argmax(bad))})"
    return None


def score(task: Task, forecasts: np.ndarray, *, eps: float = EPS, long_run: np.ndarray | None = None) -> dict:
    """All scores of forecasts ``(K, horizon, n)`` of a task's test windows (normalised units).

    Only the task's scored columns count. A window whose forecast becomes non-finite is scored up to
    there (a non-finite value is an infinite error) and counted in ``diverged``. A window's valid
    prediction time is censored — a lower bound — when it reaches the horizon or the truth's certified
    time (:meth:`Task.certified_steps`); it is then recorded at that bound. ``long_run`` is the model's
    long free run ``(n_long, n)`` for the long-term statistics against ``task.long_truth``.
    """
    n = task.n_scored
    truth, fc = task.targets[..., :n], forecasts[..., :n]
    kw = {"dt": task.dt, "lyapunov_time": task.lyapunov_time}
    with np.errstate(invalid="ignore", over="ignore"):
        nrmse = np.stack([metrics.nrmse(t, f) for t, f in zip(truth, fc)])
    valid = np.array([metrics.first_exceedance(e, eps) for e in nrmse])
    certified = task.certified_steps(eps)
    censored = valid >= certified
    steps = np.minimum(valid, certified)
    vpt = steps * task.dt / task.lyapunov_time
    raw_truth, raw_fc = truth * task.std[:n] + task.mean[:n], fc * task.std[:n] + task.mean[:n]
    with np.errstate(invalid="ignore", over="ignore"):
        smape = np.stack([metrics.smape(t, f) for t, f in zip(raw_truth, raw_fc)])
        nmae = np.stack([metrics.nmae(t, f) for t, f in zip(truth, fc)])
    vpt_smape = [metrics.valid_prediction_time_smape(t, f, **kw) for t, f in zip(raw_truth, raw_fc)]
    out = {
        "vpt_lyap": float(np.median(vpt)),
        "vpt_windows": vpt,
        "censored_windows": censored,
        "censored_fraction": float(censored.mean()),
        "vpt_censored": censored_median(vpt, censored)[1],
        "vpt_periods": float(np.median(steps) * task.dt / task.period),
        "certified_lyap": float(np.median(certified) * task.dt / task.lyapunov_time),
        "diverged": int(np.sum(~np.all(np.isfinite(forecasts), axis=(1, 2)))),
        "vpt_smape_lyap": float(np.median(vpt_smape)),
    }
    with np.errstate(invalid="ignore", over="ignore"):
        for name, curves in (("nrmse", nrmse), ("smape", smape), ("nmae", nmae)):
            at = metrics.at_horizons(curves.mean(0), **kw)
            out.update({f"{name}_at_{h:g}": float(v) for h, v in zip(metrics.HORIZONS_LYAP, at)})
        grid = np.arange(CURVE_STEP_LYAP, task.horizon / task.steps_per_lyapunov + 1e-9, CURVE_STEP_LYAP)
        out["curve_lyap"] = grid
        out["nrmse_curve"] = metrics.at_horizons(np.median(nrmse, axis=0), horizons_lyap=grid, **kw)
        out["mase"] = float(np.mean([metrics.mase(t, f, task.train[:, :n]) for t, f in zip(truth, fc)]))
    if long_run is not None:
        gen = np.asarray(long_run, float)[:, :n]
        out["d_stsp"] = metrics.state_space_divergence(task.long_truth, gen)
        out["d_h"] = metrics.power_spectrum_distance(task.long_truth, gen)
        out["long_run_steps"] = len(gen)
    out["d_stsp_floor"] = float(task.noise_floor.get("d_stsp", math.nan))
    out["d_h_floor"] = float(task.noise_floor.get("d_h", math.nan))
    return out
