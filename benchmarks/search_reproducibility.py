"""Does a score depend on how busy the machine is? The standard NG-RC cell for HyperQi, twice.

The referee's case: with a search stopped after a number of seconds, this cell ran 7 trials on a busy
machine and 10 on a quiet one, chose other settings and scored 0 against 12.8 Lyapunov times. Searches
are now bounded by trials. This runs the very cell of the standard preset (seed 0) once with ``--load``
extra processes spinning on every core and once without them, each in its own process as the harness
runs it, and compares everything that is a score or a choice.

    python benchmarks/search_reproducibility.py [--system HyperQi] [--model ngrc] [--load 4]

Writes ``results/perf/search_reproducibility.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from chaosbench.catalog import load_catalog
from chaosbench.bench.cell import dependency_versions, execute
from chaosbench.bench.runner import build_tasks, plan
from chaosbench.bench.tasks import get_preset

OUT = Path(__file__).resolve().parent.parent / "results" / "perf"
COMPARED = ("status", "vpt_lyap", "vpt_windows", "censored_fraction", "d_stsp", "d_h", "diverged")


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def run_once(cell, task_path: str, load: int) -> dict:
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(load)]
    for p in spinners:
        p.start()
    try:
        t0 = time.perf_counter()
        rec = execute(cell, task_path)
        rec["wall_seconds"] = time.perf_counter() - t0
    finally:
        stop.set()
        for p in spinners:
            p.join()
    search = json.loads(rec["fit_info"]).get("search", {})
    return {
        "load": load,
        "wall_seconds": round(rec["wall_seconds"], 1),
        "fit_seconds": round(rec["fit_seconds"], 1),
        "n_trials": search.get("n_trials"),
        "chosen": search.get("chosen"),
        "safety_limit_hit": search.get("safety_limit_hit"),
        **{k: (np.asarray(rec[k]).tolist() if k == "vpt_windows" else rec[k]) for k in COMPARED},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", default="HyperQi")
    ap.add_argument("--model", default="ngrc")
    ap.add_argument("--load", type=int, default=4, help="extra busy processes during the loaded run")
    args = ap.parse_args(argv)
    catalog = load_catalog()
    preset = get_preset("standard")
    (cell,) = plan(
        [args.system],
        [args.model],
        [0],
        task=preset.task,
        catalog=catalog,
        overrides={args.model: preset.overrides.get(args.model, {})},
        time_budget=preset.time_budget,
    )
    task_path = build_tasks([cell], catalog)[(cell.system, cell.seed, cell.task)]
    loaded = run_once(cell, task_path, args.load)
    idle = run_once(cell, task_path, 0)
    same = all(loaded[k] == idle[k] for k in COMPARED + ("chosen", "n_trials"))
    OUT.mkdir(parents=True, exist_ok=True)
    out = {
        "system": args.system,
        "model": args.model,
        "cell_id": cell.id,
        "identical": same,
        "runs": [loaded, idle],
        "versions": dependency_versions(),
    }
    (OUT / "search_reproducibility.json").write_text(json.dumps(out, indent=1))
    rows = [
        f"| {r['load']} | {r['wall_seconds']} | {r['fit_seconds']} | {r['n_trials']} | "
        f"`{json.dumps(r['chosen'])}` | {r['vpt_lyap']:.4f} | {r['d_stsp']:.4f} | {r['d_h']:.4f} |"
        for r in (loaded, idle)
    ]
    (OUT / "search_reproducibility.md").write_text(
        "\n".join(
            [
                f"# The standard {args.model} cell for {args.system} (seed 0) on a loaded and a quieter machine",
                "",
                f"`python benchmarks/search_reproducibility.py --system {args.system} --model {args.model} "
                f"--load {args.load}` (the loaded run adds that many busy processes to whatever else the machine "
                "runs).",
                "",
                "| extra busy processes | wall s | fit s | trials | chosen | median VPT | D_stsp | D_H |",
                "|---:|---:|---:|---:|---|---:|---:|---:|",
                *rows,
                "",
                f"Scores, windows and choices identical: **{same}**.",
                "",
                f"Versions: `{json.dumps(dependency_versions(), sort_keys=True)}`",
                "",
            ]
        )
    )
    print(
        f"identical: {same}; loaded {loaded['wall_seconds']} s, quieter {idle['wall_seconds']} s; "
        f"VPT {loaded['vpt_lyap']:.3f} / {idle['vpt_lyap']:.3f}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
