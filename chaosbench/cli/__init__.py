"""The command line: a thin layer over the library. User mistakes are one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..errors import ChaosbenchError
from ..files import interrupt_requested, request_interrupt
from .args import add_dask_options, dask_options, number

EXIT_USAGE, EXIT_FAILED = 2, 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise ChaosbenchError(f"{message} (see '{self.prog} --help')")


def _length(text: str) -> int:
    value = number(int)(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 2 (points per trajectory), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chaosbench", description="Chaotic systems as data; forecasts scored in Lyapunov times.")
    parser.add_argument("--version", action="version", version=f"chaosbench {__version__}")
    parser.add_argument(
        "--catalog",
        action="append",
        metavar="FILE",
        help="extra catalog JSON adding or overriding systems (repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="table of the catalog's systems")
    p.add_argument("--dim", type=number(int), help="only systems of this dimension")
    for flag in ("delay", "nonautonomous", "hamiltonian", "conservative"):
        p.add_argument(f"--{flag}", action="store_true", help=f"only {flag} systems")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("info", help="equations, parameters, invariants and citation of one system")
    p.add_argument("name")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("generate", help="integrate systems into a parquet dataset")
    p.add_argument("systems", nargs="*", default=["all"], help="system names, or 'all' (default)")
    p.add_argument("--out", required=True, help="dataset directory")
    p.add_argument("--length", type=_length, default=1000, help="points per trajectory (at least 2)")
    res = p.add_mutually_exclusive_group()
    res.add_argument("--pts-per-period", type=number(float))
    res.add_argument("--pts-per-lyapunov", type=number(float))
    res.add_argument("--dt", type=number(float))
    p.add_argument("--trajectories", type=number(int), default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--initial",
        choices=("attractor", "catalog"),
        default="attractor",
        help="start points drawn on the attractor (default) or the catalog's point",
    )
    p.add_argument(
        "--method",
        choices=("dop853", "rk4", "heun"),
        default=None,
        help="integrator (default dop853; with --noise always heun)",
    )
    p.add_argument("--rtol", type=number(float), default=None)
    p.add_argument("--atol", type=number(float), default=None)
    p.add_argument(
        "--noise",
        type=number(float, allow_zero=True),
        default=0.0,
        help="dynamical noise, relative to each variable's std over one period",
    )
    p.add_argument("--standardize", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset made with other settings")
    add_dask_options(p, "generate")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("sample", help="draw new systems from catalog systems and keep the chaotic ones")
    p.add_argument("--parents", nargs="+", required=True, metavar="NAME", help="catalog systems to perturb")
    p.add_argument("--n", type=number(int), required=True, help="number of candidates (accepted + rejected)")
    p.add_argument("--out", required=True, help="directory for systems.json, rejected.jsonl, accepted.jsonl")
    p.add_argument("--seed", type=number(int, allow_zero=True), default=0)
    p.add_argument(
        "--sigma",
        type=number(float),
        default=None,
        help="spread of each parameter's factor exp(sigma N(0,1)) (default 0.1)",
    )
    p.add_argument(
        "--couple",
        type=number(float, allow_zero=True),
        nargs="?",
        const=0.5,
        default=0.0,
        metavar="FRACTION",
        help="fraction of candidates that couple two parents drive -> response (0.5 if given without a value)",
    )
    p.add_argument("--trajectories", action="store_true", help="also write a parquet dataset in OUT/trajectories")
    p.add_argument("--length", type=_length, default=1000, help="points per trajectory (with --trajectories)")
    add_dask_options(p, "validate")
    p.add_argument("--overwrite", action="store_true", help="replace a sample made with other settings")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_sample)

    from .annotate import add_parser as add_annotate

    add_annotate(sub)

    from .rekey import add_parser as add_rekey

    add_rekey(sub)

    from .bench import register as add_bench

    add_bench(sub)
    return parser


def cmd_list(args) -> int:
    from ..catalog import load_catalog

    cat = load_catalog(args.catalog)
    flags = {f: True for f in ("delay", "nonautonomous", "hamiltonian", "conservative") if getattr(args, f)}
    rows = []
    for name, s in cat.items():
        if args.dim is not None and s.dimension != args.dim:
            continue
        if any(not s.flags[f] for f in flags):
            continue
        lam = s.max_lyapunov
        marks = "".join(
            c
            for f, c in (("delay", "D"), ("nonautonomous", "N"), ("hamiltonian", "H"), ("conservative", "C"))
            if s.flags[f]
        )
        rows.append(
            (
                name,
                str(s.dimension),
                marks or "-",
                f"{s.period:.4g}",
                f"{lam:.4g}" if lam else "-",
                textwrap.shorten(s.citation.split("(")[0], 38, placeholder="..."),
            )
        )
    header = ("system", "dim", "flags", "period", "lambda_max", "source")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(
        f"{len(rows)} of {len(cat)} systems; catalog {cat.version}, hash {cat.hash[:12]}; "
        "flags: D delay, N nonautonomous, H hamiltonian, C conservative"
    )
    return 0


def cmd_info(args) -> int:
    from ..catalog import load_catalog

    s = load_catalog(args.catalog)[args.name]
    print(f"{s.name} ({s.dimension} variables)")
    print(f"  {s.description}")
    print("equations:")
    for line in s.equation_text():
        print(f"  {line}")
    print("parameters: " + (", ".join(f"{k} = {v:.10g}" for k, v in s.parameters.items()) or "none"))
    print("point on the attractor: " + ", ".join(f"{v}={x:.8g}" for v, x in zip(s.variables, s.initial_conditions)))
    print(f"period: {s.period:.6g}" + (f"   dt: {s.dt:.6g}" if s.dt else ""))
    flags = [f for f, on in s.flags.items() if on]
    print("flags: " + (", ".join(flags) or "none"))
    if s.observe:
        print("observed as: " + ", ".join(f"{k} -> {v}" for k, v in s.observe.items()))
    if s.invariants:
        print("invariants:")
        _print_nested(s.invariants, "  ")
    else:
        print("invariants: not computed yet")
    print(f"citation: {s.citation}" + (f" doi:{s.doi}" if s.doi else ""))
    if s.notes:
        print(f"notes: {s.notes}")
    return 0


def _print_nested(values: dict, indent: str) -> None:
    """One line per entry, nested dicts indented below their key, long values wrapped."""
    for k, v in values.items():
        if isinstance(v, dict):
            print(f"{indent}{k}:")
            _print_nested(v, indent + "  ")
        else:
            print(textwrap.fill(f"{k}: {v}", width=100, initial_indent=indent, subsequent_indent=indent + "    "))


def note_first_compile() -> None:
    """Say so, at a terminal, when numba has nothing cached yet: otherwise the first run waits a minute in
    silence. Not in logs and pipes, where stderr is kept for errors (one line each)."""
    from ..compiler import cache_dir

    if not sys.stderr.isatty():
        return
    root = Path(os.environ.get("NUMBA_CACHE_DIR") or cache_dir() / "__pycache__")
    if not (root.is_dir() and next(root.rglob("*.nbi"), None)):
        print(
            "chaosbench: compiling numba code on first use (a minute or so; cached for later runs)...",
            file=sys.stderr,
            flush=True,
        )


def integrator_options(args) -> dict:
    """``--method``, ``--rtol`` and ``--atol`` as given (the others keep the library's defaults), so that
    options that cannot apply (with ``--noise``) are refused rather than silently replaced."""
    return {k: getattr(args, k) for k in ("method", "rtol", "atol") if getattr(args, k) is not None}


def cmd_generate(args) -> int:
    from ..distributed import generate_distributed
    from ..store import generate

    note_first_compile()
    options = dict(
        length=args.length,
        pts_per_period=args.pts_per_period,
        pts_per_lyapunov=args.pts_per_lyapunov,
        dt=args.dt,
        n_trajectories=args.trajectories,
        seed=args.seed,
        initial=args.initial,
        noise=args.noise,
        standardize=args.standardize,
        **integrator_options(args),
    )
    dask = dask_options(args)
    if any(dask.values()):  # one Dask task per system
        path = generate_distributed(
            args.systems,
            out=args.out,
            catalog=args.catalog,
            overwrite=args.overwrite,
            progress=sys.stderr.isatty(),
            **dask,
            **options,
        )
    else:
        path = generate(
            args.systems, out=args.out, catalog=args.catalog, overwrite=args.overwrite, progress=True, **options
        )
    print(f"wrote {path}")
    return 0


def cmd_sample(args) -> int:
    from ..sampler import SIGMA, sample

    note_first_compile()
    s = sample(
        args.parents,
        args.n,
        out=args.out,
        seed=args.seed,
        sigma=args.sigma or SIGMA,
        couple=args.couple,
        catalog=args.catalog,
        trajectories=args.trajectories,
        length=args.length,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        **dask_options(args),
    )
    rate = 3600.0 * (s.candidates - s.skipped) / s.seconds if s.seconds > 0 else 0.0
    print(
        f"{s.accepted} of {s.candidates} candidates accepted ({s.skipped} already done) in {s.seconds:.0f} s "
        f"({rate:.0f} candidates/hour); wrote {Path(s.out) / 'systems.json'} and rejected.jsonl"
    )
    for parent, (acc, total) in s.per_parent.items():
        print(f"  {parent}: {acc}/{total} accepted")
    if s.rejected_by:
        counts = sorted(s.rejected_by.items(), key=lambda kv: -kv[1])
        print("  rejected by: " + ", ".join(f"{k} {v}" for k, v in counts))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from ..store import GenerationFailed

    # a killed run cleans up as after Ctrl-C; both also stop every later file rename (see _interrupt)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        args = build_parser().parse_args(argv)
        code = args.run(args)
        if interrupt_requested():  # the KeyboardInterrupt was lost, after the last file was written
            raise KeyboardInterrupt
        return code
    except GenerationFailed as exc:
        for line in exc.failures:
            print(f"chaosbench: failed: {line}", file=sys.stderr)
        return EXIT_FAILED
    except ChaosbenchError as exc:
        print(f"chaosbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("chaosbench: interrupted; finished files are kept, no partial file was left", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        request_interrupt(False)


def _interrupt(signum, frame):
    """Raise KeyboardInterrupt, and keep the request in force: if the exception is lost (it is when the
    signal lands in a destructor, e.g. llvmlite's while numba loads compiled code), the next file that
    would be renamed into place raises it again."""
    request_interrupt()
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
