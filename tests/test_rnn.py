"""LSTM and GRU forecasters: one-step update = training forward, training, determinism, saving, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.rnn import GRU, LSTM  # noqa: E402
from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402
from tests.checks import assert_trained_and_beats_persistence  # noqa: E402

#: tiny settings for tests: a few seconds of training
TINY = {
    "hidden_size": 48,
    "seq_len": 16,
    "rollout_steps": 2,
    "batch_size": 32,
    "max_epochs": 6,
    "batches_per_epoch": 40,
    "validation_horizon": 50,
    "lr": 1e-2,
}
CLASSES = {"lstm": LSTM, "gru": GRU}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task(lyapunov_catalog):
    spec = TaskSpec(n_train=2000, n_validation=300, n_windows=5, context=100, horizon_lyap=2.0)
    return make_task("Lorenz", spec, seed=0, catalog=lyapunov_catalog)


@pytest.fixture(scope="module")
def fitted(task):
    torch.set_num_threads(1)
    return {name: make_model(name, **TINY).fit(task.train, dt=task.dt, validation=task.validation) for name in CLASSES}


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize("predict,layers", [("increment", 1), ("state", 2)])
def test_one_step_update_equals_the_training_forward(name, predict, layers):
    model = CLASSES[name](hidden_size=16, num_layers=layers, predict=predict)
    torch.manual_seed(0)
    net = model._build(3)
    x = torch.randn(4, 30, 3)
    with torch.no_grad():
        whole, final = net(x)
        state, steps = None, []
        for t in range(x.shape[1]):
            y, state = net.step(x[:, t], state)
            steps.append(y)
    assert torch.allclose(torch.stack(steps, 1), whole, atol=1e-6)
    for a, b in zip(final if name == "lstm" else (final,), state if name == "lstm" else (state,)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", list(CLASSES))
def test_rollout_loss_runs_the_closed_loop_forecast(name):
    # with rollout_steps = seq_len - 1 the loss's free-running part is exactly the forecast after a
    # one-point context: the two paths share the one-step update
    model = CLASSES[name](hidden_size=16, seq_len=10, rollout_steps=9)
    torch.manual_seed(0)
    net = model._build(3).eval()
    w = torch.randn(5, 11, 3)
    with torch.no_grad():
        forecast = model._rollout(net, w[:, :1], 10)
        loss = model._loss(net, w)
    assert torch.allclose(loss, ((forecast - w[:, 1:]) ** 2).mean(), rtol=1e-5)


@pytest.mark.parametrize("name", list(CLASSES))
def test_short_training_lowers_the_loss_and_beats_persistence(name, fitted, task):
    assert_trained_and_beats_persistence(fitted[name], task)


def test_deterministic_for_a_seed(task):
    short = {**TINY, "max_epochs": 2, "batches_per_epoch": 10}
    first, again = (
        make_model("gru", **short).fit(task.train, dt=task.dt, validation=task.validation) for _ in range(2)
    )
    forecast = first.forecast_windows(task.contexts, 100)
    assert np.array_equal(again.forecast_windows(task.contexts, 100), forecast)
    assert np.array_equal(first.forecast_windows(task.contexts, 100), forecast)
    other = make_model("gru", **{**short, "seed": 1}).fit(task.train, dt=task.dt, validation=task.validation)
    assert not torch.equal(first.net_.rnn.weight_hh_l0, other.net_.rnn.weight_hh_l0)


@pytest.mark.parametrize("name", list(CLASSES))
def test_save_and_load_give_identical_forecasts(name, fitted, task, tmp_path):
    model = fitted[name]
    model.save(tmp_path / "m.pt")
    loaded = CLASSES[name].load(tmp_path / "m.pt")
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.forecast_windows(task.contexts, 200), model.forecast_windows(task.contexts, 200))


@pytest.mark.parametrize("name", list(CLASSES))
@pytest.mark.parametrize(
    "bad,argument",
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_layers": 1.5}, "num_layers"),
        ({"predict": "delta"}, "predict"),
        ({"rollout_steps": 16}, "rollout_steps"),
        ({"rollout_steps": -1}, "rollout_steps"),
        ({"lr": -1.0}, "lr"),
        ({"seq_len": 0}, "seq_len"),
    ],
)
def test_bad_hyperparameters_give_one_line_naming_the_argument(name, bad, argument, task):
    with pytest.raises(ChaosbenchError) as err:
        make_model(name, **{**TINY, **bad}).fit(task.train[:200], dt=task.dt)
    message = str(err.value)
    assert argument in message and "\n" not in message
