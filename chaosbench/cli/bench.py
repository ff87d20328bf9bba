"""The ``bench``, ``report`` and ``models`` commands (registered by :func:`register`, called from
``cli.build_parser``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ChaosbenchError
from .args import add_dask_options, dask_options, number


def register(sub) -> None:
    """Add ``bench``, ``report`` and ``models`` to the CLI's subparsers."""
    from ..bench.tasks import PRESETS

    p = sub.add_parser("bench", help="train and score models on systems (cells = system x model x seed)")
    p.add_argument(
        "--preset",
        default="quick",
        choices=list(PRESETS),
        help="named benchmark (default quick); --systems/--models/--seeds override its lists",
    )
    p.add_argument("--systems", nargs="+", metavar="NAME", help="systems, or 'all' for the chaotic catalog")
    p.add_argument("--models", nargs="+", metavar="NAME", help="models from the registry")
    p.add_argument("--seeds", nargs="+", type=number(int, allow_zero=True), metavar="N")
    p.add_argument("--out", help="results directory (default runs/PRESET; results/ holds the committed ones)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="settings",
        help="override a setting: MODEL.NAME=VALUE (hyperparameter) or task.NAME=VALUE (repeatable)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="JSON or TOML with systems, models, seeds, task, hyperparameters ({model: {name: value}}), time_budget",
    )
    p.add_argument("--workers", type=number(int), help="cells run at once locally (default: cores)")
    p.add_argument(
        "--threads",
        type=number(int),
        help="threads per cell (default 1; other counts sum in another order: other cells)",
    )
    add_dask_options(p, "run the cells")
    p.add_argument("--time-budget", type=number(float), metavar="SECONDS", help="per cell; overrun = failure")
    p.add_argument("--eps", type=number(float), help="NRMSE threshold of the valid prediction time (0.3)")
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again instead of skipping them")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (a bar on a terminal, one line per finished cell otherwise)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="run nothing: per model, the cells already in --out, those left, and an estimate of their time",
    )
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("models", help="the registered forecasters, or one model's hyperparameters and defaults")
    p.add_argument("name", nargs="?", help="a model: print its hyperparameters with their defaults")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("report", help="leaderboard (markdown) and plots (PNG) of a results directory")
    p.add_argument("results", help="results directory written by 'chaosbench bench'")
    p.add_argument("--out", help="where to write (default: the results directory)")
    p.set_defaults(run=cmd_report)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def read_config(path: str) -> dict:
    """A run configuration file, JSON or (Python >= 3.11) TOML."""
    allowed = {"systems", "models", "seeds", "task", "hyperparameters", "time_budget", "eps", "threads"}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ChaosbenchError(f"config '{path}': cannot read it ({exc.strerror})") from None
    try:
        if path.endswith(".toml"):
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a user mistake
        raise ChaosbenchError(f"config '{path}': cannot parse it ({exc})") from None
    if not isinstance(data, dict) or set(data) - allowed:
        raise ChaosbenchError(f"config '{path}': an object with keys among {', '.join(sorted(allowed))}")
    seeds = data.get("seeds", [0])
    if not (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise ChaosbenchError(f"config '{path}': seeds must be a list of non-negative integers, got {seeds!r}")
    return data


def parse_settings(settings: list[str], models: list[str]) -> tuple[dict, dict]:
    """``MODEL.NAME=VALUE`` / ``task.NAME=VALUE`` strings -> (hyperparameters per model, task settings)."""
    hyper: dict = {}
    task: dict = {}
    for s in settings:
        key, eq, text = s.partition("=")
        owner, dot, name = key.rpartition(".")
        if not eq or not dot or not name or not owner:
            raise ChaosbenchError(f"--set '{s}': expected MODEL.NAME=VALUE or task.NAME=VALUE")
        if owner == "task":
            task[name] = _value(text)
        elif owner in models:
            hyper.setdefault(owner, {})[name] = _value(text)
        else:
            raise ChaosbenchError(
                f"--set '{s}': '{owner}' is neither 'task' nor a model of this run ({', '.join(models)})"
            )
    return hyper, task


def cmd_models(args) -> int:
    """``chaosbench models``: name, family, optional dependencies, whether installed, what it is;
    ``chaosbench models NAME``: its hyperparameters and their defaults (what ``--set NAME.KEY=VALUE`` sets)."""
    from ..models import FAMILIES, REGISTRY, is_available, model_class

    if args.name:
        cls = model_class(args.name)
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{args.name}: {cls.__module__}.{cls.__name__}" + (f" — {doc[0]}" if doc else ""))
        for key, value in cls.defaults().items():
            print(f"  {key} = {json.dumps(value)}")
        return 0
    rows = [("model", "family", "needs", "installed", "class")]
    for name, (reference, extra) in REGISTRY.items():
        rows.append(
            (
                name,
                FAMILIES.get(name, "other"),
                extra or "-",
                "yes" if is_available(name) else "no",
                reference.partition(":")[2],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])
    print(
        "\n'chaosbench models NAME' lists a model's hyperparameters; a model of your own runs as "
        "--models package.module:Class"
    )
    return 0


def _print_pending(rows, out: str, workers: int | None) -> int:
    """``bench --dry-run``: a table of :func:`chaosbench.bench.runner.pending` and the time left."""
    from ..distributed import default_workers

    workers = workers or default_workers()
    table = [("model", "planned", "scored", "failed", "to run", "s per cell", "left")]
    total, unknown = 0.0, []
    for r in rows:
        if r.seconds_per_cell is None:
            per, left = "-", "?" if r.to_run else "0"
            if r.to_run:
                unknown.append(r.model)
        else:
            per = f"{r.seconds_per_cell:.0f}" + ("*" if r.basis != "this plan" else "")
            total += r.to_run * r.seconds_per_cell
            left = f"{r.to_run * r.seconds_per_cell / 3600:.1f} h" if r.to_run else "0"
        table.append((r.model, str(r.planned), str(r.scored), str(r.failed), str(r.to_run), per, left))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(
        f"\nabout {total / 3600:.1f} CPU-hours left, {total / 3600 / workers:.1f} h on {workers} workers"
        + (f" (not counting {', '.join(unknown)}: no scored cell in {out} to time)" if unknown else "")
        + ". 's per cell': median wall seconds of a scored cell's fit, test forecasts and long run in "
        f"{out} (* from the model's cells outside this plan); the machine's load moves it."
    )
    return 0


def cmd_bench(args) -> int:
    from ..bench import runner
    from ..catalog import load_catalog
    from ..models import REGISTRY, is_available
    from ..bench.tasks import get_preset

    preset = get_preset(args.preset)
    catalog = load_catalog(args.catalog)
    config = read_config(args.config) if args.config else {}
    systems = args.systems or config.get("systems") or preset.system_names(catalog)
    if systems == ["all"] or systems == "all":
        systems = catalog.chaotic()
    models = args.models or config.get("models")
    if not models:
        models = list(preset.models)
        for m in preset.optional_models:
            if is_available(m):
                models.append(m)
            else:
                extra = REGISTRY[m][1]
                print(f"chaosbench: skipping {m} (pip install 'chaosbench[{extra}]' to include it)", file=sys.stderr)
    seeds = args.seeds or config.get("seeds") or list(preset.seeds)
    hyper, task_settings = parse_settings(args.settings, models)
    overrides = {m: dict(preset.overrides.get(m, {})) for m in models if m in preset.overrides}
    for source in (config.get("hyperparameters", {}), hyper):
        for m, kv in source.items():
            overrides.setdefault(m, {}).update(kv)
    task = preset.task.replace(**{**config.get("task", {}), **task_settings})
    cells = runner.plan(
        systems,
        models,
        seeds,
        task=task,
        overrides=overrides,
        catalog=catalog,
        time_budget=args.time_budget or config.get("time_budget") or preset.time_budget,
        eps=args.eps or config.get("eps") or 0.3,
        threads=args.threads or config.get("threads") or 1,
    )
    out = args.out or f"runs/{preset.name}"
    print(
        f"chaosbench bench: {len(systems)} systems x {len(models)} models x {len(seeds)} seeds = "
        f"{len(cells)} cells -> {out}",
        file=sys.stderr,
    )
    if args.dry_run:
        return _print_pending(runner.pending(cells, out, retry_failed=args.retry_failed), out, args.workers)
    from ..cli import EXIT_FAILED, note_first_compile

    note_first_compile()
    # a bar on a terminal, one line per cell in a log (runner.Progress)
    summary = runner.run(
        cells,
        out,
        workers=args.workers,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        catalog=catalog,
        **dask_options(args),
    )
    print(
        f"{summary.ok} scored, {summary.failed} failed, {summary.skipped} already done, "
        f"in {summary.seconds:.0f} s; next: chaosbench report {out}"
    )
    for line in summary.failures[:20]:
        print(f"  failed: {line}")
    if summary.failed and not summary.ok:
        # nothing scored: a broken installation or setting rather than a result
        print(
            f"chaosbench bench: every cell of this run failed ({summary.failed}); the first: {summary.failures[0]}; "
            "fix the cause and rerun with --retry-failed",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def cmd_report(args) -> int:
    from ..bench.report import write_report

    paths = write_report(args.results, out=args.out)
    for p in paths:
        print(f"wrote {p}")
    return 0
