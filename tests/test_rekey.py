"""Cells and tasks keyed the way chaosbench 0.1 keyed them are carried over, never recomputed; a
cell's thread count is part of its identity."""

import dataclasses
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chaosbench.bench import results, runner
from chaosbench.bench.rekey import legacy_content_hash, rekey_cells, rekey_tasks
from chaosbench.bench.tasks import Task, TaskSpec, task_id
from chaosbench.catalog import load_catalog
from chaosbench.cli import main
from chaosbench.errors import ChaosbenchError

from .conftest import SMALL_TASK

SMALL = SMALL_TASK


@pytest.fixture(scope="module")
def scored(lyapunov_catalog, tmp_path_factory, _task_dir):
    """A results directory with two scored cells (today's keys) and the task cache they used."""
    out = tmp_path_factory.mktemp("scored")
    cells = runner.plan(["Lorenz"], ["persistence", "var"], [0], task=SMALL, catalog=lyapunov_catalog)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAOSBENCH_DATA", str(_task_dir))
        runner.run(cells, out, workers=1, progress=False, catalog=lyapunov_catalog)
    return out, cells


def _as_legacy(path, catalog, *, threads=None, entry=None) -> str:
    """Rewrite a cell file as chaosbench 0.1 wrote it: keyed by the whole-entry hash, no thread count
    in its id (optionally recorded as run with ``threads``). Returns the legacy id."""
    table = pq.read_table(path)
    row = table.to_pylist()[0]
    old_hash = legacy_content_hash(entry or catalog["Lorenz"].raw)
    spec = TaskSpec(**json.loads(row["task"]))
    cell = runner.Cell(
        system="Lorenz",
        model=row["model"],
        seed=row["seed"],
        hyperparameters=json.loads(row["hyperparameters"]),
        task=spec,
        system_hash=old_hash,
        catalog_hash=row["catalog_hash"],
        catalog_version=row["catalog_version"],
        eps=row["eps"],
    )
    changes = {"cell_id": cell.id, "system_hash": old_hash, "task_id": task_id("Lorenz", old_hash, spec, row["seed"])}
    if threads is not None:
        changes["threads"] = threads
    for name, value in changes.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pa.array([value], type=table.schema.field(i).type))
    path.unlink()
    pq.write_table(table, path.with_name(f"{cell.id}.parquet"))
    return cell.id


def test_legacy_cells_are_rekeyed_with_their_numbers_and_a_rerun_skips_them(
    scored, lyapunov_catalog, tmp_path, task_cache
):
    src, cells = scored
    out = tmp_path / "legacy"
    shutil.copytree(src, out)
    catalog = load_catalog(lyapunov_catalog)
    before = results.read(src).set_index("cell_id")
    legacy = [_as_legacy(p, catalog) for p in sorted(results.cells_dir(out).glob("*.parquet"))]
    assert not set(legacy) & set(before.index)
    assert not {c.id for c in cells} & results.finished(out)

    done = rekey_cells(out, catalog)
    assert (done.moved, done.current, done.left) == (2, 0, {})
    after = results.read(out).set_index("cell_id")
    assert sorted(after.index) == sorted(before.index) == sorted(c.id for c in cells)
    for cid in before.index:
        assert np.array_equal(after.at[cid, "vpt_windows"], before.at[cid, "vpt_windows"])
        assert after.at[cid, "system_hash"] == before.at[cid, "system_hash"]
        assert after.at[cid, "task_id"] == before.at[cid, "task_id"]
    meta = pq.read_schema(results.cells_dir(out) / f"{cells[0].id}.parquet").metadata
    assert meta[b"chaosbench.rekeyed_from"].decode() in legacy
    assert runner.run(cells, out, progress=False, catalog=lyapunov_catalog).skipped == 2
    assert rekey_cells(out, catalog).current == 2  # a second pass finds nothing to do


def test_a_cell_of_other_dynamics_or_with_two_threads_is_not_passed_off(scored, lyapunov_catalog, tmp_path):
    src, cells = scored
    out = tmp_path / "mixed"
    shutil.copytree(src, out)
    catalog = load_catalog(lyapunov_catalog)
    first, second = sorted(results.cells_dir(out).glob("*.parquet"))
    two_threads = _as_legacy(first, catalog, threads=2)
    table = pq.read_table(second)  # a cell computed for another rho
    i = table.schema.get_field_index("system_hash")
    table = table.set_column(i, table.schema.field(i), pa.array(["0" * 64]))
    pq.write_table(table, second)

    done = rekey_cells(out, catalog)
    assert done.moved == 1 and [v[:40] for v in done.left.values()] == ["computed for another version of 'Lorenz'"]
    moved = results.read(out)
    moved = moved[moved["threads"] == 2].iloc[0]
    assert moved["cell_id"] not in {c.id for c in cells} | {two_threads}  # a cell of its own
    twin = next(c for c in cells if c.model == moved["model"])
    assert dataclasses.replace(twin, threads=2).id == moved["cell_id"]


def test_tasks_are_copied_to_their_new_key(lyapunov_catalog, tmp_path, _task_dir):
    catalog = load_catalog(lyapunov_catalog)
    system = catalog["Lorenz"]
    current = next(_task_dir.glob("tasks/Lorenz-*.npz"))
    task = Task.load(current)
    old_hash = legacy_content_hash(system.raw)
    legacy = tmp_path / f"Lorenz-{task_id('Lorenz', old_hash, task.spec, task.seed)}.npz"
    dataclasses.replace(task, system_hash=old_hash).save(legacy)

    done = rekey_tasks(tmp_path, catalog)
    assert (done.moved, done.left) == (1, {})
    target = tmp_path / f"Lorenz-{task_id('Lorenz', system.content_hash, task.spec, task.seed)}.npz"
    copied = Task.load(target)
    assert copied.system_hash == system.content_hash and np.array_equal(copied.long_truth, task.long_truth)
    assert legacy.exists()  # the old file stays for processes of the older version


def test_a_task_that_could_not_be_built_stays_remembered(lyapunov_catalog, tmp_path):
    from chaosbench.bench.tasks import PRESETS

    catalog = load_catalog(lyapunov_catalog)
    system, spec = catalog["Lorenz"], PRESETS["standard"].task
    old_hash = legacy_content_hash(system.raw)
    (tmp_path / f"Lorenz-{task_id('Lorenz', old_hash, spec, 1)}.failed").write_text("too many steps\n")
    (tmp_path / "Lorenz-0123456789abcdef.failed").write_text("of no preset\n")
    done = rekey_tasks(tmp_path, catalog)
    assert done.moved == 1 and list(done.left) == ["Lorenz-0123456789abcdef.failed"]
    assert (
        tmp_path / f"Lorenz-{task_id('Lorenz', system.content_hash, spec, 1)}.failed"
    ).read_text() == "too many steps\n"


def test_threads_are_part_of_a_cell_and_checked(lyapunov_catalog):
    (one,) = runner.plan(["Lorenz"], ["persistence"], [0], task=SMALL, catalog=lyapunov_catalog)
    (two,) = runner.plan(["Lorenz"], ["persistence"], [0], task=SMALL, catalog=lyapunov_catalog, threads=2)
    assert one.threads == 1 and two.threads == 2 and one.id != two.id
    assert dataclasses.replace(two, threads=1).id == one.id  # one thread keeps the ids of before
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ChaosbenchError, match="threads must be a positive integer"):
            runner.plan(["Lorenz"], ["persistence"], [0], task=SMALL, catalog=lyapunov_catalog, threads=bad)


def test_cli_rekey_refuses_a_directory_without_cells(tmp_path, capsys):
    assert main(["rekey", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no cells/" in err and str(tmp_path) in err
    assert main(["rekey"]) == 2


def test_cells_of_an_edited_catalog_are_carried_over_when_their_numbers_are_the_same(
    scored, lyapunov_catalog, tmp_path
):
    """Results computed with an earlier catalog whose entry differs in prose only (e.g. re-annotated
    invariants) are rekeyed given that catalog; one that differs in a parameter never is."""
    from chaosbench.catalog import read_catalog

    src, cells = scored
    catalog = load_catalog(lyapunov_catalog)
    reworded = json.loads(json.dumps(catalog["Lorenz"].raw)) | {"description": "An earlier wording."}
    other = json.loads(json.dumps(reworded))
    other["parameters"]["rho"] = 99.0
    for entry, moved in ((reworded, 2), (other, 0)):
        out = tmp_path / f"moved{moved}"
        shutil.copytree(src, out)
        for p in sorted(results.cells_dir(out).glob("*.parquet")):
            _as_legacy(p, catalog, entry=entry)
        previous = tmp_path / f"previous{moved}.json"
        previous.write_text(json.dumps({"version": "0.1", "systems": {"Lorenz": entry}}))
        assert rekey_cells(out, catalog).moved == 0  # today's entry alone cannot vouch for them
        done = rekey_cells(out, catalog, read_catalog(previous))
        assert done.moved == moved and len(done.left) == 2 - moved
