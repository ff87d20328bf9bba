"""The least-squares readout of the sequence models (lstm, gru, transformer, lru, mamba): the features
feed the network's own final layer, the refitted layer is the ridge solution on them with its
regularisation chosen on validation, nothing else moves, and it forecasts Lorenz better."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402
from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model  # noqa: E402
from chaosbench.models.reservoir import RIDGE_GRID  # noqa: E402
from chaosbench.models.torch_base import feature_pieces  # noqa: E402

_FIT = dict(max_epochs=2, batches_per_epoch=15, validation_horizon=40, seed=0)
SMALL = {
    "lstm": dict(hidden_size=24, seq_len=16, rollout_steps=2, **_FIT),
    "gru": dict(hidden_size=24, seq_len=16, rollout_steps=2, **_FIT),
    "transformer": dict(d_model=16, n_heads=2, d_ff=32, seq_len=16, **_FIT),
    "lru": dict(d_model=16, d_state=8, seq_len=32, burn_in=8, **_FIT),
    "mamba": dict(d_model=16, d_state=8, seq_len=32, burn_in=8, **_FIT),
}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task(lyapunov_catalog):
    spec = TaskSpec(n_train=1500, n_validation=300, n_windows=4, context=100, horizon_lyap=2.0)
    return make_task("Lorenz", spec, seed=0, catalog=lyapunov_catalog)


@pytest.fixture(scope="module")
def fitted(task):
    """Each model fitted twice with one seed: with the least-squares readout and with the trained one."""
    torch.set_num_threads(1)
    out = {}
    for name, params in SMALL.items():
        out[name] = {
            r: make_model(name, readout=r, **params).fit(task.train, dt=task.dt, validation=task.validation)
            for r in ("least_squares", "trained")
        }
    return out


@pytest.mark.parametrize("name", list(SMALL))
def test_features_feed_the_networks_own_final_layer(name):
    model = make_model(name, **SMALL[name])
    model.increment_std_ = np.array([0.5, 1.0, 2.0])
    torch.manual_seed(0)
    net = model._build(3)
    x = torch.randn(2, 40, 3)
    with torch.no_grad():
        increments = model._readout_layer(net)(model._features(net, x))
        out = net(x)[0]
        if name in ("lru", "mamba"):  # the state-space nets return the normalised increments
            assert torch.allclose(out, increments, atol=1e-6)
        else:
            assert torch.allclose((out - x) / torch.tensor([0.5, 1.0, 2.0]), increments, atol=1e-5)


@pytest.mark.parametrize("name", list(SMALL))
def test_refitted_readout_is_the_ridge_solution_chosen_on_validation(name, fitted, task):
    model = fitted[name]["least_squares"]
    info = model.fit_info_
    assert info["readout"] == "least_squares", info["readout"]
    scores = info["readout_ridge_scores"]
    assert len(scores) == len(RIDGE_GRID)
    best = min(scores.values())
    assert info["readout_val_score"] <= 1.01 * best
    # the most regularised of the equally good ridges
    assert info["readout_ridge"] == max(float(r) for r, v in scores.items() if v <= 1.01 * best)
    assert info["readout_val_score"] < info["readout_val_score_trained"]
    # the same regression, done here from scratch: features along the training data after the warm-up
    net, ridge = model.net_, info["readout_ridge"]
    rows, targets = [], []
    with torch.no_grad():
        for piece in feature_pieces([task.train], model._feature_window(), model.seq_len):
            h = model._features(net, torch.as_tensor(piece[None, :-1], dtype=torch.float32))[0, model.seq_len :]
            rows.append(h.double().numpy())
            targets.append(np.diff(piece[model.seq_len :], axis=0) / np.float32(model.increment_std_))
    phi, y = np.concatenate(rows), np.concatenate(targets)
    assert info["readout_rows"] == len(phi) == len(task.train) - model.seq_len - 1
    phi_c, y_c = phi - phi.mean(0), y - y.mean(0)
    w = np.linalg.solve(phi_c.T @ phi_c / len(phi) + ridge * np.eye(phi.shape[1]), phi_c.T @ y_c / len(phi))
    layer = model._readout_layer(net)
    got = layer.weight.detach().double().numpy().T
    assert np.allclose(got, w, rtol=1e-3, atol=1e-4 * np.abs(w).max())
    # the same predictions on the training rows, up to the float32 rounding of the layer's weights (a tiny
    # ridge can leave large cancelling weights, so the bias is compared through the predictions)
    with torch.no_grad():
        pred = layer(torch.as_tensor(phi, dtype=torch.float32)).double().numpy()
    expected = phi_c @ w + y.mean(0)
    rounding = 1e-6 * (np.abs(phi) @ np.abs(w) + np.abs(phi.mean(0) @ w))
    assert np.all(np.abs(pred - expected) <= rounding + 1e-3 * y.std())


@pytest.mark.parametrize("name", list(SMALL))
def test_only_the_final_layer_moves(name, fitted):
    a, b = (fitted[name][r].net_.state_dict() for r in ("least_squares", "trained"))
    layer = {k for k, v in fitted[name]["least_squares"].net_.named_parameters() if k.startswith(("readout", "head"))}
    assert layer and set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]) is (k not in layer), k
    assert fitted[name]["trained"].fit_info_.get("readout") is None


def test_least_squares_readout_forecasts_lorenz_far_better(fitted, task):
    """On the LSTM trained for two short epochs, the refit cuts the validation forecast error several-fold
    and lengthens the test forecasts."""
    from chaosbench.bench.scoring import score

    info = fitted["lstm"]["least_squares"].fit_info_
    assert info["readout_val_score"] < 0.5 * info["readout_val_score_trained"]
    models = fitted["lstm"]
    vpt = {r: score(task, m.forecast_windows(task.contexts, task.horizon))["vpt_lyap"] for r, m in models.items()}
    assert vpt["least_squares"] > vpt["trained"], vpt


def test_feature_pieces_give_every_step_after_the_warm_up_once():
    t = np.arange(1000.0)[:, None]
    for window, warm in ((50, 16), (129, 32), (None, 16)):
        steps = np.concatenate([p[warm:-1, 0] for p in feature_pieces([t], window, warm)])
        assert np.array_equal(steps, np.arange(warm, 999.0)), window
    assert feature_pieces([t[:10]], 50, 16) == []


def test_bad_readout_and_no_validation(task):
    with pytest.raises(ChaosbenchError, match="LSTM: readout must be one of least_squares, trained, got 'ridge'"):
        make_model("lstm", readout="ridge").check()
    model = make_model("gru", **SMALL["gru"]).fit(task.train, dt=task.dt)
    assert model.fit_info_["readout"].startswith("trained (no validation part")
