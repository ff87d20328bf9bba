"""Discrete maps as catalog entries: validation, iteration, Lyapunov spectra, datasets, tasks, one bench cell."""

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chaosbench.bench import results, runner
from chaosbench.catalog import load_catalog
from chaosbench.compiler import compile_system
from chaosbench.errors import CatalogError, ChaosbenchError
from chaosbench.integrate import integrate
from chaosbench.invariants.lyapunov import map_lyapunov_spectrum
from chaosbench.store import generate, load
from chaosbench.bench.tasks import MAP_TASK, PRESETS, TaskSpec, make_task

ROOT = Path(__file__).resolve().parent.parent
#: Lorenz's content hash (datasets, tasks and cells are keyed by it; a change needs `chaosbench rekey`)
LORENZ_HASH = "ca891837f83a31084e36f1a84abf1213d8655afa4d19b9d21be8e025711c9b36"
SMALL = MAP_TASK.replace(
    n_train=1000,
    n_validation=100,
    n_windows=3,
    context=50,
    horizon_lyap=5.0,
    long_run_lyap=50.0,
    min_long_run_steps=500,
    max_long_run_steps=1000,
)


def henon(**overrides) -> dict:
    base = {
        "kind": "map",
        "description": "The Henon map, for validation tests of map entries.",
        "citation": "Henon, M. (1976). Commun. Math. Phys. 50, 69-77.",
        "variables": ["x", "y"],
        "equations": {"x": "1 - a*x**2 + y", "y": "b*x"},
        "parameters": {"a": 1.4, "b": 0.3},
        "initial_conditions": [0.5, 0.1],
    }
    base.update(overrides)
    return base


def test_flows_keep_their_hashes_and_leaderboards(catalog):
    assert catalog["Lorenz"].content_hash == LORENZ_HASH
    head = subprocess.run(["git", "show", "HEAD:chaosbench/systems.json"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:  # the catalog as committed: every flow's hash and the chaotic list unchanged
        import json

        from chaosbench.catalog import validate_system

        old = {n: validate_system(n, e) for n, e in json.loads(head.stdout)["systems"].items()}
        assert {n: s.content_hash for n, s in old.items()} == {n: catalog[n].content_hash for n in old}
        assert [n for n, s in old.items() if s.excluded is None and not s.is_map] == catalog.chaotic()
    assert len(catalog.chaotic()) == 135
    assert all(not catalog[n].is_map for n in catalog.chaotic())
    for name in ("standard", "data-limited", "quick"):
        assert not any(catalog[n].is_map for n in PRESETS[name].system_names(catalog))


def test_kind_flow_spelt_out_keeps_the_hash(user_catalog, catalog):
    import json

    entry = json.loads(json.dumps(catalog["Lorenz"].raw))
    entry["kind"] = "flow"
    assert load_catalog(user_catalog(Lorenz=entry))["Lorenz"].content_hash == LORENZ_HASH


def test_maps_are_listed_apart(catalog):
    maps = catalog.chaotic(kind="map")
    assert len(maps) >= 18 and "Henon" in maps and "Logistic" in maps
    assert set(PRESETS["maps"].system_names(catalog)) == set(maps)
    assert all(catalog[n].is_map and catalog[n].period == 1.0 for n in maps)
    assert set(catalog.chaotic(kind=None)) == set(maps) | set(catalog.chaotic())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"period": 1.0}, "field 'period'"),
        ({"dt": 1.0}, "field 'dt'"),
        ({"kind": "ode"}, "field 'kind'"),
        ({"flags": {"delay": True}}, "field 'flags.delay'"),
        ({"equations": {"x": "1 - a*x**2 + y + t", "y": "b*x"}}, "field 'equations.x'"),
    ],
)
def test_bad_map_entries_name_system_and_field(user_catalog, change, message):
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(user_catalog(MyMap=henon(**change)))
    assert "system 'MyMap'" in str(err.value) and "\n" not in str(err.value)


def test_iteration_is_the_map(catalog):
    cs = compile_system(catalog["Henon"])
    sol = integrate(cs, [[0.1, 0.2], [0.3, -0.1]], dt=1, n_steps=3)
    x, y = 0.1, 0.2
    assert sol.ok and np.allclose(sol.states[0, 1], [1 - 1.4 * x * x + y, 0.3 * x], rtol=0, atol=1e-15)
    strided = integrate(cs, [0.1, 0.2], dt=2, n_steps=2)
    assert np.array_equal(strided.states[0, 1], sol.states[0, 2])
    with pytest.raises(ChaosbenchError, match="whole number of iterations"):
        integrate(cs, [0.1, 0.2], dt=0.5, n_steps=2)


def test_jacobian_of_mod_is_not_dropped(catalog):
    cs = compile_system(catalog["KaplanYorke"])
    assert cs.jacobian(0.0, [0.3, 0.1])[0, 0] == pytest.approx(2.0)


def test_henon_spectrum(catalog):
    r = map_lyapunov_spectrum(catalog["Henon"], n_initial=4, n_iterations=100_000)
    assert r.mean == pytest.approx([0.419, -1.623], rel=0.01)
    assert r.mean.sum() == pytest.approx(math.log(0.3), rel=1e-3)  # the Jacobian determinant is -b


def test_logistic_at_r_4_has_ln_2(user_catalog):
    entry = load_catalog()["Logistic"].raw | {"parameters": {"r": 4.0}, "initial_conditions": [0.3]}
    entry.pop("invariants", None)
    r = map_lyapunov_spectrum(load_catalog(user_catalog(Logistic=entry))["Logistic"], n_initial=4, n_iterations=100_000)
    assert r.mean[0] == pytest.approx(math.log(2), rel=0.01)


def test_every_chaotic_map_has_a_positive_exponent_beyond_its_error_bar(catalog):
    for name in catalog.chaotic(kind="map"):
        inv = catalog[name].invariants
        lam, std = inv["lyapunov_spectrum"][0], inv["lyapunov_spectrum_std"][0]
        assert lam - 4 * std > 0, name
        assert inv["lyapunov_units"] == "per iteration", name


def test_excluded_maps_say_why(catalog):
    for name, s in catalog.items():
        if s.is_map and s.excluded is not None:
            assert len(s.excluded) > 40, name


def test_map_dataset_round_trips(tmp_path):
    out = generate(["Henon", "Logistic"], out=tmp_path / "maps", length=200, n_trajectories=2, seed=3)
    frame = load(out)
    henon_frame = frame[frame.system == "Henon"]
    assert len(henon_frame) == 400
    assert np.array_equal(henon_frame["time"].unique(), np.arange(200.0))
    meta = frame.attrs["chaosbench"]["Henon"]
    assert meta["dt"] == 1.0 and meta["integrator"] == "iteration" and meta["kind"] == "map"
    first = henon_frame[henon_frame.trajectory == 0][["x", "y"]].to_numpy()
    assert np.allclose(first[1:, 0], 1 - 1.4 * first[:-1, 0] ** 2 + first[:-1, 1], rtol=0, atol=1e-14)
    again = load(generate(["Henon"], out=tmp_path / "again", length=200, n_trajectories=2, seed=3))
    assert np.array_equal(again[["x", "y"]].to_numpy(), henon_frame[["x", "y"]].to_numpy())


def test_maps_refuse_resolutions_and_noise(tmp_path):
    with pytest.raises(ChaosbenchError, match="is a map.*pts_per_period"):
        generate(["Henon"], out=tmp_path / "a", pts_per_period=10)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ChaosbenchError, match="is a map.*noise"):
        generate(["Henon"], out=tmp_path / "b", noise=0.01)
    with pytest.raises(ChaosbenchError, match="is a map.*pts_per_period=1"):
        make_task("Henon", TaskSpec())


def test_map_task_uses_iterations_and_a_twin(catalog):
    task = make_task("Henon", SMALL, seed=1, catalog=catalog)
    lam = catalog["Henon"].max_lyapunov
    assert task.dt == 1.0 and task.max_lyapunov == lam
    assert task.horizon == math.ceil(SMALL.horizon_lyap / lam)
    assert "twin" in task.tolerances["check"]
    assert np.all(task.truth_error[:, 0] < 1e-12) and np.all(task.certified_steps() > 0)
    # a forecast origin perturbed at the rounding level stays certified for most of 5 Lyapunov times
    assert np.all(task.certified_steps() >= task.horizon // 2)
    assert make_task("Henon", SMALL, seed=1, catalog=catalog).id == task.id


def test_one_bench_cell_on_a_map(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "data"))
    with pytest.raises(ChaosbenchError, match="is a map"):
        runner.plan(["Henon"], ["var"], [0], catalog=catalog)
    cells = runner.plan(["Henon"], ["var"], [0], task=SMALL, catalog=catalog, time_budget=300)
    summary = runner.run(cells, tmp_path / "results", workers=1, progress=False, catalog=catalog)
    assert (summary.ok, summary.failed) == (1, 0), summary.failures
    row = results.read(tmp_path / "results").iloc[0]
    assert row["dt"] == 1.0 and row["vpt_lyap"] >= 0
