"""Regenerate the catalog with chaosbench and with dysts at dysts' defaults, side by side in one run.

dysts' default is ``make_trajectory(1000, pts_per_period=100)`` (scipy Radau, rtol = atol = 1e-12)
from each system's stored initial condition. chaosbench regenerates the same systems at the same
length and resolution with its default tolerance, once with an empty compile cache (cold: compiling
included) and once with the cache filled (warm); both are whole processes timed from start to exit.
Where the two packages define the same vector field (same right-hand side at dysts' initial
condition), chaosbench integrates from dysts' initial condition on dysts' time grid and the two
trajectories are compared over the first Lyapunov times.

usage: python benchmarks/generate_vs_dysts.py [--systems A B ...] [--dysts-python PATH] [--out results/perf]
dysts lives in its own environment:  python -m venv /tmp/dysts && /tmp/dysts/bin/pip install dysts==0.96 numba
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def dysts_worker(names: list[str], out: str) -> None:
    """Runs under dysts' python: time make_trajectory(1000, pts_per_period=100) per system."""
    import warnings

    warnings.filterwarnings("ignore")
    import dysts.flows as flows

    record = {}
    arrays = {}
    for name in names:
        model = getattr(flows, name, None)
        if model is None:
            continue
        model = model()
        start = time.perf_counter()
        try:
            traj = model.make_trajectory(1000, pts_per_period=100)
        except Exception as exc:  # a failure is a result, not a crash of the benchmark
            traj = None
            err = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        info = {"seconds": seconds, "ok": traj is not None and bool(np.all(np.isfinite(traj)))}
        if traj is None:
            info["error"] = err
        else:
            arrays[name] = np.asarray(traj, float)
        period = getattr(model, "period", None)
        info["dt"] = None if period is None else period * (1000 / 100) / 999
        info["ic"] = np.asarray(model.ic, float).tolist()
        info["lyapunov"] = getattr(model, "maximum_lyapunov_estimated", None)
        info["postprocess"] = type(model).__dict__.get("_postprocessing") is not None
        info["delay"] = bool(getattr(model, "delay", False))
        try:
            info["rhs_at_ic"] = np.asarray(model.rhs(np.asarray(model.ic, float), 0.0), float).tolist()
        except Exception:
            info["rhs_at_ic"] = None
        record[name] = info
        print(f"dysts {name}: {seconds:.2f} s", flush=True)
    np.savez(out + ".npz", **arrays)
    Path(out + ".json").write_text(json.dumps(record))


def chaosbench_worker(names: list[str], out: str) -> None:
    """Runs as its own process: regenerate every system, the way a user would."""
    start = time.perf_counter()
    import chaosbench

    data = tempfile.mkdtemp(prefix="cb-bench-")
    chaosbench.generate(names, out=data, length=1000, pts_per_period=100)
    total = time.perf_counter() - start
    Path(out).write_text(json.dumps({"seconds_in_process": total}))


def run_timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - start


def agreement(names: list[str], dysts_info: dict, dysts_traj) -> list[dict]:
    """Compare trajectories where the vector fields coincide, over the first Lyapunov times."""
    from chaosbench.catalog import load_catalog
    from chaosbench.compiler import compile_system
    from chaosbench.integrate import integrate

    cat = load_catalog()
    rows = []
    for name in names:
        info = dysts_info.get(name)
        if not info or name not in dysts_traj or info["delay"] or info["postprocess"] or info["rhs_at_ic"] is None:
            continue
        cs = compile_system(cat[name])
        ic = np.asarray(info["ic"], float)
        if ic.shape != (cs.dimension,):
            rows.append({"system": name, "same_field": False, "why": "different dimension"})
            continue
        ours_f, theirs_f = cs.f(0.0, ic), np.asarray(info["rhs_at_ic"])
        same = bool(np.allclose(ours_f, theirs_f, rtol=1e-9, atol=1e-12 * (1 + np.abs(theirs_f).max())))
        if not same:
            rows.append({"system": name, "same_field": False, "why": "different equations or parameters"})
            continue
        theirs = dysts_traj[name]
        sol = integrate(cs, ic, dt=info["dt"], n_steps=len(theirs))
        std = theirs.std(0)
        std[std == 0] = 1.0
        err = np.sqrt(np.mean(((sol.states[0] - theirs) / std) ** 2, axis=1))
        lam = info["lyapunov"] or 0.0
        n_lyap = int(round(1.0 / lam / info["dt"])) if lam > 0 else len(err)
        first = err[: max(2, min(len(err), n_lyap))]
        rows.append(
            {
                "system": name,
                "same_field": True,
                "max_nrmse_first_lyapunov_time": float(first.max()),
                "lyapunov_times_covered": float(min(len(err), n_lyap) * info["dt"] * lam),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="*", help="default: every dysts flow also in the chaosbench catalog")
    ap.add_argument("--dysts-python", default=os.environ.get("DYSTS_PYTHON", sys.executable))
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    ap.add_argument("--worker", choices=["dysts", "chaosbench"], help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "dysts":
        return dysts_worker(args.systems, args.result)
    if args.worker == "chaosbench":
        return chaosbench_worker(args.systems, args.result)

    sys.path.insert(0, str(ROOT))
    from chaosbench.catalog import load_catalog

    cat = load_catalog()
    listing = subprocess.run(
        [
            args.dysts_python,
            "-c",
            "import warnings; warnings.filterwarnings('ignore');"
            "from dysts.systems import get_attractor_list; print(' '.join(get_attractor_list()))",
        ],
        capture_output=True,
        text=True,
    )
    if listing.returncode != 0:
        sys.exit(f"dysts is not importable with {args.dysts_python}; pass --dysts-python (see the docstring)")
    dysts_names = listing.stdout.split()
    names = args.systems or [n for n in dysts_names if n in cat]
    work = Path(tempfile.mkdtemp(prefix="cb-vs-dysts-"))
    me = str(Path(__file__).resolve())
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")

    load = {}
    # both caches empty: the systems' modules and numba's machine code for the package's own kernels
    cold_env = dict(env, CHAOSBENCH_CACHE=str(work / "cache"), NUMBA_CACHE_DIR=str(work / "numba"))
    load["chaosbench_cold"] = os.getloadavg()[0]
    print("chaosbench, cold cache ...", flush=True)
    cold = run_timed(
        [sys.executable, me, "--worker", "chaosbench", "--result", str(work / "cold.json"), "--systems", *names],
        cold_env,
    )
    load["chaosbench_warm"] = os.getloadavg()[0]
    print("chaosbench, warm cache ...", flush=True)
    warm = run_timed(
        [sys.executable, me, "--worker", "chaosbench", "--result", str(work / "warm.json"), "--systems", *names],
        cold_env,
    )
    load["dysts"] = os.getloadavg()[0]
    print(f"dysts: {len(names)} systems, make_trajectory(1000, pts_per_period=100) ...", flush=True)
    dysts_seconds = run_timed(
        [args.dysts_python, me, "--worker", "dysts", "--result", str(work / "dysts"), "--systems", *names], env
    )
    load["end"] = os.getloadavg()[0]

    dysts_info = json.loads((work / "dysts.json").read_text())
    dysts_traj = dict(np.load(work / "dysts.npz"))
    rows = agreement(names, dysts_info, dysts_traj)
    dysts_ok = sum(1 for v in dysts_info.values() if v["ok"])
    same = [r for r in rows if r["same_field"]]
    agree = [r for r in same if r["max_nrmse_first_lyapunov_time"] < 1e-3]
    result = {
        "systems": len(names),
        "dysts_seconds": dysts_seconds,
        "dysts_ok": dysts_ok,
        "chaosbench_cold_seconds": cold,
        "chaosbench_warm_seconds": warm,
        "speedup_cold": dysts_seconds / cold,
        "speedup_warm": dysts_seconds / warm,
        "same_vector_field": len(same),
        "agree_first_lyapunov_time": len(agree),
        "agreement": rows,
        "dysts_per_system": {k: v["seconds"] for k, v in dysts_info.items()},
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "load_average_before": load,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generate_vs_dysts.json").write_text(json.dumps(result, indent=1))
    slow = sorted(dysts_info.items(), key=lambda kv: -kv[1]["seconds"])[:5]
    lines = [
        "# Regenerating the catalog: chaosbench vs dysts 0.96",
        "",
        f"{len(names)} systems, 1000 points at 100 points per period each, one process per run, "
        f"{result['machine']}, {result['date']}. Command: `python benchmarks/generate_vs_dysts.py`. "
        "1-minute load average before each run: " + ", ".join(f"{k} {v:.1f}" for k, v in load.items()) + ".",
        "",
        "| run | wall seconds | speed-up vs dysts |",
        "|---|---:|---:|",
        f"| dysts `make_trajectory(1000, pts_per_period=100)` (Radau, 1e-12) | {dysts_seconds:.1f} | 1 |",
        f"| chaosbench, cold cache (compiling included) | {cold:.1f} | {result['speedup_cold']:.0f}x |",
        f"| chaosbench, warm cache | {warm:.1f} | {result['speedup_warm']:.0f}x |",
        "",
        f"dysts produced a finite trajectory for {dysts_ok} of {len(names)} systems. Slowest in dysts: "
        + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in slow)
        + ".",
        "",
        f"Agreement: {len(same)} systems have the same vector field in both catalogs (the others were corrected "
        f"against their papers, differ in form, are delay systems or are post-processed by dysts). "
        f"{len(agree)} of those {len(same)} agree with dysts to a normalised RMSE below 1e-3 over the first "
        "Lyapunov time (dysts' own exponent estimate).",
        "",
        "| system | max NRMSE over the first Lyapunov time |",
        "|---|---:|",
    ] + [f"| {r['system']} | {r['max_nrmse_first_lyapunov_time']:.2e} |" for r in same]
    (out / "generate_vs_dysts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
