"""State-space forecasters: the chunked scan, parallel == recurrent modes, training, determinism, saving."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.ssm import LRU, Mamba  # noqa: E402
from chaosbench.models.ssm_layers import LRUBlock, LRULayer, MambaBlock, SelectiveSSMLayer, SSMNet  # noqa: E402
from chaosbench.models.ssm_layers import chunk_length, linear_scan  # noqa: E402
from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402

#: tiny settings for tests: a few seconds of training
TINY = {
    "d_model": 16,
    "n_layers": 2,
    "d_state": 8,
    "seq_len": 48,
    "burn_in": 8,
    "batch_size": 16,
    "max_epochs": 3,
    "batches_per_epoch": 25,
    "validation_horizon": 30,
    "lr": 1e-2,
}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task(lyapunov_catalog):
    spec = TaskSpec(n_train=2000, n_validation=300, n_windows=3, context=100, horizon_lyap=1.0)
    return make_task("Lorenz", spec, seed=0, catalog=lyapunov_catalog)


def sequential_scan(a, b, h0):
    a = a.expand(b.shape)
    h, out = h0, []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("T,chunk", [(1, 0), (37, 0), (64, 0), (50, 7), (50, 1), (50, 64)])
def test_chunked_scan_matches_the_plain_loop(T, chunk, complex_):
    g = torch.Generator().manual_seed(T + chunk)
    shape = (3, T, 5)
    if complex_:  # time-invariant complex decays, as in the LRU
        a = torch.polar(
            torch.rand(1, 1, 5, generator=g, dtype=torch.float64),
            6 * torch.rand(1, 1, 5, generator=g, dtype=torch.float64),
        )
        b = torch.randn(*shape, generator=g, dtype=torch.complex128)
        h0 = torch.randn(3, 5, generator=g, dtype=torch.complex128)
    else:  # time-varying real decays, as in Mamba
        a = torch.rand(*shape, generator=g, dtype=torch.float64)
        b = torch.randn(*shape, generator=g, dtype=torch.float64)
        h0 = torch.randn(3, 5, generator=g, dtype=torch.float64)
    expected = sequential_scan(a, b, h0)
    assert torch.allclose(linear_scan(a, b, h0, chunk), expected, rtol=0, atol=1e-12)
    assert torch.allclose(linear_scan(a, b, None, chunk), sequential_scan(a, b, torch.zeros_like(h0)), atol=1e-12)


def test_chunk_length_divides_when_it_can():
    assert chunk_length(128) == 16 and chunk_length(100) == 10 and chunk_length(127) == 12
    assert chunk_length(1) == 1


def _layers():
    torch.manual_seed(0)
    return {
        "lru-layer": LRULayer(6, 5, chunk=4),
        "lru-block": LRUBlock(6, 5),
        "selective-layer": SelectiveSSMLayer(6, 4, d_conv=4),
        "mamba-block": MambaBlock(6, 4, d_conv=3),
        "lru-net": SSMNet(3, [LRUBlock(6, 5), LRUBlock(6, 5)], 6),
        "mamba-net": SSMNet(3, [MambaBlock(6, 4), MambaBlock(6, 4, d_conv=2)], 6),
    }


def _run_recurrent(layer, x, state=None):
    ys = []
    for t in range(x.shape[1]):
        y, state = layer.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("name", list(_layers()))
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_parallel_and_recurrent_modes_agree(name, dtype, tol):
    layer = _layers()[name].to(dtype)
    x = torch.randn(4, 41, 3 if name.endswith("net") else 6, generator=torch.Generator().manual_seed(1), dtype=dtype)
    with torch.no_grad():
        parallel, _ = layer(x)
        recurrent, _ = _run_recurrent(layer, x)
        # parallel over a first part (context), then on from its final state (incl. the conv buffer)
        first, state = layer(x[:, :2])  # shorter than the convolution: the buffer is partly the zero padding
        second, state = layer(x[:, 2:17], state)
        third, _ = _run_recurrent(layer, x[:, 17:], state)
        mixed = torch.cat([first, second, third], 1)
    assert parallel.abs().max() > 0.1
    assert (parallel - recurrent).abs().max() < tol
    assert (parallel - mixed).abs().max() < tol


def test_lru_eigenvalues_start_on_the_ring():
    torch.manual_seed(0)
    layer = LRULayer(4, 200, r_min=0.4, r_max=0.9, max_phase=0.5)
    lam = layer.eigenvalues().detach()
    assert 0.4 <= lam.abs().min() and lam.abs().max() <= 0.9
    assert 0 <= lam.angle().min() and lam.angle().max() <= 0.5
    assert torch.allclose(torch.exp(layer.gamma_log) ** 2, 1 - lam.abs() ** 2, atol=1e-6)


@pytest.mark.parametrize("cls", [LRU, Mamba])
def test_short_training_lowers_the_loss_and_beats_persistence(cls, task):
    model = cls(**TINY).fit(task.train, dt=task.dt, validation=task.validation)
    info = model.fit_info_
    assert info["final_train_loss"] < 0.2 * info["first_train_loss"]
    forecasts = model.forecast_windows(task.contexts, task.horizon)
    assert forecasts.shape == task.targets.shape and np.all(np.isfinite(forecasts))
    persistence = np.repeat(task.contexts[:, -1:], task.horizon, axis=1)
    err = np.sqrt(((forecasts - task.targets) ** 2).mean(axis=(0, 2)))
    err_persistence = np.sqrt(((persistence - task.targets) ** 2).mean(axis=(0, 2)))
    assert err[:50].mean() < 0.5 * err_persistence[:50].mean()
    assert np.allclose(model.forecast(task.contexts[1], 20), forecasts[1, :20], atol=1e-6)


def test_closed_loop_training_steps_use_the_recurrent_update(task, monkeypatch):
    calls, step = [], SSMNet.step

    def counted(self, x, states=None):
        calls.append(x.requires_grad)
        return step(self, x, states)

    monkeypatch.setattr(SSMNet, "step", counted)
    model = LRU(**{**TINY, "max_epochs": 2, "batches_per_epoch": 10, "rollout_steps": 6, "validation_horizon": 0})
    model.fit(task.train, dt=task.dt, validation=task.validation)
    assert len(calls) >= 2 * 10 * 6 and any(calls)  # every training batch ran 6 closed-loop steps, with gradients
    assert model.fit_info_["final_train_loss"] < model.fit_info_["first_train_loss"]
    assert np.all(np.isfinite(model.forecast_windows(task.contexts, 20)))


@pytest.mark.parametrize("name", ["lru", "mamba"])
def test_deterministic_for_a_seed_and_saved_alike(name, task, tmp_path):
    quick = {**TINY, "max_epochs": 1, "batches_per_epoch": 5}
    a = make_model(name, **quick).fit(task.train, dt=task.dt, validation=task.validation)
    b = make_model(name, **quick).fit(task.train, dt=task.dt, validation=task.validation)
    c = make_model(name, **quick, seed=1).fit(task.train, dt=task.dt)
    fa = a.forecast_windows(task.contexts, 30)
    assert np.array_equal(fa, b.forecast_windows(task.contexts, 30))
    with torch.no_grad():  # forecasts run in inference mode; cells committed before ran under no_grad
        before = a._rollout(a.net_, torch.as_tensor(task.contexts, dtype=torch.float32), 30).double().numpy()
    assert np.array_equal(fa, before)
    assert not np.allclose(fa, c.forecast_windows(task.contexts, 30))
    a.save(tmp_path / "model.pt")
    loaded = type(a).load(tmp_path / "model.pt")
    assert loaded.get_params() == a.get_params() and loaded.n_parameters == a.n_parameters > 0
    assert np.array_equal(loaded.forecast_windows(task.contexts, 30), fa)


@pytest.mark.parametrize(
    "name,key,value",
    [
        ("lru", "d_model", 0),
        ("lru", "n_layers", 1.5),
        ("lru", "d_state", -1),
        ("lru", "burn_in", 48),
        ("lru", "input_noise", -0.1),
        ("lru", "chunk", -2),
        ("lru", "rollout_steps", 48),
        ("mamba", "rollout_steps", 1.0),
        ("lru", "r_min", 1.0),
        ("lru", "r_max", 0.2),
        ("lru", "max_phase", 0),
        ("mamba", "expand", 0),
        ("mamba", "d_conv", 0),
        ("mamba", "dt_min", -1e-3),
        ("mamba", "dt_max", 1e-4),
        ("mamba", "seq_len", 0),
        ("mamba", "lr", -1.0),
    ],
)
def test_bad_hyperparameters_give_one_line_naming_the_argument(name, key, value, task):
    model = make_model(name, **{**TINY, key: value})
    with pytest.raises(ChaosbenchError, match=key) as err:
        model.fit(task.train[:200], dt=task.dt)
    assert "\n" not in str(err.value)


def test_registered_with_the_torch_extra():
    from chaosbench.models import REGISTRY
    from chaosbench.bench.tasks import PRESETS

    assert REGISTRY["lru"][1] == REGISTRY["mamba"][1] == "torch"
    assert LRU.defaults()["d_state"] == 32 and Mamba.defaults()["d_state"] == 8
    for preset in ("standard", "data-limited"):
        assert {"lru", "mamba"} <= set(PRESETS[preset].optional_models)
    assert "lru" not in PRESETS["quick"].optional_models + PRESETS["quick"].models
