"""Sequence models on the goal task: Lorenz-63, 100 points per period, 10,000 training points.

Fits each registered model named on the command line in turn (one torch thread, as the harness
runs a cell), forecasts the 10 test windows, and reports parameters, fit time, training throughput,
forecast cost per step per window at two horizons (it should not grow with the horizon), median
valid prediction time (Lyapunov times, NRMSE < 0.3), D_stsp and D_H.

usage: python benchmarks/sequence_models_lorenz.py [lstm gru transformer lru mamba] [--budget SECONDS]
           [--set lstm.hidden_size=64] [--out results/perf]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from common import load_average, parse_sets, versions_line, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ("lstm", "gru", "transformer", "lru", "mamba")
SHORT_HORIZON = 500


def forecast_cost(model, contexts, horizon: int, repeats: int = 3) -> tuple[float, object]:
    """Seconds per step per window of a batched forecast of ``horizon`` steps (the best of ``repeats``:
    the machine is shared), and the forecast."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        forecasts = model.forecast_windows(contexts, horizon)
        best = min(best, time.perf_counter() - t0)
    return best / (horizon * len(contexts)), forecasts


def run_one(name: str, task, hyperparameters: dict) -> dict:
    from chaosbench.bench.scoring import score
    from chaosbench.models import make_model

    model = make_model(name, **hyperparameters)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.fit(task.train, dt=task.dt, validation=task.validation)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    short, _ = forecast_cost(model, task.contexts, SHORT_HORIZON)
    long, forecasts = forecast_cost(model, task.contexts, task.horizon)
    info = getattr(model, "fit_info_", {})
    # long-run statistics on a free run as long as the task's long truth, after the first window's forecast
    # (as a harness cell scores them)
    long_run = model.forecast_windows(task.contexts[:1], task.horizon + len(task.long_truth))[0, task.horizon :]
    scores = score(task, forecasts, long_run=long_run)
    return {
        "model": name,
        "hyperparameters": hyperparameters,
        "n_parameters": model.n_parameters,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds,
        "steps_per_second": info.get("steps_per_second"),
        "epochs": info.get("epochs"),
        "stopped": info.get("stopped"),
        "forecast_s_per_step_short": short,
        "forecast_s_per_step_long": long,
        "long_horizon": task.horizon,
        "vpt_lyap": scores["vpt_lyap"],
        "vpt_windows": [round(float(v), 2) for v in scores["vpt_windows"]],
        "d_stsp": scores["d_stsp"],
        "d_h": scores["d_h"],
    }


def table(rows: list[dict]) -> list[str]:
    h = rows[0]["long_horizon"] if rows else 0
    lines = [
        f"| model | parameters | fit s | fit CPU s | train steps/s | forecast µs/step/window @ {SHORT_HORIZON} | "
        f"@ {h} | ratio | median VPT (Lyap.) | D_stsp | D_H | stopped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        sps = "–" if r["steps_per_second"] is None else f"{r['steps_per_second']:,.0f}"
        short, long = r["forecast_s_per_step_short"], r["forecast_s_per_step_long"]
        lines.append(
            f"| {r['model']} | {r['n_parameters']:,} | {r['fit_seconds']:.0f} | "
            f"{r['fit_cpu_seconds']:.0f} | {sps} | {short * 1e6:.0f} | "
            f"{long * 1e6:.0f} | {long / short:.2f} | {r['vpt_lyap']:.2f} | {r['d_stsp']:.2f} | "
            f"{r['d_h']:.3f} | {r['stopped']} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list(DEFAULT_MODELS))
    ap.add_argument(
        "--budget", type=float, default=None, help="override every model's safety_seconds (a safety net on wall time)"
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="a hyperparameter of one model, e.g. lstm.hidden_size=64",
    )
    ap.add_argument("--seed", type=int, default=0, help="the models' seed (the task's seed is 0)")
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from chaosbench.models import REGISTRY, is_available
    from chaosbench.bench.tasks import TaskSpec, make_task

    task = make_task("Lorenz", TaskSpec(), seed=0)
    sets = parse_sets(args.set)
    load_before = load_average()
    print(
        f"goal task: Lorenz, dt {task.dt:g}, {task.steps_per_lyapunov:.1f} steps per Lyapunov time, "
        f"{len(task.train)} training points, {len(task.contexts)} windows of {task.contexts.shape[1]} context "
        f"+ {task.horizon} steps; load average {load_before}",
        flush=True,
    )
    rows = []
    for name in args.models:
        if name not in REGISTRY:
            print(f"{name}: not registered yet, skipped", flush=True)
            continue
        if not is_available(name):
            print(f"{name}: its optional dependencies are not installed, skipped", flush=True)
            continue
        hp = dict(sets.get(name, {}), seed=args.seed)
        if args.budget is not None:
            hp["safety_seconds"] = args.budget
        row = run_one(name, task, hp)
        rows.append(row)
        print(
            f"{name}: {row['n_parameters']:,} parameters, fit {row['fit_seconds']:.1f} s "
            f"({row['fit_cpu_seconds']:.1f} s CPU, {row['steps_per_second']} training steps/s, "
            f"{row['stopped']}), forecast "
            f"{row['forecast_s_per_step_short'] * 1e6:.0f} µs/step/window at {SHORT_HORIZON} steps, "
            f"{row['forecast_s_per_step_long'] * 1e6:.0f} at {task.horizon} (ratio "
            f"{row['forecast_s_per_step_long'] / row['forecast_s_per_step_short']:.2f}); median VPT "
            f"{row['vpt_lyap']:.2f} Lyapunov times {row['vpt_windows']}, D_stsp {row['d_stsp']:.2f}, "
            f"D_H {row['d_h']:.3f}",
            flush=True,
        )
    load_after = load_average()
    if not rows:
        print("no model ran")
        return
    best = max(rows, key=lambda r: r["vpt_lyap"])
    command = (
        "python benchmarks/sequence_models_lorenz.py "
        + " ".join(args.models)
        + (f" --budget {args.budget:g}" if args.budget is not None else "")
        + "".join(f" --set {s}" for s in args.set)
        + (f" --seed {args.seed}" if args.seed else "")
    )
    from chaosbench.bench.cell import dependency_versions

    versions = dependency_versions()
    lines = [
        f"# Sequence models on Lorenz-63 ({time.strftime('%Y-%m-%d')}, 2 cores, 1 torch thread)",
        "",
        f"Command: `{command}`.",
        "",
        f'Goal task: `make_task("Lorenz", TaskSpec(), seed=0)`: dt = {task.dt:g}, '
        f"{task.steps_per_lyapunov:.1f} steps per Lyapunov time, {len(task.train):,} training and "
        f"{len(task.validation):,} validation points, {len(task.contexts)} test windows of "
        f"{task.contexts.shape[1]} context points + {task.horizon} steps. Models at their defaults"
        f"{' except ' + ', '.join(args.set) if args.set else ''}"
        f"{f', time budget {args.budget:g} s' if args.budget is not None else ''}, seed {args.seed}. "
        f"Load average before {load_before}, after {load_after} (the machine is shared: timings are "
        "inflated by load; compare within one run).",
        "",
        *table(rows),
        "",
        "Fit CPU s: the process's CPU time during the fit (one thread: about the wall time on an idle "
        "machine). Training throughput: training windows x `seq_len` per second of the training loop (validation "
        "included). Forecast cost: a batched forecast of all windows (context pass included, best of 3), "
        "seconds / (steps x windows); "
        "ratio = cost per step at the long horizon / at the short one (1 = does not grow with the horizon).",
        f"Best: {best['model']}, median VPT {best['vpt_lyap']:.2f} Lyapunov times. "
        "Per-window VPTs: " + "; ".join(f"{r['model']} {r['vpt_windows']}" for r in rows) + ".",
        "",
        versions_line(versions),
    ]
    path = write_report(
        Path(args.out),
        "sequence_models_lorenz",
        lines,
        {"command": command, "load_before": load_before, "load_after": load_after, "rows": rows, "versions": versions},
    )
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
