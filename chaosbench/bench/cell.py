"""One cell of a benchmark (a model on a system's task for a seed): what it is, how it runs, what it records.

Each cell runs in its own Python process, started by :func:`execute`: the process loads the task,
fits the model, forecasts every test window and scores them (:func:`run_cell`, with
:func:`chaosbench.bench.scoring.score`). A process per cell makes three guarantees cheap: threads
are pinned before numpy/torch start (``OMP_NUM_THREADS`` and friends, ``torch.set_num_threads``), a
cell over its time budget is killed, and a crash of any kind (exception, segfault, out of memory) is
recorded as that cell's failure with its reason instead of taking the run down. Executors
(:mod:`chaosbench.bench.runner`) only decide *where* :func:`execute` runs, so a local run and a Dask
run give the same numbers for the same seeds.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ChaosbenchError
from ..models import make_model
from .scoring import first_step_failure, score
from .tasks import EPS, PROTOCOL, Task, TaskSpec

#: prefix of a cell's folder in the system's temporary directory (followed by the owner's pid)
TMP_PREFIX = "chaosbench-cell-"
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model (with its full hyperparameters) on a system's task for a seed."""

    system: str
    model: str
    seed: int
    hyperparameters: dict
    task: TaskSpec
    system_hash: str
    catalog_hash: str
    catalog_version: str
    time_budget: float = 1800.0
    eps: float = EPS
    threads: int = 1

    @property
    def id(self) -> str:
        """Content hash of everything that determines the cell's scores (not the time budget).

        The thread count is part of it when it is not 1: more threads sum in another order, which moves
        ill-conditioned fits (an ESN's ridge regression at 1e-14 scores 11.06 Lyapunov times on Lorenz
        with two threads and 11.26 with one)."""
        key = {
            "system": self.system,
            "system_hash": self.system_hash,
            "model": self.model,
            "seed": self.seed,
            "hyperparameters": self.hyperparameters,
            "task": self.task.as_dict(),
            "eps": self.eps,
            "protocol": PROTOCOL,
        } | ({"threads": self.threads} if self.threads != 1 else {})
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["task"] = self.task.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Cell":
        return cls(**{**d, "task": TaskSpec(**d["task"])})


# -- inside the cell's process -----------------------------------------------------------------


def dependency_versions() -> dict:
    """Versions of chaosbench and of every numeric package that can change a score (those installed)."""
    from importlib import metadata

    out = {"chaosbench": __version__, "python": sys.version.split()[0]}
    for name in (
        "numpy",
        "scipy",
        "numba",
        "llvmlite",
        "sympy",
        "pandas",
        "pyarrow",
        "statsmodels",
        "torch",
        "darts",
        "scikit-learn",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


#: the sample trajectory kept for plots has at most this many points (every k-th step), in float16:
#: enough to draw an attractor, small enough to commit a whole preset's cells
SAMPLE_POINTS = 1000


def _npy_bytes(a: np.ndarray, max_points: int = SAMPLE_POINTS) -> bytes:
    """A plot sample: ``a`` strided down to ``max_points`` rows, float16 (overflow clipped to ±6e4)."""
    import io

    a = np.asarray(a, float)
    a = a[:: max(1, -(-len(a) // max_points))]
    buf = io.BytesIO()
    np.save(buf, np.clip(a, -6e4, 6e4).astype(np.float16), allow_pickle=False)
    return buf.getvalue()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _base_record(cell: Cell, task: Task | None = None) -> dict:
    import platform

    rec = {
        "cell_id": cell.id,
        "system": cell.system,
        "model": cell.model,
        "seed": cell.seed,
        "status": "failed",
        "reason": "",
        "traceback": "",
        "hyperparameters": json.dumps(cell.hyperparameters, sort_keys=True, default=str),
        "task": cell.task.as_json(),
        "eps": cell.eps,
        "time_budget": cell.time_budget,
        "vpt_lyap": 0.0,
        "vpt_smape_lyap": 0.0,
        "d_stsp": math.nan,
        "d_h": math.nan,
        "mase": math.nan,
        "diverged": 0,
        "censored_fraction": math.nan,
        "safety_limit_hit": False,
        "fit_seconds": math.nan,
        "forecast_seconds": math.nan,
        "n_parameters": 0,
        "fit_info": "{}",
        "chaosbench_version": __version__,
        "versions": json.dumps(dependency_versions(), sort_keys=True),
        "catalog_hash": cell.catalog_hash,
        "catalog_version": cell.catalog_version,
        "system_hash": cell.system_hash,
        "python": platform.python_version(),
        "host": platform.node(),
        "threads": cell.threads,
        "finished_at": _now(),  # stamped again when a cell's work ends (run_cell)
    }
    if task is not None:
        rec.update(
            {
                "task_id": task.id,
                "max_lyapunov": task.max_lyapunov,
                "dt": task.dt,
                "period": task.period,
                "dimension": task.n_scored,
                "horizon_steps": task.horizon,
                "n_windows": len(task.targets),
                "horizon_lyap": task.horizon / task.steps_per_lyapunov,
                "horizon_capped": task.horizon_capped,
            }
        )
    return rec


def failure_record(cell: Cell, reason: str, **fields) -> dict:
    """The row of a cell that could not be scored: VPT 0 (scored as a failure), the reason kept."""
    return {**_base_record(cell), "reason": reason, **fields}


def run_cell(cell: Cell, task: Task, *, fitted=None, fit_seconds: float = math.nan) -> dict:
    """Fit, forecast and score one cell in this process; any exception becomes a failed record.

    ``fitted``: the cell's model, already fitted on ``task`` (by :func:`run_group`), with the seconds
    its fit took (its share of a group's)."""
    rec = _base_record(cell, task)
    threads = cell.threads
    phase = "building the model"
    try:
        if fitted is None:
            model = make_model(cell.model, **cell.hyperparameters)
            _pin_torch(threads)
            phase = "fit"
            t0 = time.perf_counter()
            model.fit(task.train, dt=task.dt, validation=task.validation)
            rec["fit_seconds"] = time.perf_counter() - t0
        else:
            model, rec["fit_seconds"] = fitted, fit_seconds
        rec["n_parameters"] = int(model.n_parameters)
        info = getattr(model, "fit_info_", {})
        rec["fit_info"] = json.dumps(info, sort_keys=True, default=str)
        # a wall-time safety net that bit (a torch fit's or a search's): this score depends on the load
        search = info.get("search") or {}
        rec["safety_limit_hit"] = bool(info.get("safety_limit_hit") or search.get("safety_limit_hit"))
        phase = "forecast"
        t0 = time.perf_counter()
        forecasts = np.asarray(model.forecast_windows(task.contexts, task.horizon), float)
        rec["forecast_seconds"] = time.perf_counter() - t0
        if forecasts.shape != task.targets.shape:
            raise ChaosbenchError(f"forecast has shape {forecasts.shape}, expected {task.targets.shape}")
        rec["sample_truth"] = _npy_bytes(task.targets[0, :, : task.n_scored])
        rec["sample_forecast"] = _npy_bytes(forecasts[0, :, : task.n_scored])
        bad = first_step_failure(forecasts)
        if bad:
            rec["reason"] = bad
            return rec
        phase = "long free run"
        t0 = time.perf_counter()
        # the long run starts from the first window's context; its first horizon is the scored forecast
        n_long = len(task.long_truth)
        long_run = np.asarray(model.forecast_windows(task.contexts[:1], task.horizon + n_long), float)[
            0, task.horizon :
        ]
        rec["long_run_seconds"] = time.perf_counter() - t0
        phase = "scoring"
        rec.update(score(task, forecasts, eps=cell.eps, long_run=long_run))
        rec["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - every failure of a model is a result, not a crash of the run
        rec["reason"] = f"{phase} raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
        rec["traceback"] = traceback.format_exc()[-4000:]
    finally:
        rec["finished_at"] = _now()  # after the fit, forecasts and scoring, on every way out
    return rec


def can_share_fit(cell: Cell) -> bool:
    """Whether the cell's model trains together with others of its configuration (the small AL-RNN and
    PLRNN: :mod:`chaosbench.models.batched`), which :func:`run_group` then does."""
    if cell.model not in ("alrnn", "plrnn"):
        return False
    from ..models.batched import why_not_together

    return why_not_together([make_model(cell.model, **cell.hyperparameters)]) is None


def run_group(cells: list[Cell], tasks: list[Task]) -> list[dict]:
    """Cells of one AL-RNN/PLRNN configuration (seeds aside) on tasks of one shape: their models are
    fitted together in one stacked loop (:func:`chaosbench.models.batched.fit_together`), then each
    is forecast and scored as :func:`run_cell` does; its ``fit_seconds`` is its share of the loop.
    If the models cannot share the loop, each cell runs alone."""
    try:
        import torch  # noqa: F401 - pinned before the first tensor

        from ..models.batched import fit_together

        _pin_torch(cells[0].threads)
        models = [make_model(c.model, **c.hyperparameters) for c in cells]
        t0 = time.perf_counter()
        fit_together(
            models, [t.train for t in tasks], dt=[t.dt for t in tasks], validations=[t.validation for t in tasks]
        )
        share = (time.perf_counter() - t0) / len(cells)
    except ChaosbenchError:
        return [run_cell(c, t) for c, t in zip(cells, tasks)]
    return [run_cell(c, t, fitted=m, fit_seconds=share) for c, t, m in zip(cells, tasks, models)]


def _pin_torch(threads: int) -> None:
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)


def _watch_parent() -> None:
    """End this process if its parent dies (a killed run must not leave cells running)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _child_main(argv: list[str]) -> int:
    cell_path, task_path, out_path = argv
    _watch_parent()
    blob = json.loads(Path(cell_path).read_text())
    rec: dict | list[dict]
    if isinstance(blob, list):  # a group: cells and their task files
        cells = [Cell.from_dict(d) for d in blob]
        tasks = [Task.load(p) for p in json.loads(Path(task_path).read_text())]
        rec = run_group(cells, tasks)
    else:
        rec = run_cell(Cell.from_dict(blob), Task.load(task_path))
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(rec, fh)
    os.replace(tmp, out_path)
    return 0


# -- in the parent (or on a Dask worker): one process per cell ----------------------------------

_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def execute(cell: Cell | dict, task_path: str | None = None, *, task_bytes: bytes | None = None) -> dict:
    """Run one cell in a fresh process with the cell's threads and time budget.

    Returns the cell's record; a process that dies, or that overruns its budget and is killed,
    yields a failed record naming the reason. ``task_bytes`` (an ``.npz``) is for executors whose
    workers do not share the parent's disk (Dask on a cluster).
    """
    cell = Cell.from_dict(cell) if isinstance(cell, dict) else cell
    # the folder names its owner, so a later run can remove what a killed one left (remove_stale_folders)
    with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-") as tmp_name:
        tmp = Path(tmp_name)
        if task_bytes is not None:
            task_path = str(tmp / "task.npz")
            Path(task_path).write_bytes(task_bytes)
        if task_path is None:  # the TypeError os.path.abspath(None) would raise, with its cause named
            raise TypeError("execute: give task_path or task_bytes")
        (tmp / "cell.json").write_text(json.dumps(cell.to_dict(), default=str))
        got = _spawn(tmp, os.path.abspath(task_path), cell.threads, cell.time_budget)
        return got if isinstance(got, dict) else failure_record(cell, got)


def execute_group(cells: list[Cell], task_paths: list[str]) -> list[dict]:
    """Run cells that fit together (:func:`run_group`) in one fresh process; its time budget is the
    sum of theirs. Returns their records (all failed, with the reason, if the process dies)."""
    with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "cell.json").write_text(json.dumps([c.to_dict() for c in cells], default=str))
        (tmp / "tasks.json").write_text(json.dumps([os.path.abspath(p) for p in task_paths]))
        got = _spawn(tmp, str(tmp / "tasks.json"), cells[0].threads, sum(c.time_budget for c in cells))
        return got if isinstance(got, list) else [failure_record(c, f"{got} (a group of {len(cells)})") for c in cells]


def _spawn(tmp: Path, task_arg: str, threads: int, budget: float):
    """Run ``python -m chaosbench.bench.cell`` on ``tmp/cell.json``: what it wrote, or why it wrote nothing."""
    out = tmp / "record.pkl"
    env = {
        **os.environ,
        **{v: str(threads) for v in THREAD_VARIABLES},
        "PYTHONWARNINGS": "ignore",
        # the cell imports this very chaosbench first (a chaosbench/ folder in the working directory
        # must not shadow it), then the modules its parent sees (models given as "module:Class")
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), os.getcwd()] + [p for p in sys.path if p and os.path.isdir(p)]
        ),
    }
    with open(tmp / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chaosbench.bench.cell", str(tmp / "cell.json"), task_arg, str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            cwd=tmp,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return f"exceeded the time budget of {budget:g} s (killed)"
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    if out.exists():
        with open(out, "rb") as fh:
            return pickle.load(fh)
    tail = [ln for ln in (tmp / "stderr.txt").read_text(errors="replace").splitlines() if ln.strip()][-3:]
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    return f"the cell's process died ({how}): {' | '.join(tail)[-400:]}"


def remove_stale_folders() -> list[str]:
    """Remove the cell folders in the system's temporary directory whose owning process is gone (a run
    killed with SIGKILL cannot clean up after itself); return their paths."""
    import shutil

    removed = []
    for d in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        owner = d.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if not (d.is_dir() and owner.isdigit()) or _alive(int(owner)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def kill_running() -> None:
    """Kill every cell process this process started (on interrupt)."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for p in procs:
        _kill(p)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
