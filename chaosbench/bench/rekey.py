"""Carry finished cells and cached tasks over a change in how systems are hashed, without recomputing.

Cells and tasks are keyed by their system's :attr:`~chaosbench.catalog.System.content_hash`. Up to
chaosbench 0.1 that hash covered the whole catalog entry, so rewording a citation or the provenance
of an invariant made every result of the system look stale; since then it covers only what
determines numbers (:func:`chaosbench.catalog.numbers`). A file keyed the old way is still valid
when it was computed for the entry as it is now: :func:`rekey_cells` and :func:`rekey_tasks` check
exactly that (the stored hash equals the current entry's hash under the old definition, or that of
the entry in ``previous``, the catalog the file was computed with, when what in it determines numbers
is today's; and the stored ids are reproduced from the stored fields), then write the file under the
new key. The numbers are not touched. A file that fails the check is left where it is, and a run
recomputes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Catalog, numbers
from .cell import Cell
from .results import cells_dir
from .tasks import TaskSpec, task_id


def legacy_content_hash(entry: dict) -> str:
    """A system's hash as chaosbench 0.1 computed it: the whole entry, a ``"kind": "flow"`` left out."""
    kept = {k: v for k, v in entry.items() if not (k == "kind" and v == "flow")}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Rekeyed:
    """What :func:`rekey_cells` or :func:`rekey_tasks` did: files moved to their new key, files
    already current, and files left alone with the reason."""

    moved: int = 0
    current: int = 0
    left: dict[str, str] = field(default_factory=dict)

    def summary(self, what: str) -> str:
        text = f"{what}: {self.moved} rekeyed, {self.current} already current, {len(self.left)} left to rerun"
        return text + "".join(f"\n  {name}: {why}" for name, why in sorted(self.left.items()))


def _legacy_hashes(catalog: Catalog, system: str, previous: Catalog | None) -> set[str]:
    """The legacy hashes a file of ``system`` may carry and still hold today's numbers: today's entry's,
    and the ``previous`` catalog's entry's when what in it determines numbers is today's."""
    hashes = {legacy_content_hash(catalog[system].raw)}
    if previous is not None and system in previous and numbers(previous[system].raw) == numbers(catalog[system].raw):
        hashes.add(legacy_content_hash(previous[system].raw))
    return hashes


def _status(catalog: Catalog, system: str, stored: str, previous: Catalog | None = None) -> str:
    """'current', 'legacy' (computed for today's numbers, keyed the old way) or why neither."""
    if system not in catalog:
        return f"system '{system}' is no longer in the catalog"
    if stored == catalog[system].content_hash:
        return "current"
    if stored in _legacy_hashes(catalog, system, previous):
        return "legacy"
    return f"computed for another version of '{system}' (name the catalog it was computed with: --previous)"


def rekey_cells(root: str | Path, catalog: Catalog, previous: Catalog | None = None) -> Rekeyed:
    """Rename the cells of results directory ``root`` keyed the way chaosbench 0.1 keyed them: by a
    legacy system hash, and without their thread count (a cell run with more than one thread now
    has an id of its own, so a default run computes its one-thread twin)."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..files import atomic_path

    out = Rekeyed()
    for path in sorted(cells_dir(root).glob("*.parquet")):
        table = pq.read_table(path)
        row = table.slice(0, 1).to_pylist()[0]
        status = _status(catalog, row["system"], row["system_hash"], previous)
        if status not in ("current", "legacy"):
            out.left[path.name] = status
            continue
        spec = TaskSpec(**json.loads(row["task"]))
        old = Cell(
            system=row["system"],
            model=row["model"],
            seed=row["seed"],
            hyperparameters=json.loads(row["hyperparameters"]),
            task=spec,
            system_hash=row["system_hash"],
            catalog_hash=row["catalog_hash"],
            catalog_version=row["catalog_version"],
            eps=row["eps"],
            threads=max(1, int(row.get("threads") or 1)),  # 0: a failure recorded before it started
        )
        new = dataclasses.replace(old, system_hash=catalog[old.system].content_hash)
        if path.stem == new.id and row["cell_id"] == new.id:
            out.current += 1
            continue
        legacy_id = dataclasses.replace(old, threads=1).id  # 0.1 left the threads out of the id
        if legacy_id != row["cell_id"] or legacy_id != path.stem:
            out.left[path.name] = "its id is not reproduced from its stored fields"
            continue
        if row.get("task_id") and row["task_id"] != task_id(old.system, old.system_hash, spec, old.seed):
            out.left[path.name] = "its task id is not reproduced from its stored fields"
            continue
        changes: dict = {"cell_id": new.id, "system_hash": new.system_hash, "threads": new.threads}
        if "task_id" in table.column_names:
            changes["task_id"] = task_id(new.system, new.system_hash, spec, new.seed)
        for name, value in changes.items():
            i = table.schema.get_field_index(name)
            if i < 0:
                continue
            table = table.set_column(i, table.schema.field(i), pa.array([value], type=table.schema.field(i).type))
        meta = dict(table.schema.metadata or {})
        meta[b"chaosbench.rekeyed_from"] = legacy_id.encode()
        table = table.replace_schema_metadata(meta)
        target = path.with_name(f"{new.id}.parquet")
        if target.exists():
            out.left[path.name] = f"{target.name} is already there"
            continue
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        path.unlink()
        out.moved += 1
    return out


def rekey_tasks(directory: str | Path, catalog: Catalog, previous: Catalog | None = None) -> Rekeyed:
    """Copy the cached tasks in ``directory`` that were keyed by a legacy system hash to their new
    key (the old file stays: a process of the older version may still read it), and the records of
    tasks that could not be built (``.failed``) unless the task has been built since."""
    import numpy as np

    from ..files import atomic_path

    out = Rekeyed()
    for path in sorted(Path(directory).glob("*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:  # the metadata only: most files are current
                meta = json.loads(str(z["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            out.left[path.name] = f"unreadable ({exc})"
            continue
        status = _status(catalog, meta["system"], meta["system_hash"], previous)
        if status == "current":
            out.current += 1
            continue
        if status != "legacy":
            out.left[path.name] = status
            continue
        spec = TaskSpec(**meta["spec"])
        if path.name != f"{meta['system']}-{task_id(meta['system'], meta['system_hash'], spec, meta['seed'])}.npz":
            out.left[path.name] = "its name is not reproduced from its stored fields"
            continue
        new_hash = catalog[meta["system"]].content_hash
        target = path.with_name(f"{meta['system']}-{task_id(meta['system'], new_hash, spec, meta['seed'])}.npz")
        if target.exists():
            out.current += 1
            continue
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["meta"] = np.array(json.dumps({**meta, "system_hash": new_hash}))
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        out.moved += 1
    for path in sorted(Path(directory).glob("*.failed")):
        _rekey_failure(path, catalog, out, previous)
    return out


def _rekey_failure(path: Path, catalog: Catalog, out: Rekeyed, previous: Catalog | None = None) -> None:
    """A task that could not be built is remembered by a ``.failed`` file named like its task; the name
    is matched against the presets' task settings and seeds 0-9 under the legacy hash (a match proves
    which task it was), and the reason is copied to the new name, so a run does not spend minutes
    failing to build it again."""
    from ..files import atomic_write
    from .tasks import PRESETS

    system, _, old_id = path.stem.partition("-")
    if system not in catalog:
        out.left[path.name] = f"system '{system}' is no longer in the catalog"
        return
    current, legacy = catalog[system].content_hash, _legacy_hashes(catalog, system, previous)
    for spec in {p.task for p in PRESETS.values()}:
        for seed in range(10):
            if task_id(system, current, spec, seed) == old_id:
                out.current += 1
                return
            if any(task_id(system, h, spec, seed) == old_id for h in legacy):
                target = path.with_name(f"{system}-{task_id(system, current, spec, seed)}.failed")
                if not target.exists() and not target.with_suffix(".npz").exists():  # since built: stale
                    atomic_write(target, path.read_text())
                out.moved += 1
                return
    out.left[path.name] = "not a task of a preset's settings and seeds 0-9 for today's entry"
