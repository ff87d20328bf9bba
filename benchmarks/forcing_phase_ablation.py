"""What giving forced systems their forcing phase changes: the standard cells with and without it.

Protocol 2 appends cos and sin of each forcing phase to a forced system's observed columns (unscored).
This compares, system by system, the standard preset's cells (with the phase) against the same cells run
with ``--set task.forcing_phase=false``:

    chaosbench bench --preset standard --systems <the forced systems> --models esn ngrc --seeds 0 \\
        --set task.forcing_phase=false --out results/forcing-ablation
    python benchmarks/forcing_phase_ablation.py [--with results/standard] [--without results/forcing-ablation]

Writes ``results/perf/forcing_phase.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from chaosbench.bench import results

ROOT = Path(__file__).resolve().parent.parent


def vpt_table(root, seeds) -> "dict":
    frame = results.read(root)
    frame = frame[frame["seed"].isin(seeds)]
    vpt = np.where(frame["status"] == "ok", frame["vpt_lyap"], 0.0)
    return frame.assign(vpt=vpt).groupby(["system", "model"])["vpt"].median().to_dict()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--with", dest="with_", default=str(ROOT / "results" / "standard"))
    ap.add_argument("--without", default=str(ROOT / "results" / "forcing-ablation"))
    args = ap.parse_args(argv)
    without = vpt_table(args.without, [0])
    with_ = vpt_table(args.with_, [0])
    keys = sorted(k for k in without if k in with_)
    models = sorted({m for _, m in keys})
    lines = [
        "# Forced systems with and without their forcing phase (standard preset, seed 0)",
        "",
        "Median VPT in Lyapunov times (failed cells 0). *with*: cos/sin of each forcing phase appended as "
        "unscored columns (protocol 2's default); *without*: `task.forcing_phase=false`, the system's own "
        "observed variables only (a phase variable such as `z` with `dz/dt = w` is then observed as the "
        "catalog's `observe` gives it, e.g. `sin(z)`, and scored).",
        "",
        "| system | " + " | ".join(f"{m} without | {m} with" for m in models) + " |",
        "|---|" + "---:|---:|" * len(models),
    ]
    for system in sorted({s for s, _ in keys}):
        cells = []
        for m in models:
            a, b = without.get((system, m), np.nan), with_.get((system, m), np.nan)
            cells += [f"{a:.2f}", f"**{b:.2f}**" if b > a else f"{b:.2f}"]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append("")
    for m in models:
        pairs = np.array([(without[k], with_[k]) for k in keys if k[1] == m])
        if len(pairs):
            lines.append(
                f"- {m}: median over {len(pairs)} systems {np.median(pairs[:, 0]):.2f} without, "
                f"{np.median(pairs[:, 1]):.2f} with; better with the phase on "
                f"{int(np.sum(pairs[:, 1] > pairs[:, 0]))}, worse on {int(np.sum(pairs[:, 1] < pairs[:, 0]))}"
            )
    lines.append("")
    out = ROOT / "results" / "perf" / "forcing_phase.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(json.dumps({"wrote": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
