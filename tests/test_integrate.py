"""The integrators against scipy, exact solutions, tighter runs and step halving."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from chaosbench.compiler import compile_system
from chaosbench.catalog import load_catalog
from chaosbench.integrate import integrate

from .conftest import LORENZ_LAMBDA, entry


def _agreement_time(a, b, std, dt, threshold=0.3):
    """First time the normalised RMSE between two runs exceeds ``threshold``."""
    err = np.sqrt(np.mean(((a - b) / std) ** 2, axis=1))
    over = np.nonzero(err > threshold)[0]
    return (over[0] if len(over) else len(err)) * dt


def test_lorenz_matches_scipy_dop853_for_five_lyapunov_times(lorenz, catalog):
    y0 = np.array(catalog["Lorenz"].initial_conditions)
    dt, horizon = 0.01, 5 / LORENZ_LAMBDA
    n = int(horizon / dt) + 1
    ours = integrate(lorenz, y0, dt=dt, n_steps=n).states[0]
    ref = solve_ivp(
        lambda t, y: lorenz.f(t, y),
        (0, (n - 1) * dt),
        y0,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        t_eval=np.arange(n) * dt,
    ).y.T
    std = ref.std(0)
    assert np.max(np.abs(ours - ref) / std) < 1e-6


@pytest.mark.parametrize("name, lam", [("Lorenz", LORENZ_LAMBDA), ("Rossler", 0.0714)])
def test_default_tolerance_agrees_with_100x_tighter_run_for_15_lyapunov_times(name, lam, catalog):
    cs = compile_system(catalog[name])
    dt = catalog[name].period / 100
    n = int(16 / lam / dt)
    y0 = catalog[name].initial_conditions
    default = integrate(cs, y0, dt=dt, n_steps=n).states[0]
    tight = integrate(cs, y0, dt=dt, n_steps=n, rtol=1e-12, atol=1e-12).states[0]
    assert _agreement_time(default, tight, tight.std(0), dt) * lam >= 15


def test_rk4_and_dop853_reproduce_an_exact_solution(user_catalog):
    cat = load_catalog(user_catalog(Osc=entry()))
    cs = compile_system(cat["Osc"])
    t = np.arange(2001) * 0.01
    w, z = 1.0, 0.01
    wd = w * math.sqrt(1 - z * z)
    exact = np.exp(-z * w * t) * (np.cos(wd * t) + z * w / wd * np.sin(wd * t))
    for method, kw, tol in [("dop853", {}, 1e-9), ("rk4", {"substeps": 4}, 1e-9)]:
        x = integrate(cs, [1.0, 0.0], dt=0.01, n_steps=len(t), method=method, **kw).states[0, :, 0]
        assert np.max(np.abs(x - exact)) < tol, method
    # RK4's global error falls 16-fold per halving of the step
    e = [
        np.max(
            np.abs(
                integrate(cs, [1.0, 0.0], dt=0.4, n_steps=51, method="rk4", substeps=s).states[0, :, 0]
                - exact[::40][:51]
            )
        )
        for s in (1, 2, 4)
    ]
    assert 12 < e[0] / e[1] < 20 and 12 < e[1] / e[2] < 20


def test_delay_system_converges_as_the_step_halves(mackey_glass, catalog):
    y0 = catalog["MackeyGlass"].initial_conditions
    dt, n = 1.0, 60
    ref = integrate(mackey_glass, y0, dt=dt, n_steps=n, rtol=1e-13, atol=1e-13).states[0]
    errors = [
        np.max(np.abs(integrate(mackey_glass, y0, dt=dt, n_steps=n, method="rk4", substeps=s).states[0] - ref))
        for s in (2, 4, 8, 16)
    ]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 8), f"errors {errors}"
    # the adaptive method of steps agrees with the tight reference at its default tolerance
    default = integrate(mackey_glass, y0, dt=dt, n_steps=n).states[0]
    assert np.max(np.abs(default - ref)) < 1e-7


def test_batch_equals_single_runs_and_noise_is_seeded(lorenz, catalog):
    y0 = np.array(catalog["Lorenz"].initial_conditions)
    starts = np.stack([y0, y0 + 0.1, y0 - 0.1])
    batch = integrate(lorenz, starts, dt=0.01, n_steps=300).states
    singles = np.stack([integrate(lorenz, s, dt=0.01, n_steps=300).states[0] for s in starts])
    assert np.array_equal(batch, singles)
    a = integrate(lorenz, starts, dt=0.01, n_steps=300, noise=0.5, seed=7).states
    b = integrate(lorenz, starts, dt=0.01, n_steps=300, noise=0.5, seed=7).states
    c = integrate(lorenz, starts, dt=0.01, n_steps=300, noise=0.5, seed=8).states
    assert np.array_equal(a, b) and not np.allclose(a, c)
    # trajectory 2 of a batch equals stream 2 on its own
    alone = integrate(lorenz, starts[2], dt=0.01, n_steps=300, noise=0.5, seed=7, stream=2).states[0]
    assert np.array_equal(alone, a[2])


def test_divergence_is_reported_not_returned(user_catalog):
    blow = entry(equations={"x": "x**2", "v": "-v"}, initial_conditions=[1.0, 1.0])
    cs = compile_system(load_catalog(user_catalog(Blow=blow))["Blow"])
    sol = integrate(cs, [1.0, 1.0], dt=0.1, n_steps=30)
    assert not sol.ok and sol.status[0] != 0
