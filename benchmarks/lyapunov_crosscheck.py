"""Every chaotic flow's stored Lyapunov spectrum against a second, independent method.

The catalog's spectra come from the variational equations under fixed-step RK4 (or, for a field that
jumps, from finite differences). This recomputes the leading exponent of every ordinary flow from
finite differences of the flow map under the adaptive DOP853 integrator
(:func:`chaosbench.invariants.jumps.finite_difference_spectrum`: other numerics, no Jacobian) on fewer
and shorter runs, and flags a system where the two disagree by more than ``TOLERANCE`` (relative) and
more than ``Z`` combined error bars. Delay equations and maps are left out (their tangent dynamics are
exact products or a discretisation the finite-difference method would repeat).

    python benchmarks/lyapunov_crosscheck.py [--systems NAME ...] [--initial 3] [--periods 200]

Resumable (rows already in the JSON are kept). Writes ``results/annotations/lyapunov_crosscheck.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from chaosbench.bench.cell import dependency_versions
from chaosbench.catalog import load_catalog
from chaosbench.errors import ChaosbenchError
from chaosbench.invariants.annotate import SETTINGS, lyapunov_settings
from chaosbench.invariants.jumps import finite_difference_spectrum

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "annotations"
TOLERANCE, Z = 0.2, 3.0
#: the cap on the run's steps (spread over its intervals, at least 5,000 per interval)
MAX_STEPS = 1_500_000


def disagrees(row: dict) -> bool:
    """More than ``TOLERANCE`` apart relative to the stored value and more than ``Z`` combined error bars."""
    if "error" in row:
        return False
    diff = abs(row["fd"] - row["stored"])
    sigma = math.hypot(row["stored_std"], row["fd_std"])
    return diff > TOLERANCE * abs(row["stored"]) and diff > Z * sigma


def markdown(rows: list[dict], settings: dict) -> str:
    done = [r for r in rows if "error" not in r]
    flagged = [r for r in done if disagrees(r)]
    lines = [
        "# Leading Lyapunov exponents: stored against finite differences of the flow map",
        "",
        f"Command: `python benchmarks/lyapunov_crosscheck.py --initial {settings['initial']} --periods "
        f"{settings['periods']:g}`. *Stored*: `systems.json` (8 states x 1000 periods, or the entry's "
        "`lyapunov_periods`; the method is in `method.lyapunov`). *Finite differences*: the orbit and one "
        "displaced copy per dimension under DOP853 (rtol 1e-11), QR every period/8, "
        f"{settings['initial']} states x {settings['periods']:g} periods after {settings['transient']:g} (longer in "
        "proportion where an entry sets `lyapunov_periods`: the *periods* column); "
        "mean ± std over the states. A row is flagged when the two differ by more than "
        f"{TOLERANCE:.0%} and more than {Z:g} combined error bars.",
        "",
        f"{len(done)} of {len(rows)} flows cross-checked; **{len(flagged)} flagged**"
        + (f": {', '.join(r['system'] for r in flagged)}" if flagged else "")
        + ".",
        "",
        "| system | stored λ_max | method | finite differences | periods | ratio | CPU s | flag |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in sorted(done, key=lambda r: r["system"]):
        lines.append(
            f"| {r['system']} | {r['stored']:.4g} ± {r['stored_std']:.2g} | {r['stored_method']} | "
            f"{r['fd']:.4g} ± {r['fd_std']:.2g} | {r.get('periods', settings['periods']):g} | "
            f"{r['fd'] / r['stored']:.2f} | {r['seconds']:.0f} | " + ("**differs**" if disagrees(r) else "") + " |"
        )
    errors = [r for r in rows if "error" in r]
    if errors:
        lines += ["", "## Not cross-checked", ""] + [f"- {r['system']}: {r['error']}" for r in errors]
    lines += ["", f"Versions: `{json.dumps(dependency_versions(), sort_keys=True)}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+")
    ap.add_argument("--initial", type=int, default=3)
    ap.add_argument("--periods", type=float, default=200.0)
    args = ap.parse_args(argv)
    catalog = load_catalog()
    settings = {"initial": args.initial, "periods": args.periods, "transient": 20.0}
    store = OUT / "lyapunov_crosscheck.json"
    record = json.loads(store.read_text()) if store.exists() else {"settings": settings, "rows": []}
    if record["settings"] != settings:
        sys.exit(f"{store} holds rows of other settings {record['settings']}; move it away to start again")
    flows = [n for n in catalog.chaotic() if not catalog[n].is_delay]

    def periods_of(name: str) -> float:
        """The finite-difference run length: ``--periods``, lengthened as the annotation lengthens the stored
        runs of an entry that sets ``lyapunov_periods``."""
        stored = lyapunov_settings(catalog[name], SETTINGS)["n_periods"] / SETTINGS["lyapunov"]["n_periods"]
        return args.periods * max(1.0, stored)

    rows = [
        r
        for r in record["rows"]
        if r["system"] in flows
        and r["hash"] == catalog[r["system"]].content_hash
        and r.get("periods", args.periods) == periods_of(r["system"])
    ]
    done = {r["system"] for r in rows}
    for name in args.systems or flows:
        if name in done:
            continue
        s = catalog[name]
        stored = s.invariants
        row: dict = {"system": name, "hash": s.content_hash, "periods": periods_of(name)}
        t0 = time.process_time()
        try:
            ly = finite_difference_spectrum(
                s,
                n_initial=args.initial,
                n_periods=row["periods"],
                transient_periods=settings["transient"],
                max_steps=int(MAX_STEPS * row["periods"] / args.periods),
            )
            method = stored["method"]["lyapunov"]["method"]
            row |= {
                "stored": stored["lyapunov_spectrum"][0],
                "stored_std": stored["lyapunov_spectrum_std"][0],
                "stored_method": "finite differences" if method.startswith("finite") else "variational, RK4",
                "fd": float(ly.mean[0]),
                "fd_std": float(ly.std[0]),
            }
        except ChaosbenchError as exc:
            row["error"] = str(exc)
        row["seconds"] = round(time.process_time() - t0, 1)
        rows.append(row)
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
        (OUT / "lyapunov_crosscheck.md").write_text(markdown(rows, settings))
        print(
            f"{name}: "
            + (
                row["error"]
                if "error" in row
                else f"stored {row['stored']:.4g}, fd {row['fd']:.4g} ± {row['fd_std']:.2g}"
            )
            + f" ({row['seconds']} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
