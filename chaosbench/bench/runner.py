"""Running a benchmark: plan the cells (system x model x seed), build the tasks, execute the cells
locally or on Dask, and append each finished cell to the results table.

Re-running the same command skips the cells already in the table (failed ones too, unless
``retry_failed``): an interrupted run picks up where it stopped, losing and duplicating nothing.
Systems run in a fixed scrambled order (:func:`run_order`), so the finished part of an unfinished
run is a spread-out sample of the catalog rather than its first letters.

Executors
---------
- local (default): ``workers`` threads, each waiting on one cell process at a time, each process
  with its cell's ``threads`` (default 1: a cell's numbers do not depend on the cores a machine has);
- Dask distributed: ``dask_workers=N`` starts a LocalCluster of N single-threaded workers;
  ``scheduler="tcp://HOST:PORT"`` uses a running cluster (e.g. one started by dask-jobqueue on
  Slurm, see the README). Tasks travel to the workers as bytes, so they need no shared disk.

Locally, cells of the small AL-RNN and PLRNN that share a configuration are trained together in one
process (:func:`fit_groups`, :mod:`chaosbench.models.batched`): the same models, for a fraction of
the CPU time; each cell is still scored and written on its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..catalog import Catalog, load_catalog
from ..distributed import dask_client, default_workers
from ..errors import ChaosbenchError
from ..files import atomic_path
from ..models import make_model
from . import results
from .cell import Cell, execute, execute_group, failure_record, kill_running, remove_stale_folders
from .tasks import TaskSpec, check_spec, make_task, require_lyapunov, task_id


def plan(
    systems,
    models,
    seeds,
    *,
    task: TaskSpec | None = None,
    overrides: dict | None = None,
    time_budget: float = 1800.0,
    eps: float = 0.3,
    threads: int = 1,
    catalog: Catalog | str | None = None,
) -> list[Cell]:
    """Every cell of ``systems x models x seeds``, with each model's defaults updated by ``overrides``
    (``{model: {name: value}}``); a cell's seed seeds both its task's data and its model. Unknown systems,
    models, hyperparameters or missing Lyapunov exponents are refused here, before anything runs.
    ``threads`` per cell is part of a cell's identity when it is not 1 (other sums, other numbers)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ChaosbenchError(f"threads must be a positive integer, got {threads!r}")
    catalog = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    task = task or TaskSpec()
    overrides = overrides or {}
    stray = set(overrides) - set(models)
    if stray:
        raise ChaosbenchError(f"settings given for model(s) {sorted(stray)} that are not in this run")
    params = {}
    for m in models:
        model = make_model(m, **overrides.get(m, {}))
        model.check()
        params[m] = model.get_params()
    for s in systems:
        require_lyapunov(catalog[s])
        check_spec(catalog[s], task)
    # the model is seeded by the cell's seed, as the task's data are
    return [
        Cell(
            system=catalog[s].name,
            model=m,
            seed=int(seed),
            hyperparameters={**params[m], "seed": int(seed)},
            task=task,
            system_hash=catalog[s].content_hash,
            catalog_hash=catalog.hash,
            catalog_version=catalog.version,
            time_budget=float(time_budget),
            eps=float(eps),
            threads=threads,
        )
        for s in systems
        for seed in seeds
        for m in models
    ]


@dataclass
class RunSummary:
    """What a run did: cells planned, skipped as already finished, scored, failed; wall time."""

    planned: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


#: a cell's timed model work: fit, test forecasts, long free run (wall seconds)
WORK_COLUMNS = ("fit_seconds", "forecast_seconds", "long_run_seconds")


@dataclass
class Pending:
    """One model's share of a planned run in a results directory (:func:`pending`)."""

    model: str
    planned: int
    scored: int
    failed: int
    to_run: int
    #: median wall seconds of a scored cell's model work (fit, test forecasts, long free run) in the
    #: directory: this plan's cells, else any cell of the model; None if it has none
    seconds_per_cell: float | None
    #: where that median comes from: "this plan", "other cells of the model" or ""
    basis: str


def pending(cells: list[Cell], out, *, retry_failed: bool = False) -> list[Pending]:
    """Per model (in the plan's order): how many of ``cells`` the results directory ``out`` already
    holds, scored or failed, how many a run would still execute (failed ones too with
    ``retry_failed``), and what a cell of the model has cost there. Runs nothing."""
    root = Path(out)
    columns = ["cell_id", "model", "status", *WORK_COLUMNS]
    frame = results.read(root, columns=columns) if results.cells_dir(root).is_dir() else None
    status = dict(zip(frame["cell_id"], frame["status"])) if frame is not None and len(frame) else {}
    by_model: dict[str, list[Cell]] = {}
    for c in cells:
        by_model.setdefault(c.model, []).append(c)
    rows = []
    for model, group in by_model.items():
        ids = {c.id for c in group}
        scored = sum(status.get(i) == "ok" for i in ids)
        failed = sum(i in status and status[i] != "ok" for i in ids)
        seconds, basis = None, ""
        if frame is not None and len(frame):
            ok = frame[(frame["model"] == model) & (frame["status"] == "ok")]
            mine = ok[ok["cell_id"].isin(ids)]
            use, basis = (mine, "this plan") if len(mine) else (ok, "other cells of the model" if len(ok) else "")
            if len(use):
                work = sum(use[c].fillna(0.0) for c in WORK_COLUMNS if c in use)
                seconds = float(np.median(work))
        rows.append(
            Pending(
                model=model,
                planned=len(group),
                scored=scored,
                failed=failed,
                to_run=len(group) - scored - (0 if retry_failed else failed),
                seconds_per_cell=seconds,
                basis=basis,
            )
        )
    return rows


def task_cache_dir() -> Path:
    from ..store import data_root

    d = data_root() / "tasks"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_tasks(
    cells: list[Cell],
    catalog: Catalog,
    *,
    progress: bool = False,
    retry_failed: bool = False,
    out=None,
    workers: int = 1,
) -> dict:
    """Each distinct (system, seed, spec) of ``cells`` -> path of its task file, or the reason it failed.

    Task files are cached under the data root by a hash of what determines them, so re-runs and
    other models reuse them. So is a failure (a ``.failed`` file with the reason: building a task can
    take minutes to fail, e.g. a long truth that needs more steps than allowed), and a failure that
    the results directory ``out`` records for another model's cell of the same system (same system
    hash), seed and spec counts too: a fresh machine does not spend those minutes again.
    ``retry_failed`` tries again. The tasks not in the cache are built by ``workers`` processes at
    once (each task on its own, so the files are the same as one by one)."""
    keys: dict[tuple[str, int, TaskSpec], None] = {}  # an ordered set
    for c in cells:
        keys.setdefault((c.system, c.seed, c.task), None)
    found: dict = {}
    missing = []
    recorded = None  # failures of tasks recorded in ``out``, read once, only when a task must be built
    for system, seed, spec in keys:
        path = task_cache_dir() / f"{system}-{task_id(system, catalog[system].content_hash, spec, seed)}.npz"
        failed = path.with_suffix(".failed")  # a task that cannot be built is not retried in every run
        if failed.exists() and not retry_failed:
            found[(system, seed, spec)] = f"task: {failed.read_text().strip()}"
        elif path.exists():
            found[(system, seed, spec)] = str(path)
        else:
            if out is not None and not retry_failed:
                recorded = results.task_failures(out) if recorded is None else recorded
                reason = recorded.get((system, seed, spec.as_json(), catalog[system].content_hash))
                if reason is not None:
                    with atomic_path(failed) as tmp:
                        Path(tmp).write_text(f"{reason}\n")
                    found[(system, seed, spec)] = f"task: {reason}"
                    continue
            missing.append((system, seed, spec, str(path)))
    for job, error in _build_missing(missing, catalog, workers, progress):
        system, seed, spec, path = job
        found[(system, seed, spec)] = path if error is None else f"task: {error}"
    return {key: found[key] for key in keys}


def _build_missing(jobs: list, catalog: Catalog, workers: int, progress: bool):
    """Yield ``(job, error or None)`` for each ``(system, seed, spec, path)`` as it is built, by
    ``workers`` spawned processes when there are several (terminated if the caller is interrupted)."""
    from tqdm.auto import tqdm

    lines = progress and not _terminal()
    bar = tqdm(total=len(jobs), desc="tasks", unit="task", disable=not progress or lines)
    try:
        if workers > 1 and len(jobs) > 1:
            import multiprocessing

            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked numba or torch state
            with context.Pool(min(workers, len(jobs)), initializer=_set_catalog, initargs=(catalog,)) as pool:
                built = pool.imap_unordered(_build_job, jobs)
                for i, (job, error) in enumerate(built):
                    _report_task(bar, lines, i, len(jobs), job)
                    yield job, error
        else:
            for i, job in enumerate(jobs):
                error = build_task_file(*job, catalog=catalog)
                _report_task(bar, lines, i, len(jobs), job)
                yield job, error
    finally:
        bar.close()


def _report_task(bar, lines: bool, i: int, total: int, job) -> None:
    if lines:
        print(f"task {i + 1}/{total}: {job[0]} / seed {job[1]}", file=sys.stderr, flush=True)
    bar.update()


def build_task_file(system: str, seed: int, spec: TaskSpec, path: str, *, catalog: Catalog) -> str | None:
    """Build one task and save it to ``path`` (atomically); on failure write the reason beside it
    (``.failed``) and return it."""
    failed = Path(path).with_suffix(".failed")
    try:
        make_task(catalog[system], spec, seed=seed, catalog=catalog).save(path)
    except ChaosbenchError as exc:  # e.g. the integrator failed at this resolution
        with atomic_path(failed) as tmp:
            Path(tmp).write_text(f"{exc}\n")
        return str(exc)
    failed.unlink(missing_ok=True)
    return None


_WORKER_CATALOG: Catalog | None = None  # the catalog of a task-building process (_set_catalog)


def _set_catalog(catalog: Catalog) -> None:
    global _WORKER_CATALOG
    _WORKER_CATALOG = catalog


def _build_job(job: tuple) -> tuple:
    assert _WORKER_CATALOG is not None, "a task-building process starts with _set_catalog"
    return job, build_task_file(*job, catalog=_WORKER_CATALOG)


def _terminal() -> bool:
    """Whether progress can redraw a bar in place; in a log a bar is a flood of carriage returns."""
    return sys.stderr.isatty()


class Progress:
    """Finished cells as a tqdm bar on a terminal, as one plain line per cell elsewhere (logs, CI)."""

    def __init__(self, total: int, enabled: bool = True):
        from tqdm.auto import tqdm

        self.total, self.done = total, 0
        self.lines = enabled and not _terminal()
        self.bar = tqdm(total=total, desc="cells", unit="cell", disable=not enabled or self.lines)

    def update(self, rec: dict) -> None:
        self.done += 1
        ok = rec["status"] == "ok"
        what = f"VPT {rec['vpt_lyap']:.2f}" if ok else "failed: " + " ".join(str(rec["reason"]).split())
        if self.lines:
            print(
                f"cell {self.done}/{self.total}: {rec['system']} / {rec['model']} / seed {rec['seed']}: {what}",
                file=sys.stderr,
                flush=True,
            )
        else:
            self.bar.set_postfix_str(f"{rec['system']}/{rec['model']}: " + (what if ok else "failed"))
            self.bar.update()

    def close(self) -> None:
        self.bar.close()


def run(
    cells: list[Cell],
    out,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    catalog: Catalog | str | None = None,
) -> RunSummary:
    """Run the cells not yet in the results table ``out``; write each as it finishes.

    ``progress``: a bar on a terminal, one line per finished cell on stderr otherwise. On
    KeyboardInterrupt the running cell processes are killed and nothing is written for them;
    the cells already written stay, and the next run does the rest.
    """
    catalog = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    t0 = time.perf_counter()
    results.prepare(out)
    remove_stale_folders()
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ChaosbenchError("the run lists the same cell twice (a repeated system, model or seed)")
    done = results.finished(out, include_failed=not retry_failed)
    todo = run_order([c for c in cells if c.id not in done])
    summary = RunSummary(planned=len(cells), skipped=len(cells) - len(todo))
    if not todo:
        summary.seconds = time.perf_counter() - t0
        return summary
    use_dask = bool(scheduler or dask_workers)
    workers = workers or (dask_workers if dask_workers else default_workers())
    task_files = build_tasks(
        todo, catalog, progress=progress, retry_failed=retry_failed, out=out, workers=min(workers, default_workers())
    )
    bar = Progress(len(todo), enabled=progress)

    def record(rec: dict) -> None:
        results.write_record(out, rec)
        if rec["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{rec['system']} / {rec['model']} / seed {rec['seed']}: {rec['reason']}")
        bar.update(rec)

    runnable = []
    for c in todo:
        where = task_files[(c.system, c.seed, c.task)]
        if where.startswith("task: "):
            record(failure_record(c, where))
        else:
            runnable.append((c, where))
    try:
        if use_dask:
            with dask_client(scheduler, dask_workers) as client:
                _run_dask(client, runnable, record)
        else:
            groups, runnable = fit_groups(runnable, workers)
            _run_local(runnable, workers, record, groups)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def run_order(cells: list[Cell]) -> list[Cell]:
    """``cells`` system by system in an order fixed by a hash of each system's name (the same in every
    run, for every model and seed), keeping a system's cells in their planned order.

    An alphabetical run that stops early has scored the systems from Aizawa to C; this one has scored
    a scattered subset, and every model of the run has scored the same one, so the part of a catalog
    run that finished is a fair sample to compare models on."""

    def key(cell: Cell) -> bytes:
        return hashlib.sha256(cell.system.encode()).digest()

    return sorted(cells, key=key)  # stable: a system's cells keep their order


#: the most cells whose models one process trains together (chaosbench.models.batched)
MAX_GROUP = 64


def fit_groups(runnable: list, workers: int, *, max_group: int = MAX_GROUP) -> tuple[list, list]:
    """Split ``(cell, task file)`` pairs into groups whose models train together in one process
    (:func:`chaosbench.bench.cell.can_share_fit`: one model configuration, seeds aside, on tasks of one
    shape) and the rest. A group is cut into at most ``max_group`` cells, and into as many pieces as
    there are ``workers`` while each keeps 8 cells or more. Returns (groups, rest)."""
    from .cell import can_share_fit

    keyed: dict = {}
    rest = []
    for c, path in runnable:
        if not can_share_fit(c):
            rest.append((c, path))
            continue
        with np.load(path) as z:
            shape = (z["train"].shape, z["validation"].shape)
        hp = json.dumps({k: v for k, v in c.hyperparameters.items() if k != "seed"}, sort_keys=True, default=str)
        keyed.setdefault((c.model, hp, c.task, c.eps, c.threads, shape), []).append((c, path))
    groups = []
    for members in keyed.values():
        if len(members) == 1:
            rest += members
            continue
        pieces = max(math.ceil(len(members) / max_group), min(workers, len(members) // 8), 1)
        size = math.ceil(len(members) / pieces)
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    return groups, rest


def _run_local(runnable, workers: int, record, groups=()) -> None:
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chaosbench-cell")
    futures: list[Future] = [pool.submit(execute_group, [c for c, _ in g], [p for _, p in g]) for g in groups]
    futures += [pool.submit(execute, c, path) for c, path in runnable]
    try:
        for fut in as_completed(futures):
            got = fut.result()
            for rec in got if isinstance(got, list) else [got]:
                record(rec)
    except BaseException:
        for f in futures:
            f.cancel()
        kill_running()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(client, runnable, record) -> None:
    from dask.distributed import as_completed as dask_completed

    futures = [
        client.submit(
            execute,
            c.to_dict(),
            task_bytes=Path(path).read_bytes(),
            key=f"chaosbench-cell-{c.id}",
            pure=False,
        )
        for c, path in runnable
    ]
    try:
        for fut in dask_completed(futures):
            record(fut.result())
    except BaseException:
        client.cancel(futures)
        raise
