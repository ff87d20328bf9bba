"""Scores of a forecast against the truth: pure functions of arrays, definitions in each docstring.

Every array is ``(n_steps, n)`` (time along the first axis, one column per variable) unless said
otherwise. Forecast step ``k`` (0-based) lies ``(k + 1) * dt`` after the last context point, so a
forecast of ``H`` steps covers the times ``dt, 2 dt, ..., H dt``. Times are returned in Lyapunov
times, ``t / T_L`` with ``T_L = 1 / lambda_max``.

Short-term scores (valid prediction time, error curves, MASE) compare a forecast point by point
with the truth. Long-term scores (``state_space_divergence``, ``power_spectrum_distance``) compare
the *statistics* of a freely running forecast with those of the truth, as the dynamical-systems
reconstruction literature does (Koppe et al. 2019; Mikhaeil et al. 2022; Hess et al. 2023),
since no model can follow a chaotic trajectory for long.
"""
from __future__ import annotations

import math

import numpy as np

#: horizons (in Lyapunov times) at which error-vs-horizon curves are reported
HORIZONS_LYAP = (0.5, 1.0, 2.0, 5.0, 10.0)


def _pair(truth, forecast) -> tuple[np.ndarray, np.ndarray]:
    truth, forecast = np.asarray(truth, float), np.asarray(forecast, float)
    if truth.ndim == 1:
        truth = truth[:, None]
    if forecast.ndim == 1:
        forecast = forecast[:, None]
    if truth.shape != forecast.shape:
        raise ValueError(f"truth {truth.shape} and forecast {forecast.shape} differ in shape")
    return truth, forecast


def nrmse(truth, forecast, scale=None) -> np.ndarray:
    """Normalised root-mean-square error at each step.

    ``NRMSE(t) = sqrt( (1/n) sum_i ((xhat_i(t) - x_i(t)) / s_i)^2 )`` with ``s_i`` the standard
    deviation of variable ``i`` on the attractor (``scale``; default 1, i.e. data already
    standardised). A forecast at the attractor's mean scores about 1; a random point on the
    attractor about sqrt(2).
    """
    truth, forecast = _pair(truth, forecast)
    s = np.ones(truth.shape[1]) if scale is None else np.broadcast_to(np.asarray(scale, float), truth.shape[1:])
    z = (forecast - truth) / np.where(s > 0, s, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.mean(z * z, axis=1))


def smape(truth, forecast) -> np.ndarray:
    """Symmetric mean absolute percentage error at each step, in percent (0 to 200).

    ``sMAPE(t) = (200/n) sum_i |xhat_i(t) - x_i(t)| / (|xhat_i(t)| + |x_i(t)|)``, a term being 0
    where both values are 0 (Makridakis 1993; the score of Gilpin 2023, "Model scale versus domain
    knowledge in statistical forecasting of chaotic systems", Phys. Rev. Research 5, 043252).
    """
    truth, forecast = _pair(truth, forecast)
    num = np.abs(forecast - truth)
    den = np.abs(forecast) + np.abs(truth)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    terms = np.where(np.isfinite(forecast), terms, 1.0)  # a non-finite forecast is as wrong as can be
    return 200.0 * np.mean(terms, axis=1)


def first_exceedance(error, threshold: float) -> int:
    """Index of the first step whose error exceeds ``threshold`` (NaN counts as exceeding);
    ``len(error)`` if none does."""
    error = np.asarray(error, float)
    bad = ~(error <= threshold)
    return int(np.argmax(bad)) if bad.any() else len(error)


def valid_prediction_time(truth, forecast, *, dt: float, lyapunov_time: float, scale=None,
                          eps: float = 0.3) -> float:
    """Valid prediction time in Lyapunov times: how long the NRMSE stays within ``eps``.

    ``VPT = k* dt / T_L`` where ``k*`` is the first forecast step whose :func:`nrmse` exceeds
    ``eps`` (default 0.3, as in Pathak et al. 2018, PRL 120, 024102, and Vlachas et al. 2020,
    Neural Networks 126, 191): the ``k*`` steps before it, at times ``dt ... k* dt``, are valid.
    So the first exceedance happens at ``(k* + 1) dt``, and a forecast wrong from its first step
    scores 0. If no step exceeds ``eps``, ``VPT = H dt / T_L`` for a forecast of ``H`` steps (a
    censored value: a longer horizon could give more). NaN counts as exceeding.
    """
    return _time_of_exceedance(nrmse(truth, forecast, scale), eps, dt, lyapunov_time)


def _time_of_exceedance(err: np.ndarray, threshold: float, dt: float, lyapunov_time: float) -> float:
    return first_exceedance(err, threshold) * dt / lyapunov_time


def valid_prediction_time_smape(truth, forecast, *, dt: float, lyapunov_time: float,
                                threshold: float = 30.0) -> float:
    """Valid prediction time by the sMAPE criterion: first time :func:`smape` exceeds 30 (percent).

    The variant used by Gilpin 2023 (Phys. Rev. Research 5, 043252), in Lyapunov times, with the
    same step and censoring conventions as :func:`valid_prediction_time`.
    """
    return _time_of_exceedance(smape(truth, forecast), threshold, dt, lyapunov_time)


def at_horizons(curve, *, dt: float, lyapunov_time: float, horizons_lyap=HORIZONS_LYAP) -> np.ndarray:
    """Values of an error curve (one value per forecast step) at given horizons in Lyapunov times.

    The value at horizon ``h`` is the curve at the step whose time ``(k + 1) dt`` is nearest to
    ``h T_L``; NaN where the horizon lies beyond the curve.
    """
    curve = np.asarray(curve, float)
    out = np.full(len(horizons_lyap), np.nan)
    for j, h in enumerate(horizons_lyap):
        k = int(round(h * lyapunov_time / dt)) - 1
        if 0 <= k < len(curve):
            out[j] = curve[k]
    return out


def mase(truth, forecast, train, *, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006, Int. J. Forecasting 22, 679).

    ``MASE = mean_{t,i} |xhat_i(t) - x_i(t)| / q_i`` averaged over variables ``i``, where
    ``q_i = mean_t |x_i(t) - x_i(t - m)|`` is the in-sample error of the naive (``season = m``)
    forecast on the training series. Below 1: better than a one-step naive forecast in sample.
    """
    truth, forecast = _pair(truth, forecast)
    train = np.asarray(train, float)
    train = train[:, None] if train.ndim == 1 else train
    q = np.mean(np.abs(train[season:] - train[:-season]), axis=0)
    per_variable = np.mean(np.abs(forecast - truth), axis=0) / np.where(q > 0, q, np.nan)
    return float(np.nanmean(per_variable)) if np.any(np.isfinite(per_variable)) else math.nan


def _smoothed_pmf(counts: np.ndarray, alpha: float) -> np.ndarray:
    return (counts + alpha) / (counts.sum() + alpha * counts.size)


def state_space_divergence(truth, generated, *, n_bins: int = 30, max_binned_dim: int = 3,
                           bandwidth: float = 0.5, n_samples: int = 1000, alpha: float = 1e-5,
                           ) -> float:
    """State-space divergence ``D_stsp = KL(p_true || p_gen)`` between the distributions of points
    visited by the true and the generated (freely running) trajectories.

    Defined by Koppe et al. 2019 (PLoS Comput. Biol. 15, e1007263) and used throughout the
    dynamical-systems reconstruction literature (Brenner et al. 2022, ICML; Mikhaeil et al. 2022,
    NeurIPS; Hess et al. 2023, ICML). Inputs are standardised (per-variable attractor std 1).

    - Dimension ``n <= max_binned_dim``: a histogram of ``n_bins`` bins per variable over the
      range of the truth widened by 10% on each side; generated points outside that box fall in
      one extra "outside" bin (so leaving the attractor costs divergence). Both histograms get
      Laplace smoothing ``alpha`` per bin, then ``D = sum_b p_b log(p_b / q_b)``.
    - Higher dimension: binning needs ``n_bins^n`` cells, so each trajectory is taken as a mixture
      of isotropic Gaussians of std ``bandwidth`` centred on its points (Koppe et al. 2019), and
      ``D = (1/S) sum_s log p(x_s) / q(x_s)`` over ``n_samples`` true points ``x_s`` (Monte Carlo);
      the mixtures use at most ``n_samples`` points each, subsampled evenly in time, and the
      ``x_s`` lie halfway between the truth's centres (a centre would count its own kernel).
      ``bandwidth`` is in units of the attractor's std; 0.5 is our choice (it separates a fixed
      point from the attractor by ~4 nats in 4 dimensions, and two samples of one attractor by ~0.02).

    Zero for identical inputs; positive when the distributions differ (the Monte Carlo estimate can
    dip below zero by its sampling error when they nearly coincide).
    """
    truth, generated = np.asarray(truth, float), np.asarray(generated, float)
    truth = truth[:, None] if truth.ndim == 1 else truth
    generated = generated[:, None] if generated.ndim == 1 else generated
    if truth.shape[1] != generated.shape[1]:
        raise ValueError("truth and generated trajectories have different dimensions")
    if not np.all(np.isfinite(generated)):
        return math.inf
    n = truth.shape[1]
    if n <= max_binned_dim:
        lo, hi = truth.min(0), truth.max(0)
        pad = 0.1 * np.where(hi > lo, hi - lo, 1.0)
        edges = [np.linspace(a, b, n_bins + 1) for a, b in zip(lo - pad, hi + pad)]
        p, _ = np.histogramdd(truth, bins=edges)
        q, _ = np.histogramdd(generated, bins=edges)
        p = np.append(p.ravel(), 0.0)
        q = np.append(q.ravel(), len(generated) - q.sum())
        p, q = _smoothed_pmf(p, alpha), _smoothed_pmf(q, alpha)
        return float(np.sum(p * np.log(p / q)))
    from scipy.special import logsumexp

    def evenly(x, shift=0):
        m = min(len(x), n_samples)
        idx = np.linspace(0, len(x) - 1, m).round().astype(int) + shift * (len(x) // (2 * m))
        return x[np.clip(idx, 0, len(x) - 1)]

    samples = evenly(truth, shift=1)
    p_c, q_c = evenly(truth), evenly(generated)

    def log_density(points, means):
        d2 = ((points[:, None, :] - means[None, :, :]) ** 2).sum(-1)
        return logsumexp(-0.5 * d2 / bandwidth**2, axis=1) - math.log(len(means))

    return float(np.mean(log_density(samples, p_c) - log_density(samples, q_c)))


def power_spectrum(x, *, smoothing: float = 2.0) -> np.ndarray:
    """Normalised, smoothed power spectrum of each variable: array ``(n_freq, n)`` summing to 1 per
    column. ``x`` is ``(n_steps, n)`` or ``(n_windows, n_steps, n)`` (spectra averaged over windows).
    The mean is removed; the zero frequency is dropped; a Gaussian kernel of ``smoothing`` frequency
    bins tames the periodogram's variance (Mikhaeil et al. 2022)."""
    from scipy.ndimage import gaussian_filter1d

    x = np.asarray(x, float)
    x = x[None] if x.ndim == 2 else x
    x = x - x.mean(axis=1, keepdims=True)
    power = np.mean(np.abs(np.fft.rfft(x, axis=1)) ** 2, axis=0)[1:]
    if smoothing > 0:
        power = gaussian_filter1d(power, smoothing, axis=0, mode="nearest")
    total = power.sum(axis=0)
    return power / np.where(total > 0, total, 1.0)


def power_spectrum_distance(truth, generated, *, smoothing: float = 2.0) -> float:
    """Power-spectrum distance ``D_H``: the Hellinger distance between normalised power spectra,
    averaged over variables (Mikhaeil et al. 2022, NeurIPS; Hess et al. 2023, ICML).

    ``H(p, q) = sqrt(1 - sum_f sqrt(p_f q_f))`` with ``p, q`` the spectra of :func:`power_spectrum`
    (same length required). Lies in [0, 1]; zero for identical series and symmetric in its
    arguments. Arrays ``(n_steps, n)`` or ``(n_windows, n_steps, n)``.
    """
    truth, generated = np.asarray(truth, float), np.asarray(generated, float)
    if truth.shape[-2:] != generated.shape[-2:]:
        raise ValueError(f"truth {truth.shape} and generated {generated.shape} need the same steps and variables")
    if not np.all(np.isfinite(generated)):
        return 1.0
    p, q = power_spectrum(truth, smoothing=smoothing), power_spectrum(generated, smoothing=smoothing)
    bc = np.clip(np.sum(np.sqrt(p * q), axis=0), 0.0, 1.0)
    return float(np.mean(np.sqrt(1.0 - bc)))
