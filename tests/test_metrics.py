"""Metrics on cases whose answers are known by hand."""

import math

import numpy as np
import pytest

from chaosbench import metrics


def test_vpt_of_exponentially_growing_error_is_the_hand_computed_time():
    # error e(t) = e0 exp(lambda t) in one variable of unit std: NRMSE(t) = e(t) exceeds eps
    # first at t* = ln(eps / e0) / lambda, i.e. ln(eps / e0) Lyapunov times
    lam, dt, e0, eps = 0.9056, 0.001, 1e-6, 0.3
    t = dt * np.arange(1, 20001)
    truth = np.zeros((len(t), 1))
    forecast = e0 * np.exp(lam * t)[:, None]
    vpt = metrics.valid_prediction_time(truth, forecast, dt=dt, lyapunov_time=1 / lam, eps=eps)
    expected = math.log(eps / e0)  # 12.61 Lyapunov times
    assert expected - lam * dt <= vpt <= expected
    assert vpt == pytest.approx(12.6115, abs=1e-3)


def test_vpt_conventions_scale_censoring_and_nan():
    truth = np.zeros((100, 2))
    wrong = np.full((100, 2), 5.0)
    assert metrics.valid_prediction_time(truth, wrong, dt=0.1, lyapunov_time=2.0) == 0.0
    assert metrics.valid_prediction_time(truth, truth, dt=0.1, lyapunov_time=2.0) == pytest.approx(5.0)  # censored
    # an error of 1 in a variable of std 10 is an NRMSE of sqrt(0.1^2 / 2) ≈ 0.07 < 0.3
    one = np.zeros((100, 2))
    one[:, 0] = 1.0
    assert metrics.valid_prediction_time(truth, one, dt=0.1, lyapunov_time=2.0, scale=[10, 10]) == pytest.approx(5.0)
    nan = truth.copy()
    nan[30:] = np.nan
    assert metrics.valid_prediction_time(truth, nan, dt=0.1, lyapunov_time=1.0) == pytest.approx(3.0)


def test_smape_and_its_vpt():
    truth = np.ones((10, 1))
    assert np.allclose(metrics.smape(truth, truth), 0.0)
    assert np.allclose(metrics.smape(truth, -truth), 200.0)
    assert metrics.smape(np.array([[1.0]]), np.array([[3.0]]))[0] == pytest.approx(100.0)
    f = truth.copy()
    f[4:] = 2.0  # sMAPE 66.7 from step 4 on
    assert metrics.valid_prediction_time_smape(truth, f, dt=0.5, lyapunov_time=1.0) == pytest.approx(2.0)


def test_error_at_horizons_picks_the_nearest_step():
    curve = np.arange(1, 101, dtype=float)  # value k+1 at step k, time (k+1) dt
    at = metrics.at_horizons(curve, dt=0.1, lyapunov_time=2.0, horizons_lyap=(0.5, 1, 5, 10))
    assert at[:2].tolist() == [10.0, 20.0] and at[2] == 100.0 and np.isnan(at[3])


def test_mase_of_persistence_on_a_ramp():
    # x(t) = a t: the in-sample naive error is a*dt; persisting x(t0) over H steps errs a*k*dt at step k,
    # so MASE = mean_k k = (H + 1) / 2
    a, dt, H = 0.7, 0.01, 40
    train = a * dt * np.arange(500)[:, None]
    t0 = 600
    truth = a * dt * np.arange(t0 + 1, t0 + H + 1)[:, None]
    persistence = np.full_like(truth, a * dt * t0)
    assert metrics.mase(truth, persistence, train) == pytest.approx((H + 1) / 2)


def test_mase_of_persistence_on_a_slow_sine_matches_the_ramp_value():
    # a smooth series is locally a ramp: over a short horizon the same (H + 1)/2 holds to O((w H dt)^2)
    w, dt, H = 1.0, 0.001, 20
    t = dt * np.arange(20000)
    train = np.sin(w * t)[:, None]
    k0 = 3000  # away from the extrema, where the local ramp has a steady slope
    truth = np.sin(w * dt * np.arange(k0 + 1, k0 + H + 1))[:, None]
    persistence = np.full_like(truth, np.sin(w * dt * k0))
    q = 2 / np.pi * w * dt  # mean |d sin| per step over whole periods
    expected = np.mean(np.abs(np.cos(w * dt * k0)) * w * dt * np.arange(1, H + 1)) / q
    assert metrics.mase(truth, persistence, train) == pytest.approx(expected, rel=0.02)


def test_nmae_by_hand_and_free_of_the_units_origin():
    truth = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 3.0]])
    forecast = np.array([[1.0, -2.0], [1.0, 2.0], [np.nan, 3.0]])
    # step 0: (|1| + |-2|) / 2; step 1: exact; step 2: a NaN forecast is infinitely wrong
    assert metrics.nmae(truth, forecast).tolist() == [1.5, 0.0, math.inf]
    assert metrics.nmae(truth[:2], forecast[:2], scale=[1.0, 4.0]).tolist() == [0.75, 0.0]  # (1/1 + 2/4) / 2
    # shifting the units' origin changes sMAPE but not NMAE
    shifted_t, shifted_f = truth[:2] + 100.0, forecast[:2] + 100.0
    assert metrics.nmae(shifted_t, shifted_f).tolist() == [1.5, 0.0]
    assert metrics.smape(shifted_t, shifted_f)[0] < 0.1 * metrics.smape(truth[:2], forecast[:2])[0]


# --- D_H -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    t = np.arange(4000) * 0.01
    a = np.stack([np.sin(3 * t), np.cos(5 * t + 1)], 1) + 0.05 * rng.standard_normal((4000, 2))
    b = np.stack([np.sin(7 * t), np.cos(2 * t)], 1) + 0.05 * rng.standard_normal((4000, 2))
    return a, b


def test_power_spectrum_distance_zero_for_identical_symmetric_bounded(series):
    a, b = series
    assert metrics.power_spectrum_distance(a, a) == pytest.approx(0.0, abs=1e-7)
    d_ab, d_ba = metrics.power_spectrum_distance(a, b), metrics.power_spectrum_distance(b, a)
    assert d_ab == pytest.approx(d_ba) and 0.2 < d_ab <= 1.0  # 0.35 with 20-bin smoothing
    windows = np.stack([a[:2000], a[2000:]])
    assert metrics.power_spectrum_distance(windows, windows) == pytest.approx(0.0, abs=1e-7)
    assert metrics.power_spectrum_distance(a, np.full_like(a, np.nan)) == 1.0
    assert metrics.power_spectrum_distance(a, np.full_like(a, 0.3)) == 1.0  # a fixed point has no spectrum
    # each variable is standardised: amplitude and offset do not count
    assert metrics.power_spectrum_distance(a, 3.0 * a + 5.0) == pytest.approx(0.0, abs=1e-7)


def test_power_spectrum_distance_of_two_sines_is_the_hand_computed_hellinger():
    # sines on exact frequency bins k1, k2 have one-bin spectra: unsmoothed they share nothing (H = 1);
    # smoothed by a Gaussian of sigma bins they are Gaussians with overlap exp(-(k1 - k2)^2 / (8 sigma^2))
    n, k1, k2, sigma = 4096, 200, 240, 20.0
    steps = np.arange(n)
    s1 = np.sin(2 * np.pi * k1 * steps / n)[:, None]
    s2 = np.sin(2 * np.pi * k2 * steps / n)[:, None]
    assert metrics.power_spectrum_distance(s1, s2, smoothing=0) == pytest.approx(1.0)
    expected = math.sqrt(1 - math.exp(-((k1 - k2) ** 2) / (8 * sigma**2)))  # 0.627
    assert metrics.power_spectrum_distance(s1, s2) == pytest.approx(expected, rel=5e-3)  # default sigma = 20
    same_frequency = 3.0 * np.cos(2 * np.pi * k1 * steps / n)[:, None] + 5.0
    assert metrics.power_spectrum_distance(s1, same_frequency, smoothing=0) == pytest.approx(0.0, abs=1e-7)


def test_long_term_defaults_are_the_published_ones():
    import inspect

    stsp = inspect.signature(metrics.state_space_divergence).parameters
    assert {
        k: stsp[k].default for k in ("n_bins", "max_binned_dim", "alpha", "gmm_variance", "gmm_points", "mc_samples")
    } == {
        "n_bins": 30,
        "max_binned_dim": 5,
        "alpha": 1e-5,
        "gmm_variance": 1.0,
        "gmm_points": 10_000,
        "mc_samples": 1000,
    }
    assert inspect.signature(metrics.power_spectrum_distance).parameters["smoothing"].default == 20.0


# --- D_stsp --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 3, 5])
def test_binned_state_space_divergence_zero_for_identical_positive_otherwise(dim):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((3000, dim))
    assert metrics.state_space_divergence(x, x) == pytest.approx(0.0, abs=1e-12)
    assert metrics.state_space_divergence(x, 0.3 * x + 1.0) > 5.0  # 7.8 / 11.2 / 10.6 nats
    assert metrics.state_space_divergence(x, np.zeros_like(x)) > 10.0  # a fixed point: 14.7 / 12.0 / 10.7
    assert metrics.state_space_divergence(x, x + np.inf) == math.inf
    y = x.copy()
    y[7, -1] = np.nan
    assert metrics.state_space_divergence(x, y) == math.inf


def test_binned_state_space_divergence_drops_points_outside_the_truths_box():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (5000, 2))
    # the extra points lie outside [min - 0.1 sd, max + 0.1 sd] (sd = 0.58): dropped, not binned
    assert metrics.state_space_divergence(x, np.vstack([x, x[:100] + 5.0])) == pytest.approx(0.0, abs=1e-12)
    assert metrics.state_space_divergence(x, np.vstack([x, 1.05 * x[:100]])) > 0  # 1.05 stays inside
    assert metrics.state_space_divergence(x, x + 100.0) == math.inf  # nothing inside the box
    # a single point inside scores high (about log((1 + alpha B) / alpha) - H(p) = 4.9) but finite,
    # above a near miss
    one_in = np.vstack([x[:1], x + 100.0])
    assert 3.0 < metrics.state_space_divergence(x, one_in) < math.inf
    assert metrics.state_space_divergence(x, one_in) > metrics.state_space_divergence(x, 0.95 * x) > 0


def test_sparse_binned_divergence_equals_the_dense_histogram_sum():
    rng = np.random.default_rng(2)
    dim, n_bins, alpha = 5, 4, 1e-5
    truth = rng.standard_normal((3000, dim))
    generated = 1.3 * rng.standard_normal((1700, dim)) + 0.2  # another size, some points outside
    sd = truth.std(0)
    edges = [np.linspace(lo, hi, n_bins + 1) for lo, hi in zip(truth.min(0) - 0.1 * sd, truth.max(0) + 0.1 * sd)]
    p, _ = np.histogramdd(truth, bins=edges)
    q, _ = np.histogramdd(generated, bins=edges)
    assert q.sum() < len(generated) and (p + q == 0).any()  # the case exercises both corrections
    p = (p + alpha) / (p.sum() + alpha * p.size)
    q = (q + alpha) / (q.sum() + alpha * q.size)
    dense = float(np.sum(p * np.log(p / q)))
    sparse = metrics.state_space_divergence(truth, generated, n_bins=n_bins, alpha=alpha)
    assert sparse == pytest.approx(dense, rel=0, abs=1e-12)


@pytest.mark.parametrize("dim", [6, 8])
def test_gmm_state_space_divergence_above_five_dimensions(dim):
    rng = np.random.default_rng(dim)
    x, y = rng.standard_normal((2, 5000, dim))
    assert metrics.state_space_divergence(x, x) == 0.0
    same = metrics.state_space_divergence(x, y)  # another sample of the same law: MC error only
    assert abs(same) < 0.05
    assert metrics.state_space_divergence(x, 0.3 * y + 1.0) > 1.0
    # kernels of variance 1 blur a fixed point into N(0, I) against the truth's ~N(0, 2I):
    # KL = dim/2 (1 - ln 2) nats (0.92 in 6 dims), small in absolute terms but far above the MC error
    fixed = metrics.state_space_divergence(x, np.zeros_like(x))
    assert fixed == pytest.approx(dim / 2 * (1 - math.log(2)), rel=0.1)
    assert fixed > 10 * abs(same)
    assert metrics.state_space_divergence(x, y + np.inf) == math.inf
    assert metrics.state_space_divergence(x, y, seed=3) == metrics.state_space_divergence(x, y, seed=3)


# --- a real attractor ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lorenz_samples():
    """Two independent samples of the Lorenz attractor, standardised with the first one's mean/std,
    and a limit cycle of the Lorenz system (rho = 350) standardised in place of the attractor."""
    from chaosbench.catalog import load_catalog
    from chaosbench.trajectories import trajectory

    system = load_catalog()["Lorenz"]
    x = trajectory(system, length=20000, pts_per_period=100, n_trajectories=2, seed=0)
    mean, std = x[0].mean(0), x[0].std(0)
    cycle = trajectory(system, length=20000, pts_per_period=100, n_trajectories=1, seed=0, parameters={"rho": 350.0})[0]
    return (x[0] - mean) / std, (x[1] - mean) / std, (cycle - cycle.mean(0)) / cycle.std(0)


def test_two_samples_of_the_lorenz_attractor_score_small_and_degenerate_ones_large(lorenz_samples):
    a, b, cycle = lorenz_samples
    # measured (seed 0): D_stsp(a, b) = 0.31, D_stsp(b, a) = 0.91, D_H = 0.095; seeds 1 and 2 give
    # D_stsp 0.13 to 0.67 and D_H 0.037: 30^3 bins for 20 000 points leave much sampling noise
    assert metrics.state_space_divergence(a, b) < 1.5
    assert metrics.state_space_divergence(b, a) < 1.5
    assert metrics.power_spectrum_distance(a, b) < 0.2
    fixed_point = np.tile(a.mean(0), (len(a), 1))
    # measured: fixed point 14.7 and 1.0, limit cycle 13.8 and 0.93
    for degenerate in (fixed_point, cycle):
        assert metrics.state_space_divergence(a, degenerate) > 10.0
        assert metrics.power_spectrum_distance(a, degenerate) > 0.5
    # the same in 5 dimensions (a delay embedding) stays on the binned path: 0.68 against 13.8
    a5, b5 = np.hstack([a[:-10], a[10:, :2]]), np.hstack([b[:-10], b[10:, :2]])
    assert metrics.state_space_divergence(a5, b5) < 2.5
    assert metrics.state_space_divergence(a5, np.tile(a5.mean(0), (len(a5), 1))) > 10.0


# --- bootstrap -------------------------------------------------------------------------------------


def test_bootstrap_median_ci_contains_the_median_and_narrows_with_data():
    rng = np.random.default_rng(4)
    small, large = rng.standard_normal(50), rng.standard_normal(5000)
    med, lo, hi = metrics.bootstrap_median_ci(small)
    assert med == np.median(small) and lo <= med <= hi and lo < hi
    med_l, lo_l, hi_l = metrics.bootstrap_median_ci(large)
    assert lo_l <= med_l <= hi_l
    # the median's standard error shrinks like 1/sqrt(n): 10x narrower for 100x the data
    assert (hi_l - lo_l) < 0.2 * (hi - lo)
    assert lo_l < 0.0 < hi_l  # the true median of N(0, 1)
    _, lo_50, hi_50 = metrics.bootstrap_median_ci(small, level=0.5)
    assert lo <= lo_50 <= hi_50 <= hi and hi_50 - lo_50 < hi - lo


def test_bootstrap_median_ci_is_seeded_keeps_inf_and_refuses_nan():
    rng = np.random.default_rng(5)
    values = rng.standard_normal(40)
    assert metrics.bootstrap_median_ci(values, seed=1) == metrics.bootstrap_median_ci(values, seed=1)
    assert metrics.bootstrap_median_ci(values, seed=1) != metrics.bootstrap_median_ci(values, seed=2)
    diverged = np.concatenate([values, [np.inf] * 4])  # a few diverged forecasts: median stays finite
    med, lo, hi = metrics.bootstrap_median_ci(diverged)
    assert math.isfinite(med) and lo <= med <= hi
    mostly = np.concatenate([values[:5], [np.inf] * 10])
    assert metrics.bootstrap_median_ci(mostly)[0] == math.inf
    with pytest.raises(ValueError, match="NaN"):
        metrics.bootstrap_median_ci(np.array([1.0, np.nan, 2.0]))
