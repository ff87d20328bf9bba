"""The task protocol: shapes, normalisation, independent windows, seeds, horizons in Lyapunov times."""
import math

import numpy as np
import pytest

from chaosbench.errors import ChaosbenchError
from chaosbench.tasks import PRESETS, TaskSpec, get_preset, make_task

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
    assert all(p.task.horizon_lyap >= 15 and p.task.n_windows == 10 and p.task.pts_per_period == 100
               for p in PRESETS.values())
    with pytest.raises(ChaosbenchError, match="unknown preset"):
        get_preset("fast")
    with pytest.raises(ChaosbenchError, match="n_windows"):
        TaskSpec(n_windows=0)
    with pytest.raises(ChaosbenchError, match="unknown task setting"):
        TaskSpec().replace(n_trains=5)
