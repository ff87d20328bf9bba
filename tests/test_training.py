"""The shared training loop and the PyTorch model base: schedules, early stopping, budgets, determinism."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models.torch_base import windows_of  # noqa: E402
from chaosbench.models.training import TrainConfig, train  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _regression(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    return x, x @ w


def _fit(config, *, val=True, batch_size=32):
    x, y = _regression()
    torch.manual_seed(config.seed)
    net = torch.nn.Linear(3, 1)

    def loss(idx):
        i = torch.as_tensor(idx)
        return ((net(x[i]) - y[i]) ** 2).mean()

    val_fn = (lambda: float(((net(x) - y) ** 2).mean())) if val else None
    log = train(net, loss, len(x), config, batch_size=batch_size, val_fn=val_fn)
    return net, log


@pytest.mark.parametrize("schedule", ["cosine", "exponential", "step", "constant"])
def test_schedules_start_at_lr_and_end_at_their_floor(schedule):
    c = TrainConfig(lr=1e-2, final_lr_fraction=0.01, schedule=schedule)
    assert c.lr_at(0.0) == pytest.approx(1e-2)
    end = {"cosine": 1e-4, "exponential": 1e-4, "step": 1e-4, "constant": 1e-2}[schedule]
    assert c.lr_at(1.0) == pytest.approx(end)
    values = [c.lr_at(p) for p in np.linspace(0, 1, 11)]
    assert all(a >= b - 1e-15 for a, b in zip(values, values[1:]))  # never increases


def test_training_lowers_the_loss_and_restores_the_best_weights():
    net, log = _fit(TrainConfig(max_epochs=30, lr=0.05, seed=1))
    assert log.train_loss[-1] < 0.01 * log.train_loss[0]
    assert log.best_epoch >= 1 and log.best_score == min(log.val_score)
    x, y = _regression()
    with torch.no_grad():
        assert float(((net(x) - y) ** 2).mean()) == pytest.approx(log.best_score, rel=1e-6)


def test_same_seed_same_weights_other_seed_other_weights():
    a, _ = _fit(TrainConfig(max_epochs=3, seed=5))
    b, _ = _fit(TrainConfig(max_epochs=3, seed=5))
    c, _ = _fit(TrainConfig(max_epochs=3, seed=6))
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, c.weight)


def test_early_stopping_ends_a_run_that_stops_improving():
    x, y = _regression()
    net = torch.nn.Linear(3, 1)
    scores = iter([2.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9] + [1.0] * 100)  # the first scores the starting weights
    log = train(
        net,
        lambda idx: ((net(x[torch.as_tensor(idx)]) - y[torch.as_tensor(idx)]) ** 2).mean(),
        len(x),
        TrainConfig(max_epochs=100, patience=3),
        batch_size=64,
        val_fn=lambda: next(scores),
    )
    assert log.epochs == 5 and log.best_epoch == 2 and "3 evaluations" in log.stopped
    assert log.initial_score == 2.0 and log.summary()["initial_val_score"] == 2.0


def test_starting_weights_are_kept_when_no_epoch_beats_them():
    x, y = _regression()
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    start = copy.deepcopy(net.state_dict())
    scores = iter([0.1] + [1.0] * 100)
    log = train(
        net,
        lambda idx: ((net(x[torch.as_tensor(idx)]) - y[torch.as_tensor(idx)]) ** 2).mean(),
        len(x),
        TrainConfig(max_epochs=100, patience=2, lr=0.1),
        batch_size=64,
        val_fn=lambda: next(scores),
    )
    assert log.best_epoch == 0 and log.epochs == 2 and log.steps > 0
    assert all(torch.equal(v, start[k]) for k, v in net.state_dict().items())


def test_the_safety_limit_stops_a_runaway_fit_and_says_so():
    x, y = _regression(n=4096)
    net = torch.nn.Sequential(torch.nn.Linear(3, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
    log = train(
        net,
        lambda idx: ((net(x[torch.as_tensor(idx)]) - y[torch.as_tensor(idx)]) ** 2).mean(),
        len(x),
        TrainConfig(max_epochs=10_000, safety_seconds=0.5, patience=0),
        batch_size=8,
    )
    assert "safety limit" in log.stopped and log.seconds < 5.0 and log.epochs < 10_000
    assert log.safety_limit_hit and log.summary()["safety_limit_hit"] is True


def test_the_work_of_a_fit_is_fixed_by_epochs_not_by_the_clock():
    """Two fits with the same seed take the same optimiser steps and end at the same weights, however
    long each step took (one is slowed down on purpose)."""
    import time as _time

    x, y = _regression(n=512)
    ends = []
    for delay in (0.0, 0.002):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)

        def loss(idx, net=net, delay=delay):
            _time.sleep(delay)
            return ((net(x[torch.as_tensor(idx)]) - y[torch.as_tensor(idx)]) ** 2).mean()

        log = train(net, loss, len(x), TrainConfig(max_epochs=3, patience=0), batch_size=32)
        assert log.stopped == "max_epochs reached" and not log.safety_limit_hit
        ends.append((log.steps, net.weight.detach().clone()))
    assert ends[0][0] == ends[1][0] == 3 * 16 and torch.equal(ends[0][1], ends[1][1])


def test_gradient_clipping_bounds_the_first_update():
    x, y = _regression()
    y = y * 1e6  # huge gradients
    for clip, bounded in ((1.0, True), (0.0, False)):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        before = net.weight.detach().clone()
        train(
            net,
            lambda idx: ((net(x[torch.as_tensor(idx)]) - y[torch.as_tensor(idx)]) ** 2).mean(),
            len(x),
            TrainConfig(max_epochs=1, lr=1.0, optimizer="radam", grad_clip=clip, weight_decay=0.0),
            batch_size=256,
        )
        moved = float((net.weight.detach() - before).abs().max())
        assert (moved < 10.0) == bounded, (clip, moved)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "linear"}, "schedule must be one of"),
        ({"optimizer": "sgd"}, "optimizer must be one of"),
        ({"max_epochs": 0}, "max_epochs must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"grad_clip": math.nan}, "grad_clip must be a non-negative number"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ChaosbenchError, match=message):
        TrainConfig(**kwargs)


def test_a_diverging_loss_is_reported_not_trained_on():
    net = torch.nn.Linear(1, 1)
    with pytest.raises(ChaosbenchError, match="non-finite training loss"):
        train(net, lambda idx: net.weight.sum() * math.inf, 8, TrainConfig(), batch_size=4)


def test_windows_cover_every_start_in_order():
    x = np.arange(20.0).reshape(10, 2)
    w = windows_of([x, x[:3]], 4, stride=3)
    assert w.shape == (3, 4, 2)  # starts 0, 3, 6 of the first trajectory; the second is too short
    assert np.array_equal(w[1], x[3:7])
