"""The task protocol: shapes, normalisation, independent windows, seeds, horizons in Lyapunov times."""

import math

import numpy as np
import pytest

from chaosbench.errors import ChaosbenchError
from chaosbench.bench.tasks import PRESETS, TaskSpec, get_preset, make_task

SMALL = TaskSpec(n_train=1000, n_validation=100, n_windows=4, context=50, horizon_lyap=15.0)


@pytest.fixture(scope="module")
def task(lyapunov_catalog):
    return make_task("Lorenz", SMALL, seed=3, catalog=lyapunov_catalog)


def test_shapes_and_horizon_in_lyapunov_times(task):
    assert task.train.shape == (1000, 3) and task.validation.shape == (100, 3)
    assert task.contexts.shape == (4, 50, 3)
    assert task.dt == pytest.approx(0.75 / 100)
    assert task.horizon == math.ceil(15.0 / (0.9056 * task.dt)) and task.targets.shape == (4, task.horizon, 3)
    assert task.horizon / task.steps_per_lyapunov >= 15.0


def test_normalised_with_training_statistics(task):
    assert np.allclose(task.train.mean(0), 0, atol=1e-12) and np.allclose(task.train.std(0), 1)
    assert not np.allclose(task.validation.mean(0), 0, atol=1e-3)  # validation is normalised, not re-centred
    assert np.all(task.std > 1)  # Lorenz's spread in original units


def test_windows_start_from_independent_attractor_points(task):
    starts = np.concatenate([task.train[:1], task.contexts[:, 0]])
    gaps = np.linalg.norm(starts[:, None] - starts[None], axis=-1) + np.eye(len(starts)) * 99
    assert gaps.min() > 1e-3
    # windows continue their contexts: one step of the flow is small next to the attractor's size
    jump = np.linalg.norm(task.targets[:, 0] - task.contexts[:, -1], axis=1)
    assert np.all(jump < 0.3)


def test_seeded(lyapunov_catalog, task):
    again = make_task("Lorenz", SMALL, seed=3, catalog=lyapunov_catalog)
    other = make_task("Lorenz", SMALL, seed=4, catalog=lyapunov_catalog)
    assert np.array_equal(again.targets, task.targets) and np.array_equal(again.train, task.train)
    assert not np.allclose(other.train[:10], task.train[:10])


def test_save_load_roundtrip(task, tmp_path):
    path = tmp_path / "t.npz"
    task.save(path)
    back = type(task).load(path)
    assert back.spec == task.spec and back.system == "Lorenz" and np.array_equal(back.targets, task.targets)


def test_missing_lyapunov_exponent_names_the_system_and_the_fix(user_catalog):
    from tests.conftest import entry

    path = user_catalog(Oscillator=entry())
    with pytest.raises(ChaosbenchError, match=r"system 'Oscillator'.*chaosbench annotate"):
        make_task("Oscillator", SMALL, catalog=path)


def test_presets():
    assert set(PRESETS) >= {"quick", "standard", "data-limited"}
    assert get_preset("data-limited").task.n_train == 1000
    assert get_preset("standard").systems == "chaotic"
    assert all(
        p.task.horizon_lyap >= 15
        and p.task.n_windows == 10
        and p.task.pts_per_period == (1 if p.systems == "chaotic-maps" else 100)
        for p in PRESETS.values()
    )
    with pytest.raises(ChaosbenchError, match="unknown preset"):
        get_preset("fast")
    with pytest.raises(ChaosbenchError, match="n_windows"):
        TaskSpec(n_windows=0)
    with pytest.raises(ChaosbenchError, match="unknown task setting"):
        TaskSpec().replace(n_trains=5)


def test_certified_time_catches_a_loose_truth(lyapunov_catalog):
    """A truth integrated at 1e-6 (checked at 1e-5) is certified for a few Lyapunov times only, and a
    forecast that copies it can then score no more than that, as a censored (lower-bound) value."""
    from chaosbench.bench.scoring import score

    tight = make_task("Lorenz", SMALL.replace(horizon_lyap=25.0), seed=3, catalog=lyapunov_catalog)
    loose = make_task(
        "Lorenz", SMALL.replace(horizon_lyap=25.0, truth_rtol=1e-6, check_rtol=1e-5), seed=3, catalog=lyapunov_catalog
    )
    lyap = loose.steps_per_lyapunov
    assert np.all(tight.certified_steps() / lyap > 15)  # the default truth is certified for most of the horizon
    assert np.all(loose.certified_steps() / lyap < 12)  # ln(0.03 / 1e-5) ≈ 8 Lyapunov times, give or take
    perfect = score(loose, loose.targets.copy(), long_run=loose.long_truth)
    assert np.allclose(perfect["vpt_windows"], loose.certified_steps() * loose.dt / loose.lyapunov_time)
    assert perfect["censored_fraction"] == 1.0 and perfect["vpt_censored"]


def test_forced_systems_get_their_phase_as_unscored_columns():
    spec = SMALL.replace(n_windows=2)
    vdp = make_task("ForcedVanDerPol", spec, seed=0)
    assert vdp.variables == ("x", "y", "cos(z)", "sin(z)") and vdp.n_scored == 2  # the clock z is replaced
    raw = vdp.train * vdp.std + vdp.mean
    assert np.allclose(raw[:, 2] ** 2 + raw[:, 3] ** 2, 1.0)
    duffing = make_task("Duffing", spec, seed=0)
    assert duffing.variables[2:] == ("cos(omega*t)", "sin(omega*t)") and duffing.n_scored == 2
    raw = duffing.contexts[0] * duffing.std + duffing.mean
    phase = np.arctan2(raw[:, 3], raw[:, 2])
    step = np.angle(np.exp(1j * np.diff(phase)))  # the phase turns at the forcing's rate
    assert np.allclose(step, 1.4 * duffing.dt, atol=1e-9)
    without = make_task("Duffing", spec.replace(forcing_phase=False), seed=0)
    assert without.variables == ("x", "y") and without.n_scored == 2


def test_horizon_is_capped_in_periods_where_a_lyapunov_time_spans_many():
    from chaosbench.catalog import load_catalog
    from chaosbench.bench.tasks import horizon_steps

    catalog = load_catalog()
    steps, capped = horizon_steps(catalog["Bouali2"], TaskSpec())
    assert capped and steps == 250 * 100
    steps, capped = horizon_steps(catalog["Lorenz"], TaskSpec())
    assert not capped and steps * catalog["Lorenz"].max_lyapunov * catalog["Lorenz"].period / 100 >= 25.0


def test_long_truth_and_noise_floor(task):
    # 500 Lyapunov times of Lorenz at 100 points per period, within the 20,000 to 100,000 steps clip
    assert task.long_truth.shape == (math.ceil(500 / (0.9056 * task.dt)), 3)
    # the long truth is independent of the training data yet samples the same attractor
    std = task.long_truth.std(0)
    assert abs(task.long_truth.mean(0)).max() < 1.0 and np.all((0.5 < std) & (std < 2))
    assert 0 < task.noise_floor["d_stsp"] < 1.0 and 0 < task.noise_floor["d_h"] < 0.2
