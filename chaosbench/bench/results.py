"""The results table: one parquet file per finished cell, written atomically, read as one DataFrame.

A results directory holds ``cells/<cell_id>.parquet``, each a single row. A file appears only when
its cell is finished (scored or failed), by ``os.replace`` of a complete temporary file, so a run
killed at any moment leaves finished cells intact and no partial row; a cell id is a content hash
of everything that determines the cell, so re-running can skip what is there and never writes a
row twice. Temporary files of a killed run are removed at the next start.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CELLS_DIR = "cells"


def cells_dir(root) -> Path:
    return Path(root) / CELLS_DIR


def prepare(root) -> Path:
    """Create the results directory (or check it is writable) and clear leftovers of a killed run."""
    from ..errors import ChaosbenchError

    d = cells_dir(root)
    try:
        d.mkdir(parents=True, exist_ok=True)
        for leftover in d.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
    except OSError as exc:
        raise ChaosbenchError(
            f"results directory '{root}' is not writable ({exc.strerror}); choose another --out"
        ) from None
    return d


def _column(value):
    """Values as parquet likes them: arrays become lists, dicts become JSON text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def write_record(root, record: dict) -> Path:
    """Append one finished cell to the table, atomically (temporary file, then rename), with the umask's
    permissions (:mod:`chaosbench.files`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..files import atomic_path

    d = cells_dir(root)
    path = d / f"{record['cell_id']}.parquet"
    table = pa.Table.from_pylist([{k: _column(v) for k, v in record.items()}])
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def finished(root, *, include_failed: bool = True) -> set[str]:
    """Ids of the cells already in the table (optionally only those that succeeded)."""
    d = cells_dir(root)
    if not d.is_dir():
        return set()
    ids = {p.stem for p in d.glob("*.parquet")}
    if include_failed:
        return ids
    frame = read(root, columns=["cell_id", "status"])
    return set(frame.loc[frame["status"] == "ok", "cell_id"]) if len(frame) else set()


def task_failures(root) -> dict[tuple[str, int, str, str], str]:
    """The tasks that could not be built for the cells of ``root``: (system, seed, task spec as JSON,
    system hash) -> the reason (its ``task: `` prefix removed). A fresh machine can then skip a
    build that took minutes to fail for another model (:func:`chaosbench.bench.runner.build_tasks`).
    A task that some cell of ``root`` was scored on builds (a failure left by older code): not listed."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    d = cells_dir(root)
    if not d.is_dir() or not any(d.glob("*.parquet")):
        return {}
    names = ["system", "seed", "task", "system_hash", "status", "reason"]
    try:  # the columns every cell has, failed or scored
        rows = ds.dataset(d, format="parquet").to_table(columns=names).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # cells of an older layout: the tasks are built again
        return {}
    prefix = "task: "

    def key(r: dict) -> tuple[str, int, str, str]:
        return r["system"], int(r["seed"]), r["task"], r["system_hash"]

    built = {key(r) for r in rows if r["status"] == "ok"}
    return {
        key(r): str(r["reason"])[len(prefix) :]
        for r in rows
        if r["status"] != "ok" and str(r["reason"]).startswith(prefix) and key(r) not in built
    }


def read(root, columns: list[str] | None = None):
    """The whole table as a pandas DataFrame, one row per cell (empty if there is none); ``columns``
    that a cell lacks (e.g. a failed cell's scores) are missing values in its row."""
    import pandas as pd
    import pyarrow.parquet as pq

    from ..errors import ChaosbenchError

    d = cells_dir(root)
    files = sorted(d.glob("*.parquet")) if d.is_dir() else []
    if not Path(root).exists():
        raise ChaosbenchError(f"results directory '{root}' does not exist; run 'chaosbench bench --out {root}' first")
    rows = []
    for f in files:
        present = columns if columns is None else [c for c in columns if c in pq.read_schema(f).names]
        rows.extend(pq.read_table(f, columns=present).to_pylist())
    return pd.DataFrame(rows, columns=columns)
