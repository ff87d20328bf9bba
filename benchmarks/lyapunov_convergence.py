"""Does a stored Lyapunov exponent hold over much longer runs? A check of the flows where it might not.

The catalog's exponents average over 1,000 periods (or an entry's ``lyapunov_periods``). Two kinds of flow can
fool an average of that length: a flow whose chaos is weak or comes in bursts, and a conservative flow, whose
phase space mixes chaotic seas with regular islands (an orbit may stick near an island for long stretches, or be
regular altogether, and then its finite-time exponent falls as 1/T). For the ``--weakest`` chaotic flows by
lambda_max x period and every conservative or Hamiltonian flow, this runs the variational method
(:func:`chaosbench.invariants.lyapunov.flow_sums`, the annotation's kernel) from 8 states of the catalog's orbit
over the stored run length and over ten times it (three times past 100,000 periods), at the stored step. Where
the longer run falls below ``FALL`` of the shorter, both are repeated at a quarter of the step: RK4 does not
preserve volume, and over long runs it can carry a conservative orbit onto an island, which a finer step delays.

Writes ``results/annotations/lyapunov_convergence.md`` and ``.json``.

usage: python benchmarks/lyapunov_convergence.py [--weakest 16]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from chaosbench.bench.cell import dependency_versions
from chaosbench.catalog import load_catalog
from chaosbench.compiler import compile_system
from chaosbench.invariants.lyapunov import flow_sums, starting_states

OUT = Path(__file__).resolve().parent.parent / "results" / "annotations"
FALL = 0.8  # a longer run below this fraction of the shorter one is checked at a finer step
LONGEST = 100_000  # periods: past this, the long run is three times the short one instead of ten
STATES = 8


def estimate(system, start, periods: float, step_divisor: float) -> tuple[float, float]:
    """Mean and std over ``STATES`` states of lambda_max over ``periods`` periods at the stored step / divisor;
    ``start``: the compiled system and its candidate states and times (:func:`starting_states`)."""
    cs, y0s, t0s = start
    h = system.invariants["method"]["lyapunov"]["dt"] / step_divisor
    n_steps = int(math.ceil(periods * system.period / h))
    n_transient = int(math.ceil(50 * system.period / h))
    logs, _, _ = flow_sums(cs, y0s, t0s, STATES, h, n_transient, n_steps, 4, system.dimension)
    lam = logs[:, 0] / (n_steps * h)
    return float(lam.mean()), float(lam.std(ddof=1))


def check(system) -> dict:
    base = float(system.invariants["method"]["lyapunov"]["periods"])
    t0 = time.process_time()
    cs = compile_system(system)
    start = (cs, *starting_states(system, cs, 4 * STATES, 0)[:2])
    row: dict = {"system": system.name, "stored": system.max_lyapunov, "periods": base}
    row["short"], row["short_std"] = estimate(system, start, base, 1)
    row["long_periods"] = long = 10 * base if 10 * base <= LONGEST else 3 * base
    row["long"], row["long_std"] = estimate(system, start, long, 1)
    if row["long"] < FALL * row["short"]:
        row["short_fine"], row["short_fine_std"] = estimate(system, start, base, 4)
        row["long_fine"], row["long_fine_std"] = estimate(system, start, long, 4)
    row["seconds"] = round(time.process_time() - t0, 1)
    return row


def verdict(r: dict) -> str:
    if r["long"] >= FALL * r["short"]:
        return "holds" if r["long"] <= r["short"] / FALL else "**grows with the run**"
    if "long_fine" in r and r["long_fine"] >= FALL * r["short_fine"]:
        return "holds at a quarter of the step (the fall is RK4's drift)"
    return "**falls with the run**"


def markdown(rows: list[dict], command: str) -> str:
    lines = [
        "# Do the stored Lyapunov exponents hold over much longer runs?",
        "",
        f"Command: `{command}`. lambda_max from the variational method over the stored run length (*short*) and "
        f"ten times it (*long*; three times where ten would pass {LONGEST:,} periods), {STATES} states of the "
        "catalog's orbit, mean ± std, at the stored step; where long "
        f"< {FALL:g} x short, both again at a quarter of the step. Flows: the weakest chaos by lambda_max x period "
        "and every conservative or Hamiltonian flow. The stored step is kept to 6 digits, so *short* repeats the "
        "stored value only to within the spread of its states.",
        "",
        "| system | stored | periods, short / long | short | long | short, step/4 | long, step/4 | CPU s | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        fine = (
            f"{r['short_fine']:.4g} ± {r['short_fine_std']:.2g} | {r['long_fine']:.4g} ± {r['long_fine_std']:.2g}"
            if "long_fine" in r
            else "– | –"
        )
        lines.append(
            f"| {r['system']} | {r['stored']:.4g} | {r['periods']:g} / {r['long_periods']:g} | "
            f"{r['short']:.4g} ± {r['short_std']:.2g} | "
            f"{r['long']:.4g} ± {r['long_std']:.2g} | {fine} | {r['seconds']:.0f} | {verdict(r)} |"
        )
    lines += ["", f"Versions: `{json.dumps(dependency_versions(), sort_keys=True)}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weakest", type=int, default=16)
    args = ap.parse_args(argv)
    catalog = load_catalog()
    flows = [catalog[n] for n in catalog.chaotic() if not catalog[n].is_delay and catalog[n].kind == "flow"]
    flows.sort(key=lambda s: s.max_lyapunov * s.period)
    conservative = [s for s in flows if s.flags.get("hamiltonian") or s.flags.get("conservative")]
    picked = flows[: args.weakest] + [s for s in conservative if s not in flows[: args.weakest]]
    command = f"python benchmarks/lyapunov_convergence.py --weakest {args.weakest}"
    rows = []
    for s in picked:
        rows.append(check(s))
        print(f"{s.name}: {rows[-1]['short']:.4g} -> {rows[-1]['long']:.4g} ({verdict(rows[-1])})", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lyapunov_convergence.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1))
    (OUT / "lyapunov_convergence.md").write_text(markdown(rows, command))
    print(f"wrote {OUT / 'lyapunov_convergence.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
