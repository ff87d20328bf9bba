"""Scores of a forecast against the truth: pure functions of arrays, definitions in each docstring.

Every array is ``(n_steps, n)`` (time along the first axis, one column per variable) unless said
otherwise. Forecast step ``k`` (0-based) lies ``(k + 1) * dt`` after the last context point, so a
forecast of ``H`` steps covers the times ``dt, 2 dt, ..., H dt``. Times are returned in Lyapunov
times, ``t / T_L`` with ``T_L = 1 / lambda_max``.

Short-term scores (valid prediction time, error curves NRMSE/NMAE/sMAPE, MASE) compare a forecast
point by point with the truth. Long-term scores (``state_space_divergence``,
``power_spectrum_distance``) compare the *statistics* of a freely running forecast with those of
the truth, as the dynamical-systems reconstruction literature does (Koppe et al. 2019; Mikhaeil et
al. 2022; Hess et al. 2023), since no model can follow a chaotic trajectory for long.
:func:`bootstrap_median_ci` summarises a score over many forecast windows.
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


def _per_variable_scale(scale, n: int) -> np.ndarray:
    # a zero or missing std would divide by zero; such a variable is left unscaled
    s = np.ones(n) if scale is None else np.broadcast_to(np.asarray(scale, float), (n,))
    return np.where(s > 0, s, 1.0)


def nrmse(truth, forecast, scale=None) -> np.ndarray:
    """Normalised root-mean-square error at each step.

    ``NRMSE(t) = sqrt( (1/n) sum_i ((xhat_i(t) - x_i(t)) / s_i)^2 )`` with ``s_i`` the standard
    deviation of variable ``i`` on the attractor (``scale``; default 1, i.e. data already
    standardised). A forecast at the attractor's mean scores about 1; a random point on the
    attractor about sqrt(2).
    """
    truth, forecast = _pair(truth, forecast)
    z = (forecast - truth) / _per_variable_scale(scale, truth.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.mean(z * z, axis=1))


def nmae(truth, forecast, scale=None) -> np.ndarray:
    """Normalised mean absolute error at each step.

    ``NMAE(t) = (1/n) sum_i |xhat_i(t) - x_i(t)| / s_i`` with ``s_i`` the standard deviation of
    variable ``i`` on the attractor (``scale``; default 1, i.e. data already standardised). A step
    with a non-finite forecast value scores ``inf``.

    A companion to :func:`smape`, which keeps Gilpin 2023's definition in the system's raw units so
    that our numbers compare with his. sMAPE divides by ``|xhat| + |x|``, so it depends on where the
    origin of the units lies: the same error counts little on a variable far from zero (Lorenz's
    ``z`` near 25) and enormously near a zero crossing, and shifting a variable changes the score.
    NMAE is unchanged by shifting a variable and, with ``s_i`` the attractor's std, by rescaling it.
    """
    truth, forecast = _pair(truth, forecast)
    terms = np.abs(forecast - truth) / _per_variable_scale(scale, truth.shape[1])
    terms = np.where(np.isfinite(forecast), terms, np.inf)
    return np.mean(terms, axis=1)


def smape(truth, forecast) -> np.ndarray:
    """Symmetric mean absolute percentage error at each step, in percent (0 to 200).

    ``sMAPE(t) = (200/n) sum_i |xhat_i(t) - x_i(t)| / (|xhat_i(t)| + |x_i(t)|)``, a term being 0
    where both values are 0 (Makridakis 1993; the score of Gilpin 2023, "Model scale versus domain
    knowledge in statistical forecasting of chaotic systems", Phys. Rev. Research 5, 043252).
    Meant for values in the system's raw units, as Gilpin computed it; since it depends on where the
    units' origin lies, :func:`nmae` is its shift- and scale-free companion.
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


def valid_prediction_time(truth, forecast, *, dt: float, lyapunov_time: float, scale=None, eps: float = 0.3) -> float:
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


def valid_prediction_time_smape(truth, forecast, *, dt: float, lyapunov_time: float, threshold: float = 30.0) -> float:
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


# --- long-term statistics -------------------------------------------------------------------------
# Conventions of the Durstewitz lab's dynamical-systems-reconstruction papers (Koppe et al. 2019,
# PLoS Comput. Biol. 15, e1007263; Brenner et al. 2022, ICML; Mikhaeil et al. 2022, NeurIPS;
# Hess et al. 2023, ICML; Brenner et al. 2024, NeurIPS), checked against the lab's evaluation code
# (GTF-shPLRNN and ALRNN-DSR: ``src/measures/stsp_measure.jl``, ``src/measures/pse.jl``,
# ``settings/defaults.json``; ALRNN-DSR ``alrnn_python/metrics.py``).


def _as_2d(x) -> np.ndarray:
    x = np.asarray(x, float)
    return x[:, None] if x.ndim == 1 else x


def _bin_edges(truth: np.ndarray, n_bins: int) -> list[np.ndarray]:
    # a constant variable has no spread to pad by: give it a unit-wide box instead
    sd = truth.std(axis=0)
    pad = np.where(sd > 0, 0.1 * sd, 0.5)
    return [np.linspace(a, b, n_bins + 1) for a, b in zip(truth.min(0) - pad, truth.max(0) + pad)]


def _sparse_histogram(x: np.ndarray, edges: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Occupied bins of the histogram of ``x`` over ``edges``: (flat bin indices, counts).

    Bins are half-open except the last one per variable, which holds its right edge (as
    ``np.histogramdd``); points outside the box are dropped. Counting only occupied bins keeps
    30^5 = 24M bins affordable.
    """
    n_bins = len(edges[0]) - 1
    idx = np.empty(x.shape, dtype=np.int64)
    for j, e in enumerate(edges):
        k = np.searchsorted(e, x[:, j], side="right") - 1
        idx[:, j] = np.where(x[:, j] == e[-1], n_bins - 1, k)
    inside = np.all((idx >= 0) & (idx < n_bins), axis=1)
    flat = np.ravel_multi_index(tuple(idx[inside].T), (n_bins,) * x.shape[1])
    return np.unique(flat, return_counts=True)


def _binned_kl(p_bins, p_counts, q_bins, q_counts, n_cells: int, alpha: float) -> float:
    """``KL(p || q)`` of two Laplace-smoothed histograms given sparsely, summed over all ``n_cells``.

    Smoothing gives bin ``b`` the mass ``(c_b + alpha) / (N + alpha B)``. The ``E`` bins empty in
    both histograms all contribute the same term ``p0 log(p0 / q0)`` with ``p0 = alpha / (N + alpha B)``
    and ``q0 = alpha / (M + alpha B)``: nonzero when the sample sizes ``N`` and ``M`` differ, so it is
    added in closed form rather than dropped.
    """
    bins = np.union1d(p_bins, q_bins)
    c, d = np.zeros(len(bins)), np.zeros(len(bins))
    c[np.searchsorted(bins, p_bins)] = p_counts
    d[np.searchsorted(bins, q_bins)] = q_counts
    zp, zq = c.sum() + alpha * n_cells, d.sum() + alpha * n_cells
    p = (c + alpha) / zp
    occupied = np.sum(p * (np.log((c + alpha) / (d + alpha)) + math.log(zq / zp)))
    empty = (n_cells - len(bins)) * alpha / zp * math.log(zq / zp)
    return float(occupied + empty)


def _evenly(x: np.ndarray, m: int) -> np.ndarray:
    return x[np.linspace(0, len(x) - 1, min(len(x), m)).round().astype(int)]


def _log_mixture(points: np.ndarray, centres: np.ndarray, variance: float, chunk: int = 128) -> np.ndarray:
    """Log density, up to a constant shared by mixtures of the same ``variance``, of an equal-weight
    mixture of isotropic Gaussians centred on ``centres``; in chunks to bound memory."""
    from scipy.special import logsumexp

    c2 = np.sum(centres * centres, axis=1)
    out = np.empty(len(points))
    for i in range(0, len(points), chunk):
        s = points[i : i + chunk]
        d2 = np.sum(s * s, axis=1)[:, None] + c2[None, :] - 2.0 * s @ centres.T
        out[i : i + chunk] = logsumexp(-0.5 * np.maximum(d2, 0.0) / variance, axis=1)
    return out - math.log(len(centres))


def _gmm_kl(truth, generated, *, variance: float, n_points: int, mc_samples: int, seed: int) -> float:
    """Monte-Carlo ``KL(p_true || p_gen)`` between Gaussian mixtures centred on the trajectories'
    points (Koppe et al. 2019; sampling estimate of Hershey & Olsen 2007, ICASSP)."""
    sd = truth.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    p_centres, q_centres = _evenly(truth / sd, n_points), _evenly(generated / sd, n_points)
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(p_centres), size=mc_samples)
    noise = math.sqrt(variance) * rng.standard_normal((mc_samples, truth.shape[1]))
    samples = p_centres[pick] + noise  # drawn from the true mixture, as the KL's expectation needs
    log_ratio = _log_mixture(samples, p_centres, variance) - _log_mixture(samples, q_centres, variance)
    return float(np.mean(log_ratio))


def state_space_divergence(
    truth,
    generated,
    *,
    n_bins: int = 30,
    max_binned_dim: int = 5,
    alpha: float = 1e-5,
    gmm_variance: float = 1.0,
    gmm_points: int = 10_000,
    mc_samples: int = 1000,
    seed: int = 0,
) -> float:
    """State-space divergence ``D_stsp = KL(p_true || p_gen)`` between the distributions of points
    visited by the true and the generated (freely running) trajectories, arrays ``(n_steps, n)``.

    Defined by Koppe et al. 2019 (PLoS Comput. Biol. 15, e1007263) and used throughout dynamical-
    systems reconstruction (Brenner et al. 2022, ICML; Mikhaeil et al. 2022, NeurIPS; Hess et al.
    2023, ICML; Brenner et al. 2024, NeurIPS).

    - ``n <= max_binned_dim`` (5): histograms of ``n_bins`` (30) bins per variable over the box
      ``[min - 0.1 sd, max + 0.1 sd]`` of the *truth* per variable (``sd`` its std); points outside
      the box are dropped; each bin gets Laplace smoothing ``(c_b + alpha) / (N + alpha B)`` with
      ``alpha = 1e-5`` over all ``B = n_bins^n`` bins; ``D = sum_b p_b log(p_b / q_b)``. Counted
      sparsely, with the bins empty in both histograms summed in closed form, so the result equals
      the dense sum.
    - ``n > max_binned_dim``: each trajectory becomes an equal-weight mixture of isotropic Gaussians
      of variance ``gmm_variance`` (1.0) centred on ``gmm_points`` (10 000) of its points, and
      ``D = mean_s log p(x_s) / q(x_s)`` over ``mc_samples`` (1000) points ``x_s`` drawn from the true
      mixture with generator ``seed`` (Hershey & Olsen 2007, ICASSP). Near zero, not exactly zero,
      for two samples of one distribution (Monte-Carlo error); exactly zero for identical inputs.

    Values from the papers and the lab's code: 30 bins, the 0.1 sd padding of the truth's range,
    ``alpha = 1e-5``, dropping points outside the box, bins up to 5 dimensions and mixtures above,
    kernel variance 1 (on standardised data), 10 000 centres and 1000 Monte-Carlo samples. Our
    choices: the kernel variance is in units of the truth's per-variable variance (the lab's data are
    standardised, so this agrees there and makes the score unit-free like the binned one); centres
    are taken evenly over the whole series rather than its first 10 000 points (a series of
    concatenated windows is then covered); log densities are computed with log-sum-exp, so no sample
    is dropped for underflow as the lab's code does; a seeded generator makes the score repeatable.

    Returns ``math.inf`` if ``generated`` has a non-finite value, and also if none of its points lies
    in the box: smoothing would then make ``q`` uniform over the box, which would score a series that
    misses the attractor altogether *below* one with a single point in a bin the truth never visits
    (that scores about ``log((1 + alpha B) / alpha) - H(p)``, and more as stray points grow), so no
    finite value orders it consistently. (The lab's code returns NaN there.)
    """
    truth, generated = _as_2d(truth), _as_2d(generated)
    if truth.shape[1] != generated.shape[1]:
        raise ValueError(f"truth has {truth.shape[1]} variables, generated {generated.shape[1]}")
    if not np.all(np.isfinite(truth)):
        raise ValueError("truth has non-finite values")
    if not np.all(np.isfinite(generated)):
        return math.inf
    n = truth.shape[1]
    if n > max_binned_dim:
        return _gmm_kl(truth, generated, variance=gmm_variance, n_points=gmm_points, mc_samples=mc_samples, seed=seed)
    edges = _bin_edges(truth, n_bins)
    q_bins, q_counts = _sparse_histogram(generated, edges)
    if len(q_bins) == 0:
        return math.inf
    return _binned_kl(*_sparse_histogram(truth, edges), q_bins, q_counts, n_bins**n, alpha)


def power_spectrum(x, *, smoothing: float = 20.0) -> np.ndarray:
    """Normalised, smoothed power spectrum of each variable: array ``(n_freq, n)``, each column
    summing to 1 (all zeros for a constant variable).

    ``x`` is ``(n_steps, n)`` or ``(n_windows, n_steps, n)``. Each variable (of each window) is
    standardised, its periodogram ``|rfft|^2`` taken over all frequencies (no cut-off; the zero
    frequency, 0 after standardising, is kept), spectra are averaged over windows, then smoothed
    with a Gaussian kernel of ``smoothing`` (20) frequency bins (scipy's ``gaussian_filter1d``,
    reflecting at the ends) to tame the periodogram's variance. Standardising, the full frequency
    range, the kernel width and its edge handling follow Hess et al. 2023 (ICML) and the lab's
    ``pse.jl`` and ``alrnn_python/metrics.py``; averaging over windows and scoring a constant
    variable (which has no spectrum) as all zeros are ours (a single series is one window). The
    kernel is 20 *bins* whatever the length, so longer series are smoothed less in frequency.
    """
    from scipy.ndimage import gaussian_filter1d

    x = np.asarray(x, float)
    x = x[None] if x.ndim == 2 else x
    # test constancy exactly: the std of equal values can come out as rounding noise, not 0
    constant = np.ptp(x, axis=1, keepdims=True) == 0
    sd = np.where(constant, 1.0, x.std(axis=1, keepdims=True))
    z = np.where(constant, 0.0, (x - x.mean(axis=1, keepdims=True)) / sd)
    power = np.mean(np.abs(np.fft.rfft(z, axis=1)) ** 2, axis=0)
    if smoothing > 0:
        power = gaussian_filter1d(power, smoothing, axis=0, mode="reflect")
    total = power.sum(axis=0)
    return power / np.where(total > 0, total, 1.0)


def power_spectrum_distance(truth, generated, *, smoothing: float = 20.0) -> float:
    """Power-spectrum distance ``D_H``: the Hellinger distance between the normalised power spectra
    of truth and generated series, averaged over variables (Mikhaeil et al. 2022, NeurIPS; Hess et
    al. 2023, ICML; Brenner et al. 2024, NeurIPS).

    ``H(p, q) = sqrt(1 - sum_f sqrt(p_f q_f))`` with ``p, q`` from :func:`power_spectrum` (each
    variable standardised, Gaussian smoothing of ``smoothing`` = 20 bins: the ``PSE_smoothing``
    default of the lab's ``settings/defaults.json`` in GTF-shPLRNN and ALRNN-DSR). Lies in
    [0, 1]; zero for identical series, symmetric. A generated series with a non-finite value, or a
    constant variable (no spectrum), scores the maximum 1. Arrays ``(n_steps, n)`` or
    ``(n_windows, n_steps, n)`` with the same steps and variables.
    """
    truth, generated = np.asarray(truth, float), np.asarray(generated, float)
    if truth.shape[-2:] != generated.shape[-2:]:
        raise ValueError(f"truth {truth.shape} and generated {generated.shape} need the same steps and variables")
    if not np.all(np.isfinite(truth)):
        raise ValueError("truth has non-finite values")
    if not np.all(np.isfinite(generated)):
        return 1.0
    p, q = power_spectrum(truth, smoothing=smoothing), power_spectrum(generated, smoothing=smoothing)
    bc = np.clip(np.sum(np.sqrt(p * q), axis=0), 0.0, 1.0)
    return float(np.mean(np.sqrt(1.0 - bc)))


# --- summaries --------------------------------------------------------------------------------------


def bootstrap_median_ci(
    values, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Median of a 1-D sample with a percentile-bootstrap confidence interval.

    ``n_boot`` resamples with replacement (generator ``seed``, so repeatable); the interval runs
    between the ``(1 - level)/2`` and ``(1 + level)/2`` order statistics of their medians (Efron &
    Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13). Order statistics rather than
    interpolated quantiles, so that infinite values (a diverged forecast's score) stay usable: the
    median of a sample with a few ``inf`` is finite, with many it is ``inf``. NaN is refused.

    Returns ``(median, low, high)``.
    """
    values = np.asarray(values, float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D sample, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"values contain {int(np.isnan(values).sum())} NaN; a median of them is undefined")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    rows = max(1, 4_000_000 // len(values))  # resamples per batch, to bound memory
    medians = np.concatenate(
        [
            np.median(values[rng.integers(len(values), size=(min(rows, n_boot - i), len(values)))], axis=1)
            for i in range(0, n_boot, rows)
        ]
    )
    medians.sort()
    lo = int(math.floor((1 - level) / 2 * n_boot))
    hi = max(lo, int(math.ceil((1 + level) / 2 * n_boot)) - 1)
    return float(np.median(values)), float(medians[lo]), float(medians[hi])
