"""Reservoir computers (ESN, NG-RC) and the validation-part hyperparameter search."""

import numpy as np
import pytest

from chaosbench.bench.scoring import score
from chaosbench.errors import ChaosbenchError
from chaosbench.models import make_model
from chaosbench.models.esn import EchoStateNetwork
from chaosbench.models.ngrc import NextGenerationRC, monomial_steps, n_ngrc_features
from chaosbench.models.search import (
    forecast_error,
    random_search,
    ridge_path,
    validation_windows,
)
from chaosbench.bench.tasks import TaskSpec, make_task

SMALL_ESN = {"units": 60, "warmup": 20}


@pytest.fixture(scope="module")
def linear_system():
    """Trajectories of ``x(t+1) = A x(t)``, A a slowly contracting rotation with a shear."""
    th = 0.3
    a = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 0.98]])
    a = a @ np.array([[1, 0.1, 0], [0, 1, 0], [0, 0, 1]])
    a *= 0.995 / np.abs(np.linalg.eigvals(a)).max()
    rng = np.random.default_rng(0)

    def run(n):
        x = np.empty((n, 3))
        x[0] = rng.standard_normal(3)
        for t in range(1, n):
            x[t] = a @ x[t - 1]
        return x

    return a, [run(400) for _ in range(6)], run(120)


@pytest.fixture(scope="module")
def lorenz_task():
    return make_task(
        "Lorenz", TaskSpec(n_train=3000, n_validation=500, n_windows=4, context=300, horizon_lyap=6.0), seed=1
    )


@pytest.mark.parametrize(
    "hp", [{"taps": 1, "degree": 2}, {"taps": 2, "skip": 1, "degree": 2}, {"taps": 3, "skip": 2, "degree": 3}]
)
def test_ngrc_recovers_a_linear_map(linear_system, hp):
    _, trajectories, test = linear_system
    model = NextGenerationRC(ridge=0.0, **hp).fit(trajectories, dt=1.0)
    assert np.abs(model.forecast(test[:20], 100) - test[20:]).max() < 1e-8
    # a regularised readout is pulled away from the exact map: the check can fail
    loose = NextGenerationRC(ridge=1e-2, **hp).fit(trajectories, dt=1.0)
    assert np.abs(loose.forecast(test[:20], 100) - test[20:]).max() > 1e-4


def test_esn_readout_recovers_a_linear_map(linear_system):
    # the readout sees [1, x(t), r~(t+1)]: the exact map puts A - I on x and zero on the reservoir,
    # which least squares (ridge -> 0) finds even though the tanh reservoir itself is nonlinear
    a, trajectories, test = linear_system
    model = EchoStateNetwork(ridge=0.0, **SMALL_ESN).fit(trajectories, dt=1.0)
    w = model.readout_
    assert np.abs(w[1:4].T - (a - np.eye(3))).max() < 1e-6
    assert np.abs(w[4:]).max() < 1e-6 and np.abs(w[0]).max() < 1e-6
    assert np.abs(model.forecast(test[:20], 100) - test[20:]).max() < 1e-8


def test_same_seed_same_forecasts(lorenz_task):
    t = lorenz_task
    hp = {"units": 150, "warmup": 50, "ridge": 1e-9}
    f1 = EchoStateNetwork(seed=3, **hp).fit(t.train, dt=t.dt).forecast_windows(t.contexts, 50)
    f2 = EchoStateNetwork(seed=3, **hp).fit(t.train, dt=t.dt).forecast_windows(t.contexts, 50)
    f3 = EchoStateNetwork(seed=4, **hp).fit(t.train, dt=t.dt).forecast_windows(t.contexts, 50)
    assert np.array_equal(f1, f2) and not np.allclose(f1, f3)
    g1 = NextGenerationRC().fit(t.train, dt=t.dt, validation=t.validation).forecast_windows(t.contexts, 50)
    g2 = NextGenerationRC().fit(t.train, dt=t.dt, validation=t.validation).forecast_windows(t.contexts, 50)
    assert np.array_equal(g1, g2)


@pytest.mark.parametrize("name,hp", [("esn", {"units": 300, "warmup": 100}), ("ngrc", {})])
def test_short_lorenz_fit_beats_persistence(lorenz_task, name, hp):
    t = lorenz_task
    model = make_model(name, **hp).fit(t.train, dt=t.dt, validation=t.validation)
    forecasts = model.forecast_windows(t.contexts, t.horizon)
    persistence = make_model("persistence").fit(t.train, dt=t.dt).forecast_windows(t.contexts, t.horizon)
    vpt, vpt_persistence = score(t, forecasts)["vpt_lyap"], score(t, persistence)["vpt_lyap"]
    assert vpt > 2.0 and vpt > 20 * vpt_persistence, (vpt, vpt_persistence)
    assert model.n_parameters == model.readout_.size == model.n_features_ * 3
    # the batch equals one window at a time, and the interface's checks apply
    assert np.allclose(forecasts[1, :100], model.forecast(t.contexts[1], 100), atol=1e-8)
    assert make_model(name).get_params() == type(model).defaults()


def test_ridge_is_chosen_on_validation(lorenz_task):
    t = lorenz_task
    model = NextGenerationRC().fit(t.train, dt=t.dt, validation=t.validation)
    info = model.fit_info_
    assert info["ridge_score"] == min(info["ridge_scores"].values())
    assert info["ridge_scores"][f"{info['ridge']:g}"] == info["ridge_score"]
    without = NextGenerationRC().fit(t.train, dt=t.dt)
    assert without.fit_info_["ridge_chosen_by"] == "fallback"


def test_search_runs_its_trials_and_records_its_choice(lorenz_task):
    t = lorenz_task
    model = NextGenerationRC(search_trials=4, seed=5).fit(t.train, dt=t.dt, validation=t.validation)
    search = model.fit_info_["search"]
    assert search["n_trials"] == search["planned_trials"] == len(search["trials"]) == 4
    assert search["safety_limit_hit"] is False
    assert set(search["chosen"]) == {"taps", "skip", "degree"}
    assert search["trials"][0]["taps"] == 2 and search["trials"][0]["skip"] == 5  # the given values first
    assert search["best_score"] == min(trial["score"] for trial in search["trials"] if "score" in trial)
    chosen = search["chosen"]
    assert np.array_equal(model.lags_, np.arange(chosen["taps"]) * chosen["skip"])
    assert model.taps == 2  # the hyperparameters stay as given; the learned state follows the choice
    import json

    json.dumps(model.fit_info_)  # recorded by the harness as JSON


def test_random_search_is_seeded_distinct_and_starts_from_the_given_values():
    built = []

    class Fake:
        def __init__(self, p):
            self.p = p
            built.append(tuple(p.values()))

    space = {"a": [1, 2, 3], "b": [10, 20]}
    best, info = random_search(Fake, space, lambda m: (abs(m.p["a"] - 2) + m.p["b"] / 100, 0.0), seed=0)
    assert built[0] == (1, 10) and len(set(built)) == len(built) == 6
    assert best.p == {"a": 2, "b": 10} and info["chosen"] == {"a": 2, "b": 10} and info["n_trials"] == 6

    def fragile(p):
        if p["a"] == 3:
            raise ValueError("a = 3 does not fit")
        return Fake(p)

    best, info = random_search(fragile, space, lambda m: (float(m.p["a"]), 0.0), seed=0)
    assert best.p["a"] == 1 and sum("error" in t for t in info["trials"]) == 2 and info["n_trials"] == 6
    with pytest.raises(ValueError, match="does not fit"):
        random_search(fragile, {"a": [3, 1]}, lambda m: (0.0, 0.0))
    built.clear()
    random_search(Fake, space, lambda m: (0.0, 0.0), seed=0, max_trials=3, allowed=lambda p: p["b"] == 10)
    assert len(built) <= 3 and all(b == 10 for _, b in built)


def test_random_search_does_not_depend_on_the_clock(monkeypatch):
    """The referee's finding: a search stopped by seconds chose by machine load. Bounded by trials, a
    slow machine (a clock that jumps 100 s per reading) gives the same choice as a fast one."""
    import chaosbench.models.search as search_module

    class Fake:
        def __init__(self, p):
            self.p = p

    space = {"a": list(range(8)), "b": [0, 1, 2]}

    def evaluate(m):
        return (abs(m.p["a"] - 5) + m.p["b"], 0.0)

    fast = random_search(Fake, space, evaluate, max_trials=10, seed=3)[1]
    ticks = iter(range(0, 10**6, 100))
    monkeypatch.setattr(search_module.time, "perf_counter", lambda: float(next(ticks)))
    slow = random_search(Fake, space, evaluate, max_trials=10, seed=3)[1]
    assert slow["chosen"] == fast["chosen"] and slow["n_trials"] == fast["n_trials"] == 10
    assert not slow["safety_limit_hit"]
    ticks = iter(range(0, 10**7, 10**4))
    stopped = random_search(Fake, space, evaluate, max_trials=10, seed=3, safety_seconds=3e4)[1]
    assert stopped["safety_limit_hit"] and stopped["n_trials"] < 10  # a runaway search stops and says so


def test_ridge_path_matches_direct_solves():
    rng = np.random.default_rng(0)
    phi, y = rng.standard_normal((200, 8)), rng.standard_normal((200, 2))
    g, b = phi.T @ phi / 200, phi.T @ y / 200
    for r, w in zip([1e-6, 1e-2, 0.0], ridge_path(g, b, [1e-6, 1e-2, 0.0])):
        assert np.allclose(w, np.linalg.solve(g + r * np.eye(8), b), rtol=1e-8, atol=1e-10)
    assert np.allclose(ridge_path(g, b, [1e-2])[0], np.linalg.solve(g + 1e-2 * np.eye(8), b))


def test_validation_windows_and_error():
    history = np.arange(100.0)[:, None]
    contexts, targets = validation_windows(history, 80, context=30, n_windows=3)
    assert contexts.shape == (3, 30, 1) and targets.shape == (3, 12, 1)
    assert np.all(targets[:, 0, 0] >= 80) and np.all(contexts[:, -1, 0] + 1 == targets[:, 0, 0])
    assert targets.max() <= 99
    perfect, vpt = forecast_error(targets, targets)
    assert vpt == 12 and perfect == pytest.approx(np.log(1e-12))
    worse, _ = forecast_error(targets, targets + 0.1)
    assert worse > perfect and forecast_error(targets, np.full_like(targets, np.nan))[0] == pytest.approx(np.log(2.0))


def test_monomials_are_unique_and_counted():
    for n, degree in [(3, 2), (4, 3), (6, 3)]:
        model = NextGenerationRC(degree=degree)
        model.monomials_ = monomial_steps(n, degree)
        lin = np.random.default_rng(0).standard_normal((5, n))
        phi = model.features(lin)
        assert phi.shape[1] == n_ngrc_features(n, 1, degree)
        assert len(np.unique(np.round(phi[0], 12))) == phi.shape[1]


@pytest.mark.parametrize(
    "name,hp,word",
    [
        ("esn", {"spectral_radius": -1}, "spectral_radius"),
        ("esn", {"units": 0}, "units"),
        ("esn", {"leak_rate": 1.5}, "leak_rate"),
        ("esn", {"squared": "all"}, "squared"),
        ("esn", {"ridge": -1.0}, "ridge"),
        ("ngrc", {"taps": 0}, "taps"),
        ("ngrc", {"degree": 4}, "degree"),
        ("ngrc", {"skip": 1.5}, "skip"),
        ("ngrc", {"taps": 20, "degree": 3}, "max_features"),
        ("ngrc", {"search_safety_seconds": -1}, "search_safety_seconds"),
    ],
)
def test_bad_hyperparameters_give_one_line_errors(name, hp, word):
    x = np.random.default_rng(0).standard_normal((300, 3))
    with pytest.raises(ChaosbenchError, match=word) as err:
        make_model(name, **hp).fit(x, dt=0.1)
    assert "\n" not in str(err.value) and str(err.value).startswith(name)


def test_short_context_is_refused():
    x = np.random.default_rng(0).standard_normal((300, 2))
    model = NextGenerationRC(taps=3, skip=4, ridge=1e-6).fit(x, dt=0.1)
    with pytest.raises(ChaosbenchError, match="context"):
        model.forecast(x[:5], 3)


def test_registered_and_in_the_presets():
    from chaosbench.models import REGISTRY
    from chaosbench.bench.tasks import PRESETS

    assert REGISTRY["esn"][1] is None and REGISTRY["ngrc"][1] is None
    assert all({"esn", "ngrc"} <= set(PRESETS[p].models) for p in ("quick", "standard", "data-limited"))
