"""Independence of test data: the leakage check catches copies, and the protocol makes none."""

import numpy as np
import pytest

from chaosbench.catalog import load_catalog
from chaosbench.trajectories import trajectory
from chaosbench.bench.leakage import (
    analogue_tracking,
    control_data,
    dataset_leakage,
    leaks,
    longest_tracking,
    p_value,
    past_limits,
    task_leakage,
)
from chaosbench.bench.tasks import TaskSpec, make_task


def test_longest_tracking_finds_a_copy_anywhere_and_nothing_in_noise():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((500, 3))
    target = rng.standard_normal((200, 3))
    target[40:160] = reference[300:420] + 0.01  # a copy of 120 steps, starting mid-target
    assert longest_tracking(reference, target) == 120
    assert longest_tracking(reference, rng.standard_normal((200, 3))) <= 2
    with pytest.raises(ValueError):
        longest_tracking(reference, target[:, :2])
    # from the target's first point (the method of analogues) only a copy that starts there is found
    assert analogue_tracking(reference, reference[300:420] + 0.01) == 120
    assert analogue_tracking(reference, target) <= 2


def test_shifted_pieces_of_one_orbit_are_caught_and_independent_starts_are_not():
    """Starting points taken from one orbit without perturbation (the old protocol) make trajectories
    that copy each other; perturbed and decorrelated starts (the default) do not."""
    lorenz = load_catalog()["Lorenz"]
    steps_per_lyapunov = 1 / (lorenz.max_lyapunov * lorenz.period / 100)
    kw = dict(length=3000, pts_per_period=100, n_trajectories=8, seed=1, standardize=True)
    old = trajectory(lorenz, perturbation=0.0, decorrelation_lyap=0.0, transient_periods=0.0, **kw)
    new = trajectory(lorenz, **kw)
    length_lyap = 3000 / steps_per_lyapunov
    copied = dataset_leakage(old, steps_per_lyapunov=steps_per_lyapunov)["max_tracking_lyap"]
    independent = dataset_leakage(new, steps_per_lyapunov=steps_per_lyapunov)["max_tracking_lyap"]
    assert copied > 0.9 * length_lyap > 15  # some pair shares (almost) all of its length
    assert independent < 8.0


# a fast subset of the catalog (flows, a delay system, a forced system, a hyperchaotic one) for CI;
# benchmarks/leakage_catalog.py runs every chaotic system and commits the table
SUBSET = ["Lorenz", "Rossler", "MackeyGlass", "Duffing", "HyperRossler", "Aizawa"]
SPEC = TaskSpec(n_train=3000, n_validation=300, n_windows=4, context=100, max_long_run_steps=20_000)


@pytest.mark.parametrize("system", SUBSET)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_test_target_is_reproduced_by_training_data(system, seed):
    task = make_task(system, SPEC, seed=seed)
    report = task_leakage(task)
    assert not leaks(report), report
    assert report["max_analogue_lyap"] < 6.0  # chance analogues: a few Lyapunov times


def test_the_check_flags_a_task_whose_targets_copy_its_training_data():
    task = make_task("Lorenz", SPEC, seed=0)
    # what the old protocol did by accident: the data a model sees pass through a test target
    task.validation = np.concatenate([task.validation, task.contexts[1], task.targets[1]])
    report = task_leakage(task)
    assert leaks(report) and report["tracking_lyap"][1] == pytest.approx(report["horizon_lyap"])
    # independent controls track no target that long: the copy stands out (rank test, p = 1/(M + 1))
    controls = control_data(task, load_catalog()["Lorenz"], 19)
    assert controls.shape == (19, len(task.train) + len(task.validation), 3)
    tested = task_leakage(task, controls=controls)
    assert max(tested["control_max_analogue_lyap"]) < 8.0 and max(tested["control_max_tracking_lyap"]) < 20.0
    assert p_value(tested, "analogue") == pytest.approx(1 / 20) and leaks(tested)


def test_controls_clear_long_analogues_the_attractor_itself_allows():
    """On a (nearly) periodic band every long trajectory tracks every target: past the absolute limits,
    but no copy, because independent controls track it as long."""

    class Task:  # the fields task_leakage reads
        pass

    t = np.arange(12_000) * 0.05

    def orbit(phase, drift):
        return np.stack([np.sin(t + phase), np.cos(t + phase), np.sin(2.0 * (t + phase)) + drift], axis=1)

    task = Task()
    task.system, task.seed, task.n_scored, task.steps_per_lyapunov, task.horizon = "band", 0, 3, 40.0, 400
    task.train, task.validation = orbit(0.0, 0.0)[:10_000], orbit(0.0, 0.0)[10_000:11_000]
    task.targets = np.stack([orbit(1.0 + k, 0.01)[:400] for k in range(4)])
    controls = [orbit(2.0 + k, 0.0)[:11_000] for k in range(9)]
    plain = task_leakage(task)
    assert past_limits(plain) == ["analogue", "tracking"] and leaks(plain)
    tested = task_leakage(task, controls=controls)
    assert p_value(tested, "analogue") == 1.0 and not leaks(tested)


def test_decorrelation_distance_tells_a_mixing_attractor_from_one_that_is_not():
    """Lorenz's perturbed starts end as far apart as two random points of the attractor; Coullet's (weakly
    chaotic, lambda 0.013, on a phase-coherent band along which perturbations grow slowly) stay together."""
    from chaosbench.bench.leakage import decorrelation_distance

    catalog = load_catalog()
    assert decorrelation_distance(catalog["Lorenz"]) > 0.5
    assert decorrelation_distance(catalog["Coullet"]) < 0.05
