"""The forecaster contract (chaosbench/models/base.py), checked on every registered model that is installed.

Each model runs with a tiny budget (a few batches, narrow networks): the point is the interface, not the
forecasts. The torch and darts models are marked slow; the core models run by default.
"""

import numpy as np
import pytest

from chaosbench.models import REGISTRY, is_available, make_model, model_class

_TORCH = {"seq_len": 16, "batch_size": 16, "max_epochs": 1, "batches_per_epoch": 3, "validation_horizon": 20}
_DARTS = {
    "input_chunk_length": 16,
    "output_chunk_length": 4,
    "n_epochs": 1,
    "batch_size": 16,
    "max_samples_per_epoch": 64,
}
#: hyperparameters that keep each model cheap (a registered model missing here runs with its defaults)
TINY = {
    "var": {"maxlags": 4},
    "esn": {"units": 40, "warmup": 20},
    "ngrc": {"skip": 2},
    "darts-linear": {"lags": 4},
    "darts-nbeats": {**_DARTS, "num_stacks": 1, "layer_widths": 8},
    "darts-nhits": {**_DARTS, "num_stacks": 1, "layer_widths": 8},
    "darts-tcn": {**_DARTS, "num_filters": 4},
    "darts-transformer": {
        **_DARTS,
        "d_model": 8,
        "nhead": 2,
        "num_encoder_layers": 1,
        "num_decoder_layers": 1,
        "dim_feedforward": 16,
    },
    "darts-rnn": {**_DARTS, "output_chunk_length": 1, "hidden_dim": 8, "training_length": 20},
    "shplrnn": {**_TORCH, "hidden_dim": 8},
    "alrnn": {**_TORCH, "latent_dim": 6},
    "plrnn": {**_TORCH, "latent_dim": 6},
    "lstm": {**_TORCH, "hidden_size": 8, "rollout_steps": 2},
    "gru": {**_TORCH, "hidden_size": 8, "rollout_steps": 2},
    "transformer": {**_TORCH, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32},
    "lru": {**_TORCH, "d_model": 8, "n_layers": 1, "d_state": 4, "burn_in": 4},
    "mamba": {**_TORCH, "d_model": 8, "n_layers": 1, "d_state": 4, "burn_in": 4},
}
CONTEXT, HORIZON = 100, 12


def _marked(name: str):
    extra = REGISTRY[name][1]
    marks = [pytest.mark.slow] if extra is not None else []
    if not is_available(name):
        marks.append(pytest.mark.skip(reason=f"the '{extra}' extra is not installed"))
    return pytest.param(name, marks=marks, id=name)


MODELS = [_marked(name) for name in REGISTRY]


@pytest.fixture(scope="module")
def lorenz_data():
    """A Lorenz trajectory (RK4, dt 0.01, sampled every 2 steps) normalised per variable: training,
    validation and three test contexts."""

    def rhs(s):
        x, y, z = s
        return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    state, h, rows = np.array([1.0, 1.0, 20.0]), 0.01, []
    for step in range(2 * 2400 + 1000):
        k1 = rhs(state)
        k2 = rhs(state + h / 2 * k1)
        k3 = rhs(state + h / 2 * k2)
        k4 = rhs(state + h * k3)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if step >= 1000 and step % 2 == 0:
            rows.append(state)
    x = np.array(rows)
    x = (x - x.mean(0)) / x.std(0)
    contexts = np.stack([x[1800 + 150 * k : 1800 + 150 * k + CONTEXT] for k in range(3)])
    return x[:1500], x[1500:1800], contexts


def test_every_registered_model_is_in_the_budget_table():
    assert set(TINY) | {"persistence", "climatology", "parrot", "analogue"} >= set(REGISTRY)


@pytest.mark.parametrize("name", MODELS)
def test_model_contract(name, lorenz_data):
    train, validation, contexts = lorenz_data
    cls = model_class(name)
    default = cls()
    # the constructor stores its arguments and does no work: no learned state, nothing counted
    assert not [k for k in vars(default) if k.endswith("_")] and default.n_parameters == 0
    assert cls(**default.get_params()).get_params() == default.get_params() == cls.defaults()
    assert "seed" in default.get_params()
    default.check()

    hp = TINY.get(name, {})
    model = make_model(name, **hp)
    assert cls(**model.get_params()).get_params() == model.get_params()
    model.check()
    assert model.fit(train, dt=0.02, validation=validation) is model
    n_parameters = model.n_parameters
    assert isinstance(n_parameters, (int, np.integer)) and n_parameters >= 0

    one = model.forecast(contexts[0], HORIZON)
    assert one.shape == (HORIZON, 3) and np.all(np.isfinite(one))
    windows = model.forecast_windows(contexts, HORIZON)
    assert windows.shape == (3, HORIZON, 3)
    for k in range(3):
        np.testing.assert_allclose(
            windows[k],
            model.forecast(contexts[k], HORIZON),
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{name}: forecast_windows differs from forecast in window {k}",
        )

    again = make_model(name, **hp).fit(train, dt=0.02, validation=validation)
    assert np.array_equal(again.forecast_windows(contexts, HORIZON), windows), f"{name}: same seed, other forecasts"
