"""Compile times: the integrator and every system, with an empty cache (cold) and a filled one (warm).

Each measurement is a fresh process, so "warm" is what a second user session sees.
usage: python benchmarks/compile_times.py [--out results/perf]
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

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
import numba
from chaosbench.catalog import load_catalog
from chaosbench.compiler import compile_system
t1 = time.perf_counter()
import chaosbench.integrate.dop853
t2 = time.perf_counter()
cat = load_catalog()
rhs, jac = {}, {}
for name in cat:
    a = time.perf_counter(); cs = compile_system(cat[name]); b = time.perf_counter(); cs.jac; c = time.perf_counter()
    rhs[name], jac[name] = b - a, c - b
print(json.dumps({"imports": t1 - t0, "integrator": t2 - t1, "rhs": rhs, "jac": jac,
                  "total": time.perf_counter() - t0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "perf"))
    args = ap.parse_args()
    import numpy as np

    cache = tempfile.mkdtemp(prefix="cb-compile-")
    # both caches empty: the systems' modules and numba's machine code for the package's own kernels
    env = dict(os.environ, PYTHONPATH=str(ROOT), CHAOSBENCH_CACHE=cache, NUMBA_CACHE_DIR=cache + "/numba")
    runs = {}
    for label in ("cold", "warm"):
        out = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, check=True)
        runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    lines = [
        "# Compile times (fresh process each, 2 cores, " + time.strftime("%Y-%m-%d") + ")",
        "",
        "Command: `python benchmarks/compile_times.py`.",
        "",
        "| | cold cache | warm cache |",
        "|---|---:|---:|",
        f"| DOP853 integrator | {runs['cold']['integrator']:.2f} s | {runs['warm']['integrator']:.3f} s |",
    ]
    for kind, title in (("rhs", "right-hand side"), ("jac", "Jacobian")):
        c, w = np.array(list(runs["cold"][kind].values())), np.array(list(runs["warm"][kind].values()))
        lines.append(f"| {title}, median per system | {np.median(c) * 1e3:.0f} ms | {np.median(w) * 1e3:.1f} ms |")
        lines.append(f"| {title}, all {len(c)} systems | {c.sum():.1f} s | {w.sum():.2f} s |")
    lines.append(
        f"| whole process (imports, integrator, all right-hand sides and Jacobians) | "
        f"{runs['cold']['total']:.1f} s | {runs['warm']['total']:.2f} s |"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compile_times.md").write_text("\n".join(lines) + "\n")
    (out / "compile_times.json").write_text(json.dumps(runs, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
