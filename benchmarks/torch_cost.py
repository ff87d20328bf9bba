"""The CPU cost of the eight torch models over the catalog, before and after the December 2026 changes.

- ``lstm``, ``gru``, ``transformer``, ``shplrnn``: with ``--measure`` this script fits the defaults before
  the change (``calibrate_torch.BASE``) and the new defaults (a row of its ``GRID``, :data:`AFTER`) side by
  side in one process: for each of the standard seed-0 tasks of Lorenz, Rossler and HyperRossler, each
  model's *before* fit and then its *after* fit (fit CPU seconds from ``time.process_time``, one torch
  thread), kept in ``results/perf/torch_cost_fits.json`` (a stopped run resumes from it). The catalog
  estimate is the mean over those systems x the chaotic catalog's systems x 3 seeds.
- ``lru``, ``mamba``: their defaults did not change (the calibration kept them), so before = after.
- Lorenz skill of both: ``benchmarks/calibrate_torch.py``'s test stage (the goal task's 10 test windows
  scored as a harness cell does) and its long validation score.
- ``alrnn``, ``plrnn``: ``benchmarks/batched_training.py`` fits them one by one as before and trained together
  (32 systems, 10 epochs; scaled to the default epochs), side by side in its own run.

The script checks that :data:`AFTER` is what the models now default to, so the table cannot drift from the
code. Writes ``results/perf/torch_cost.md`` and ``.json``.

usage: python benchmarks/torch_cost.py [--measure]   (without it: the table from the stored fits)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from calibrate_torch import BASE, CROSS_SYSTEMS, GRID, SYSTEM, fit, load_task
from common import load_average

from chaosbench.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "perf"
N_SYSTEMS = len(load_catalog().chaotic())
SYSTEMS, CELLS = (SYSTEM, *CROSS_SYSTEMS), N_SYSTEMS * 3
#: the calibration's label of each model's new defaults ("default" = unchanged)
AFTER = {
    "lstm": "ls",
    "gru": "ls",
    "transformer": "ls",
    "lru": "default",
    "mamba": "default",
    "shplrnn": "h4096-e1",
}
#: the models whose defaults changed, fitted before and after side by side by ``--measure``
MEASURED = ("lstm", "gru", "transformer", "shplrnn")
FITS = OUT / "torch_cost_fits.json"


def overrides(model: str, label: str) -> dict:
    return dict(next(o for m, la, o in GRID if m == model and la == label))


def check_defaults() -> None:
    """Every hyperparameter the calibration pins for the new defaults is the model's default now."""
    from chaosbench.models import make_model

    for model, label in AFTER.items():
        want = {**BASE[model], **overrides(model, label)}
        have = make_model(model).get_params()
        wrong = {k: (v, have.get(k)) for k, v in want.items() if have.get(k) != v}
        if wrong:
            raise SystemExit(f"{model}: defaults differ from calibration row '{label}': {wrong} (want, have)")


def measure() -> dict:
    """Fit each changed model's former and new defaults on every system, one after the other in this process."""
    store = json.loads(FITS.read_text()) if FITS.exists() else {"fits": {}}
    store.setdefault("load_before", load_average())
    for system in SYSTEMS:
        task = load_task(system, 0)
        for model in MEASURED:
            for which, label in (("before", "default"), ("after", AFTER[model])):
                k = f"{model}/{which}/{system}"
                if k in store["fits"]:
                    continue
                params = {**BASE[model], **overrides(model, label)}
                _, rec = fit(model, params, task)
                store["fits"][k] = rec
                print(f"{k}: {rec['fit_cpu_s']} CPU s (load {rec['load']})", flush=True)
                FITS.write_text(json.dumps(store, indent=1))
    store["load_after"] = load_average()
    FITS.write_text(json.dumps(store, indent=1))
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--measure", action="store_true", help="fit before and after side by side (about an hour of CPU)"
    )
    args = parser.parse_args()
    check_defaults()
    if not args.measure and not FITS.exists():
        raise SystemExit(f"{FITS.relative_to(ROOT)} is missing: run `python benchmarks/torch_cost.py --measure` first")
    measured = measure() if args.measure else json.loads(FITS.read_text())
    cal = json.loads((OUT / "torch_calibration.json").read_text())
    fits, tests = cal["fits"], cal["test"]
    rows = []
    for model, label in AFTER.items():
        row: dict = {"model": model, "after": label, "cpu": {}}
        for which, la in (("before", "default"), ("after", label)):
            if model in MEASURED:
                cpu = [measured["fits"].get(f"{model}/{which}/{s}", {}).get("fit_cpu_s") for s in SYSTEMS]
            else:  # the same configuration before and after: one measurement serves both
                cpu = [fits.get(f"{model}/default/{s}", {}).get("fit_cpu_s") for s in SYSTEMS]
            row["cpu"][which] = dict(zip(SYSTEMS, cpu))
            known = [c for c in cpu if c is not None]
            row[f"cpu_{which}"] = float(np.mean(known)) if len(known) == len(SYSTEMS) else None
            row[f"vpt_{which}"] = tests.get(f"{model}/{la}", {}).get("vpt_lyap")
            row[f"val_{which}"] = fits.get(f"{model}/{la}/{SYSTEM}", {}).get("long_mean")
        if row["cpu_before"] and row["cpu_after"]:
            row["speedup"] = row["cpu_before"] / row["cpu_after"]
            row["catalog_cpu_hours_before"] = row["cpu_before"] * CELLS / 3600
            row["catalog_cpu_hours_after"] = row["cpu_after"] * CELLS / 3600
        rows.append(row)
    batched = json.loads((OUT / "batched_training.json").read_text())
    for b in batched["rows"]:
        scale = b["default_epochs"] / b["epochs"]
        rows.append(
            {
                "model": b["model"],
                "after": "trained together",
                "cpu_before": b["cpu_before_per_system"] * scale,
                "cpu_after": b["cpu_together_per_system"] * scale,
                "speedup": b["speedup"],
                "catalog_cpu_hours_before": b["catalog_cpu_hours_before"] * 3,
                "catalog_cpu_hours_after": b["catalog_cpu_hours_together"] * 3,
                "vpt_before": None,
                "vpt_after": None,
            }
        )
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "systems": SYSTEMS,
        "cells": CELLS,
        "rows": rows,
        "load": [measured.get("load_before"), measured.get("load_after")],
    }
    (OUT / "torch_cost.json").write_text(json.dumps(record, indent=1))
    (OUT / "torch_cost.md").write_text(markdown(record, cal, batched))
    print((OUT / "torch_cost.md").read_text())


def _f(v, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def markdown(record: dict, cal: dict, batched: dict) -> str:
    lines = [
        f"# CPU cost of the torch models over the catalog, before and after ({record['date']})",
        "",
        f"Command: `python benchmarks/torch_cost.py --measure` (load average before {record['load'][0]}, after "
        f"{record['load'][1]}; on a shared machine compare CPU seconds within this table, not with other files). "
        f"{', '.join(f'`{m}`' for m in MEASURED)}: the former and the new defaults "
        "fitted side by side in that one process, one torch thread, fit CPU seconds per cell (`time.process_time`), "
        f"the mean over the standard seed-0 tasks of {', '.join(record['systems'])}; `lru` and `mamba` kept their "
        "defaults (one configuration, before = after; CPU seconds from the calibration run, "
        f"`{cal['command']}`); `alrnn` and `plrnn` from `{batched['command']}`, which fits them alone and together "
        f"side by side. Catalog: x {record['cells']} cells ({record['cells'] // 3} systems x 3 seeds). Lorenz skill "
        "(the calibration's test stage): median VPT of the 10 test windows of the goal task (seed 0), scored as a "
        "harness cell; long validation: the calibration's selection score (mean VPT over 12 windows of 25 Lyapunov "
        "times from the training parts of seeds 1-2).",
        "",
        "| model | new defaults (calibration row) | fit CPU s per cell: before | after | speedup | catalog CPU-h: "
        "before | after | Lorenz test VPT: before | after | Lorenz long validation VPT: before | after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total_before = total_after = 0.0
    for r in record["rows"]:
        total_before += r.get("catalog_cpu_hours_before") or 0.0
        total_after += r.get("catalog_cpu_hours_after") or 0.0
        lines.append(
            f"| {r['model']} | {r['after']} | {_f(r['cpu_before'], '.0f')} | {_f(r['cpu_after'], '.0f')} | "
            f"**{_f(r.get('speedup'), '.1f')}×** | {_f(r.get('catalog_cpu_hours_before'), '.1f')} | "
            f"{_f(r.get('catalog_cpu_hours_after'), '.1f')} | {_f(r.get('vpt_before'), '.2f')} | "
            f"{_f(r.get('vpt_after'), '.2f')} | {_f(r.get('val_before'), '.2f')} | {_f(r.get('val_after'), '.2f')} |"
        )
    lines += [
        f"| **all with both figures** | | | | **{total_before / max(total_after, 1e-9):.1f}×** | {total_before:.1f} | "
        f"{total_after:.1f} | | | | |",
        "",
        "Per system (fit CPU s, before / after): "
        + "; ".join(
            f"{r['model']}: "
            + ", ".join(
                f"{s} {_f(r['cpu']['before'][s], '.0f')}/{_f(r['cpu']['after'][s], '.0f')}" for s in record["systems"]
            )
            for r in record["rows"]
            if "cpu" in r
        )
        + ".",
        "",
        "alrnn and plrnn: CPU s per system from `benchmarks/batched_training.py` (10 epochs, scaled to the 320 "
        "default epochs); *before* is one fit at a time with one SVD per state, *after* is the harness training "
        "all systems of a seed together; their Lorenz figures are in `alrnn_published.md` and `plrnn_lorenz.md`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
