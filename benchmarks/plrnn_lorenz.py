"""The PLRNN family on the goal task (Lorenz-63, 100 points per period, 10,000 training points), and
its long-term statistics on the protocol of the dynamical-systems-reconstruction papers.

For each model (defaults, one torch thread, as the harness runs a cell): fit, forecast the 10 test
windows and score them (median valid prediction time in Lyapunov times, D_stsp and D_H of the
windows); then drive the model through 500 points of a fresh 100,000-step true trajectory and let it
run freely for 125,000 steps, discard the first 25,000 (as Hess et al. 2023's evaluation does) and
compare the rest with the true trajectory: D_stsp (30 bins per variable, our
``metrics.state_space_divergence``) and D_H with our spectral smoothing (2 bins) and with the papers'
(20 bins, ``PSE_smoothing`` of the GTF-shPLRNN and ALRNN-DSR code), each on the whole long series.

A model may be named with a variant label, ``alrnn:wide``, so that one run compares settings of the
same model side by side: ``--set alrnn:wide.pwl_units=512`` applies to that variant only.

usage: python benchmarks/plrnn_lorenz.py [shplrnn alrnn plrnn] [--seeds 0 1 2] [--set shplrnn.hidden_dim=64]
           [--out results/perf]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import load_average, parse_sets, versions_line, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LONG_STEPS, TRANSIENT, DRIVE = 100_000, 25_000, 500

#: published values on Lorenz-63 (their protocol: long free runs, 30 bins, spectra smoothed by 20 bins)
PUBLISHED = """\
Published references (their protocol: a model trained on a Lorenz-63 series with noise, a free run of the
length of a long test set, 30 bins per variable for D_stsp, spectra smoothed by sigma = 20 for D_H):
see the text of results/perf/plrnn_lorenz.md.
"""


def long_truth(task, seed: int = 123) -> np.ndarray:
    """A fresh true trajectory of ``LONG_STEPS + DRIVE`` points, normalised like the task."""
    from chaosbench.catalog import load_catalog
    from chaosbench.trajectories import trajectory

    x = trajectory(
        load_catalog()[task.system],
        length=LONG_STEPS + DRIVE,
        pts_per_period=task.spec.pts_per_period,
        n_trajectories=1,
        seed=seed,
    )[0]
    return (x - task.mean) / task.std


def long_run_scores(model, truth: np.ndarray) -> dict:
    """Drive through ``DRIVE`` true points, run freely, drop the transient, compare with the truth."""
    import torch

    from chaosbench import metrics

    with torch.no_grad():
        free = model.forecast_windows(truth[None, :DRIVE], LONG_STEPS + TRANSIENT)[0][TRANSIENT:]
    ref = truth[DRIVE:]
    if not np.all(np.isfinite(free)):
        return {"long_d_stsp": float("inf"), "long_d_h": 1.0, "long_d_h20": 1.0}
    return {
        "long_d_stsp": metrics.state_space_divergence(ref, free),
        "long_d_h": metrics.power_spectrum_distance(ref, free, smoothing=2.0),
        "long_d_h20": metrics.power_spectrum_distance(ref, free, smoothing=20.0),
    }


def run_one(name: str, task, truth, hyperparameters: dict) -> dict:
    from chaosbench.bench.scoring import score
    from chaosbench.models import make_model

    model = make_model(name.split(":")[0], **hyperparameters)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.fit(task.train, dt=task.dt, validation=task.validation)
    fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    forecasts = model.forecast_windows(task.contexts, task.horizon)
    forecast_seconds = time.perf_counter() - t0
    # the harness's long-run statistics: a free run as long as the task's long truth after the first forecast
    long_run = model.forecast_windows(task.contexts[:1], task.horizon + len(task.long_truth))[0, task.horizon :]
    s = score(task, forecasts, long_run=long_run)
    info = model.fit_info_
    return {
        "model": name,
        "hyperparameters": hyperparameters,
        "n_parameters": model.n_parameters,
        "latent_dim": info.get("latent_dim"),
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu,
        "forecast_seconds": forecast_seconds,
        "steps": info.get("steps"),
        "epochs": info.get("epochs"),
        "best_epoch": info.get("best_epoch"),
        "stopped": info.get("stopped"),
        "final_alpha": info.get("final_alpha"),
        "vpt_lyap": s["vpt_lyap"],
        "vpt_windows": [round(float(v), 2) for v in s["vpt_windows"]],
        "d_stsp": s["d_stsp"],
        "d_h": s["d_h"],
        **long_run_scores(model, truth),
    }


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | seed | parameters | M | fit s | fit CPU s | steps | final alpha | median VPT (Lyap.) | "
        "windows D_stsp | windows D_H | long D_stsp | long D_H (2) | long D_H (20) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        alpha = "–" if r["final_alpha"] is None else f"{r['final_alpha']:.3f}"
        lines.append(
            f"| {r['model']} | {r['hyperparameters'].get('seed', 0)} | {r['n_parameters']:,} | "
            f"{r['latent_dim']} | "
            f"{r['fit_seconds']:.0f} | {r['fit_cpu_seconds']:.0f} | {r['steps']:,} | {alpha} | "
            f"{r['vpt_lyap']:.2f} | {r['d_stsp']:.2f} | {r['d_h']:.3f} | {r['long_d_stsp']:.3f} | "
            f"{r['long_d_h']:.3f} | {r['long_d_h20']:.3f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["shplrnn", "alrnn", "plrnn"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", action="append", default=[], metavar="MODEL.KEY=VALUE")
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from chaosbench.bench.tasks import TaskSpec, make_task

    task = make_task("Lorenz", TaskSpec(), seed=0)
    truth = long_truth(task)
    sets = parse_sets(args.set)
    load_before = load_average()
    print(
        f"goal task: Lorenz, dt {task.dt:g}, {task.steps_per_lyapunov:.1f} steps per Lyapunov time; "
        f"load average {load_before}",
        flush=True,
    )
    rows = []
    for name in args.models:
        for seed in args.seeds:
            row = run_one(name, task, truth, dict(sets.get(name, {}), seed=seed))
            rows.append(row)
            print(json.dumps(row, default=str), flush=True)
    load_after = load_average()
    command = (
        "python benchmarks/plrnn_lorenz.py "
        + " ".join(args.models)
        + (" --seeds " + " ".join(map(str, args.seeds)) if args.seeds != [0] else "")
        + "".join(f" --set {s}" for s in args.set)
    )
    reference = ROOT / "benchmarks" / "plrnn_published.md"
    lines = [
        f"# PLRNN family on Lorenz-63 ({time.strftime('%Y-%m-%d')}, 2 cores, 1 torch thread)",
        "",
        f"Command: `{command}`.",
        "",
        f'Goal task `make_task("Lorenz", TaskSpec(), seed=0)`: dt = {task.dt:g}, '
        f"{task.steps_per_lyapunov:.1f} steps per Lyapunov time, {len(task.train):,} training and "
        f"{len(task.validation):,} validation points, {len(task.contexts)} windows of "
        f"{task.contexts.shape[1]} context + {task.horizon} steps. Models at their defaults"
        f"{' except ' + ', '.join(args.set) if args.set else ''}. Load average before {load_before}, "
        f"after {load_after} (shared machine: wall times are inflated by load; fit CPU s is about the "
        "wall time on an idle machine).",
        "",
        *table(rows),
        "",
        f"Windows D_stsp / D_H: `scoring.score` on the {len(task.contexts)} forecast windows ({task.horizon:,} steps "
        "each). Long: driven through "
        f"{DRIVE} points of a fresh true trajectory, then {LONG_STEPS + TRANSIENT:,} free steps, the first "
        f"{TRANSIENT:,} dropped, against {LONG_STEPS:,} true steps; D_H with spectral smoothing 2 (ours) and 20 "
        "(the papers').",
        "",
        "Per-window VPTs: "
        + "; ".join(f"{r['model']} (seed {r['hyperparameters']['seed']}) {r['vpt_windows']}" for r in rows)
        + ".",
    ]
    from chaosbench.bench.cell import dependency_versions

    versions = dependency_versions()
    lines += ["", versions_line(versions)]
    if reference.exists():
        lines += ["", reference.read_text().strip()]
    path = write_report(
        Path(args.out),
        "plrnn_lorenz",
        lines,
        {"command": command, "load_before": load_before, "load_after": load_after, "rows": rows, "versions": versions},
    )
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
