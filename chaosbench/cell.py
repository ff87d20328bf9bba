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
from .tasks import Task, TaskSpec

#: grid of the stored error-vs-horizon curves, in Lyapunov times
CURVE_STEP_LYAP = 0.25
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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
    eps: float = 0.3

    @property
    def id(self) -> str:
        """Content hash of everything that determines the cell's scores (not the time budget)."""
        key = {"system": self.system, "system_hash": self.system_hash, "model": self.model, "seed": self.seed,
               "hyperparameters": self.hyperparameters, "task": self.task.as_dict(), "eps": self.eps}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["task"] = self.task.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Cell":
        return cls(**{**d, "task": TaskSpec(**d["task"])})


# -- inside the cell's process -----------------------------------------------------------------

def _nan_report(forecasts: np.ndarray, task: Task) -> str | None:
    bad = ~np.isfinite(forecasts)
    if not bad.any():
        return None
    w, k = np.argwhere(bad.any(axis=2))[0]
    return (f"forecast is NaN or infinite (window {w}, from step {k}, "
            f"{(k + 1) / task.steps_per_lyapunov:.2f} Lyapunov times)")


def score(task: Task, forecasts: np.ndarray, *, eps: float = 0.3) -> dict:
    """All scores of forecasts ``(K, horizon, n)`` of a task's test windows (normalised units)."""
    kw = {"dt": task.dt, "lyapunov_time": task.lyapunov_time}
    truth = task.targets
    vpt = [metrics.valid_prediction_time(t, f, eps=eps, **kw) for t, f in zip(truth, forecasts)]
    nrmse = np.array([metrics.nrmse(t, f) for t, f in zip(truth, forecasts)])
    # sMAPE divides by magnitudes, so it is computed in the system's own units (as Gilpin 2023 did),
    # not on zero-mean normalised data where every zero crossing would blow it up
    raw_truth, raw_forecasts = truth * task.std + task.mean, forecasts * task.std + task.mean
    smape = np.array([metrics.smape(t, f) for t, f in zip(raw_truth, raw_forecasts)])
    vpt_smape = [metrics.valid_prediction_time_smape(t, f, **kw) for t, f in zip(raw_truth, raw_forecasts)]
    out = {"vpt_lyap": float(np.median(vpt)), "vpt_windows": np.array(vpt),
           "vpt_smape_lyap": float(np.median(vpt_smape))}
    for name, curves in (("nrmse", nrmse), ("smape", smape)):
        at = metrics.at_horizons(curves.mean(0), **kw)
        out.update({f"{name}_at_{h:g}": float(v) for h, v in zip(metrics.HORIZONS_LYAP, at)})
    grid = np.arange(CURVE_STEP_LYAP, task.horizon / task.steps_per_lyapunov + 1e-9, CURVE_STEP_LYAP)
    out["curve_lyap"] = grid
    out["nrmse_curve"] = metrics.at_horizons(np.median(nrmse, axis=0), horizons_lyap=grid, **kw)
    n = task.dimension
    out["d_stsp"] = metrics.state_space_divergence(truth.reshape(-1, n), forecasts.reshape(-1, n))
    out["d_h"] = metrics.power_spectrum_distance(truth, forecasts)
    out["mase"] = float(np.mean([metrics.mase(t, f, task.train) for t, f in zip(truth, forecasts)]))
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

    rec = {"cell_id": cell.id, "system": cell.system, "model": cell.model, "seed": cell.seed,
           "status": "failed", "reason": "", "traceback": "",
           "hyperparameters": json.dumps(cell.hyperparameters, sort_keys=True, default=str),
           "task": json.dumps(cell.task.as_dict(), sort_keys=True), "eps": cell.eps, "time_budget": cell.time_budget,
           "vpt_lyap": 0.0, "vpt_smape_lyap": 0.0, "d_stsp": math.nan, "d_h": math.nan, "mase": math.nan,
           "fit_seconds": math.nan, "forecast_seconds": math.nan, "n_parameters": 0, "fit_info": "{}",
           "chaosbench_version": __version__, "catalog_hash": cell.catalog_hash,
           "catalog_version": cell.catalog_version, "system_hash": cell.system_hash,
           "python": platform.python_version(), "host": platform.node(), "threads": 0,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if task is not None:
        rec.update({"task_id": task.id, "max_lyapunov": task.max_lyapunov, "dt": task.dt,
                    "dimension": task.dimension, "horizon_steps": task.horizon,
                    "horizon_lyap": task.horizon / task.steps_per_lyapunov})
    return rec


def failure_record(cell: Cell, reason: str, **fields) -> dict:
    """The row of a cell that could not be scored: VPT 0 (scored as a failure), the reason kept."""
    return {**_base_record(cell), "reason": reason, **fields}


def run_cell(cell: Cell, task: Task, *, threads: int = 1) -> dict:
    """Fit, forecast and score one cell in this process; any exception becomes a failed record."""
    rec = _base_record(cell, task)
    rec["threads"] = threads
    phase = "building the model"
    try:
        model = make_model(cell.model, **cell.hyperparameters)
        _pin_torch(threads)
        phase = "fit"
        t0 = time.perf_counter()
        model.fit(task.train, dt=task.dt, validation=task.validation)
        rec["fit_seconds"] = time.perf_counter() - t0
        rec["n_parameters"] = int(model.n_parameters)
        rec["fit_info"] = json.dumps(getattr(model, "fit_info_", {}), sort_keys=True, default=str)
        phase = "forecast"
        t0 = time.perf_counter()
        forecasts = np.asarray(model.forecast_windows(task.contexts, task.horizon), float)
        rec["forecast_seconds"] = time.perf_counter() - t0
        if forecasts.shape != task.targets.shape:
            raise ChaosbenchError(f"forecast has shape {forecasts.shape}, expected {task.targets.shape}")
        phase = "scoring"
        rec["sample_truth"] = _npy_bytes(task.targets[0])
        rec["sample_forecast"] = _npy_bytes(forecasts[0])
        bad = _nan_report(forecasts, task)
        if bad:
            rec["reason"] = bad
            return rec
        rec.update(score(task, forecasts, eps=cell.eps))
        rec["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - every failure of a model is a result, not a crash of the run
        rec["reason"] = f"{phase} raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
        rec["traceback"] = traceback.format_exc()[-4000:]
    return rec


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
    cell = Cell.from_dict(json.loads(Path(cell_path).read_text()))
    rec = run_cell(cell, Task.load(task_path), threads=int(threads))
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(rec, fh)
    os.replace(tmp, out_path)
    return 0


# -- in the parent (or on a Dask worker): one process per cell ----------------------------------

_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def execute(cell: Cell | dict, task_path: str | None = None, *, task_bytes: bytes | None = None,
            threads: int = 1) -> dict:
    """Run one cell in a fresh process with ``threads`` threads and the cell's time budget.

    Returns the cell's record; a process that dies, or that overruns its budget and is killed,
    yields a failed record naming the reason. ``task_bytes`` (an ``.npz``) is for executors whose
    workers do not share the parent's disk (Dask on a cluster).
    """
    cell = Cell.from_dict(cell) if isinstance(cell, dict) else cell
    with tempfile.TemporaryDirectory(prefix="chaosbench-cell-") as tmp:
        tmp = Path(tmp)
        if task_bytes is not None:
            task_path = str(tmp / "task.npz")
            Path(task_path).write_bytes(task_bytes)
        (tmp / "cell.json").write_text(json.dumps(cell.to_dict(), default=str))
        out = tmp / "record.pkl"
        env = {**os.environ, **{v: str(threads) for v in THREAD_VARIABLES}, "PYTHONWARNINGS": "ignore",
               # the cell sees the modules its parent sees (models given as "module:Class")
               "PYTHONPATH": os.pathsep.join([os.getcwd()] + [p for p in sys.path if p and os.path.isdir(p)])}
        with open(tmp / "stderr.txt", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "chaosbench.cell", str(tmp / "cell.json"), task_path,
                                     str(out), str(threads)], env=env, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
            try:
                proc.wait(timeout=cell.time_budget)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return failure_record(cell, f"exceeded the time budget of {cell.time_budget:g} s (killed)")
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(proc)
        if out.exists():
            with open(out, "rb") as fh:
                return pickle.load(fh)
        tail = [ln for ln in (tmp / "stderr.txt").read_text(errors="replace").splitlines() if ln.strip()][-3:]
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        return failure_record(cell, f"the cell's process died ({how}): {' | '.join(tail)[-400:]}")


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
