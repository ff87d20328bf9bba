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
    assert d_ab == pytest.approx(d_ba) and 0.5 < d_ab <= 1.0
    windows = np.stack([a[:2000], a[2000:]])
    assert metrics.power_spectrum_distance(windows, windows) == pytest.approx(0.0, abs=1e-7)
    assert metrics.power_spectrum_distance(a, np.full_like(a, np.nan)) == 1.0


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_state_space_divergence_zero_for_identical_positive_otherwise(dim):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((3000, dim))
    assert metrics.state_space_divergence(x, x) == pytest.approx(0.0, abs=1e-12)
    assert metrics.state_space_divergence(x, 0.3 * x + 1.0) > 0.5
    assert metrics.state_space_divergence(x, np.zeros_like(x)) > 1.0  # a fixed point instead of an attractor
    assert metrics.state_space_divergence(x, x + np.inf) == math.inf


def test_state_space_divergence_counts_mass_leaving_the_attractor():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (5000, 2))
    far = x + 100.0  # entirely outside the truth's box
    near = x * 0.95
    assert metrics.state_space_divergence(x, far) > metrics.state_space_divergence(x, near) > 0
