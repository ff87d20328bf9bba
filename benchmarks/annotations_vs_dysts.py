"""Our stored invariants beside dysts 0.96's metadata, with every difference above 20% explained.

    python benchmarks/annotations_vs_dysts.py [--dysts-json PATH]

Writes results/annotations/invariants_vs_dysts.csv (every system) and .md (the table, then the
systems that differ by more than 20% in the maximum exponent, Kaplan-Yorke or correlation dimension,
each with the reason and which value is right). Reasons are derived from the data (dysts' own
inconsistencies, changed equations or parameters recorded in the entry's notes, differing
dimension) plus the hand-written notes in EXPLAINED.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaosbench.catalog import load_catalog  # noqa: E402

OUT = ROOT / "results" / "annotations"
THRESHOLD = 0.20

#: reasons that the data cannot show by itself (literature values, known problems of a dysts entry)
EXPLAINED = {
    "Lorenz": "Ours matches the literature (0.9056, 0, -14.572; Sprott 2003). dysts' maximum exponent 0.892 and "
    "its spectrum's 1.091 disagree with each other; it also uses beta = 2.667.",
    "Rossler": "Ours matches the literature lambda_1 = 0.0714 (Sprott 2003); dysts' 0.151 is twice that.",
    "SprottJerk": "Ours matches Sprott (1997): (0.0550, 0, -2.0720).",
    "MackeyGlass": "Ours is the scalar delay equation (discretised tangent method, leading exponents): lambda_1 ~ "
    "0.005, D_KY ~ 2.1, as Farmer (1982) found for tau = 17 (0.007 in bits per unit time is "
    "0.0049 per unit time). dysts' values come from a 10-variable embedding and are not the "
    "equation's exponents (its KY 8.0 exceeds any published estimate).",
    "DequanLi": "Our spectrum at the catalog's parameters (dysts' values) is {spectrum} +- {spectrum_std}: no "
    "positive exponent. dysts' 0.74 (its spectrum: 1.86) and the catalog's former 100-period check "
    "(0.445) saw the chaotic transient of the first ~50 time units.",
    "Tsucs2": "Our spectrum at dysts' parameters is {spectrum} +- {spectrum_std}; dysts' 0.136 (its spectrum: "
    "0.641) is not reproduced.",
    "KawczynskiStrizhak": "Our spectrum at dysts' parameters is {spectrum} +- {spectrum_std}; dysts' 0.076 (its "
    "spectrum: 0.026) is not reproduced.",
    "Coullet": "dysts' 0.137 is the exponent of a long chaotic transient (about 2600 periods from the former catalog "
    "point, see the notes); the attractor is a thin band with lambda_1 = {lam} and D_KY = 2.03. Its "
    "transverse structure lies below what 3000 points resolve, so D_2 ~ 1.0 (the band seen as a curve) "
    "is a lower bound. D_2 was 0.59 before the estimator stopped choosing windows with a slope below 1, "
    "a gap between the spacing of passes and the Theiler window (see the note on correlation dimensions "
    "above).",
    "PanXuZhou": "dysts' 0.61 matches our runs that stay on the chaotic transient (about 0.6); the others reach a "
    "stable equilibrium.",
    "LiuChen": "dysts' value (0.246) is for its own Sakarya-form parameterisation with an initial condition on an "
    "invariant axis.",
    "SwingingAtwood": "dysts' 1.01 (its spectrum: 7.7) is not reproduced by an independent scipy DOP853 estimate "
    "either (0.20).",
    "StickSlipOscillator": "Neither value is an exponent of this system: ours (0.022) and dysts' come from "
    "tangent equations, which cannot see the jump of sign(v - vs) (no saltation matrix) and see only the "
    "anti-damping while the state slides along v = vs; the system is not chaotic at these parameters (below).",
    "Torus": "Not chaotic (a prescribed quasiperiodic curve; every exponent is exactly 0); excluded from the "
    "chaotic catalog. dysts' 0.008 is a numerical artefact.",
}

#: facts added to the automatic reasons of a flagged system
NOTED = {
    "BlinkingRotlet": "Its flag (hamiltonian) is right: the field preserves the area r dr dtheta (d(r r')/dr + "
    "d(r theta')/dtheta = 0, checked symbolically), so in (r, theta) its divergence is "
    "-d(ln r)/dt, whose mean vanishes on a bounded orbit. The stored mean divergence {div} and "
    "spectrum sum {lam_sum} come from the RK4 step (period/100 = 0.03) not resolving the tanh "
    "blinking switches (about 0.008 wide): with a 10x smaller step both fall to about 0.01 over "
    "300 periods while lambda_1 moves within its error bar (0.58 -> 0.61).",
    "InteriorSquirmer": "Its flag (conservative) is right: the field preserves the area r dr dth (checked "
    "symbolically), so in (r, th) its divergence is -d(ln r)/dt, whose mean vanishes on a "
    "bounded orbit. The stored mean divergence {div} and spectrum sum {lam_sum} come from the RK4 "
    "step not resolving the tanh switches of the protocol: with a 10x smaller step they fall to "
    "0.0005 and 0.0004 over 300 periods while lambda_1 changes by 8% (0.44 -> 0.40).",
}


def dysts_json_path(given: str | None) -> Path:
    if given:
        return Path(given)
    import importlib.util

    spec = importlib.util.find_spec("dysts")
    if spec is None or spec.origin is None:
        raise SystemExit("dysts is not installed; pass --dysts-json PATH to its chaotic_attractors.json")
    return Path(spec.origin).parent / "data" / "chaotic_attractors.json"


def rel(a, b):
    if a is None or b is None:
        return None
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def fmt(x, digits=4):
    return "-" if x is None else f"{x:.{digits}g}"


def reasons(name, s, d, ours, theirs) -> list[str]:
    out = []
    inv = s.invariants
    fields = dict(
        spectrum=[float(f"{v:.3g}") for v in inv["lyapunov_spectrum"]],
        spectrum_std=[float(f"{v:.2g}") for v in inv["lyapunov_spectrum_std"]],
        period=f"{inv['dominant_period']:.3g}",
        lam=f"{inv['lyapunov_spectrum'][0]:.3g}",
        div=f"{inv.get('mean_divergence') or 0:.2g}",
        lam_sum=f"{sum(inv['lyapunov_spectrum']):.2g}",
    )
    if name in EXPLAINED:
        out.append(EXPLAINED[name].format(**fields))
    dmax, dspec = d.get("maximum_lyapunov_estimated"), (d.get("lyapunov_spectrum_estimated") or [None])[0]
    if dmax is not None and dspec is not None and rel(dmax, dspec) > THRESHOLD:
        out.append(f"dysts is inconsistent: its maximum exponent {dmax:.4g} vs its spectrum's first entry {dspec:.4g}.")
    dky = d.get("kaplan_yorke_dimension")
    n_dysts = len(d.get("initial_conditions", [])) or None
    if dky is not None and n_dysts and dky > n_dysts + 1e-9:
        out.append(f"dysts' Kaplan-Yorke dimension {dky:.3g} exceeds its own dimension {n_dysts} (impossible).")
    if s.is_delay:
        out.append(
            "Delay equation: ours are the leading exponents of the scalar equation by a discretised tangent "
            "method, dysts' come from a 10-variable embedding; KY and D2 are not comparable."
        )
    elif n_dysts and n_dysts != s.dimension:
        out.append(
            f"dysts carries {n_dysts} variables (a clock for the forcing), we {s.dimension} with explicit t: "
            "dimensions differ by one by construction."
        )
    if (
        s.notes
        and "dysts" in s.notes
        and any(
            w in s.notes
            for w in (
                "instead",
                "(dysts",
                "dysts uses",
                "dysts has",
                "dysts rounds",
                "opposite",
                "corrected",
                "initial condition",
            )
        )
    ):
        out.append(f"Our entry differs from dysts on purpose: {s.notes.rstrip('.')}.")
    if s.excluded:
        out.append(f"Excluded from the chaotic catalog: {s.excluded.rstrip('.')}.")
    if name in NOTED:
        out.append(NOTED[name].format(**fields))
    lam, err = ours["lam"], ours["lam_std"]
    how = (s.invariants.get("method", {}).get("lyapunov", {}).get("method") or "").startswith("finite differences")
    source = "finite differences of the flow map (its field jumps)" if how else "the exact Jacobian"
    if any("inconsistent" in r for r in out) and name not in EXPLAINED:
        out.append(
            f"At most one of dysts' two values can be right; ours is one estimate from {source} "
            f"with an error bar ({err:.2g})."
        )
    elif theirs["lam"] is not None and lam is not None and name not in EXPLAINED:
        n_sigma = abs(lam - theirs["lam"]) / err if err else float("inf")
        out.append(
            f"Ours comes from {source} over "
            f"{ours['periods']:.0f} periods x {ours['n_ic']} initial conditions with an error bar of "
            f"{err:.2g}; dysts' value is {n_sigma:.0f} error bars away and has no stated uncertainty or "
            "method we could rerun, so we take ours."
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dysts-json")
    args = parser.parse_args(argv)
    dysts = json.loads(dysts_json_path(args.dysts_json).read_text())
    cat = load_catalog()
    rows, flagged = [], []
    for name, s in cat.items():
        inv, d = s.invariants, dysts.get(name, {})
        ours = {
            "lam": s.max_lyapunov,
            "lam_std": (inv.get("lyapunov_spectrum_std") or [None])[0],
            "ky": inv.get("kaplan_yorke_dimension"),
            "d2": inv.get("correlation_dimension"),
            "period": inv.get("dominant_period"),
            "periods": inv.get("method", {}).get("lyapunov", {}).get("periods", 0),
            "n_ic": inv.get("method", {}).get("lyapunov", {}).get("initial_conditions", 0),
        }
        theirs = {
            "lam": d.get("maximum_lyapunov_estimated"),
            "spec0": (d.get("lyapunov_spectrum_estimated") or [None])[0],
            "ky": d.get("kaplan_yorke_dimension"),
            "d2": d.get("correlation_dimension"),
            "period": d.get("period"),
        }
        diffs = {k: rel(ours[k], theirs[k]) for k in ("lam", "ky", "d2")}
        big = [k for k, v in diffs.items() if v is not None and v > THRESHOLD]
        row = {
            "system": name,
            "dim": s.dimension,
            "chaotic": s.excluded is None,
            "lambda_max": ours["lam"],
            "lambda_max_std": ours["lam_std"],
            "dysts_lambda_max": theirs["lam"],
            "dysts_spectrum_first": theirs["spec0"],
            "kaplan_yorke": ours["ky"],
            "dysts_kaplan_yorke": theirs["ky"],
            "correlation_dimension": ours["d2"],
            "dysts_correlation_dimension": theirs["d2"],
            "dominant_period": ours["period"],
            "catalog_period": s.period,
            "dysts_period": theirs["period"],
            "in_dysts": bool(d),
            "differs_over_20pct": ",".join(big),
        }
        rows.append(row)
        if big and d:
            flagged.append((name, big, diffs, reasons(name, s, d, ours, theirs)))
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "invariants_vs_dysts.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [
        "# Invariants: chaosbench beside dysts 0.96",
        "",
        "Ours: `systems.json` as written by `chaosbench annotate` (mean ± std over initial conditions on the "
        "attractor). dysts: `chaotic_attractors.json` of dysts 0.96 (`maximum_lyapunov_estimated`, first entry "
        "of `lyapunov_spectrum_estimated`, `kaplan_yorke_dimension`, `correlation_dimension`, `period`). "
        "Regenerate with `python benchmarks/annotations_vs_dysts.py`.",
        "",
        f"{sum(1 for r in rows if r['in_dysts'])} systems are in both; "
        f"{len(flagged)} differ by more than 20% in λ_max, D_KY or D_2 (explained below).",
        "",
        "| system | dim | λ_max (ours) | λ_max dysts | dysts spectrum[0] | D_KY | D_KY dysts | D_2 | D_2 dysts "
        "| period (spectral) | period dysts | >20% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lam = "-" if r["lambda_max"] is None else f"{r['lambda_max']:.4g} ± {r['lambda_max_std']:.1g}"
        lines.append(
            f"| {r['system']}{'' if r['chaotic'] else ' (excluded)'} | {r['dim']} | {lam} | "
            f"{fmt(r['dysts_lambda_max'])} | {fmt(r['dysts_spectrum_first'])} | {fmt(r['kaplan_yorke'])} | "
            f"{fmt(r['dysts_kaplan_yorke'])} | {fmt(r['correlation_dimension'], 3)} | "
            f"{fmt(r['dysts_correlation_dimension'], 3)} | {fmt(r['dominant_period'])} | "
            f"{fmt(r['dysts_period'])} | "
            f"{r['differs_over_20pct'] or ('not in dysts' if not r['in_dysts'] else '')} |"
        )
    lines += [
        "",
        "## Differences above 20%, explained",
        "",
        "Correlation dimensions differ for a common reason: dysts does not say how it chose the scaling "
        "region; ours is chosen automatically and reported in `method.correlation_dimension.scaling_region`, "
        "and a D_2 differing from D_KY by a few tenths is within the usual spread of Grassberger-Procaccia "
        "estimates from a few thousand points. Where only D_2 differs, that is the explanation. "
        "Windows whose slope "
        "is below 1 are not candidates: an attractor of a flow contains orbits, so its dimension is at least "
        "1, and a lower slope is a gap in the sampled set (on a thin band, pairs on the same pass fall in the "
        "Theiler window and pairs on other passes start at the band's width); this rule changed D_2 of "
        "Coullet, ForcedVanDerPol, PanXuZhou, StickSlipOscillator, Torus and TurchinHanski only.",
        "",
    ]
    for name, big, diffs, why in flagged:
        what = ", ".join(f"{k} {diffs[k]:.0%}" for k in big)
        lines.append(
            f"- **{name}** ({what}): "
            + (" ".join(why) if why else "Only D_2 differs: see the note on correlation dimensions above.")
        )
    (OUT / "invariants_vs_dysts.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT / 'invariants_vs_dysts.md'} and .csv: {len(flagged)} systems differ by >20%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
