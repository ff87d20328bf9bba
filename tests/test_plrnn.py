"""The PLRNN family (shPLRNN, AL-RNN, PLRNN) and generalized teacher forcing."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chaosbench.errors import ChaosbenchError  # noqa: E402
from chaosbench.models import make_model, model_class  # noqa: E402
from chaosbench.models.plrnn import ALRNN, PLRNN, ShallowPLRNN  # noqa: E402
from chaosbench.models.plrnn_gtf import forced_run, free_run, jacobian_growth  # noqa: E402
from chaosbench.models.plrnn_init import one_step_ridge, positive_definite_diagonal  # noqa: E402
from chaosbench.models.plrnn_nets import _AlmostLinearRNN, _ShallowPLRNN  # noqa: E402
from chaosbench.models.plrnn_subregions import subregions  # noqa: E402
from chaosbench.bench.tasks import TaskSpec, make_task  # noqa: E402

IDS = ["shplrnn", "shplrnn-M>N", "shplrnn-unclipped", "alrnn", "plrnn"]
TINY = dict(seq_len=16, batch_size=32, max_epochs=2, batches_per_epoch=5, validation_horizon=20)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lorenz_task(lyapunov_catalog):
    spec = TaskSpec(n_train=3000, n_validation=300, n_windows=4, context=100, horizon_lyap=3)
    return make_task("Lorenz", spec, seed=0, catalog=lyapunov_catalog)


def _nets(n=3):
    torch.manual_seed(0)
    return [
        _ShallowPLRNN(n, n, 8),
        _ShallowPLRNN(n, n + 2, 8),
        _ShallowPLRNN(n, n, 8, clipped=False),
        _AlmostLinearRNN(n, n + 3, 2),
        _AlmostLinearRNN(n, n, n),
    ]


@pytest.mark.parametrize("net", _nets(), ids=IDS)
def test_gtf_interpolates_between_free_running_and_teacher_forcing(net):
    x = torch.randn(4, 12, 3)
    with torch.no_grad():
        # alpha = 0: the free-running rollout from the initial latent state
        preds, _ = forced_run(net, x, 0.0)
        assert torch.allclose(preds, free_run(net, net.initial_state(x[:, 0]), 11), atol=1e-6)
        # alpha = 1: every prediction is one step from the data-inferred state (data on the observed
        # latents, the forced run's own values on the others)
        preds, states = forced_run(net, x, 1.0)
        assert torch.equal(states[..., :3], x[:, 1:])
        inferred = torch.cat([net.initial_state(x[:, :1]), states[:, :-1]], dim=1)
        one_step = torch.stack([net.step(inferred[:, t]) for t in range(11)], 1)[..., :3]
        assert torch.allclose(preds, one_step, atol=1e-6)
        if net.m == 3:
            assert torch.allclose(preds, torch.stack([net.step(x[:, t]) for t in range(11)], 1), atol=1e-6)
        # in between: the forced state is the convex combination on the observed latents only
        alpha = 0.3
        preds, states = forced_run(net, x, alpha)
        z1 = net.step(net.initial_state(x[:, 0]))
        assert torch.allclose(states[:, 0, :3], (1 - alpha) * z1[:, :3] + alpha * x[:, 1], atol=1e-6)
        assert torch.allclose(states[:, 0, 3:], z1[:, 3:])


def test_sparse_forcing_replaces_the_state_every_tau_steps():
    net = _nets()[1]
    x = torch.randn(2, 13, 3)
    with torch.no_grad():
        preds, states = forced_run(net, x, 1.0, every=4)
        for t in range(12):  # states[:, t] is the state after step t + 1
            forced = (t + 1) % 4 == 0
            assert torch.equal(states[:, t, :3], x[:, t + 1]) == forced
        # between forcings the model runs freely from the last forced state
        assert torch.allclose(preds[:, 4:8], free_run(net, states[:, 3], 4), atol=1e-6)


@pytest.mark.parametrize("m,p", [(6, 2), (5, 0), (4, 4)])
def test_alrnn_has_exactly_p_relu_units(m, p):
    torch.manual_seed(1)
    net = _AlmostLinearRNN(3, m, p)
    assert int(net.relu_units.sum()) == p and bool(net.relu_units[m - p :].all())
    z = torch.randn(m)
    kinked = []
    with torch.no_grad():
        for i in range(m):  # a second difference across z_i = 0: zero for a linear unit, not for a ReLU unit
            e = torch.zeros(m)
            e[i] = 1e-2
            z0 = z.clone()
            z0[i] = 0.0
            curvature = net.step((z0 + e)[None]) + net.step((z0 - e)[None]) - 2 * net.step(z0[None])
            kinked.append(bool(curvature.abs().max() > 1e-6))
    assert kinked == [i >= m - p for i in range(m)]


@pytest.mark.parametrize("net", _nets(), ids=IDS)
def test_analytic_jacobian_matches_autograd(net):
    z = torch.randn(5, net.m)
    auto = torch.stack([torch.autograd.functional.jacobian(lambda v: net.step(v[None])[0], zi) for zi in z])
    assert torch.allclose(net.jacobian(z), auto, atol=1e-5)
    # alpha's estimate: a linear map with spectral norm 2 everywhere gives a growth bound of 2
    lin = _AlmostLinearRNN(2, 2, 0)
    with torch.no_grad():
        lin.A.fill_(0.0)
        lin.W.copy_(torch.tensor([[2.0, 0.0], [0.0, 0.5]]))
    assert jacobian_growth(lin, torch.randn(3, 7, 2)) == pytest.approx(2.0)


@pytest.mark.parametrize(("latents", "relu_units"), [(20, 2), (20, 20), (70, 70)])
def test_jacobian_norms_per_subregion_or_per_state_equal_the_svd(latents, relu_units):
    """One SVD per visited subregion gives the spectral norm of every state's Jacobian, with two ReLU units
    (few subregions), twenty (a PLRNN: nearly one per state) and seventy (more sign patterns than an
    integer code holds)."""
    torch.manual_seed(1)
    net = _AlmostLinearRNN(3, latents, relu_units)
    with torch.no_grad():
        net.W.copy_(0.3 * torch.randn(latents, latents))
        net.A.copy_(torch.rand(latents))
    z = torch.randn(4, 9, latents)
    z[1] = z[0]  # repeated subregions must share a decomposition correctly
    svd = torch.linalg.matrix_norm(net.jacobian(z), ord=2)
    assert torch.allclose(net.jacobian_norms(z), svd, rtol=1e-5)
    assert jacobian_growth(net, z) == pytest.approx(jacobian_growth(net, z, per_subregion=False), rel=1e-5)


@pytest.mark.parametrize("name", ["shplrnn", "alrnn", "plrnn"])
def test_registered_and_deterministic(name, lorenz_task):
    task = lorenz_task
    assert model_class(name) is {"shplrnn": ShallowPLRNN, "alrnn": ALRNN, "plrnn": PLRNN}[name]
    small = {"hidden_dim": 8} if name == "shplrnn" else {"latent_dim": 6}

    def fitted(seed):
        return make_model(name, seed=seed, **TINY, **small).fit(task.train, dt=task.dt, validation=task.validation)

    a, b, c = fitted(0), fitted(0), fitted(1)
    fa = a.forecast_windows(task.contexts, 30)
    assert fa.shape == (4, 30, 3) and np.all(np.isfinite(fa))
    assert np.array_equal(fa, b.forecast_windows(task.contexts, 30))
    assert np.allclose(fa[1], a.forecast(task.contexts[1], 30), atol=1e-6)
    assert not np.allclose(fa, c.forecast_windows(task.contexts, 30))
    assert a.n_parameters == sum(p.numel() for p in a.net_.parameters()) > 0
    assert {"latent_dim", "forcing", "final_alpha"} <= set(a.fit_info_)


def test_plrnn_is_an_alrnn_with_every_unit_relu():
    assert ALRNN.defaults()["pwl_units"] == 2 and PLRNN.defaults()["pwl_units"] is None
    net = PLRNN(latent_dim=7)._build(3)
    assert bool(net.relu_units.all()) and net.m == 7
    assert ShallowPLRNN()._build(4).m == 4 and ShallowPLRNN(latent_dim=2)._build(4).m == 4


def test_forecast_drives_through_the_context_then_runs_freely(lorenz_task):
    task = lorenz_task
    model = ALRNN(latent_dim=6, **TINY).fit(task.train, dt=task.dt)
    ctx = torch.as_tensor(task.contexts, dtype=torch.float32)[:, -(model.seq_len + 1) :]  # a training sequence
    with torch.no_grad():
        _, states = forced_run(model.net_, ctx, 1.0)
        z, manual = states[:, -1], []
        for _ in range(25):
            z = model.net_.step(z)
            manual.append(z[:, :3])
    assert np.allclose(model.forecast_windows(task.contexts, 25), torch.stack(manual, 1).numpy(), atol=1e-6)


def test_save_and_load_give_the_same_forecasts(lorenz_task, tmp_path):
    task = lorenz_task
    model = ShallowPLRNN(hidden_dim=8, **TINY).fit(task.train, dt=task.dt)
    model.save(tmp_path / "m.pt")
    again = ShallowPLRNN.load(tmp_path / "m.pt")
    assert np.array_equal(again.forecast_windows(task.contexts, 20), model.forecast_windows(task.contexts, 20))


@pytest.mark.parametrize("forcing", ["gtf", "sparse"])
def test_short_training_lowers_the_loss_and_beats_persistence(forcing, lorenz_task):
    from chaosbench.bench.scoring import score
    from chaosbench.models.torch_base import windows_of
    from chaosbench.models.training import seed_everything

    task = lorenz_task
    model = ShallowPLRNN(
        hidden_dim=64,
        init="random",
        forcing=forcing,
        tau=8,
        alpha_decay=0.9,
        alpha_every=1,
        seq_len=16,
        batch_size=128,
        stride=1,
        max_epochs=8,
        batches_per_epoch=25,
        lr=1e-2,
        seed=0,
    )
    seed_everything(model.seed)
    untrained = model._build(3)  # the weights training starts from
    model.fit(task.train, dt=task.dt)  # no early stopping: the last weights
    windows = torch.as_tensor(windows_of([task.train], 33, 7), dtype=torch.float32)

    def gtf_loss(net):  # at one fixed alpha, so that before and after compare
        with torch.no_grad():
            preds, _ = forced_run(net, windows, 0.2)
            return float(((preds - windows[:, 1:]) ** 2).mean())

    assert gtf_loss(model.net_) < 0.1 * gtf_loss(untrained)
    if forcing == "gtf":
        assert model.alpha_history_ and model.fit_info_["final_alpha"] < 1.0  # annealed from alpha = 1
    persistence = make_model("persistence").fit(task.train, dt=task.dt)
    vpt = score(task, model.forecast_windows(task.contexts, task.horizon))["vpt_lyap"]
    assert vpt > 2 * score(task, persistence.forecast_windows(task.contexts, task.horizon))["vpt_lyap"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"forcing": "full"}, "forcing must be one of gtf, sparse"),
        ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
        ({"alpha_method": "magic"}, "alpha_method must be one of"),
        ({"alpha_decay": 1.0}, "alpha_decay"),
        ({"tau": 0}, "tau must be a positive integer"),
        ({"hidden_dim": 0}, "hidden_dim must be a positive integer"),
        ({"init": "zeros"}, "init must be one of ridge, random"),
        ({"init_ridge": -1.0}, "init_ridge must be a non-negative number"),
        ({"latent_dim": -3}, "latent_dim must be a positive integer"),
        ({"seq_len": 0}, "seq_len must be an integer"),
        ({"schedule": "warm"}, "schedule must be one of"),
    ],
)
def test_bad_hyperparameters_give_one_line_errors(kwargs, match):
    x = np.random.default_rng(0).standard_normal((200, 3))
    with pytest.raises(ChaosbenchError, match=match) as err:
        ShallowPLRNN(**kwargs).fit(x, dt=0.01)
    assert "\n" not in str(err.value) and "ShallowPLRNN" in str(err.value)


def test_bad_alrnn_units():
    x = np.random.default_rng(0).standard_normal((200, 3))
    with pytest.raises(ChaosbenchError, match=r"pwl_units \(9\) must not exceed latent_dim \(5\)"):
        ALRNN(latent_dim=5, pwl_units=9).fit(x, dt=0.01)
    with pytest.raises(ChaosbenchError, match="pwl_units must be a non-negative integer"):
        ALRNN(pwl_units=-1).fit(x, dt=0.01)


# -- the least-squares initialisation ------------------------------------------------------------


def _linear_data(rng, n=3, k=400, diagonal=False):
    """Pairs ``(x_t, x_{t+1})`` of an affine map (diagonal or full) on standardised-looking points, and the map."""
    M = np.diag(rng.uniform(0.8, 1.1, n)) if diagonal else np.eye(n) + 0.1 * rng.standard_normal((n, n))
    b = 0.1 * rng.standard_normal(n)
    x = rng.standard_normal((k, n))
    return x, x @ M.T + b, lambda v: v @ M.T + b


@pytest.mark.parametrize(
    "net,diagonal",
    [
        (_ShallowPLRNN(3, 3, 16), True),
        (_ShallowPLRNN(3, 5, 16), True),
        (_AlmostLinearRNN(3, 8, 2), False),
        (_AlmostLinearRNN(3, 20, 20), False),
    ],
    ids=["shplrnn", "shplrnn-M>N", "alrnn", "plrnn"],
)
def test_least_squares_init_recovers_an_expressible_map_and_stays_consistent(net, diagonal):
    """With ridge -> 0 the initialised model follows the affine map the data came from (an shPLRNN
    expresses diagonal ones through A; an AL-RNN any, through its linear units; a PLRNN any, through
    the paired ReLU projections) for many free steps: the unobserved latents, which start the
    gradients' way in, do not disturb it, and hidden ReLU units keep holding ``C x + c``."""
    rng = np.random.default_rng(0)
    x, x_next, affine = _linear_data(rng, diagonal=diagonal)
    net.least_squares_init(x, x_next, [0.0], np.random.default_rng(1))
    relu_hidden = net.relu_units[3:] if hasattr(net, "relu_units") else torch.zeros(net.m - 3, dtype=torch.bool)
    truth = x[:5]
    with torch.no_grad():
        z = net.initial_state(torch.as_tensor(truth, dtype=torch.float32))
        for _ in range(20):
            z, truth = net.step(z), affine(truth)
            assert np.abs(z[:, :3].double().numpy() - truth).max() < 1e-4
            again = net.initial_state(z[:, :3])  # what the initial map gives for the new observation
            assert torch.allclose(z[:, 3:][:, relu_hidden], again[:, 3:][:, relu_hidden], atol=1e-4)


def test_one_step_ridge_fits_rows_with_and_without_an_own_coefficient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    feats = np.tanh(x @ rng.standard_normal((2, 5)))
    target = np.stack([0.7 * x[:, 0] + feats @ np.arange(5) + 0.3, feats @ np.ones(5) - 1.0], axis=1)
    (a, coef, bias), (_, shrunk, shrunk_bias) = one_step_ridge(
        x, feats, target, [0.0, 1e3], own=np.array([True, False])
    )
    assert a[0] == pytest.approx(0.7) and a[1] == 0.0
    assert np.allclose(coef, [np.arange(5), np.ones(5)]) and np.allclose(bias, [0.3, -1.0])
    # a large ridge shrinks the coefficients towards zero but not the (unpenalised) bias: it becomes the mean
    assert np.abs(shrunk).max() < 0.1 * np.abs(coef).max()
    assert np.allclose(shrunk_bias, (target - np.c_[x[:, 0], np.zeros(300)]).mean(axis=0), atol=0.05)


@pytest.mark.parametrize("ridges", [[1e-9, 1e-3], [1e-6]])
def test_one_step_ridge_holds_a_bounded_own_coefficient_at_the_bound(ridges):
    """A row whose A_i comes out above the bound is the features-only regression of x_{t+1,i} - A_i x_i with
    A_i at the bound, whether the path shares one decomposition (several ridges) or solves one ridge."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 2))
    feats = np.maximum(x @ rng.standard_normal((2, 12)) + rng.standard_normal(12), 0.0)
    target = np.stack([1.3 * x[:, 0] + 0.1 * feats[:, 0], 0.5 * x[:, 1] + 0.2 * feats[:, 1]], axis=1)
    fits = one_step_ridge(x, feats, target, ridges, own=np.array([True, True]), max_abs_own=1.0)
    free = one_step_ridge(x, feats, target, ridges, own=np.array([True, True]))
    f_c = feats - feats.mean(axis=0)
    for r, (a, coef, bias), (a_free, coef_free, _) in zip(ridges, fits, free):
        assert a_free[0] > 1.05 and a[0] == 1.0  # the first row broke the bound and is held at it
        assert a[1] == pytest.approx(a_free[1]) and np.allclose(coef[1], coef_free[1])  # the second did not
        y = target[:, 0] - x[:, 0]
        direct = np.linalg.solve(f_c.T @ f_c / 500 + r * np.eye(12), f_c.T @ (y - y.mean()) / 500)
        assert np.allclose(coef[0], direct, rtol=1e-6, atol=1e-9)
        assert bias[0] == pytest.approx(y.mean() - direct @ feats.mean(axis=0))


def test_one_step_ridge_shares_one_eigendecomposition_and_matches_direct_solves():
    """A ridge path over several values goes through one eigendecomposition of the features' Gram
    matrix and the Schur complement of each output's own column; every solution equals the direct
    solve of that output's regularised normal equations."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 3))
    feats = np.maximum(x @ rng.standard_normal((3, 30)) + rng.standard_normal(30), 0.0)
    target = x + 0.01 * np.sin(3 * x) + 1e-3 * rng.standard_normal((400, 3))
    own, ridges = np.array([True, False, True]), [1e-9, 1e-5, 1e-1]
    phi = np.hstack([x, feats])
    phi_c = phi - phi.mean(axis=0)
    y = target - np.where(own, x, 0.0)
    y_c = y - y.mean(axis=0)
    for r, (a, coef, bias) in zip(ridges, one_step_ridge(x, feats, target, ridges, own=own)):
        for i in range(3):
            cols = np.r_[[i] if own[i] else [], np.arange(3, 33)].astype(int)
            g = phi_c[:, cols].T @ phi_c[:, cols] / 400
            direct = np.linalg.solve(g + r * np.eye(len(cols)), phi_c[:, cols].T @ y_c[:, i] / 400)
            got = np.r_[a[i] - 1.0, coef[i]] if own[i] else coef[i]
            assert np.allclose(got, direct, rtol=1e-6, atol=1e-8 * np.abs(direct).max())
            assert bias[i] == pytest.approx(y[:, i].mean() - direct @ phi[:, cols].mean(axis=0))
            assert own[i] or a[i] == 0.0


def test_ridge_initialisation_forecasts_lorenz_before_any_training(lorenz_task):
    """The initial weights alone (a random-ramp one-step map, its ridge chosen on the validation
    part) forecast Lorenz far beyond persistence, and training starts from them: the
    best-validation weights are never worse than the start."""
    from chaosbench.bench.scoring import score
    from chaosbench.models.reservoir import RIDGE_GRID

    task = lorenz_task
    model = ShallowPLRNN(
        hidden_dim=128, seq_len=16, max_epochs=1, batches_per_epoch=3, lr=1e-2, validation_horizon=50
    ).fit(task.train, dt=task.dt, validation=task.validation)
    info = model.fit_info_
    assert info["best_val_score"] <= info["initial_val_score"]
    scores = info["init_ridge_scores"]
    assert len(scores) == len(RIDGE_GRID) and info["init_ridge"] in RIDGE_GRID
    assert scores[f"{info['init_ridge']:g}"] == min(scores.values()) < max(scores.values())
    persistence = np.repeat(task.contexts[:, -1:], task.horizon, axis=1)
    vpt = score(task, model.forecast_windows(task.contexts, task.horizon))["vpt_lyap"]
    assert vpt > 0.5 and vpt > 10 * score(task, persistence)["vpt_lyap"]
    # no validation part: the fallback ridge, and a given ridge is used as it is
    assert (
        ShallowPLRNN(hidden_dim=16, max_epochs=1, batches_per_epoch=1)
        .fit(task.train, dt=task.dt)
        .fit_info_["init_ridge"]
        == 1e-8
    )
    assert (
        ShallowPLRNN(hidden_dim=16, max_epochs=1, batches_per_epoch=1, init_ridge=1e-3)
        .fit(task.train, dt=task.dt, validation=task.validation)
        .fit_info_["init_ridge"]
        == 1e-3
    )


def test_bounded_shplrnn_keeps_a_within_one_and_its_forecasts_finite(lorenz_task):
    """A growing map (x' = 1.05 x) asks the regression for A > 1: the bounded start refits that row
    with A = 1, and GTF training keeps |A| <= 1, so a free run from far off the data grows at most
    linearly (the clipped ramps are bounded) instead of overflowing."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((500, 3))
    free, bounded = _ShallowPLRNN(3, 3, 32), _ShallowPLRNN(3, 3, 32, max_abs_a=1.0)
    for net in (free, bounded):
        net.least_squares_init(x, 1.05 * x, [1e-8], np.random.default_rng(0))
    assert free.A.max() > 1.01 and bool((bounded.A.abs() <= 1.0).all())
    z0 = torch.full((1, 3), 50.0)
    with torch.no_grad():
        ramp_bound = float((bounded.W1.abs() @ bounded.h2.abs() + bounded.h1.abs()).max())
        far = free_run(bounded, z0, 20_000)
        assert torch.isfinite(far).all() and float(far.abs().max()) <= 50.0 + 20_000 * ramp_bound + 1e-3
        assert not torch.isfinite(free_run(free, z0, 20_000)).all()  # 1.05^20000 overflows
    model = ShallowPLRNN(hidden_dim=32, lr=0.05, **TINY).fit(lorenz_task.train, dt=lorenz_task.dt)
    assert model.bounded and bool((model.net_.A.abs() <= 1.0).all())


# -- the authors' protocol (Brenner et al. 2024's ALRNN-DSR code) and the symbolic code ----------


def _rotating_alrnn(quarter_turns: int) -> _AlmostLinearRNN:
    """Two linear units rotating by ``quarter_turns`` x 90 degrees a step, copied into the two ReLU
    units: the ReLU units' sign pattern follows the rotation's quadrant."""
    net = _AlmostLinearRNN(1, 4, 2)
    angle = quarter_turns * np.pi / 2
    w = torch.zeros(4, 4)
    w[:2, :2] = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=torch.float32)
    w[2, 0] = w[3, 1] = 1.0  # relu units <- the linear units' previous values
    with torch.no_grad():
        net.A.zero_()
        net.W.copy_(w)
        net.h.zero_()
    return net


@pytest.mark.parametrize("quarter_turns,visited", [(1, {"11", "01", "00", "10"}), (2, {"11", "00"}), (0, {"11"})])
def test_subregions_of_a_hand_built_alrnn(quarter_turns, visited):
    net = _rotating_alrnn(quarter_turns)
    z0 = torch.tensor([[1.0, 0.5, 0.0, 0.0]])
    with torch.no_grad():
        states = free_run(net, z0, 40, latents=True)[0]  # from step 2 on the ReLU units hold the rotated pair
    codes = subregions(states[1:], net.relu_units.numpy())
    assert set(codes) == visited and sum(codes.values()) == 39
    counts = sorted(codes.values())
    assert counts[-1] - counts[0] <= 1  # a rotation visits its quadrants in turn
    assert list(codes.values()) == sorted(codes.values(), reverse=True)  # most visited first
    # the mask or the count of (last) ReLU units, numpy or torch, one state or many: the same codes
    assert subregions(states[1:].numpy(), 2) == codes
    assert subregions(np.array([0.3, -2.0, 0.0, 1.5]), 2) == {"01": 1}  # zero is not positive
    assert subregions(np.ones((5, 4)), 0) == {"": 5}


def test_alrnn_forecaster_exposes_latents_and_subregions(lorenz_task):
    task = lorenz_task
    model = ALRNN(latent_dim=6, forcing="sparse", tau=4, **TINY).fit(task.train, dt=task.dt)
    lat = model.latent_forecast(task.contexts[0], 30)
    assert lat.shape == (30, 6) and np.allclose(lat[:, :3], model.forecast(task.contexts[0], 30), atol=1e-6)
    inferred = model.inferred_latents(task.train[:41])
    assert inferred.shape == (40, 6)
    forced = [t for t in range(40) if np.allclose(inferred[t, :3], task.train[t + 1])]
    assert forced == [3, 7, 11, 15, 19, 23, 27, 31, 35, 39]  # the data every tau = 4 steps, as in training
    codes = model.subregions(lat)
    assert 1 <= len(codes) <= 4 and sum(codes.values()) == 30


def test_positive_definite_start_of_a():
    a = positive_definite_diagonal(20, np.random.default_rng(0))
    assert a.shape == (20,) and np.all(a > 0) and np.all(a <= 1) and 0.2 < a.mean() < 0.6
    x = np.random.default_rng(1).standard_normal((400, 3))
    model = ALRNN(init="positive_definite", **{**TINY, "max_epochs": 1, "batches_per_epoch": 1, "lr": 1e-12})
    model.fit(x, dt=0.01)
    assert np.allclose(
        model.net_.A.detach().numpy(), positive_definite_diagonal(20, np.random.default_rng([0, 0xA])), atol=1e-5
    )


def test_authors_protocol_trains_without_clipping_from_a_contracting_start(lorenz_task):
    """Sequences of 200, sparse forcing every 16 steps, no gradient clipping: from A = 0.4 the loss
    stays finite (the unforced latents of an A = 1 start can grow a thousandfold over 200 steps)."""
    task = lorenz_task
    model = ALRNN(
        init="positive_definite",
        forcing="sparse",
        tau=16,
        seq_len=200,
        batch_size=16,
        stride=1,
        batches_per_epoch=10,
        max_epochs=3,
        lr=1e-3,
        grad_clip=0.0,
        validation_horizon=20,
    )
    model.fit(task.train, dt=task.dt)
    losses = model.log_.train_loss
    assert model.log_.steps == 30 and len(losses) == 3 and np.all(np.isfinite(losses))
    a = model.net_.A.detach()
    assert float(a.min()) > 0 and float(a.max()) < 1


class _Captured(Exception):
    pass


@pytest.mark.parametrize("mode", ["fixed", "batch"])
def test_train_noise_touches_only_the_training_data(mode, monkeypatch):
    from chaosbench.models.torch_base import TorchForecaster

    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((3000, 3)) * [1.0, 2.0, 4.0], rng.standard_normal((300, 3))
    seen = []

    def spy(self, trajectories, validation):
        seen.append((trajectories, validation))
        raise _Captured

    from chaosbench.models import plrnn

    # the per-model loop, whose entry is easy to spy on; the stacked one draws the noise the same way
    # (both call _start_fit)
    monkeypatch.setattr(plrnn, "STACKED_ALONE", False)
    monkeypatch.setattr(TorchForecaster, "_fit", spy)
    for seed in (0, 0, 1):
        with pytest.raises(_Captured):
            ALRNN(train_noise=0.1, train_noise_mode=mode, seed=seed).fit(x, dt=0.01, validation=v)
    (train, val), (again, _), (other, _) = seen
    assert np.array_equal(val[0], v)
    if mode == "batch":  # fresh noise per batch, inside the loss: the data arrive clean
        assert np.array_equal(train[0], x)
        return
    noise = train[0] - x
    assert np.allclose(noise.std(0), 0.1 * x.std(0), rtol=0.1)  # relative to each variable's std
    assert np.array_equal(train[0], again[0]) and not np.allclose(train[0], other[0])  # seeded


def test_batch_noise_enters_the_training_loss_only(lorenz_task):
    model = ALRNN(latent_dim=6, train_noise=0.5, train_noise_mode="batch", **TINY).fit(
        lorenz_task.train, dt=lorenz_task.dt
    )
    w = torch.as_tensor(lorenz_task.train[None, :17], dtype=torch.float32)
    model.net_.eval()
    assert float(model._loss(model.net_, w)) == float(model._loss(model.net_, w))
    model.net_.train()
    assert float(model._loss(model.net_, w)) != float(model._loss(model.net_, w))


@pytest.mark.parametrize("validation", [True, False])
def test_selection_by_state_space_divergence(validation, lorenz_task):
    task = lorenz_task
    model = ALRNN(latent_dim=6, selection="d_stsp", selection_every=2, **{**TINY, "max_epochs": 5})
    model.fit(task.train, dt=task.dt, validation=task.validation if validation else None)
    scored = [i + 1 for i, s in enumerate(model.log_.val_score) if np.isfinite(s)]
    assert scored == [2, 4, 5]  # every 2 epochs and the last; the start is scored too
    assert np.isfinite(model.fit_info_["initial_val_score"]) and model.fit_info_["best_epoch"] in (0, 2, 4, 5)
    assert model.fit_info_["selection"] == "d_stsp"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"train_noise": -0.1}, "train_noise must be a non-negative number"),
        ({"train_noise": float("nan")}, "train_noise must be a non-negative number"),
        ({"train_noise_mode": "sometimes"}, "train_noise_mode must be one of fixed, batch"),
        ({"selection": "vpt"}, "selection must be one of forecast, d_stsp"),
        ({"selection_every": 0}, "selection_every must be a positive integer"),
        ({"init": "zeros"}, "init must be one of ridge, random, positive_definite"),
    ],
)
def test_bad_protocol_options_give_one_line_errors(kwargs, match):
    x = np.random.default_rng(0).standard_normal((200, 3))
    with pytest.raises(ChaosbenchError, match=match) as err:
        ALRNN(**kwargs).fit(x, dt=0.01)
    assert "\n" not in str(err.value) and "ALRNN" in str(err.value)
