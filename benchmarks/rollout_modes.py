"""Closed-loop forecasting of the torch models under ``torch.no_grad`` and ``torch.inference_mode``.

A cell's long run (the attractor statistics) is one closed-loop forecast of about 73,000 steps on the
standard preset, batch size one, so its cost is the per-step overhead of a few dozen small tensor operations.
``torch.inference_mode`` runs the same kernels as ``torch.no_grad`` without autograd's version counters and
view tracking. This script fits every torch model briefly (``--epochs``, default 2) on the standard seed-0
task of ``--system``, then times ``--steps`` closed-loop steps from the first test context both ways,
alternating the two modes ``--repeats`` times in one process with one torch thread (best CPU time of each),
and checks that the forecasts are bitwise identical. The saving per standard cell is the per-step
difference times the long run's steps.

Writes ``results/perf/rollout_modes.md`` and ``.json``.

usage: python benchmarks/rollout_modes.py [--models lstm gru ...] [--steps 4000] [--repeats 3]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from calibrate_torch import load_task  # noqa: E402
from common import load_average, versions_line, write_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("lstm", "gru", "transformer", "lru", "mamba", "shplrnn", "alrnn", "plrnn")


def forecast(model, contexts: np.ndarray, steps: int, mode) -> tuple[np.ndarray, float]:
    """``model``'s closed-loop forecast under ``mode`` (a torch grad-mode context) and its CPU seconds."""
    model.net_.eval()
    t0 = time.process_time()
    with mode():
        out = model._rollout(model.net_, torch.as_tensor(contexts, dtype=torch.float32), steps)
    return out.double().numpy(), time.process_time() - t0


def main() -> None:
    from chaosbench.bench.cell import dependency_versions
    from chaosbench.models import make_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--system", default="Lorenz")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = load_task(args.system, 0)
    long_steps = task.horizon + len(task.long_truth)
    load_before, rows = load_average(), []
    for name in args.models:
        model = make_model(name, seed=0, max_epochs=args.epochs)
        model.fit(task.train, dt=task.dt, validation=task.validation)
        best = {"no_grad": np.inf, "inference_mode": np.inf}
        outputs = {}
        for _ in range(args.repeats):
            for label, mode in (("no_grad", torch.no_grad), ("inference_mode", torch.inference_mode)):
                out, cpu = forecast(model, task.contexts[:1], args.steps, mode)
                best[label] = min(best[label], cpu)
                outputs[label] = out
        same = bool(np.array_equal(outputs["no_grad"], outputs["inference_mode"], equal_nan=True))
        per_step = {k: v / args.steps * 1e6 for k, v in best.items()}
        saved = (per_step["no_grad"] - per_step["inference_mode"]) * long_steps / 1e6
        rows.append({"model": name, "us_per_step": per_step, "identical": same, "saved_cpu_s_per_cell": saved})
        print(
            f"{name}: {per_step['no_grad']:.0f} -> {per_step['inference_mode']:.0f} us a step "
            f"({per_step['no_grad'] / per_step['inference_mode']:.2f}x), identical {same}, "
            f"{saved:.0f} CPU s saved on a {long_steps}-step long run",
            flush=True,
        )
    versions = dependency_versions()
    command = "python benchmarks/rollout_modes.py " + " ".join(sys.argv[1:])
    lines = [
        f"# Closed-loop forecasting: no_grad against inference_mode ({date.today()})",
        "",
        f"Command: `{command.strip()}` (load average before {load_before}, after {load_average()}). "
        f"Each model fitted for {args.epochs} epochs on the standard seed-0 {args.system} task, then "
        f"{args.steps} closed-loop steps from its first test context, the two modes alternated "
        f"{args.repeats} times in one process with one torch thread; best CPU time of each. "
        f"*Saved per cell*: the per-step difference times the {long_steps} steps of this task's long run.",
        "",
        "| model | no_grad µs/step | inference_mode µs/step | speedup | forecasts identical | CPU s saved per cell |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        a, b = r["us_per_step"]["no_grad"], r["us_per_step"]["inference_mode"]
        lines.append(
            f"| {r['model']} | {a:.0f} | {b:.0f} | {a / b:.2f}× | {'yes' if r['identical'] else '**no**'} | "
            f"{r['saved_cpu_s_per_cell']:.0f} |"
        )
    lines += ["", versions_line(versions)]
    record = {
        "command": command,
        "system": args.system,
        "steps": args.steps,
        "long_run_steps": long_steps,
        "rows": rows,
        "versions": versions,
    }
    print(write_report(ROOT / "results" / "perf", "rollout_modes", lines, record))


if __name__ == "__main__":
    main()
