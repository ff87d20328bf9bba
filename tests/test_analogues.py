"""Copying baselines: context parroting and the method of analogues."""

import numpy as np
import pytest

from chaosbench.bench.scoring import score
from chaosbench.errors import ChaosbenchError
from chaosbench.models import make_model
from chaosbench.models.analogues import Analogues, ContextParroting, delay_vectors
from chaosbench.bench.tasks import TaskSpec, make_task


@pytest.fixture(scope="module")
def lorenz_task(lyapunov_catalog):
    spec = TaskSpec(n_train=5000, n_validation=200, n_windows=6, context=500, horizon_lyap=4.0, long_run_lyap=50.0)
    return make_task("Lorenz", spec, seed=0, catalog=lyapunov_catalog)


@pytest.fixture(scope="module")
def random_walk():
    # no two delay vectors alike: the nearest stored state to a piece of it is that piece itself
    return np.cumsum(np.random.default_rng(0).standard_normal((3000, 3)), axis=0)


def limit_cycle(n_steps: int, period: int) -> np.ndarray:
    phase = 2 * np.pi * np.arange(n_steps) / period
    return np.stack([np.cos(phase), np.sin(phase), 0.5 * np.sin(2 * phase + 1.0)], axis=1)


def test_delay_vectors_are_time_major():
    x = np.arange(12.0).reshape(6, 2)
    v = delay_vectors(x, 3)
    assert v.shape == (4, 6)
    assert np.array_equal(v[-1], x[-3:].reshape(-1)) and np.array_equal(v[0], x[:3].reshape(-1))


@pytest.mark.parametrize("period", [17, 25, 64])
def test_parrot_continues_a_periodic_orbit_exactly(period):
    x = limit_cycle(300 + 6 * period, period)
    model = make_model("parrot").fit(x[:300], dt=0.1)
    out = model.forecast(x[:300], 6 * period)
    assert np.abs(out - x[300:]).max() < 1e-12
    # a context shorter than two motifs shrinks the motif to half of it (here: two periods long at most)
    short = make_model("parrot", embedding=50).fit(x[:300], dt=0.1).forecast(x[300 - 4 * period : 300], 2 * period)
    assert np.abs(short - x[300 : 300 + 2 * period]).max() < 1e-12


def test_parrot_copies_what_followed_the_match_and_repeats_it():
    # a motif seen once, then again at the end: the forecast is what followed it, then that stretch again
    x = np.zeros((40, 1))
    x[5:10, 0] = [1, 2, 3, 4, 5]
    x[35:40, 0] = [1, 2, 3, 4, 5]
    out = ContextParroting(embedding=5).fit(x, dt=1).forecast(x, 60)[:, 0]
    assert np.array_equal(out, np.tile(x[10:40, 0], 2))
    one = ContextParroting().fit(x, dt=1).forecast(x[-1:], 4)  # a single context step: persistence
    assert np.array_equal(one, np.full((4, 1), 5.0))


def test_parrot_ignores_training_data(random_walk):
    x = limit_cycle(400, 20)
    a = make_model("parrot").fit(random_walk, dt=0.1).forecast(x, 50)
    b = make_model("parrot").fit(x, dt=0.1).forecast(x, 50)
    assert np.array_equal(a, b) and make_model("parrot").fit(x, dt=0.1).n_parameters == 0


def test_analogue_reproduces_a_stretch_of_its_training_data(random_walk):
    model = Analogues(embedding=5).fit(random_walk, dt=0.1)
    assert model.n_parameters == 0 and model.n_stored_ == len(random_walk) - 5
    out = model.forecast(random_walk[1000:1100], 500)
    assert np.array_equal(out, random_walk[1100:1600])
    # windows advance together and agree with one at a time
    contexts = np.stack([random_walk[1000:1100], random_walk[200:300], random_walk[2500:2600]])
    both = model.forecast_windows(contexts, 700)
    assert np.array_equal(both[1], random_walk[300:1000])
    assert all(np.array_equal(both[k], model.forecast(contexts[k], 700)) for k in range(3))


def test_analogue_searches_training_data_only(random_walk):
    model = Analogues(embedding=5).fit(random_walk[:2000], dt=0.1, validation=random_walk[2000:])
    assert model.n_stored_ == 1995
    out = model.forecast(random_walk[2100:2200], 50)
    # the context is a piece of the validation part, yet every forecast state is a training state
    stored = {tuple(row) for row in random_walk[:2000]}
    assert all(tuple(row) in stored for row in out)


def test_analogue_searches_again_when_the_copy_runs_out(random_walk):
    train = [random_walk[:1500], random_walk[1500:]]
    model = Analogues(embedding=5, theiler=50).fit(train, dt=0.1)
    out = model.forecast(random_walk[1300:1400], 400)
    # the first stretch is the rest of the first trajectory ...
    assert np.array_equal(out[:100], random_walk[1400:1500])
    # ... then, searched again, a stretch that does not start in that trajectory's last 50 steps
    start = np.flatnonzero((random_walk == out[100]).all(1))
    assert len(start) == 1 and not 1450 <= start[0] < 1500
    stop = 1500 if start[0] < 1500 else 3000
    n = min(300, stop - start[0])
    assert np.array_equal(out[100 : 100 + n], random_walk[start[0] : start[0] + n])


def test_copying_baselines_beat_persistence_on_lorenz(lorenz_task):
    task = lorenz_task
    vpt = {}
    for name in ("persistence", "parrot", "analogue"):
        model = make_model(name).fit(task.train, dt=task.dt, validation=task.validation)
        vpt[name] = score(task, model.forecast_windows(task.contexts, task.horizon))["vpt_lyap"]
    assert vpt["parrot"] > 2 * vpt["persistence"]
    assert vpt["analogue"] > 2 * vpt["persistence"] and vpt["analogue"] > 1.0


@pytest.mark.parametrize("name", ["parrot", "analogue"])
def test_long_free_run(name, lorenz_task):
    task = lorenz_task
    model = make_model(name).fit(task.train, dt=task.dt, validation=task.validation)
    run = model.forecast_windows(task.contexts[:1], 50_000)
    assert run.shape == (1, 50_000, 3) and np.all(np.isfinite(run))
    # a copy never leaves the states it copies from: the context (parrot) or the training data (analogue)
    source = task.contexts[0] if name == "parrot" else task.train
    assert np.all(run[0].min(0) >= source.min(0)) and np.all(run[0].max(0) <= source.max(0))


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("parrot", {"embedding": 0}, "parrot: embedding must be an integer >= 1, got 0"),
        ("parrot", {"embedding": 2.5}, "parrot: embedding must be an integer >= 1, got 2.5"),
        ("analogue", {"embedding": True}, "analogue: embedding must be an integer >= 1, got True"),
        ("analogue", {"theiler": -1}, "analogue: theiler must be an integer >= 0, got -1"),
    ],
)
def test_bad_hyperparameters_are_named(name, bad, message):
    model = make_model(name, **bad)
    with pytest.raises(ChaosbenchError, match=message):
        model.check()
    with pytest.raises(ChaosbenchError, match=message):
        model.fit(np.zeros((100, 2)), dt=0.1)


def test_analogue_refuses_too_short_data(random_walk):
    with pytest.raises(ChaosbenchError, match="analogue: no training trajectory is longer than embedding=30"):
        Analogues().fit(random_walk[:30], dt=0.1)
    model = Analogues().fit(random_walk, dt=0.1)
    with pytest.raises(ChaosbenchError, match=r"analogue: the context \(10 steps\) is shorter than embedding=30"):
        model.forecast(random_walk[:10], 5)
