"""Whether a PLRNN-family model's Lorenz score depends on how it was trained: alone or with other systems' models.

:func:`chaosbench.models.batched.fit_together` trains ``K`` models in one stacked loop. The per-model
loop of :class:`~chaosbench.models.torch_base.TorchForecaster` runs the same arithmetic except the
order of a few float32 sums, and over a full schedule (320 epochs, 16,000 steps) training carries that
rounding far. Since December 2026 a lone fit of these models runs the stacked loop with one model
(``plrnn.STACKED_ALONE``), so alone and together are the same arithmetic; this script measures both
facts on the goal task (standard preset, Lorenz, seed 0).

The model (its defaults, one torch thread) is fitted by the per-model loop (model seed 0), by
``Model.fit`` (now the stacked loop with ``K = 1``) and together in groups of ``K`` (``--groups``):
Lorenz and the next ``K - 1`` three-variable chaotic systems of the catalog (their standard seed-0
tasks). Only the loop and the group change; every model's seed, data and hyperparameters are the same.
Each Lorenz model is scored as a harness cell on the 10 test windows, and its weights are compared
with ``Model.fit``'s. ``Model.fit`` with model seeds ``--seeds`` gives the training's own spread.

    python benchmarks/together_vs_alone.py [--models plrnn alrnn] [--groups 2 4 8] [--seeds 1 2]

Writes ``results/perf/together_vs_alone.{md,json}``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from batched_training import tasks_for  # noqa: E402
from common import load_average, versions_line, write_report  # noqa: E402

from chaosbench.bench.cell import dependency_versions  # noqa: E402
from chaosbench.bench.scoring import score  # noqa: E402
from chaosbench.bench.tasks import Task  # noqa: E402
from chaosbench.models import make_model, plrnn  # noqa: E402
from chaosbench.models.batched import fit_together  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "results" / "perf"


def scored(model, task: Task) -> dict:
    """The model's Lorenz cell scores, as the harness computes them."""
    with torch.no_grad():
        forecasts = model.forecast_windows(task.contexts, task.horizon)
        long_run = model.forecast_windows(task.contexts[:1], task.horizon + len(task.long_truth))[0, task.horizon :]
    s = score(task, forecasts, long_run=long_run)
    info = model.fit_info_
    return {
        "vpt_lyap": s["vpt_lyap"],
        "vpt_windows": [round(float(v), 2) for v in s["vpt_windows"]],
        "d_stsp": s["d_stsp"],
        "d_h": s["d_h"],
        "best_epoch": info.get("best_epoch"),
        "final_alpha": info.get("final_alpha"),
    }


def weight_difference(a, b) -> float:
    sa, sb = a.net_.state_dict(), b.net_.state_dict()
    return max(float((sa[k] - sb[k]).abs().max()) for k in sa if sa[k].dtype.is_floating_point)


def _fit_alone(name: str, task: Task, seed: int, loop: bool):
    """``Model.fit`` (``loop=False``) or the per-model loop (``loop=True``)."""
    plrnn.STACKED_ALONE = not loop
    try:
        return make_model(name, seed=seed).fit(task.train, dt=task.dt, validation=task.validation)
    finally:
        plrnn.STACKED_ALONE = True


def measure(name: str, tasks: list[Task], groups: list[int], seeds: list[int]) -> list[dict]:
    lorenz = tasks[0]
    rows = []

    def add(way: str, model, seed: int, k: int, cpu: float, ref, members=None) -> None:
        diff = None if ref is None else weight_difference(ref, model)
        rows.append(
            {
                "model": name,
                "way": way,
                "seed": seed,
                "k": k,
                "cpu_seconds": cpu,
                "members": members,
                "weight_difference": diff,
                **scored(model, lorenz),
            }
        )
        print(f"{name} {way} K={k} seed {seed}: VPT {rows[-1]['vpt_lyap']:.3f}, weights {diff}", flush=True)

    t0 = time.process_time()
    alone = _fit_alone(name, lorenz, 0, loop=False)
    add("Model.fit", alone, 0, 1, time.process_time() - t0, alone)
    t0 = time.process_time()
    add("per-model loop", _fit_alone(name, lorenz, 0, loop=True), 0, 1, time.process_time() - t0, alone)
    for k in groups:
        members = tasks[:k]
        t0 = time.process_time()
        models = fit_together(
            [make_model(name, seed=0) for _ in members],
            [t.train for t in members],
            dt=[t.dt for t in members],
            validations=[t.validation for t in members],
        )
        add("together", models[0], 0, k, time.process_time() - t0, alone, [t.system for t in members])
    for seed in seeds:
        t0 = time.process_time()
        add("Model.fit", _fit_alone(name, lorenz, seed, loop=False), seed, 1, time.process_time() - t0, None)
    return rows


def markdown(rows: list[dict], command: str, load: tuple[str, str]) -> list[str]:
    lines = [
        "# Trained alone or together: the PLRNN family's Lorenz scores",
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, one torch thread; load average before "
        f"{load[0]}, after {load[1]}).",
        "",
        "Standard-preset Lorenz task (seed 0), each model at its defaults. *Model.fit*: a lone fit as "
        "chaosbench runs it now, the stacked loop of `chaosbench.models.batched` with one model; *per-model "
        "loop*: `TorchForecaster`'s training loop, which fitted a lone model before (the same arithmetic "
        "except the order of a few float32 sums); *together, K*: one stacked loop with the next K - 1 "
        "three-variable systems' models, as `chaosbench bench` runs these cells. Every model of seed 0 has "
        "the same seed, data and hyperparameters. *Weight difference*: the largest difference of any "
        "Lorenz weight from Model.fit's (seed 0). Other model seeds show the training's own spread.",
        "",
        "| model | trained | model seed | median VPT (Lyap.) | vs Model.fit (seed 0) | best epoch | "
        "final alpha | windows D_stsp | weight difference | fit CPU s (whole group) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        ref = mine[0]["vpt_lyap"]
        for r in mine:
            way = f"together, K = {r['k']}" if r["way"] == "together" else r["way"]
            diff = "–" if r["weight_difference"] is None else f"{r['weight_difference']:.1e}"
            rel = f"{100 * (r['vpt_lyap'] / ref - 1):+.0f}%" if ref > 0 else "–"
            lines.append(
                f"| {name} | {way} | {r['seed']} | {r['vpt_lyap']:.2f} | {rel} | {r['best_epoch']} | "
                f"{r['final_alpha']} | {r['d_stsp']:.2f} | {diff} | {r['cpu_seconds']:.0f} |"
            )
    lines += ["", "Per-window VPTs:", ""]
    for r in rows:
        way = f"together K={r['k']}" if r["way"] == "together" else r["way"]
        lines.append(f"- {r['model']}, {way}, seed {r['seed']}: {r['vpt_windows']}")
    members = max((r for r in rows if r["way"] == "together"), key=lambda r: r["k"], default=None)
    if members:
        lines += ["", f"Group members (in order, the first K): {', '.join(members['members'])}."]
    lines += ["", versions_line(dependency_versions()), ""]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["plrnn"])
    ap.add_argument("--groups", type=int, nargs="*", default=[2, 4, 8])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    args = ap.parse_args(argv)
    if args.groups and min(args.groups) < 2:
        raise SystemExit("--groups: every group size must be 2 or more (Model.fit is the group of one)")
    torch.set_num_threads(1)
    load_before = load_average()
    tasks = tasks_for(max(args.groups, default=1), first="Lorenz")
    rows = [r for name in args.models for r in measure(name, tasks, sorted(args.groups), args.seeds)]
    command = "python benchmarks/together_vs_alone.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {"command": command.strip(), "rows": rows, "versions": dependency_versions()}
    path = write_report(
        OUT, "together_vs_alone", markdown(rows, command.strip(), (load_before, load_average())), record
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
