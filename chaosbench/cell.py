"""One cell of a benchmark (a model on a system's task for a seed): what it is, how it runs, what it records.

Each cell runs in its own Python process, started by :func:`execute`: the process loads the task,
fits the model, forecasts every test window and scores them (:func:`run_cell`). A process per cell
makes three guarantees cheap: threads are pinned before numpy/torch start (``OMP_NUM_THREADS`` and
friends, ``torch.set_num_threads``), a cell over its time budget is killed, and a crash of any
kind (exception, segfault, out of memory) is recorded as that cell's failure with its reason
instead of taking the run down. Executors (:mod:`chaosbench.harness`) only decide *where*
:func:`execute` runs, so a local run and a Dask run give the same numbers for the same seeds.
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

from . import __version__, metrics
from .errors import ChaosbenchError
from .models import make_model
from .tasks import EPS, PROTOCOL, Task, TaskSpec

#: prefix of a cell's folder in the system's temporary directory (followed by the owner's pid)
TMP_PREFIX = "chaosbench-cell-"
#: grid of the stored error-vs-horizon curves, in Lyapunov times
CURVE_STEP_LYAP = 0.25
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

    @property
    def id(self) -> str:
        """Content hash of everything that determines the cell's scores (not the time budget)."""
        key = {
            "system": self.system,
            "system_hash": self.system_hash,
            "model": self.model,
            "seed": self.seed,
            "hyperparameters": self.hyperparameters,
            "task": self.task.as_dict(),
            "eps": self.eps,
            "protocol": PROTOCOL,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["task"] = self.task.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Cell":
        return cls(**{**d, "task": TaskSpec(**d["task"])})


# -- inside the cell's process -----------------------------------------------------------------


def _median_censored(values: np.ndarray, censored: np.ndarray) -> bool:
    """Whether the median of ``values`` is only a lower bound (a middle value is censored)."""
    order = np.argsort(values, kind="stable")
    k = len(values)
    middle = order[[(k - 1) // 2, k // 2]]
    return bool(censored[middle].any())


def _first_step_failure(forecasts: np.ndarray) -> str | None:
    """A reason if some window's forecast is non-finite from its first step (a broken model, not a
    divergence), else None."""
    bad = ~np.all(np.isfinite(forecasts[:, 0]), axis=-1)
    if bad.any():
        return f"forecast is NaN or infinite from its first step (window {int(np.argmax(bad))})"
    return None


def score(task: Task, forecasts: np.ndarray, *, eps: float = EPS, long_run: np.ndarray | None = None) -> dict:
    """All scores of forecasts ``(K, horizon, n)`` of a task's test windows (normalised units).

    Only the task's scored columns count. A window whose forecast becomes non-finite is scored up to
    there (a non-finite value is an infinite error) and counted in ``diverged``. A window's valid
    prediction time is censored — a lower bound — when it reaches the horizon or the truth's certified
    time (:meth:`Task.certified_steps`); it is then recorded at that bound. ``long_run`` is the model's
    long free run ``(n_long, n)`` for the long-term statistics against ``task.long_truth``.
    """
    n = task.n_scored
    truth, fc = task.targets[..., :n], forecasts[..., :n]
    kw = {"dt": task.dt, "lyapunov_time": task.lyapunov_time}
    with np.errstate(invalid="ignore", over="ignore"):
        nrmse = np.stack([metrics.nrmse(t, f) for t, f in zip(truth, fc)])
    valid = np.array([metrics.first_exceedance(e, eps) for e in nrmse])
    certified = task.certified_steps(eps)
    censored = valid >= certified
    steps = np.minimum(valid, certified)
    vpt = steps * task.dt / task.lyapunov_time
    raw_truth, raw_fc = truth * task.std[:n] + task.mean[:n], fc * task.std[:n] + task.mean[:n]
    with np.errstate(invalid="ignore", over="ignore"):
        smape = np.stack([metrics.smape(t, f) for t, f in zip(raw_truth, raw_fc)])
        nmae = np.stack([metrics.nmae(t, f) for t, f in zip(truth, fc)])
    vpt_smape = [metrics.valid_prediction_time_smape(t, f, **kw) for t, f in zip(raw_truth, raw_fc)]
    out = {
        "vpt_lyap": float(np.median(vpt)),
        "vpt_windows": vpt,
        "censored_windows": censored,
        "censored_fraction": float(censored.mean()),
        "vpt_censored": _median_censored(vpt, censored),
        "vpt_periods": float(np.median(steps) * task.dt / task.period),
        "certified_lyap": float(np.median(certified) * task.dt / task.lyapunov_time),
        "diverged": int(np.sum(~np.all(np.isfinite(forecasts), axis=(1, 2)))),
        "vpt_smape_lyap": float(np.median(vpt_smape)),
    }
    with np.errstate(invalid="ignore", over="ignore"):
        for name, curves in (("nrmse", nrmse), ("smape", smape), ("nmae", nmae)):
            at = metrics.at_horizons(curves.mean(0), **kw)
            out.update({f"{name}_at_{h:g}": float(v) for h, v in zip(metrics.HORIZONS_LYAP, at)})
        grid = np.arange(CURVE_STEP_LYAP, task.horizon / task.steps_per_lyapunov + 1e-9, CURVE_STEP_LYAP)
        out["curve_lyap"] = grid
        out["nrmse_curve"] = metrics.at_horizons(np.median(nrmse, axis=0), horizons_lyap=grid, **kw)
        out["mase"] = float(np.mean([metrics.mase(t, f, task.train[:, :n]) for t, f in zip(truth, fc)]))
    if long_run is not None:
        gen = np.asarray(long_run, float)[:, :n]
        out["d_stsp"] = metrics.state_space_divergence(task.long_truth, gen)
        out["d_h"] = metrics.power_spectrum_distance(task.long_truth, gen)
        out["long_run_steps"] = len(gen)
    out["d_stsp_floor"] = float(task.noise_floor.get("d_stsp", math.nan))
    out["d_h_floor"] = float(task.noise_floor.get("d_h", math.nan))
    return out


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
        "task": json.dumps(cell.task.as_dict(), sort_keys=True),
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
        "threads": 0,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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


def run_cell(cell: Cell, task: Task, *, threads: int = 1, fitted=None, fit_seconds: float = math.nan) -> dict:
    """Fit, forecast and score one cell in this process; any exception becomes a failed record.

    ``fitted``: the cell's model, already fitted on ``task`` (by :func:`run_group`), with the seconds
    its fit took (its share of a group's)."""
    rec = _base_record(cell, task)
    rec["threads"] = threads
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
        bad = _first_step_failure(forecasts)
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
    return rec


def can_share_fit(cell: Cell) -> bool:
    """Whether the cell's model trains together with others of its configuration (the small AL-RNN and
    PLRNN: :mod:`chaosbench.models.batched`), which :func:`run_group` then does."""
    if cell.model not in ("alrnn", "plrnn"):
        return False
    from .models.batched import why_not_together

    return why_not_together([make_model(cell.model, **cell.hyperparameters)]) is None


def run_group(cells: list[Cell], tasks: list[Task], *, threads: int = 1) -> list[dict]:
    """Cells of one AL-RNN/PLRNN configuration (seeds aside) on tasks of one shape: their models are
    fitted together in one stacked loop (:func:`chaosbench.models.batched.fit_together`), then each
    is forecast and scored as :func:`run_cell` does; its ``fit_seconds`` is its share of the loop.
    If the models cannot share the loop, each cell runs alone."""
    try:
        import torch  # noqa: F401 - pinned before the first tensor

        from .models.batched import fit_together

        _pin_torch(threads)
        models = [make_model(c.model, **c.hyperparameters) for c in cells]
        t0 = time.perf_counter()
        fit_together(
            models, [t.train for t in tasks], dt=[t.dt for t in tasks], validations=[t.validation for t in tasks]
        )
        share = (time.perf_counter() - t0) / len(cells)
    except ChaosbenchError:
        return [run_cell(c, t, threads=threads) for c, t in zip(cells, tasks)]
    return [run_cell(c, t, threads=threads, fitted=m, fit_seconds=share) for c, t, m in zip(cells, tasks, models)]


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
    cell_path, task_path, out_path, threads = argv
    _watch_parent()
    blob = json.loads(Path(cell_path).read_text())
    rec: dict | list[dict]
    if isinstance(blob, list):  # a group: cells and their task files
        cells = [Cell.from_dict(d) for d in blob]
        tasks = [Task.load(p) for p in json.loads(Path(task_path).read_text())]
        rec = run_group(cells, tasks, threads=int(threads))
    else:
        rec = run_cell(Cell.from_dict(blob), Task.load(task_path), threads=int(threads))
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(rec, fh)
    os.replace(tmp, out_path)
    return 0


# -- in the parent (or on a Dask worker): one process per cell ----------------------------------

_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def execute(
    cell: Cell | dict, task_path: str | None = None, *, task_bytes: bytes | None = None, threads: int = 1
) -> dict:
    """Run one cell in a fresh process with ``threads`` threads and the cell's time budget.

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
        got = _spawn(tmp, os.path.abspath(task_path), threads, cell.time_budget)
        return got if isinstance(got, dict) else failure_record(cell, got)


def execute_group(cells: list[Cell], task_paths: list[str], *, threads: int = 1) -> list[dict]:
    """Run cells that fit together (:func:`run_group`) in one fresh process; its time budget is the
    sum of theirs. Returns their records (all failed, with the reason, if the process dies)."""
    with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "cell.json").write_text(json.dumps([c.to_dict() for c in cells], default=str))
        (tmp / "tasks.json").write_text(json.dumps([os.path.abspath(p) for p in task_paths]))
        got = _spawn(tmp, str(tmp / "tasks.json"), threads, sum(c.time_budget for c in cells))
        return got if isinstance(got, list) else [failure_record(c, f"{got} (a group of {len(cells)})") for c in cells]


def _spawn(tmp: Path, task_arg: str, threads: int, budget: float):
    """Run ``python -m chaosbench.cell`` on ``tmp/cell.json``: what it wrote, or why it wrote nothing."""
    out = tmp / "record.pkl"
    env = {
        **os.environ,
        **{v: str(threads) for v in THREAD_VARIABLES},
        "PYTHONWARNINGS": "ignore",
        # the cell imports this very chaosbench first (a chaosbench/ folder in the working directory
        # must not shadow it), then the modules its parent sees (models given as "module:Class")
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), os.getcwd()] + [p for p in sys.path if p and os.path.isdir(p)]
        ),
    }
    with open(tmp / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chaosbench.cell", str(tmp / "cell.json"), task_arg, str(out), str(threads)],
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
