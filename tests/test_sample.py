"""The sampler and its validator: known verdicts, determinism, resumption, the rejection log, the CLI end to end."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaosbench import sample as sample_fn
from chaosbench.catalog import load_catalog, validate_system
from chaosbench.errors import ChaosbenchError
from chaosbench.candidates import draw, exponent_parameters
from chaosbench.validate import MIN_MOTION, PERSISTENCE_MIN_GROWTH, TESTS, validate

from .conftest import write_catalog
from .test_harness import SMALL

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "name, parameters, rejected_by",
    [
        ("Lorenz", {}, None),  # rho = 28: the strange attractor
        ("Lorenz", {"rho": 10.0}, "fixed_point"),  # below the Hopf bifurcation (rho = 24.74): C+ and C- attract
        ("Rossler", {"c": 2.5}, "periodic"),  # a period-1 limit cycle, before the period-doubling cascade
        ("Lorenz", {"rho": 160.0}, "periodic"),  # the periodic window at large rho
    ],
)
def test_validator_on_known_cases(catalog, name, parameters, rejected_by):
    verdict = validate(catalog[name], parameters)
    if rejected_by is None:
        assert verdict.chaotic, verdict.summary()
        assert verdict.lyapunov_spectrum[0] == pytest.approx(0.9056, abs=0.05)
    else:
        assert not verdict.chaotic
        assert verdict.rejected_by.name == rejected_by, verdict.summary()


def test_every_test_runs_without_stop_early(catalog):
    verdict = validate(catalog["Lorenz"], {"rho": 10.0}, stop_early=False)
    assert [c.name for c in verdict.checks] == list(TESTS)
    passed = {c.name: c.passed for c in verdict.checks}
    assert passed["bounded"] and not (
        passed["fixed_point"] or passed["broadband"] or passed["lyapunov"] or passed["persistence"]
    )
    assert verdict.lyapunov_spectrum[0] < 0


def test_persistence_rejects_chaos_that_coexists_with_stable_fixed_points(catalog):
    """Lorenz at sigma = 9.361, rho = 25.67, beta = 3.196 (candidate 150 of seed 0): the Hopf point is at
    rho = sigma (sigma + beta + 3) / (sigma - beta - 1) ~ 28.2, so C+- are stable beside the chaotic set.
    The 100 + 256 period validation run stays chaotic (tests 1-5 pass), but each long run from it reaches
    C+- (lambda < 0 over its last 200 periods); the catalog Lorenz keeps its chaos over the same runs."""
    bistable = {"sigma": 9.361432237778871, "rho": 25.669076983952348, "beta": 3.1960386666904808}
    verdict = validate(catalog["Lorenz"], bistable)
    assert [c.passed for c in verdict.checks] == [True] * 5 + [False], verdict.summary()
    assert verdict.rejected_by.name == "persistence" and verdict.rejected_by.value < 0
    chaotic = validate(catalog["Lorenz"])
    assert chaotic.checks[-1].name == "persistence" and chaotic.checks[-1].value > PERSISTENCE_MIN_GROWTH


def test_draws_depend_only_on_seed_and_index(catalog):
    parents = [catalog["Lorenz"], catalog["Rossler"]]
    a = draw(7, parents, seed=3)
    assert draw(7, parents, seed=3) == a
    assert draw(7, parents, seed=4).parameters != a.parameters
    assert a.parents == ("Rossler",) and a.name == "Rossler_s3_7"
    assert all(v > 0 for v in a.parameters.values())  # exp(sigma N(0,1)) keeps signs
    coupled = draw(8, parents, seed=3, couple=1.0)
    assert coupled.kind == "coupling" and coupled.parents[0] == "Lorenz" and 0.05 <= coupled.kappa <= 0.5


def test_exponents_are_not_perturbed(catalog):
    rossler = catalog["Rossler"]
    entry = dict(
        rossler.raw,
        equations={**dict(zip(rossler.variables, rossler.equations)), "x": "-y - z**n"},
        parameters={**rossler.raw["parameters"], "n": 1},
    )
    system = validate_system("Powered", entry)
    assert exponent_parameters(system) == {"n"}
    assert draw(0, [system], seed=0).parameters["n"] == 1.0


def test_same_seed_same_systems_and_resume(tmp_path, monkeypatch):
    first = sample_fn(["Lorenz"], 3, out=tmp_path / "a", seed=5)
    again = sample_fn(["Lorenz"], 3, out=tmp_path / "b", seed=5)
    a = json.loads((tmp_path / "a" / "systems.json").read_text())["systems"]
    b = json.loads((tmp_path / "b" / "systems.json").read_text())["systems"]
    assert a == b and first.accepted == again.accepted == len(a) >= 1
    # a rerun validates nothing again; a larger n validates only the new candidates
    module = importlib.import_module("chaosbench.sampler")
    calls = []
    real = module.evaluate
    monkeypatch.setattr(module, "evaluate", lambda c, *args, **kw: calls.append(c.index) or real(c, *args, **kw))
    assert sample_fn(["Lorenz"], 3, out=tmp_path / "a", seed=5).skipped == 3 and calls == []
    sample_fn(["Lorenz"], 4, out=tmp_path / "a", seed=5)
    assert calls == [3]
    with pytest.raises(ChaosbenchError, match="other settings"):
        sample_fn(["Lorenz"], 3, out=tmp_path / "a", seed=6)


def test_an_interrupted_run_leaves_whole_files_and_resumes(tmp_path, monkeypatch):
    module = importlib.import_module("chaosbench.sampler")
    monkeypatch.setattr(module, "CHUNK", 2)
    real = module.evaluate

    def interrupted(c, *args, **kw):
        if c.index == 4:
            raise KeyboardInterrupt
        return real(c, *args, **kw)

    monkeypatch.setattr(module, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_fn(["Lorenz"], 6, out=tmp_path, seed=1)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == ["chunk-0000000.json", "chunk-0000001.json"]
    assert not list(tmp_path.rglob("*.tmp")) and not (tmp_path / "systems.json").exists()
    calls = []
    monkeypatch.setattr(module, "evaluate", lambda c, *args, **kw: calls.append(c.index) or real(c, *args, **kw))
    assert sample_fn(["Lorenz"], 6, out=tmp_path, seed=1).candidates == 6
    assert calls == [4, 5]


def test_rejection_log_names_the_test_and_its_value(tmp_path):
    """A Lorenz parent at rho = 10 (fixed points C+-, stable up to rho ~ 24.7) stays there under 10%
    perturbations: every candidate is rejected by the fixed-point test."""
    lorenz = load_catalog()["Lorenz"].raw
    low = dict(lorenz, parameters={**lorenz["parameters"], "rho": 10})
    low.pop("invariants")
    path = write_catalog(tmp_path / "low.json", {"LorenzLow": low})
    summary = sample_fn(["LorenzLow"], 2, out=tmp_path / "out", catalog=path)
    assert summary.accepted == 0 and summary.rejected_by == {"fixed_point": 2}
    rows = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    for r in rows:
        assert r["rejected_by"] == "fixed_point" and r["value"] < MIN_MOTION
        assert r["checks"]["bounded"]["passed"] and r["parameters"]["rho"] != 10
    assert json.loads((tmp_path / "out" / "systems.json").read_text())["systems"] == {}


def test_trajectories_are_a_dataset_of_the_accepted_systems(tmp_path):
    import chaosbench as cb

    summary = sample_fn(["Lorenz"], 1, out=tmp_path, trajectories=True, length=50)
    frame = cb.load(tmp_path / "trajectories", catalog=tmp_path / "systems.json")
    assert summary.accepted == 1 and sorted(frame["system"].unique()) == ["Lorenz_s0_0"] and len(frame) == 50


def test_coupled_candidates_are_valid_catalog_entries(tmp_path):
    summary = sample_fn(["Lorenz", "Rossler"], 2, out=tmp_path, couple=1.0, seed=2)
    rows = [
        json.loads(line)
        for name in ("accepted", "rejected")
        for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()
    ]
    assert {r["kind"] for r in rows} == {"coupling"} and summary.candidates == 2
    systems = json.loads((tmp_path / "systems.json").read_text())["systems"]
    for name, entry in systems.items():
        s = validate_system(name, entry)
        assert s.dimension == 6 and "k_couple" in s.parameters


def test_cli_sample_then_bench_on_sampled_systems(tmp_path):
    out = tmp_path / "sampled"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "sample",
            "--parents",
            "Lorenz",
            "Rossler",
            "--n",
            "6",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "accepted" in r.stdout
    systems = json.loads((out / "systems.json").read_text())["systems"]
    assert len(systems) >= 3
    for entry in systems.values():
        assert entry["provenance"]["parents"] and "persistence" in entry["provenance"]["verdicts"]
        assert "notes" not in entry
    names = list(systems)[:3]
    settings = [a for k, v in SMALL.as_dict().items() for a in ("--set", f"task.{k}={json.dumps(v)}")]
    env = {
        "CHAOSBENCH_DATA": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "NUMBA_NUM_THREADS": "1",
    }
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "--catalog",
            str(out / "systems.json"),
            "bench",
            "--systems",
            *names,
            "--models",
            "esn",
            "--preset",
            "quick",
            "--set",
            "esn.units=60",
            "--set",
            "esn.warmup=20",
            *settings,
            "--workers",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "3 scored, 0 failed" in r.stdout


def test_cli_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    from chaosbench.cli import main

    for args, message in (
        (["--parents", "Lorenzz", "--n", "3"], "unknown system 'Lorenzz'"),
        (["--parents", "Lorenz", "--n", "0"], "--n: must be a positive integer"),
        (["--parents", "MackeyGlass", "--n", "2", "--couple"], "delay equation"),
    ):
        assert main(["sample", *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
