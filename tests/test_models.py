"""The forecaster interface, the registry and the baselines."""

import importlib.util

import numpy as np
import pytest

from chaosbench import models
from chaosbench.errors import ChaosbenchError
from chaosbench.models import REGISTRY, make_model, model_class


@pytest.fixture(scope="module")
def ar_series():
    # a stable linear VAR(2) in two variables, driven by noise: the VAR baseline must recover it
    rng = np.random.default_rng(0)
    a1 = np.array([[0.5, 0.2], [-0.1, 0.4]])
    a2 = np.array([[0.2, 0.0], [0.1, -0.3]])
    x = np.zeros((20000, 2))
    for t in range(2, len(x)):
        x[t] = a1 @ x[t - 1] + a2 @ x[t - 2] + 0.1 * rng.standard_normal(2)
    return x, a1, a2


@pytest.mark.parametrize("name", ["persistence", "climatology", "var"])
def test_core_models_follow_the_interface(name, ar_series):
    x, *_ = ar_series
    small = {"maxlags": 4} if name == "var" else {}
    assert make_model(name).get_params() == type(make_model(name)).defaults()
    model = make_model(name, **small)
    assert "seed" in model.get_params()
    assert model.fit(x[:5000], dt=0.1) is model
    out = model.forecast(x[5000:5100], 30)
    assert out.shape == (30, 2) and np.all(np.isfinite(out))
    windows = model.forecast_windows(np.stack([x[6000:6100], x[7000:7100]]), 30)
    assert windows.shape == (2, 30, 2)
    assert np.allclose(windows[0], model.forecast(x[6000:6100], 30))
    assert model.n_parameters >= 0
    assert make_model(name, **small).fit([x[:3000], x[3000:5000]], dt=0.1).forecast(x[:100], 5).shape == (5, 2)


def test_var_recovers_a_linear_system(ar_series):
    x, a1, a2 = ar_series
    model = make_model("var", maxlags=2, ic=None).fit(x, dt=1.0)
    assert model.order_ == 2 and model.n_parameters == 2 * 4 + 2
    assert np.allclose(model.coefs_[0], a1, atol=0.02) and np.allclose(model.coefs_[1], a2, atol=0.02)
    one = make_model("var", maxlags=2, ic=None).fit(x[:, :1], dt=1.0)  # one variable: AutoReg
    assert one.coefs_.shape == (2, 1, 1)


def test_var_fits_states_with_a_conserved_linear_quantity_in_their_subspace(ar_series):
    # a third variable closing x1 + x2 + x3 = 1 (as nutrients and biomass sum to the supply in a chemostat):
    # the residual covariance is singular and statsmodels' order selection alone raises
    x, a1, a2 = ar_series
    closed = np.column_stack([x, 1.0 - x.sum(1)])
    with pytest.raises(np.linalg.LinAlgError):
        make_model("var", maxlags=4)._fit_var(closed)
    model = make_model("var", maxlags=4).fit(closed, dt=1.0)
    assert model.fit_info_ == {"subspace": 2} and model.order_ >= 2
    # the recovered dynamics of the first two variables are the generating VAR(2)
    assert np.allclose(model.coefs_[0][:2, :2] - model.coefs_[0][:2, 2:], a1, atol=0.02)
    assert np.allclose(model.coefs_[1][:2, :2] - model.coefs_[1][:2, 2:], a2, atol=0.02)
    out = model.forecast(closed[:100], 50)
    assert np.allclose(out.sum(1), 1.0, atol=1e-9)  # the forecast keeps the conserved quantity
    assert np.allclose(out[:, :2], make_model("var", maxlags=4).fit(x, dt=1.0).forecast(x[:100], 50), atol=0.05)


def test_persistence_and_climatology_values():
    x = np.arange(20.0).reshape(10, 2)
    assert np.all(make_model("persistence").fit(x, dt=1).forecast(x[:3], 4) == x[2])
    assert np.allclose(make_model("climatology").fit(x, dt=1).forecast(x[:3], 4), x.mean(0))


def test_registry_errors_are_one_line():
    with pytest.raises(ChaosbenchError, match="unknown model 'persistance'; did you mean 'persistence'"):
        model_class("persistance")
    with pytest.raises(ChaosbenchError, match="has no hyperparameter.*'lag'"):
        make_model("var", lag=3)
    with pytest.raises(ChaosbenchError, match="call fit before forecast"):
        make_model("persistence").forecast(np.zeros((3, 2)), 2)
    with pytest.raises(ChaosbenchError, match="NaN"):
        make_model("persistence").fit(np.full((5, 2), np.nan), dt=1)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(REGISTRY, "fancy", ("not_installed_pkg_zz.mod:Fancy", "extra_zz"))
    monkeypatch.setitem(models.EXTRA_MODULES, "extra_zz", ("not_installed_pkg_zz",))
    with pytest.raises(ChaosbenchError, match=r"pip install 'chaosbench\[extra_zz\]'"):
        model_class("fancy")


def test_models_given_as_module_and_class():
    cls = model_class("tests.models_for_tests:SleepyModel")
    assert cls.defaults() == {"seconds": 1.0, "seed": 0}
    with pytest.raises(ChaosbenchError, match="cannot import"):
        model_class("tests.models_for_tests:Nothing")


needs_darts = pytest.mark.skipif(importlib.util.find_spec("darts") is None, reason="darts extra not installed")


@needs_darts
def test_darts_linear_regression_adapter(ar_series):
    x, *_ = ar_series
    model = make_model("darts-linear", lags=4).fit(x[:3000], dt=1.0)
    out = model.forecast_windows(np.stack([x[5000:5050], x[6000:6050]]), 12)
    assert out.shape == (2, 12, 2) and np.all(np.isfinite(out)) and model.n_parameters == 4 * 2 * 2 + 2


@needs_darts
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_darts_neural_adapter_is_seeded(ar_series):
    x, *_ = ar_series
    hp = dict(
        input_chunk_length=8, output_chunk_length=2, n_epochs=1, max_samples_per_epoch=200, layer_widths=8, num_stacks=1
    )
    a = make_model("darts-nbeats", **hp).fit(x[:1000], dt=1.0).forecast(x[2000:2020], 6)
    b = make_model("darts-nbeats", **hp).fit(x[:1000], dt=1.0).forecast(x[2000:2020], 6)
    assert a.shape == (6, 2) and np.allclose(a, b)


def test_an_empty_validation_part_means_none():
    """TaskSpec(n_validation=0) hands models an empty (0, n) array: fit must treat it as no validation."""
    x = np.random.default_rng(0).standard_normal((200, 2))
    for validation in (np.empty((0, 2)), []):
        model = make_model("var", maxlags=2).fit(x, dt=0.1, validation=validation)
        assert model.forecast(x[-5:], 3).shape == (3, 2)
