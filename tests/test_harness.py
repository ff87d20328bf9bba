"""The harness: complete runs, resume after a kill, failures recorded with reasons, Dask = local."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from chaosbench.bench import results, runner
from chaosbench.catalog import load_catalog
from chaosbench.errors import ChaosbenchError
from chaosbench.bench.tasks import TaskSpec

from .conftest import SMALL_TASK

ROOT = Path(__file__).resolve().parent.parent
SMALL = SMALL_TASK
SCORES = ["vpt_lyap", "vpt_smape_lyap", "d_stsp", "d_h", "mase", "nrmse_at_1", "smape_at_2"]


def cells(catalog, models=("persistence", "climatology"), seeds=(0, 1), **kw):
    return runner.plan(["Lorenz"], list(models), list(seeds), task=SMALL, catalog=catalog, **kw)


@pytest.fixture(scope="module")
def local_run(lyapunov_catalog, tmp_path_factory, _task_dir):
    out = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAOSBENCH_DATA", str(_task_dir))
        summary = runner.run(cells(lyapunov_catalog), out, workers=2, progress=False, catalog=lyapunov_catalog)
    return out, summary


def test_two_models_complete_and_record_provenance(local_run):
    out, summary = local_run
    assert (summary.planned, summary.ok, summary.failed) == (4, 4, 0)
    frame = results.read(out)
    assert len(frame) == 4 and frame["cell_id"].is_unique
    assert set(frame["model"]) == {"persistence", "climatology"} and set(frame["seed"]) == {0, 1}
    assert (frame["status"] == "ok").all() and frame["vpt_lyap"].notna().all()
    row = frame.iloc[0]
    assert row["chaosbench_version"] and len(row["catalog_hash"]) == 64 and row["max_lyapunov"] == 0.9056
    assert '"n_train": 1000' in row["task"] and row["horizon_lyap"] >= 3.0
    assert all(json.loads(h)["seed"] == seed for h, seed in zip(frame["hyperparameters"], frame["seed"]))
    per = frame.set_index(["model", "seed"])["vpt_lyap"]
    # persistence is right for a moment; the mean never
    assert (per["persistence"].sort_index().values > per["climatology"].sort_index().values).all()


def test_rerun_skips_finished_cells(local_run, lyapunov_catalog, task_cache):
    out, _ = local_run
    before = sorted(p.name for p in results.cells_dir(out).iterdir())
    summary = runner.run(cells(lyapunov_catalog), out, progress=False, catalog=lyapunov_catalog)
    assert (summary.skipped, summary.ok, summary.failed) == (4, 0, 0)
    assert sorted(p.name for p in results.cells_dir(out).iterdir()) == before


def test_pending_counts_what_a_rerun_would_do_and_times_it_from_the_directory(local_run, lyapunov_catalog):
    out, _ = local_run  # persistence and climatology, seeds 0 and 1, all scored
    before = sorted(p.name for p in results.cells_dir(out).iterdir())
    plan = cells(lyapunov_catalog, models=("persistence", "var"), seeds=(0, 1, 2))
    rows = {r.model: r for r in runner.pending(plan, out)}
    p, v = rows["persistence"], rows["var"]
    assert (p.planned, p.scored, p.failed, p.to_run, p.basis) == (3, 2, 0, 1, "this plan")
    frame = results.read(out).query("model == 'persistence'")
    work = frame["fit_seconds"] + frame["forecast_seconds"] + frame["long_run_seconds"].fillna(0.0)
    assert p.seconds_per_cell == pytest.approx(float(np.median(work)))
    assert (v.planned, v.scored, v.to_run, v.seconds_per_cell, v.basis) == (3, 0, 3, None, "")
    # another task is another cell: not yet run, timed from the model's cells outside this plan
    other = runner.plan(
        ["Lorenz"], ["persistence"], [0], task=SMALL.replace(n_windows=SMALL.n_windows + 1), catalog=lyapunov_catalog
    )
    (o,) = runner.pending(other, out)
    assert (o.scored, o.to_run, o.basis, o.seconds_per_cell) == (0, 1, "other cells of the model", p.seconds_per_cell)
    assert sorted(p.name for p in results.cells_dir(out).iterdir()) == before  # nothing ran, nothing written


def test_failures_are_recorded_with_their_reason(lyapunov_catalog, tmp_path, task_cache):
    broken = (
        "tests.models_for_tests:BrokenModel",
        "tests.models_for_tests:CrashModel",
        "tests.models_for_tests:SleepyModel",
    )
    todo = cells(
        lyapunov_catalog,
        models=broken + ("tests.models_for_tests:NaNModel", "persistence"),
        seeds=(0,),
        overrides={"tests.models_for_tests:SleepyModel": {"seconds": 30}},
        time_budget=4,
    )
    summary = runner.run(todo, tmp_path, workers=2, progress=False, catalog=lyapunov_catalog)
    assert (summary.ok, summary.failed) == (2, 3)
    frame = results.read(tmp_path).set_index("model")
    reasons = frame["reason"]
    assert "NaN or infinite from its first step (window 0)" in reasons["tests.models_for_tests:BrokenModel"]
    assert reasons["tests.models_for_tests:CrashModel"] == "fit raised RuntimeError: the optimiser exploded"
    assert "RuntimeError" in frame.loc["tests.models_for_tests:CrashModel", "traceback"]
    assert "exceeded the time budget of 4 s" in reasons["tests.models_for_tests:SleepyModel"]
    assert (frame.loc[list(broken), "status"] == "failed").all() and (frame.loc[list(broken), "vpt_lyap"] == 0).all()
    # a forecast that diverges after a finite prefix is scored up to there, not failed (the referee's
    # finding: late blow-ups zeroed whole cells); persistence until step 10, so the two agree
    nan = frame.loc["tests.models_for_tests:NaNModel"]
    assert nan["status"] == "ok" and nan["diverged"] == 3 and np.isinf(nan["d_stsp"]) and nan["d_h"] == 1.0
    vpt_persistence = np.array(frame.loc["persistence", "vpt_windows"])
    ten_steps = 10 * nan["dt"] * nan["max_lyapunov"]
    assert np.allclose(nan["vpt_windows"], np.minimum(vpt_persistence, ten_steps))
    # failed cells are finished: a rerun skips them, unless asked to retry
    assert runner.run(todo, tmp_path, progress=False, catalog=lyapunov_catalog).skipped == 5
    assert len(results.finished(tmp_path, include_failed=False)) == 2  # the two scored ones


def test_a_cell_is_stamped_when_its_work_ends_not_when_it_starts(lyapunov_catalog, tmp_path, task_cache):
    sleepy = "tests.models_for_tests:SleepyModel"
    plan = runner.plan(
        ["Lorenz"], [sleepy], [0], task=SMALL, catalog=lyapunov_catalog, overrides={sleepy: {"seconds": 3}}
    )
    runner.build_tasks(plan, load_catalog(lyapunov_catalog))  # the task is not part of the cell's work
    started = time.time()
    runner.run(plan, tmp_path, workers=1, progress=False, catalog=lyapunov_catalog)
    (stamp,) = results.read(tmp_path)["finished_at"]
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp() >= int(started) + 3  # after the 3 s fit


def test_cells_run_system_by_system_in_a_fixed_scrambled_order(tmp_path, monkeypatch):
    """An unfinished catalog run has scored a spread of systems (not Aizawa to C), the same for every model."""
    catalog = load_catalog()
    systems = sorted(n for n, s in catalog.items() if s.kind == "flow" and (s.max_lyapunov or 0) > 0)[:24]
    planned = runner.plan(systems, ["persistence", "climatology"], [0, 1], task=SMALL)
    ran: list = []

    def no_tasks(todo, *args, **kwargs):
        return {(c.system, c.seed, c.task): "t.npz" for c in todo}

    monkeypatch.setattr(runner, "build_tasks", no_tasks)
    monkeypatch.setattr(runner, "_run_local", lambda runnable, workers, record, groups=(): ran.extend(runnable))
    runner.run(planned, tmp_path, workers=1, progress=False)
    order = [c.system for c, _ in ran]
    blocks = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert sorted(blocks) == systems  # each system's cells together, every system once
    assert [c.id for c, _ in ran if c.system == blocks[0]] == [c.id for c in planned if c.system == blocks[0]]
    first_half = set(blocks[: len(blocks) // 2])
    assert first_half & set(systems[:12]) and first_half & set(systems[12:])  # a spread, not the first letters
    # the order depends on the names alone: another model, seed or input order runs the systems alike
    other = runner.plan(systems[::-1], ["var"], [2], task=SMALL)
    assert [c.system for c in runner.run_order(other)] == blocks


def test_killed_run_resumes_with_nothing_lost_or_duplicated(lyapunov_catalog, tmp_path, task_cache):
    out = tmp_path / "res"
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "--catalog",
        lyapunov_catalog,
        "bench",
        "--systems",
        "Lorenz",
        "--models",
        "tests.models_for_tests:SleepyModel",
        "persistence",
        "--seeds",
        "0",
        "1",
        "2",
        "--set",
        "tests.models_for_tests:SleepyModel.seconds=1.5",
        "--workers",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ] + [a for k, v in SMALL.as_dict().items() for a in ("--set", f"task.{k}={json.dumps(v)}")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(results.cells_dir(out).glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, children included, with no chance to clean up
    proc.wait()
    done_before = len(list(results.cells_dir(out).glob("*.parquet")))
    assert 2 <= done_before < 6
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"{6 - done_before} scored, 0 failed, {done_before} already done" in again.stdout
    frame = results.read(out)
    assert len(frame) == 6 and frame["cell_id"].is_unique and (frame["status"] == "ok").all()
    assert not [p for p in results.cells_dir(out).iterdir() if not p.name.endswith(".parquet")]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask extra not installed")
def test_dask_local_cluster_gives_the_local_scores(local_run, lyapunov_catalog, tmp_path, task_cache):
    out, _ = local_run
    summary = runner.run(cells(lyapunov_catalog), tmp_path, dask_workers=2, progress=False, catalog=lyapunov_catalog)
    assert (summary.ok, summary.failed) == (4, 0)
    local = results.read(out).set_index("cell_id").sort_index()
    dask = results.read(tmp_path).set_index("cell_id").sort_index()
    assert list(local.index) == list(dask.index)
    for col in SCORES:
        assert np.array_equal(local[col].to_numpy(), dask[col].to_numpy(), equal_nan=True), col


def test_plan_refuses_mistakes_before_running(lyapunov_catalog, user_catalog):
    from tests.conftest import entry

    with pytest.raises(ChaosbenchError, match="unknown model"):
        cells(lyapunov_catalog, models=("persistense",))
    with pytest.raises(ChaosbenchError, match="no hyperparameter"):
        cells(lyapunov_catalog, models=("var",), overrides={"var": {"lags": 3}})
    with pytest.raises(ChaosbenchError, match="system 'Oscillator'.*chaosbench annotate"):
        runner.plan(["Oscillator"], ["persistence"], [0], catalog=user_catalog(Oscillator=entry()))
    # a bad value is refused when the run is planned, not in every cell
    with pytest.raises(ChaosbenchError, match=r"esn: leak_rate must be a number in \(0, 1\]"):
        cells(lyapunov_catalog, models=("esn",), overrides={"esn": {"leak_rate": 2.0}})
    with pytest.raises(ChaosbenchError, match="ngrc: degree must be 1, 2 or 3"):
        cells(lyapunov_catalog, models=("ngrc",), overrides={"ngrc": {"degree": 5}})
    assert len(cells(lyapunov_catalog, models=("ngrc", "esn"))) == 4  # valid settings plan without data


def test_cli_bench_and_report(lyapunov_catalog, tmp_path, task_cache):
    settings = [a for k, v in SMALL.as_dict().items() for a in ("--set", f"task.{k}={json.dumps(v)}")]
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "--catalog",
            lyapunov_catalog,
            "bench",
            "--systems",
            "Lorenz",
            "--models",
            "persistence",
            "var",
            "--set",
            "var.maxlags=5",
            "--out",
            str(tmp_path),
            "--no-progress",
            *settings,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "2 scored, 0 failed" in r.stdout
    assert '"maxlags": 5' in results.read(tmp_path).set_index("model").loc["var", "hyperparameters"]
    # --dry-run: what a rerun with one more model would do, and nothing run or written
    before = sorted(p.name for p in results.cells_dir(tmp_path).iterdir())
    base = [sys.executable, str(ROOT / "cli.py"), "--catalog", lyapunov_catalog, "bench", "--systems", "Lorenz"]
    dry = [*base, "--models", "persistence", "climatology", "--out", str(tmp_path), "--dry-run", *settings]
    r = subprocess.run(dry, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.split()}
    assert rows["persistence"][1:5] == ["1", "1", "0", "0"] and rows["persistence"][-1] == "0"
    assert rows["climatology"][1:5] == ["1", "0", "0", "1"] and rows["climatology"][-2:] == ["-", "?"]
    assert "not counting climatology" in r.stdout
    assert sorted(p.name for p in results.cells_dir(tmp_path).iterdir()) == before
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 | var |" in board and "Lorenz" in board
    for png in ("vpt_vs_lyapunov.png", "error_vs_horizon.png", "attractors.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    from tests.conftest import entry, write_catalog

    no_exponent = write_catalog(tmp_path / "osc.json", {"Oscillator": entry()})
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "--catalog",
            no_exponent,
            "bench",
            "--systems",
            "Oscillator",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "system 'Oscillator'" in r.stderr and "chaosbench annotate" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_settings_from_the_command_line_and_a_config_file(tmp_path):
    from chaosbench.cli.bench import parse_settings, read_config

    hyper, task = parse_settings(
        ["var.maxlags=5", "var.ic=null", "task.n_train=2000", "pkg.mod:Model.rate=0.5"], ["var", "pkg.mod:Model"]
    )
    assert hyper == {"var": {"maxlags": 5, "ic": None}, "pkg.mod:Model": {"rate": 0.5}} and task == {"n_train": 2000}
    with pytest.raises(ChaosbenchError, match="neither 'task' nor a model"):
        parse_settings(["nbeats.n_epochs=3"], ["var"])
    with pytest.raises(ChaosbenchError, match="expected MODEL.NAME=VALUE"):
        parse_settings(["maxlags=3"], ["var"])
    (tmp_path / "run.json").write_text(
        json.dumps({"systems": ["Lorenz"], "hyperparameters": {"var": {"maxlags": 3}}, "task": {"n_windows": 4}})
    )
    assert read_config(str(tmp_path / "run.json"))["task"] == {"n_windows": 4}
    (tmp_path / "bad.json").write_text(json.dumps({"sytems": ["Lorenz"]}))
    with pytest.raises(ChaosbenchError, match="keys among"):
        read_config(str(tmp_path / "bad.json"))


def test_a_task_that_cannot_be_built_is_remembered_not_rebuilt_in_every_run(tmp_path, monkeypatch, lyapunov_catalog):
    """Building a task can take minutes to fail (a long truth needing more steps than allowed); the
    reason is cached beside the task files, and only retry_failed tries again."""
    from chaosbench.bench import runner
    from chaosbench.catalog import load_catalog
    from chaosbench.errors import ChaosbenchError

    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "data"))
    catalog = load_catalog(lyapunov_catalog)
    cells = runner.plan(["Lorenz"], ["persistence"], [0], task=TaskSpec(n_train=500, n_validation=100), catalog=catalog)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise ChaosbenchError("system 'Lorenz': the long truth needs more than 50,000,000 steps")

    monkeypatch.setattr(runner, "make_task", failing)
    key = (cells[0].system, cells[0].seed, cells[0].task)
    for _ in range(2):
        got = runner.build_tasks(cells, catalog)
        assert got[key] == "task: system 'Lorenz': the long truth needs more than 50,000,000 steps"
    assert len(calls) == 1
    runner.build_tasks(cells, catalog, retry_failed=True)
    assert len(calls) == 2


def test_tasks_built_by_several_processes_are_the_files_built_one_by_one(tmp_path, monkeypatch, lyapunov_catalog):
    """With workers > 1 the missing tasks are built in spawned processes: the same files, by name and
    by every array, as one process building them in turn; a task that fails in a worker process is
    remembered as one that fails in the parent."""
    from chaosbench.bench import runner
    from chaosbench.catalog import load_catalog
    from tests.conftest import write_catalog

    catalog = load_catalog(lyapunov_catalog)
    cells = runner.plan(["Lorenz"], ["persistence"], [0, 1, 2], task=SMALL_TASK, catalog=catalog)
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "one"))
    serial = runner.build_tasks(cells, catalog, workers=1)
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "two"))
    parallel = runner.build_tasks(cells, catalog, workers=2)
    assert list(parallel) == list(serial) == [(c.system, c.seed, c.task) for c in cells]
    for key in serial:
        assert Path(parallel[key]).name == Path(serial[key]).name and str(tmp_path / "two") in parallel[key]
        with np.load(serial[key]) as a, np.load(parallel[key]) as b:
            assert sorted(a.files) == sorted(b.files)
            for name in a.files:
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{key[1]}: {name}")
    seed_0, seed_1 = (serial[c.system, c.seed, c.task] for c in cells[:2])
    with np.load(seed_0) as a, np.load(seed_1) as b:
        assert not np.array_equal(a["train"], b["train"])  # the seeds' tasks differ: the comparison can fail

    lorenz = json.loads(Path(lyapunov_catalog).read_text())["systems"]["Lorenz"]
    bare = load_catalog(write_catalog(tmp_path / "bare.json", {"Lorenz": {**lorenz, "invariants": {}}}))
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "three"))
    got = runner.build_tasks(cells, bare, workers=2)
    assert all(v.startswith("task: system 'Lorenz' has no Lyapunov exponent") for v in got.values())
    assert len(list((tmp_path / "three").rglob("*.failed"))) == 3 and not list((tmp_path / "three").rglob("*.npz"))


def test_a_task_failure_in_the_results_directory_is_not_rebuilt_on_a_fresh_machine(
    tmp_path, monkeypatch, lyapunov_catalog
):
    """Another model's cell in --out that failed building the same task (same system hash, seed and
    spec) stands in for the empty task cache of a new machine; a cell scored on that task since (a
    failure left by older code) does not, and neither does a different seed or retry_failed."""
    from chaosbench.bench import results, runner
    from chaosbench.catalog import load_catalog
    from chaosbench.errors import ChaosbenchError

    catalog = load_catalog(lyapunov_catalog)
    spec = TaskSpec(n_train=500, n_validation=100)
    out = tmp_path / "results"
    calls = []

    def failing(system, *args, seed, **kwargs):
        calls.append(seed)
        raise ChaosbenchError(f"system '{system.name}': the long truth needs more than 50,000,000 steps")

    monkeypatch.setattr(runner, "make_task", failing)
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "machine-1"))
    runner.run(
        runner.plan(["Lorenz"], ["persistence"], [0, 1], task=spec, catalog=catalog),
        out,
        workers=1,
        progress=False,
        catalog=catalog,
    )
    assert sorted(calls) == [0, 1]

    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "machine-2"))  # an empty task cache
    summary = runner.run(
        runner.plan(["Lorenz"], ["climatology"], [0, 1, 2], task=spec, catalog=catalog),
        out,
        workers=1,
        progress=False,
        catalog=catalog,
    )
    assert sorted(calls) == [0, 1, 2]  # only seed 2, which no cell had tried, is built
    assert summary.failed == 3
    table = results.read(out, columns=["model", "seed", "reason"])
    reasons = set(table.loc[table["model"] == "climatology", "reason"])
    assert reasons == {"task: system 'Lorenz': the long truth needs more than 50,000,000 steps"}

    # a scored cell on seed 0's task says that task builds now: its old failures do not count
    rows = table.loc[(table["model"] == "persistence") & (table["seed"] == 0)]
    assert len(rows) == 1
    scored = results.read(out).loc[lambda t: (t["model"] == "persistence") & (t["seed"] == 0)].iloc[0].to_dict()
    results.write_record(out, {**scored, "cell_id": "0" * 16, "model": "var", "status": "ok", "reason": ""})
    assert set(results.task_failures(out)) == {
        ("Lorenz", s, json.dumps(spec.as_dict(), sort_keys=True), catalog["Lorenz"].content_hash) for s in (1, 2)
    }
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "machine-3"))
    cells = runner.plan(["Lorenz"], ["persistence"], [0, 1], task=spec, catalog=catalog)
    runner.build_tasks(cells, catalog, out=out)
    assert sorted(calls) == [0, 0, 1, 2]
    runner.build_tasks(cells, catalog, out=out, retry_failed=True)
    assert sorted(calls) == [0, 0, 0, 1, 1, 2]
