"""The causal transformer: cached = uncached rollout, training, determinism, saving, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.transformer import Transformer, rollout  # noqa: E402
from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402
from tests.checks import assert_trained_and_beats_persistence  # noqa: E402

#: tiny settings for tests: a few seconds of training
TINY = {
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 2,
    "d_ff": 64,
    "seq_len": 16,
    "batch_size": 32,
    "max_epochs": 6,
    "batches_per_epoch": 40,
    "validation_horizon": 50,
    "lr": 5e-3,
}


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
    return make_model("transformer", **TINY).fit(task.train, dt=task.dt, validation=task.validation)


@pytest.mark.parametrize("context", [1, 5, 16, 40])
def test_cached_rollout_equals_recomputing_the_window(context):
    model = Transformer(d_model=32, n_heads=4, n_layers=3, d_ff=48, seq_len=8)
    torch.manual_seed(0)
    net = model._build(3).eval()
    contexts = torch.randn(3, context, 3)
    with torch.no_grad():
        cached, uncached = rollout(net, contexts, 40), rollout(net, contexts, 40, cache=False)
    assert cached.shape == (3, 40, 3)
    assert torch.allclose(cached, uncached, atol=1e-5)


def test_cached_rollout_of_a_trained_model(fitted, task):
    contexts = torch.as_tensor(task.contexts, dtype=torch.float32)
    with torch.no_grad():
        cached, uncached = rollout(fitted.net_, contexts, 60), rollout(fitted.net_, contexts, 60, cache=False)
    assert torch.allclose(cached, uncached, atol=1e-5)


def test_attention_is_causal_and_local():
    # an output may depend on its own input and the seq_len - 1 before it, in one layer
    model = Transformer(d_model=16, n_heads=2, n_layers=1, d_ff=16, seq_len=4)
    torch.manual_seed(0)
    net = model._build(2).eval()
    x = torch.randn(1, 12, 2, requires_grad=True)
    net(x)[0][0, 8].sum().backward()
    touched = (x.grad[0].abs().sum(1) > 0).nonzero().flatten().tolist()
    assert touched == [5, 6, 7, 8]


def test_short_training_lowers_the_loss_and_beats_persistence(fitted, task):
    assert_trained_and_beats_persistence(fitted, task)


def test_deterministic_for_a_seed(task):
    short = {**TINY, "max_epochs": 2, "batches_per_epoch": 10}
    first, again = (
        make_model("transformer", **short).fit(task.train, dt=task.dt, validation=task.validation) for _ in range(2)
    )
    forecast = first.forecast_windows(task.contexts, 100)
    assert np.array_equal(again.forecast_windows(task.contexts, 100), forecast)
    assert np.array_equal(first.forecast_windows(task.contexts, 100), forecast)
    other = make_model("transformer", **{**short, "seed": 1}).fit(task.train, dt=task.dt, validation=task.validation)
    assert not torch.equal(first.net_.embed.weight, other.net_.embed.weight)


def test_save_and_load_give_identical_forecasts(fitted, task, tmp_path):
    fitted.save(tmp_path / "t.pt")
    loaded = Transformer.load(tmp_path / "t.pt")
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.forecast_windows(task.contexts, 200), fitted.forecast_windows(task.contexts, 200))


@pytest.mark.parametrize(
    "bad,argument",
    [
        ({"d_model": 0}, "d_model"),
        ({"n_heads": 3}, "d_model"),
        ({"n_layers": 0}, "n_layers"),
        ({"d_ff": 2.5}, "d_ff"),
        ({"batch_size": 0}, "batch_size"),
        ({"schedule": "linear"}, "schedule"),
    ],
)
def test_bad_hyperparameters_give_one_line_naming_the_argument(bad, argument, task):
    with pytest.raises(ChaosbenchError) as err:
        make_model("transformer", **{**TINY, **bad}).fit(task.train[:200], dt=task.dt)
    message = str(err.value)
    assert argument in message and "\n" not in message
