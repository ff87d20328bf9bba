"""Sampled chaotic systems: chaosbench's sampler and validator against dysts 0.96's, side by side in one run.

Both pipelines take the same candidates: parameter sets drawn by ``chaosbench.sample`` from the same
parents (each parameter x exp(0.1 N(0,1))). Per pipeline we time integrating and validating them and
count the accepted ones (validated systems per minute of CPU and of wall time); on the candidates both
see we compare the verdicts; and on up to 200 of our accepted systems we run two independent chaos
checks, written here from their papers and sharing no code with either validator's tests:

1. the 0-1 test for chaos in the form of Gottwald & Melbourne (2009, "On the implementation of the 0-1
   test for chaos", SIAM J. Appl. Dyn. Syst. 8, 129-145): the modified mean square displacement
   D_c(n) = M_c(n) - V_osc(c, n), K_c its correlation with n for n <= N/10, K the median over 100 random
   c in (pi/5, 4pi/5). Their section on continuous-time data shows that oversampling drives K to 0 for
   chaotic flows, so the observable x_0 is sampled coarsely, every half dominant period (the
   autocorrelation's first minimum for an oscillation; with a quarter period the dominant frequency
   falls on c = pi/2, in the middle of the c range), and N = 10,000 points are used;
2. for the systems the 0-1 test does not confirm, the separation rate of two trajectories started 1e-7
   (relative) apart and renormalised every period (Benettin et al. 1976), integrated by scipy's LSODA
   at rtol 1e-10: a different integrator and tolerance from the validator's (DOP853 at 1e-9 for the
   orbit, fixed-step RK4 variational equations for its Lyapunov exponent).

dysts' pipeline is its own pieces at the settings of the Gilpin lab's dataset scripts that use them:
``OnAttractorInitCondSampler`` (a start on the parent's attractor), ``make_trajectory(5120,
pts_per_period=5120 // P)`` with P drawn from 25..100 periods, rtol 1e-8, atol 1e-10 (scipy Radau), and
``dysts.attractor.AttractorValidator`` (transient fraction 0.2) with the tests check_not_linear,
check_boundedness, check_not_fixed_point, check_zero_one_test, check_not_limit_cycle,
check_power_spectrum, check_lyapunov_exponent and check_stationarity at those scripts' thresholds.

usage: python benchmarks/sampler_vs_dysts.py [--n 400] [--n-dysts 24] [--dysts-python /tmp/dysts/bin/python]
dysts lives in its own environment:
    python3 -m venv /tmp/dysts && /tmp/dysts/bin/pip install dysts==0.96 statsmodels
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARENTS = ("Lorenz", "Rossler")
#: 0-1 test (Gottwald & Melbourne 2009): x_0 every half dominant period, N points, N_c random c in (pi/5, 4pi/5)
ZERO_ONE_PTS_PER_PERIOD = 2
ZERO_ONE_POINTS = 10_000
ZERO_ONE_CS = 100
ZERO_ONE_THRESHOLD = 0.5
#: separation rate: initial and renormalised distance (relative to the attractor's size), LSODA tolerance,
#: periods of alignment and measured periods in blocks (for a standard error); confirmed if the rate exceeds
#: SEPARATION_Z standard errors and SEPARATION_MIN_GROWTH e-foldings over the measured periods
SEPARATION_D0 = 1e-7
SEPARATION_RTOL = 1e-10
SEPARATION_TRANSIENT_PERIODS = 20
SEPARATION_BLOCKS = 5
SEPARATION_BLOCK_PERIODS = 100
SEPARATION_Z = 3.0
SEPARATION_MIN_GROWTH = 10.0


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# -- dysts, under its own python ------------------------------------------------------------------------
def dysts_worker(candidates_file: str, out: str) -> None:
    """Runs under dysts' python: integrate and validate each candidate with dysts' own pieces."""
    import warnings

    warnings.filterwarnings("ignore")
    from functools import partial

    import dysts.flows as flows
    import numpy as np
    from dysts import attractor as at
    from dysts.sampling import OnAttractorInitCondSampler

    tests = [
        partial(at.check_not_linear, r2_threshold=0.99, eps=1e-10),
        partial(at.check_boundedness, threshold=1e4, max_zscore=15),
        partial(at.check_not_fixed_point, atol=1e-3, tail_prop=0.1),
        partial(at.check_zero_one_test, threshold=0.2, strategy="score"),
        partial(
            at.check_not_limit_cycle,
            tolerance=1e-3,
            min_prop_recurrences=0.1,
            min_counts_per_rtime=200,
            min_block_length=50,
            enforce_endpoint_recurrence=True,
        ),
        partial(at.check_power_spectrum, rel_peak_height=1e-5, rel_prominence=1e-5, min_peaks=4),
        partial(at.check_lyapunov_exponent, traj_len=200),
        partial(at.check_stationarity, p_value=0.05),
    ]
    candidates = json.loads(Path(candidates_file).read_text())
    ic_sampler = OnAttractorInitCondSampler(
        reference_traj_length=4096,
        reference_traj_n_periods=40,
        reference_traj_atol=1e-10,
        reference_traj_rtol=1e-8,
        random_seed=0,
    )
    rng = np.random.default_rng(0)
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    rows = []
    for c in candidates:
        system = getattr(flows, c["parent"])()
        ic = ic_sampler(system.ic, system)  # a point of the parent's attractor (cached per parent)
        values = c["parameters"]
        system.transform_params(lambda name, value, system=None: values.get(name, value))
        system.ic = ic
        periods = int(rng.integers(25, 101))
        validator = at.AttractorValidator(transient_time_frac=0.2, tests=tests)
        try:
            traj = system.make_trajectory(5120, pts_per_period=5120 // periods, rtol=1e-8, atol=1e-10)
        except Exception:  # noqa: BLE001 - a failed integration is a rejection
            traj = None
        if traj is None or not np.all(np.isfinite(traj)) or traj.ndim != 2:
            rows.append({"index": c["index"], "valid": False, "failed": "integration"})
            continue
        valid, _ = validator.filter_ensemble({c["parent"]: traj.T[None]}, first_sample_idx=c["index"])
        failed = validator.failed_checks.get(c["parent"]) or [(None, None)]
        rows.append({"index": c["index"], "valid": c["parent"] in valid, "failed": failed[0][1]})
    Path(out).write_text(
        json.dumps({"rows": rows, "wall": time.perf_counter() - t_wall, "cpu": time.process_time() - t_cpu})
    )


# -- the independent check ---------------------------------------------------------------------------------
def zero_one_k(phi, rng) -> float:
    """K of the 0-1 test for chaos (Gottwald & Melbourne 2004, Proc. R. Soc. A 460, 603-611), correlation
    method with the modified mean square displacement of Gottwald & Melbourne 2009 (SIAM J. Appl. Dyn.
    Syst. 8, 129-145): ~1 chaotic, ~0 regular.

    p_c(n) = sum_{j<=n} phi_j cos(j c), q_c(n) = sum_{j<=n} phi_j sin(j c);
    M_c(n) = mean over j of |(p, q)(j + n) - (p, q)(j)|^2 (all N - n pairs), for n <= n_cut = N / 10;
    D_c(n) = M_c(n) - (E phi)^2 (1 - cos nc) / (1 - cos c); K_c = corr(n, D_c(n)); K = median over c.
    M_c is computed for all n at once from the autocorrelation of p + iq (FFT), exactly.
    """
    import numpy as np

    phi = np.asarray(phi, float)
    phi = phi / (phi.std() or 1.0)  # K is scale free; the mean stays, as V_osc needs it
    N = len(phi)
    n_cut = N // 10
    ns = np.arange(1, n_cut + 1)
    cs = rng.uniform(np.pi / 5, 4 * np.pi / 5, ZERO_ONE_CS)
    j = np.arange(1, N + 1)
    z = np.cumsum(phi * np.exp(1j * np.outer(cs, j)), axis=1)  # (c, N): p + i q
    power = np.abs(z) ** 2
    head = np.cumsum(power, axis=1)  # sum_{k < m} |z_k|^2 at m - 1
    size = 1 << int(np.ceil(np.log2(2 * N)))
    f = np.fft.fft(z, size, axis=1)
    cross = np.fft.ifft(np.abs(f) ** 2, axis=1)[:, 1 : n_cut + 1].real  # sum_k Re z_{k+n} conj z_k
    later = head[:, -1:] - head[:, ns - 1]  # sum_{k >= n} |z_k|^2
    earlier = head[:, N - ns - 1]  # sum_{k < N - n} |z_k|^2
    M = (later + earlier - 2 * cross) / (N - ns)
    D = M - phi.mean() ** 2 * (1 - np.cos(np.outer(cs, ns))) / (1 - np.cos(cs))[:, None]
    Dc = D - D.mean(axis=1, keepdims=True)
    nc = ns - ns.mean()
    K = (Dc @ nc) / np.sqrt((Dc**2).sum(axis=1) * (nc**2).sum())
    return float(np.median(K))


def separation_rate(system, seed: int = 0) -> tuple[float, float, float]:
    """Separation rate of two nearby trajectories (Benettin, Galgani & Strelcyn 1976, Phys. Rev. A 14,
    2338): distance d0 = ``SEPARATION_D0`` x the attractor's size, integrated together by scipy's LSODA,
    renormalised to d0 every period; rate = sum of log(d / d0) / time. Returns (rate, its standard error
    over ``SEPARATION_BLOCKS`` blocks, measured time)."""
    import numpy as np
    from scipy.integrate import solve_ivp

    from chaosbench.compiler import compile_system

    cs = compile_system(system)
    n, lag, params = system.dimension, np.zeros(0), cs.params
    out = np.empty(n)

    def both(t, y):
        a, b = np.empty(n), np.empty(n)
        cs.rhs(t, y[:n], lag, params, out)
        a[:] = out
        cs.rhs(t, y[n:], lag, params, out)
        b[:] = out
        return np.concatenate([a, b])

    size = float(np.linalg.norm(system.invariants.get("std") or np.ones(n)))
    d0 = SEPARATION_D0 * size
    rng = np.random.default_rng(seed)
    x = np.asarray(system.initial_conditions, float)
    u = rng.standard_normal(n)
    y = np.concatenate([x, x + d0 * u / np.linalg.norm(u)])
    period, t = system.period, 0.0
    blocks, logs = [], 0.0
    for k in range(SEPARATION_TRANSIENT_PERIODS + SEPARATION_BLOCKS * SEPARATION_BLOCK_PERIODS):
        sol = solve_ivp(
            both, (t, t + period), y, method="LSODA", rtol=SEPARATION_RTOL, atol=SEPARATION_RTOL * size * 1e-2
        )
        y, t = sol.y[:, -1], t + period
        d = np.linalg.norm(y[n:] - y[:n])
        if not (np.isfinite(d) and d > 0):
            return float("nan"), float("nan"), 0.0
        y[n:] = y[:n] + (y[n:] - y[:n]) * (d0 / d)
        if k >= SEPARATION_TRANSIENT_PERIODS:
            logs += np.log(d / d0)
            if (k + 1 - SEPARATION_TRANSIENT_PERIODS) % SEPARATION_BLOCK_PERIODS == 0:
                blocks.append(logs / (SEPARATION_BLOCK_PERIODS * period))
                logs = 0.0
    blocks = np.array(blocks)
    return (
        float(blocks.mean()),
        float(blocks.std(ddof=1) / np.sqrt(len(blocks))),
        len(blocks) * SEPARATION_BLOCK_PERIODS * period,
    )


def chaos_check(catalog_file: Path, names: list[str], seed: int = 0) -> list[dict]:
    """The 0-1 test on every system; the separation rate on those it does not confirm."""
    import numpy as np

    from chaosbench.catalog import load_catalog
    from chaosbench.trajectories import trajectory

    cat = load_catalog(str(catalog_file))
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        s = cat[name]
        x = trajectory(s, length=ZERO_ONE_POINTS, pts_per_period=ZERO_ONE_PTS_PER_PERIOD, seed=seed)[0, :, 0]
        k = zero_one_k(x, rng)
        row = {
            "name": name,
            "K": k,
            "zero_one": k > ZERO_ONE_THRESHOLD,
            "lambda_validator": s.invariants["lyapunov_spectrum"][0],
        }
        if not row["zero_one"]:
            rate, sem, duration = separation_rate(s, seed)
            row |= {
                "separation_rate": rate,
                "separation_sem": sem,
                "separation": bool(rate > SEPARATION_Z * sem and rate * duration > SEPARATION_MIN_GROWTH),
            }
        row["chaotic"] = row["zero_one"] or row.get("separation", False)
        out.append(row)
    return out


# -- the run -------------------------------------------------------------------------------------------
def versions(python: str) -> dict:
    code = (
        "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
        "('dysts', 'numpy', 'scipy', 'statsmodels') if __import__('importlib').util.find_spec(p)}))"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="candidates for chaosbench")
    ap.add_argument("--n-dysts", type=int, default=24, help="candidates for dysts (the first of ours)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dysts-python", default=os.environ.get("DYSTS_PYTHON", "/tmp/dysts/bin/python"))
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return dysts_worker(*args.worker)
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import load_average

    work = Path(tempfile.mkdtemp(prefix="cb-sampler-"))

    def ours_cmd(n: int, out: Path) -> list[str]:
        return [
            sys.executable,
            str(ROOT / "cli.py"),
            "sample",
            "--parents",
            *PARENTS,
            "--n",
            str(n),
            "--seed",
            str(args.seed),
            "--out",
            str(out),
            "--no-progress",
        ]

    # numba's machine code is cached on disk; a first small run loads it, so the timed run measures sampling
    subprocess.run(ours_cmd(2, work / "warm"), check=True, capture_output=True)
    cpu0, w0 = children_cpu(), time.perf_counter()
    subprocess.run(ours_cmd(args.n, work / "ours"), check=True, capture_output=True)
    ours_wall, ours_cpu = time.perf_counter() - w0, children_cpu() - cpu0
    records = [
        json.loads(line)
        for f in ("accepted", "rejected")
        for line in (work / "ours" / f"{f}.jsonl").read_text().splitlines()
    ]
    records.sort(key=lambda r: r["index"])
    ours_accepted = [r for r in records if r["accepted"]]

    shared = [
        {"index": r["index"], "parent": r["parents"][0], "parameters": r["parameters"]} for r in records[: args.n_dysts]
    ]
    (work / "candidates.json").write_text(json.dumps(shared))
    cpu0, w0 = children_cpu(), time.perf_counter()
    subprocess.run(
        [args.dysts_python, __file__, "--worker", str(work / "candidates.json"), str(work / "dysts.json")],
        check=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    dysts_wall, dysts_cpu = time.perf_counter() - w0, children_cpu() - cpu0
    theirs = json.loads((work / "dysts.json").read_text())
    dysts_valid = {row["index"]: row for row in theirs["rows"]}

    both = [r for r in records if r["index"] in dysts_valid]
    table = {(a, b): 0 for a in (True, False) for b in (True, False)}
    for r in both:
        table[(r["accepted"], dysts_valid[r["index"]]["valid"])] += 1
    agree = (table[(True, True)] + table[(False, False)]) / max(1, len(both))

    rng = np.random.default_rng(args.seed)
    picked = [ours_accepted[i]["name"] for i in sorted(rng.permutation(len(ours_accepted))[:200])]
    cpu0 = time.process_time()
    check = chaos_check(work / "ours" / "systems.json", picked, args.seed)
    check_cpu = time.process_time() - cpu0
    confirmed = sum(c["chaotic"] for c in check) / max(1, len(check))

    def rate(accepted: int, seconds: float) -> float:
        return 60.0 * accepted / seconds if seconds > 0 else float("nan")

    n_dysts_valid = sum(row["valid"] for row in theirs["rows"])
    per_parent = {}
    for r in records:
        a, t = per_parent.get(r["parents"][0], (0, 0))
        per_parent[r["parents"][0]] = (a + r["accepted"], t + 1)
    rejected_by: dict = {}
    for r in records:
        if not r["accepted"]:
            rejected_by[r["rejected_by"]] = rejected_by.get(r["rejected_by"], 0) + 1
    dysts_failed: dict = {}
    for row in theirs["rows"]:
        if not row["valid"]:
            dysts_failed[row["failed"]] = dysts_failed.get(row["failed"], 0) + 1
    import chaosbench

    result = {
        "command": "python benchmarks/sampler_vs_dysts.py " + " ".join(sys.argv[1:]),
        "parents": list(PARENTS),
        "n_ours": args.n,
        "n_dysts": len(theirs["rows"]),
        "seed": args.seed,
        "load_average": load_average(),
        "chaosbench": chaosbench.__version__,
        "numpy": np.__version__,
        "dysts_env": versions(args.dysts_python),
        "ours": {
            "accepted": len(ours_accepted),
            "wall": ours_wall,
            "cpu": ours_cpu,
            "per_minute_cpu": rate(len(ours_accepted), ours_cpu),
            "per_minute_wall": rate(len(ours_accepted), ours_wall),
            "candidates_per_hour_cpu": 3600 * args.n / ours_cpu,
            "per_parent": per_parent,
            "rejected_by": rejected_by,
        },
        "dysts": {
            "accepted": n_dysts_valid,
            "wall": dysts_wall,
            "cpu": dysts_cpu,
            "worker_cpu": theirs["cpu"],
            "per_minute_cpu": rate(n_dysts_valid, dysts_cpu),
            "per_minute_wall": rate(n_dysts_valid, dysts_wall),
            "failed_by": dysts_failed,
        },
        "agreement": {
            "candidates": len(both),
            "both_accept": table[(True, True)],
            "ours_only": table[(True, False)],
            "dysts_only": table[(False, True)],
            "both_reject": table[(False, False)],
            "fraction": agree,
        },
        "check": {
            "checked": len(check),
            "confirmed": confirmed,
            "zero_one_confirmed": sum(c["zero_one"] for c in check) / max(1, len(check)),
            "zero_one": {
                "pts_per_period": ZERO_ONE_PTS_PER_PERIOD,
                "points": ZERO_ONE_POINTS,
                "cs": ZERO_ONE_CS,
                "threshold": ZERO_ONE_THRESHOLD,
            },
            "separation": {
                "d0": SEPARATION_D0,
                "rtol": SEPARATION_RTOL,
                "blocks": SEPARATION_BLOCKS,
                "block_periods": SEPARATION_BLOCK_PERIODS,
                "z": SEPARATION_Z,
                "min_growth": SEPARATION_MIN_GROWTH,
            },
            "min_K": min((c["K"] for c in check), default=None),
            "seconds_cpu": check_cpu,
            "not_zero_one": [c for c in check if not c["zero_one"]],
            "not_confirmed": [c for c in check if not c["chaotic"]],
        },
    }
    result["dysts"]["rows"] = theirs["rows"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampler.json").write_text(json.dumps(result, indent=1))
    (out / "sampler.md").write_text(render(result))
    print(render(result))


def render(r: dict) -> str:
    o, d, a, z = r["ours"], r["dysts"], r["agreement"], r["check"]
    speed_cpu = o["per_minute_cpu"] / d["per_minute_cpu"] if d["per_minute_cpu"] else float("inf")
    speed_wall = o["per_minute_wall"] / d["per_minute_wall"] if d["per_minute_wall"] else float("inf")
    lines = [
        "# Sampled chaotic systems: chaosbench vs dysts 0.96",
        "",
        f"Command: `{r['command']}` (parents {', '.join(r['parents'])}, seed {r['seed']}); "
        f"load average at the end {r['load_average']} on this 2-core machine, so CPU seconds are the fairer "
        "denominator. chaosbench "
        + r["chaosbench"]
        + f", numpy {r['numpy']}; dysts environment: "
        + ", ".join(f"{k} {v}" for k, v in r["dysts_env"].items())
        + ".",
        "",
        "Both pipelines take the same candidates (chaosbench's draws: each parameter x exp(0.1 N(0,1)));"
        f" chaosbench validated {r['n_ours']}, dysts the first {r['n_dysts']} of them (its pipeline is slower, "
        "and a rate needs no equal counts). See the script's docstring for dysts' settings.",
        "",
        "| pipeline | candidates | accepted | CPU s | wall s | validated / CPU-minute | validated / wall-minute |",
        "|---|---|---|---|---|---|---|",
        f"| chaosbench (sample + validate) | {r['n_ours']} | {o['accepted']} | {o['cpu']:.1f} | {o['wall']:.1f} | "
        f"{o['per_minute_cpu']:.1f} | {o['per_minute_wall']:.1f} |",
        f"| dysts 0.96 (make_trajectory + AttractorValidator) | {r['n_dysts']} | {d['accepted']} | {d['cpu']:.1f} | "
        f"{d['wall']:.1f} | {d['per_minute_cpu']:.2f} | {d['per_minute_wall']:.2f} |",
        f"| ratio | | | | | **{speed_cpu:.0f}x** | **{speed_wall:.0f}x** |",
        "",
        f"chaosbench: {o['candidates_per_hour_cpu']:.0f} candidates per CPU-hour; accepted per parent: "
        + ", ".join(f"{p} {acc}/{tot}" for p, (acc, tot) in o["per_parent"].items())
        + "; rejected by: "
        + (", ".join(f"{k} {v}" for k, v in o["rejected_by"].items()) or "none")
        + ".",
        "dysts rejections by test: " + (", ".join(f"{k} {v}" for k, v in d["failed_by"].items()) or "none") + ".",
        "",
        f"## Agreement on the {a['candidates']} candidates both validated",
        "",
        "| | dysts accepts | dysts rejects |",
        "|---|---|---|",
        f"| chaosbench accepts | {a['both_accept']} | {a['ours_only']} |",
        f"| chaosbench rejects | {a['dysts_only']} | {a['both_reject']} |",
        "",
        f"Same verdict on {100 * a['fraction']:.0f}% of them.",
        "",
        "## Independent check of the accepted systems",
        "",
        f"On {z['checked']} randomly chosen accepted systems ({z['seconds_cpu']:.0f} CPU s), two checks written in the "
        "script from their papers, sharing no code with the validators' tests:",
        "",
        f"1. 0-1 test for chaos (Gottwald & Melbourne 2009, correlation method on the modified mean square "
        f"displacement D_c): x_0 sampled every 1/{z['zero_one']['pts_per_period']} dominant period, "
        f"{z['zero_one']['points']} points, n_cut = N/10, median K over {z['zero_one']['cs']} random c in "
        f"(pi/5, 4pi/5), chaotic if K > {z['zero_one']['threshold']}: **{100 * z['zero_one_confirmed']:.1f}%** "
        f"confirmed (smallest K {z['min_K'] if z['min_K'] is None else round(z['min_K'], 3)}).",
        f"2. On the {len(z['not_zero_one'])} it does not confirm: the separation rate of two trajectories "
        f"{z['separation']['d0']:g} apart (relative), renormalised every period, scipy LSODA at rtol "
        f"{z['separation']['rtol']:g}, {z['separation']['blocks']} blocks of {z['separation']['block_periods']} "
        f"periods; chaotic if the rate exceeds {z['separation']['z']:g} standard errors and "
        f"{z['separation']['min_growth']:g} e-foldings over the run.",
        "",
        f"Confirmed by one of the two: **{100 * z['confirmed']:.1f}%**.",
        "",
    ]
    if z["not_zero_one"]:
        lines += [
            "| system | K (0-1 test) | separation rate +- s.e. | validator lambda_max | confirmed |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['name']} | {c['K']:.2f} | {c['separation_rate']:.4g} +- {c['separation_sem']:.2g} | "
            f"{c['lambda_validator']:.4g} | {'yes' if c['chaotic'] else '**no**'} |"
            for c in z["not_zero_one"]
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
