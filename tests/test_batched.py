"""Small PLRNN-family models trained together, one per system, end where each would alone."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.batched import fit_together, why_not_together  # noqa: E402
from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402

SPEC = TaskSpec(
    n_train=2000,
    n_validation=300,
    n_windows=3,
    context=100,
    horizon_lyap=2.0,
    min_long_run_steps=5000,
    max_long_run_steps=5000,
)
SHORT = {"max_epochs": 3, "batches_per_epoch": 20}
#: the per-model loop of TorchForecaster (plrnn.STACKED_ALONE = False) orders a few float32 sums otherwise
#: than the stacked one: weights agree to rounding after 60 steps and free runs of 100 steps, which
#: amplify any difference, to 1e-2. A lone fit through the stacked loop (the default) agrees exactly.
WEIGHT_TOL, FORECAST_TOL = 1e-6, 1e-2


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tasks(lyapunov_catalog):
    return [make_task(s, SPEC, seed=0, catalog=lyapunov_catalog) for s in ("Lorenz", "Rossler", "Chen")]


def _alone(task, **hp):
    torch.set_num_threads(1)
    return make_model("alrnn", **{**SHORT, **hp}).fit(task.train, dt=task.dt, validation=task.validation)


def _same(a, b, tol: float = 0.0) -> None:
    wa, wb = a.net_.state_dict(), b.net_.state_dict()
    assert wa.keys() == wb.keys()
    for k in wa:
        if wa[k].dtype.is_floating_point:
            assert torch.allclose(wa[k], wb[k], rtol=0, atol=tol), k
    assert a.alpha_ == pytest.approx(b.alpha_, abs=tol)
    assert a.log_.best_epoch == b.log_.best_epoch and a.log_.steps == b.log_.steps


@pytest.mark.parametrize("model", ["alrnn", "plrnn"])
def test_models_trained_together_equal_models_trained_alone_exactly(tasks, model):
    """A cell's model must not depend on which systems, if any, shared its loop: the same weights, alpha,
    validation scores and forecasts, to the bit."""
    seeds = (3, 1, 2)
    together = fit_together(
        [make_model(model, **SHORT, seed=s) for s in seeds],
        [t.train for t in tasks],
        dt=[t.dt for t in tasks],
        validations=[t.validation for t in tasks],
    )
    for task, seed, b in zip(tasks, seeds, together):
        a = make_model(model, **SHORT, seed=seed).fit(task.train, dt=task.dt, validation=task.validation)
        _same(a, b)
        assert a.alpha_history_ == b.alpha_history_ and a.log_.val_score == b.log_.val_score
        fa, fb = a.forecast_windows(task.contexts, 100), b.forecast_windows(task.contexts, 100)
        assert np.array_equal(fa, fb)
        assert a.fit_info_["trained_with"] == 1 and b.fit_info_["trained_with"] == 3


def test_the_per_model_loop_agrees_with_the_stacked_one_to_rounding(tasks, monkeypatch):
    """The other implementation of the same training (TorchForecaster's per-model loop): equal up to the
    order of float32 sums, which a free run then amplifies."""
    from chaosbench.models import plrnn

    together = fit_together(
        [make_model("alrnn", **SHORT, seed=s) for s in (3, 1, 2)],
        [t.train for t in tasks],
        dt=[t.dt for t in tasks],
        validations=[t.validation for t in tasks],
    )
    monkeypatch.setattr(plrnn, "STACKED_ALONE", False)
    for task, seed, b in zip(tasks, (3, 1, 2), together):
        a = _alone(task, seed=seed)
        assert "trained_with" not in a.fit_info_  # the per-model loop did train it
        _same(a, b, WEIGHT_TOL)
        fa, fb = a.forecast_windows(task.contexts, 100), b.forecast_windows(task.contexts, 100)
        assert np.abs(fa - fb).max() < FORECAST_TOL


def test_a_model_that_blows_up_stops_alone_and_the_others_do_not_notice(tasks):
    trains = [t.train for t in tasks]
    trains[1] = trains[1] * 1e30  # float32 overflow: a non-finite loss from the first step
    together = fit_together(
        [make_model("alrnn", **SHORT) for _ in tasks],
        trains,
        dt=[t.dt for t in tasks],
        validations=[t.validation for t in tasks],
    )
    assert together[1].log_.stopped.startswith("non-finite training loss")
    for k in (0, 2):
        _same(_alone(tasks[k]), together[k])
        assert together[k].log_.stopped == "max_epochs reached"


def test_only_one_configuration_of_the_small_models_trains_together(tasks):
    assert why_not_together([make_model("alrnn"), make_model("alrnn", seed=5)]) is None
    assert "differ" in why_not_together([make_model("alrnn"), make_model("alrnn", lr=1e-3)])
    assert "only" in why_not_together([make_model("shplrnn")])
    with pytest.raises(ChaosbenchError, match="one shape"):
        fit_together(
            [make_model("alrnn", **SHORT) for _ in range(2)],
            [tasks[0].train, tasks[0].train[:1500]],
            dt=tasks[0].dt,
            validations=[tasks[0].validation] * 2,
        )


def test_the_harness_trains_a_configuration_together_and_writes_each_cell(tmp_path, lyapunov_catalog):
    from chaosbench.bench import results, runner

    cells = runner.plan(
        ["Lorenz", "Rossler", "Chen", "MackeyGlass"],
        ["alrnn"],
        [0],
        task=SPEC,
        overrides={"alrnn": SHORT},
        catalog=lyapunov_catalog,
    )
    summary = runner.run(cells, tmp_path, workers=1, progress=False, catalog=lyapunov_catalog)
    assert summary.ok == 4 and summary.failed == 0
    frame = results.read(tmp_path)
    shared = {r["system"]: json.loads(r["fit_info"]).get("trained_with") for _, r in frame.iterrows()}
    # the three-variable systems share one loop; MackeyGlass (one variable) is another shape: a loop of its own
    assert shared == {"Lorenz": 3, "Rossler": 3, "Chen": 3, "MackeyGlass": 1}


def test_the_safety_net_of_a_group_is_each_models_share(tasks):
    """A group of K models may train K times as long as one before its wall-time safety net bites; when it
    does, every model records it (its score then depends on the machine's load)."""
    models = [make_model("alrnn", max_epochs=10_000, batches_per_epoch=5, safety_seconds=0.3) for _ in tasks]
    fit_together(models, [t.train for t in tasks], dt=[t.dt for t in tasks], validations=[t.validation for t in tasks])
    for m in models:
        assert m.log_.safety_limit_hit and "for each of 3 models" in m.log_.stopped
        assert m.log_.epochs < 10_000
