"""Leakage check over the whole chaotic catalog: is any test target a copy of training data?

For every chaotic system and task seed of the standard preset, the longest stretch over which the
training or validation trajectory tracks any test target within NRMSE 0.3
(:func:`chaosbench.bench.leakage.task_leakage`), in Lyapunov times, beside the horizon. A task past the
absolute limits is tested against independent controls (99 for the method of analogues, 19 for the
all-pairs search; :func:`chaosbench.bench.leakage.control_data`) to tell a copy (far above the controls'
longest tracking) from an analogue the attractor allows anyway. Tasks are taken
from the harness's task cache when a benchmark run has built them, else built here. Resumable: rows
already in the JSON output are kept.

    python benchmarks/leakage_catalog.py [--seeds 0 1 2] [--systems NAME ...] [--redo]

``--redo`` computes the named systems' rows again (after a change to their entry); rows of systems that
have left the chaotic catalog are dropped.

Writes ``results/leakage/leakage.json`` (one row per task) and ``results/leakage/leakage.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

from chaosbench.catalog import load_catalog
from chaosbench.bench.cell import dependency_versions
from chaosbench.errors import ChaosbenchError
from chaosbench.bench.runner import task_cache_dir
from chaosbench.bench.leakage import (
    CONTROL_MARGIN,
    COPY_FRACTION,
    MAX_ANALOGUE_LYAP,
    N_CONTROLS,
    control_data,
    control_ratio,
    decorrelation_distance,
    leaks,
    p_value,
    past_limits,
    task_leakage,
)
from chaosbench.bench.tasks import Task, get_preset, make_task, task_id

OUT = Path(__file__).resolve().parent.parent / "results" / "leakage"


def task_for(catalog, name: str, spec, seed: int) -> Task:
    path = task_cache_dir() / f"{name}-{task_id(name, catalog[name].content_hash, spec, seed)}.npz"
    if path.exists():
        return Task.load(path)
    task = make_task(catalog[name], spec, seed=seed, catalog=catalog)
    task.save(path)
    return task


@functools.lru_cache(maxsize=None)
def _distance(name: str) -> float:
    return decorrelation_distance(load_catalog()[name])


def markdown(rows: list[dict]) -> str:
    ok = [r for r in rows if "error" not in r]
    worst = sorted(ok, key=lambda r: -r["max_tracking_lyap"] / r["horizon_lyap"])[:15]
    past = [r for r in ok if past_limits(r)]
    flagged = [r for r in ok if leaks(r)]
    fractions = np.array([r["max_tracking_lyap"] / r["horizon_lyap"] for r in ok]) if ok else np.zeros(1)
    lines = [
        "# Leakage check: test targets against training data, every chaotic system",
        "",
        f"{len(ok)} tasks ({len({r['system'] for r in ok})} systems, seeds "
        f"{', '.join(str(s) for s in sorted({r['seed'] for r in ok}))}); "
        f"{len(rows) - len(ok)} could not be built. Two measures per task, both against the training + "
        "validation data and within NRMSE 0.3: the referee's (Lorenz's method of analogues): from each "
        "target's first point, follow its 10 nearest training points and measure how long one tracks the "
        "target; and the stricter all-pairs search: the longest stretch of any training stretch along any "
        "stretch of any target. A chance analogue tracks a few Lyapunov times; a copied target tracks its "
        "whole horizon.",
        "",
        f"- tasks past the absolute limits (an analogue tracking ≥ {MAX_ANALOGUE_LYAP:g} Lyapunov times, or an "
        f"all-pairs stretch ≥ {COPY_FRACTION:.0%} of the horizon): {len(past)}"
        + (f" ({', '.join(sorted({r['system'] for r in past}))})" if past else ""),
        f"- each of these tested against independent controls ({N_CONTROLS['analogue']} trajectories of the "
        f"training data's length for the method of analogues, {N_CONTROLS['tracking']} for the all-pairs "
        f"search): a copy makes the training data track more than {CONTROL_MARGIN:g}× longer than the longest "
        "control (a copied target is tracked for its whole horizon, far above the chance envelope)",
        f"- **tasks whose training data reproduce a test target (leaks): {len(flagged)}**"
        + (f" ({', '.join(sorted({r['system'] for r in flagged}))})" if flagged else ""),
        f"- method of analogues, longest per task in Lyapunov times: median "
        f"{np.median([r['max_analogue_lyap'] for r in ok]) if ok else float('nan'):.2f}, max "
        f"{max([r['max_analogue_lyap'] for r in ok], default=float('nan')):.2f}",
        f"- longest tracking as a fraction of the horizon: median {np.median(fractions):.2f}, "
        f"90th percentile {np.percentile(fractions, 90):.2f}, max {fractions.max():.2f}",
        f"- all-pairs longest tracking in Lyapunov times: median "
        f"{np.median([r['max_tracking_lyap'] for r in ok]) if ok else float('nan'):.2f}",
        "",
        "## The 15 tasks with the longest tracking (relative to their horizon)",
        "",
        "| system | seed | analogue (Lyapunov times) | all-pairs (Lyapunov times) | horizon (Lyapunov times) "
        "| all-pairs / horizon |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['system']} | {r['seed']} | {r['max_analogue_lyap']:.2f} | {r['max_tracking_lyap']:.2f} | "
        f"{r['horizon_lyap']:.2f} | {r['max_tracking_lyap'] / r['horizon_lyap']:.2f} |"
        for r in worst
    ]
    if past:
        lines += [
            "",
            "## Tasks past the absolute limits, against independent controls",
            "",
            "Longest tracking of any target (Lyapunov times) by the task's training data and by its controls "
            "(median and maximum over controls), their ratio (training / longest control) and the training "
            "data's rank among the controls as a permutation p-value (descriptive: these tasks were selected "
            "for long tracking, which biases it low; about 1 in 100 sits at the top by chance, and several "
            "of 36 selected ones do).",
            "",
            "| system | seed | measure | training | controls: median | controls: max | ratio | p | verdict |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in sorted(past, key=lambda r: (r["system"], r["seed"])):
            for m in past_limits(r):
                c = r.get(f"control_max_{m}_lyap") or []
                p, ratio = p_value(r, m), control_ratio(r, m)
                verdict = (
                    "not yet tested" if p is None else "**copy**" if ratio > CONTROL_MARGIN else "the attractor's own"
                )
                med = f"{np.median(c):.2f}" if c else "–"
                top = f"{max(c):.2f}" if c else "–"
                lines.append(
                    f"| {r['system']} | {r['seed']} | {'analogue' if m == 'analogue' else 'all-pairs'} | "
                    f"{r[f'max_{m}_lyap']:.2f} | {med} | {top} | {'–' if ratio is None else f'{ratio:.2f}'} | "
                    f"{'–' if p is None else f'{p:.2f}'} | {verdict} |"
                )
        lines += [
            "",
            "## Flagged systems: do their starting points decorrelate?",
            "",
            "Median distance (attractor std units) between 9 trajectories started from one pool state with "
            "independent 1e-3 perturbations, after the 20-Lyapunov-time decorrelation transient "
            "(`chaosbench.bench.leakage.decorrelation_distance`). About 1: the generator's starts are independent "
            "and the long analogues are the system's own (long regular stretches that any nearby training "
            "point follows); far below 1: perturbations do not grow to the attractor's size within the "
            "transient, so the system mixes slowly or not at all at these settings (near 0: a stable cycle "
            "or torus; its chaotic status is in doubt) and its windows are not independent.",
            "",
            "| system | decorrelation distance | verdict |",
            "|---|---:|---|",
        ]
        for name in sorted({r["system"] for r in past}):
            d = _distance(name)
            verdict = (
                "starts independent"
                if d > 0.3
                else "perturbations stay small after 20 Lyapunov times (a phase-coherent band; see the controls)"
            )
            lines.append(f"| {name} | {d:.3f} | {verdict} |")
    errors = [r for r in rows if "error" in r]
    if errors:
        lines += ["", "## Tasks that could not be built", ""] + [
            f"- {r['system']} seed {r['seed']}: {r['error']}" for r in errors
        ]
    lines += ["", f"Versions: `{json.dumps(dependency_versions(), sort_keys=True)}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--systems", nargs="+")
    ap.add_argument("--redo", action="store_true", help="recompute the rows of --systems")
    args = ap.parse_args(argv)
    if args.redo and not args.systems:
        ap.error("--redo needs --systems: the systems whose rows to compute again")
    catalog = load_catalog()
    spec = get_preset("standard").task
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "leakage.json"
    rows = json.loads(store.read_text()) if store.exists() else []
    redo = set(args.systems or []) if args.redo else set()
    rows = [r for r in rows if r["system"] in catalog.chaotic() and r["system"] not in redo]
    done = {(r["system"], r["seed"]) for r in rows}
    for seed in args.seeds:
        for name in args.systems or catalog.chaotic():
            if (name, seed) in done:
                continue
            t0 = time.perf_counter()
            try:
                row = task_leakage(task_for(catalog, name, spec, seed))
            except ChaosbenchError as exc:
                row = {"system": name, "seed": seed, "error": str(exc)}
            row["seconds"] = round(time.perf_counter() - t0, 2)
            rows.append(row)
            store.write_text(json.dumps(rows, indent=1))
            (OUT / "leakage.md").write_text(markdown(rows))
            print(
                f"{name} seed {seed}: "
                + (
                    f"analogue {row['max_analogue_lyap']:.2f}, all-pairs "
                    f"{row['max_tracking_lyap']:.2f} of {row['horizon_lyap']:.1f} Lyapunov "
                    "times"
                    if "error" not in row
                    else row["error"]
                ),
                flush=True,
            )
    # a task past the absolute limits is tested against independent controls
    for i, row in enumerate(rows):
        if "error" in row or not past_limits(row) or "control_max_analogue_lyap" in row:
            continue
        name, seed = row["system"], row["seed"]
        t0 = time.perf_counter()
        task = task_for(catalog, name, spec, seed)
        controls = control_data(task, catalog[name], N_CONTROLS["analogue"])
        pairs = N_CONTROLS["tracking"] if "tracking" in past_limits(row) else 0
        rows[i] = {
            **task_leakage(task, controls=controls, pair_controls=pairs),
            "seconds": round(row.get("seconds", 0) + time.perf_counter() - t0, 2),
        }
        store.write_text(json.dumps(rows, indent=1))
        (OUT / "leakage.md").write_text(markdown(rows))
        print(
            f"{name} seed {seed} against controls: "
            + ("a copy" if leaks(rows[i]) else "the attractor's own")
            + "".join(f", {m} p = {p_value(rows[i], m):.2f}" for m in past_limits(rows[i])),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
