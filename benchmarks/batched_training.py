"""CPU cost of the small PLRNN-family models trained alone and trained together, side by side.

On the standard preset's tasks (seed 0, from the harness's task cache, else built) of the first
``--systems`` three-variable chaotic systems, each model is fitted at its defaults except for the
number of epochs (``--epochs``, the same for both ways: the cost of an epoch is what differs, and
the defaults' cost follows by scaling): alone on the first ``--alone`` systems, one process thread,
as before December 2026 (one SVD per state for the adaptive forcing) and as now (one per linear
subregion), and together on all of them (:func:`chaosbench.models.batched.fit_together`). CPU seconds come from
``time.process_time`` (one thread, so the machine's other load does not count). The weights of the
systems fitted both ways are compared.

    python benchmarks/batched_training.py [--models alrnn plrnn] [--systems 32] [--alone 4] [--epochs 10]

Writes ``results/perf/batched_training.{md,json}``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from chaosbench.catalog import load_catalog  # noqa: E402
from chaosbench.bench.cell import dependency_versions  # noqa: E402
from chaosbench.bench.runner import task_cache_dir  # noqa: E402
from chaosbench.models import make_model, plrnn  # noqa: E402
from chaosbench.models.batched import fit_together  # noqa: E402
from chaosbench.bench.tasks import Task, get_preset, make_task, task_id  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "results" / "perf"


def standard_task(name: str, catalog) -> Task:
    """The standard preset's seed-0 task of system ``name``, from the harness's task cache, else built."""
    spec, system = get_preset("standard").task, catalog[name]
    path = task_cache_dir() / f"{name}-{task_id(name, system.content_hash, spec, 0)}.npz"
    return Task.load(path) if path.exists() else make_task(system, spec, seed=0, catalog=catalog)


def tasks_for(n_systems: int, first: str | None = None) -> list[Task]:
    """Standard seed-0 tasks of ``n_systems`` three-variable chaotic systems (``first``, if given, leads)."""
    catalog = load_catalog()
    out = [standard_task(first, catalog)] if first else []
    for name in catalog.chaotic():
        if len(out) == n_systems:
            break
        system = catalog[name]
        if name == first or system.dimension != 3 or system.forcing_phase or system.is_delay:
            continue
        task = standard_task(name, catalog)
        if task.train.shape[1] == 3:
            out.append(task)
    return out


def _fit_alone(name: str, tasks: list[Task], hp: dict, per_subregion: bool) -> tuple[list, list[float]]:
    """One by one through the per-model loop (a lone fit before December 2026; ``Model.fit`` now runs the
    stacked loop with one model, ``plrnn.STACKED_ALONE``)."""
    plrnn.PER_SUBREGION, plrnn.STACKED_ALONE = per_subregion, False
    try:
        models, cpu = [], []
        for task in tasks:
            t0 = time.process_time()
            models.append(make_model(name, **hp).fit(task.train, dt=task.dt, validation=task.validation))
            cpu.append(time.process_time() - t0)
        return models, cpu
    finally:
        plrnn.PER_SUBREGION, plrnn.STACKED_ALONE = True, True


def _max_difference(a_models, b_models) -> float:
    return max(
        float((a.net_.state_dict()[k] - b.net_.state_dict()[k]).abs().max())
        for a, b in zip(a_models, b_models)
        for k in a.net_.state_dict()
        if a.net_.state_dict()[k].dtype.is_floating_point
    )


def measure(name: str, tasks: list[Task], n_alone: int, epochs: int) -> dict:
    hp = {"max_epochs": epochs}
    before, cpu_before = _fit_alone(name, tasks[:n_alone], hp, per_subregion=False)
    alone, cpu_alone = _fit_alone(name, tasks[:n_alone], hp, per_subregion=True)
    t0 = time.process_time()
    together = fit_together(
        [make_model(name, **hp) for _ in tasks],
        [t.train for t in tasks],
        dt=[t.dt for t in tasks],
        validations=[t.validation for t in tasks],
    )
    cpu_together = time.process_time() - t0
    default_epochs = make_model(name).max_epochs
    per = {
        "before": sum(cpu_before) / n_alone,
        "alone": sum(cpu_alone) / n_alone,
        "together": cpu_together / len(tasks),
    }
    catalog_systems = len(load_catalog().chaotic())
    return {
        "model": name,
        "systems": len(tasks),
        "epochs": epochs,
        "default_epochs": default_epochs,
        **{f"cpu_{k}_per_system": v for k, v in per.items()},
        "speedup": per["before"] / per["together"],
        "speedup_subregions": per["before"] / per["alone"],
        "max_weight_difference_before": _max_difference(before, together),
        "max_weight_difference_alone": _max_difference(alone, together),
        **{f"catalog_cpu_hours_{k}": v * default_epochs / epochs * catalog_systems / 3600 for k, v in per.items()},
        "systems_measured_alone": [t.system for t in tasks[:n_alone]],
    }


def markdown(rows: list[dict], command: str) -> str:
    lines = [
        "# Small PLRNN-family models: trained alone and trained together",
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, one torch thread, CPU seconds from `time.process_time`).",
        "",
        "Standard-preset tasks (seed 0, 10,000 training points) of three-variable chaotic systems; each model "
        "at its defaults except the number of epochs, the same for every column. *Before*: fitted one by one "
        "as a cell did before December 2026 (the adaptive forcing's Jacobian norms by one SVD per state, "
        "`plrnn.PER_SUBREGION = False`); *alone*: one by one with the norms once per linear subregion (exact "
        "for a piecewise-linear map, at most 4 SVDs per model for the AL-RNN); *together*: all systems in one "
        "stacked loop (`chaosbench.models.batched.fit_together`, what `chaosbench bench` now does for these "
        "models). The catalog estimate scales to the default epochs and the chaotic catalog's systems (one seed).",
        "",
        "| model | systems together | epochs | CPU s per system: before | alone | together | speedup: "
        "subregions | all | catalog CPU-h: before | now | max weight difference (alone vs together) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['systems']} | {r['epochs']} | {r['cpu_before_per_system']:.1f} | "
            f"{r['cpu_alone_per_system']:.1f} | {r['cpu_together_per_system']:.2f} | "
            f"{r['speedup_subregions']:.1f}× | **{r['speedup']:.1f}×** | "
            f"{r['catalog_cpu_hours_before']:.1f} | {r['catalog_cpu_hours_together']:.2f} | "
            f"{r['max_weight_difference_alone']:.1e} |"
        )
    lines += [
        "",
        "*Max weight difference*: the largest difference of any weight between a system's model fitted "
        "alone and together (float32: the stacked loop sums in another order, nothing else differs; against "
        "*before* it also carries the SVDs' rounding: "
        + ", ".join(f"{r['model']} {r['max_weight_difference_before']:.1e}" for r in rows)
        + ").",
        "",
        f"Versions: `{json.dumps(dependency_versions(), sort_keys=True)}`",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["alrnn", "plrnn"])
    ap.add_argument("--systems", type=int, default=32)
    ap.add_argument("--alone", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    tasks = tasks_for(args.systems)
    rows = []
    for name in args.models:
        rows.append(measure(name, tasks, args.alone, args.epochs))
        r = rows[-1]
        print(
            f"{name}: {r['cpu_before_per_system']:.1f} s before, {r['cpu_alone_per_system']:.1f} s alone, "
            f"{r['cpu_together_per_system']:.2f} s together per system ({r['speedup']:.1f}x)",
            flush=True,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/batched_training.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (OUT / "batched_training.json").write_text(
        json.dumps({"command": command, "rows": rows, "versions": dependency_versions()}, indent=1)
    )
    (OUT / "batched_training.md").write_text(markdown(rows, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
