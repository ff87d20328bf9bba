"""``chaosbench annotate``: compute systems' invariants and store them in the catalog, or check them."""

from __future__ import annotations

from ..catalog import load_catalog
from ..invariants.annotate import PARTS, annotate, drift, write_invariants


def _workers(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'")
    return value


def add_parser(sub) -> None:
    """Register ``chaosbench annotate`` on the CLI's subparsers."""
    p = sub.add_parser("annotate", help="compute the invariants of systems and store them in the catalog")
    p.add_argument("systems", nargs="*", default=["all"], help="system names, or 'all' (default)")
    p.add_argument(
        "--check",
        action="store_true",
        help="recompute and compare with the stored values; exit 1 naming fields that drift",
    )
    p.add_argument("--workers", type=_workers, default=1, help="processes (one system each)")
    p.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="recompute only this part and keep the stored rest (repeatable): 'attractor' is the correlation "
        "dimension, timescales and statistics; 'lyapunov' the spectrum and what follows from it",
    )
    p.set_defaults(run=run_command)


def run_command(args) -> int:
    """The ``annotate`` command: write the invariants, or with ``--check`` compare them; 0 if all is well."""
    import sys
    import time

    start = time.perf_counter()
    results, failures = annotate(
        args.systems, catalog=args.catalog, workers=args.workers, progress=True, parts=args.only or PARTS
    )
    seconds = time.perf_counter() - start
    for name, err in failures.items():
        print(f"chaosbench: failed: {name}: {err}", file=sys.stderr)
    if args.check:
        cat = load_catalog(args.catalog)
        lines = [line for name, inv in results.items() for line in drift(name, cat[name].invariants, inv)]
        for line in lines:
            print(f"chaosbench: drift: {line}", file=sys.stderr)
        bad = sorted({line.split(":")[0] for line in lines})
        print(
            f"checked {len(results)} systems in {seconds:.0f} s: "
            + (f"{len(bad)} drifted ({', '.join(bad)})" if bad else "all within their error bars")
        )
        return 1 if lines or failures else 0
    if results:
        files, skipped = write_invariants(results, load_catalog(args.catalog).sources)
        for line in skipped:
            print(f"chaosbench: skipped: {line}", file=sys.stderr)
        print(f"annotated {len(results) - len(skipped)} systems in {seconds:.0f} s; wrote {', '.join(files)}")
        return 1 if failures or skipped else 0
    return 1 if failures else 0
