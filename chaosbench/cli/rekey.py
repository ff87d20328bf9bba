"""``chaosbench rekey``: carry results and cached tasks over to the hash that keys them today."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    """Register ``chaosbench rekey`` on the CLI's subparsers."""
    p = sub.add_parser(
        "rekey",
        help="move results and cached tasks keyed by an older system hash to today's key (no recomputation)",
    )
    p.add_argument("results", nargs="*", type=Path, help="results directories (each holding cells/)")
    p.add_argument("--tasks", action="store_true", help="also the task cache under the data root")
    p.add_argument(
        "--previous",
        type=Path,
        metavar="FILE",
        help="the systems.json the results were computed with, if the catalog was edited since (a file "
        "whose system's numbers are unchanged is carried over)",
    )
    p.set_defaults(run=run_command)


def run_command(args) -> int:
    """Rekey each results directory (and the task cache); 0 when nothing was left to rerun."""
    from ..bench.rekey import rekey_cells, rekey_tasks
    from ..bench.results import cells_dir
    from ..catalog import load_catalog
    from ..errors import ChaosbenchError

    if not args.results and not args.tasks:
        raise ChaosbenchError("name results directories to rekey, or --tasks for the task cache")
    for root in args.results:
        if not cells_dir(root).is_dir():
            raise ChaosbenchError(
                f"results directory '{root}' has no cells/; name a directory 'chaosbench bench' wrote"
            )
    catalog = load_catalog(args.catalog)
    previous = None
    if args.previous is not None:
        if not args.previous.is_file():
            raise ChaosbenchError(f"--previous: no file '{args.previous}'; name the systems.json the results used")
        from ..catalog import read_catalog

        previous = read_catalog(args.previous)
    left = 0
    for root in args.results:
        done = rekey_cells(root, catalog, previous)
        print(done.summary(f"{root}"))
        left += len(done.left)
    if args.tasks:
        from ..bench.runner import task_cache_dir

        done = rekey_tasks(task_cache_dir(), catalog, previous)
        print(done.summary(f"tasks in {task_cache_dir()}"))
        left += len(done.left)
    return 1 if left else 0
