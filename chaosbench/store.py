"""Datasets on disk: one parquet file per system, float64 values, self-describing metadata.

A dataset is a directory holding ``_dataset.json`` (the generation options, package version and
catalog hash; directories made before it was underscored hold ``dataset.json``, still read) and
``<System>.parquet`` files, one row group per batch of trajectories. Generating into a directory
that holds another spec is refused; generating the same spec again skips the systems already
there. :func:`load` reads with filters (systems, trajectories, time range, columns) so only what
is asked for is read, and regenerates what is missing.

The multi-system schema: every file of a dataset has the same columns, so ``pandas.read_parquet(dir)``
and ``pyarrow.dataset.dataset(dir)`` read all its systems at once (both skip the files starting with
``_`` or ``.``): ``system`` (dictionary-encoded string), ``trajectory`` (int32), ``step`` (int32),
``time`` (float64), then one float64 column per variable name of the catalog, in catalog order,
null where the system has no such variable. :func:`load` returns each system's own variables, with
each file's metadata in ``df.attrs["chaosbench"][system]``.

Nothing lost, nothing silently wrong:

- files are renamed into place when complete, with the umask's permissions (:mod:`chaosbench.files`);
- pages carry CRC checksums, verified whenever a file is read: a damaged file is named, and
  :func:`generate` writes it again instead of taking it as done;
- writers of one spec share a directory and a writer of another spec is refused (``flock``); the
  first writer in an idle directory removes the temporary files of killed runs;
- a dataset larger than this machine's memory (one trajectory) or free disk is refused before
  anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from . import __version__
from .catalog import COLUMN_NAMES, Catalog, load_catalog
from .errors import ChaosbenchError, DamagedFileError
from .files import atomic_path, atomic_write, available_memory, flock, human_size, remove_stale_tmp
from .trajectories import Options, batches, check_noise_options, make_options

META_KEY = b"chaosbench"
SPEC_FILE = "_dataset.json"
LEGACY_SPEC_FILE = "dataset.json"
#: held exclusively while the spec is read or changed; held shared by every writer while it writes
MUTEX_FILE, WRITERS_FILE = ".chaosbench.lock", ".chaosbench.writers"


def data_root() -> Path:
    """Default home of datasets addressed by their spec (``$CHAOSBENCH_DATA`` overrides)."""
    return Path(os.environ.get("CHAOSBENCH_DATA") or Path.home() / ".cache" / "chaosbench" / "datasets")


def spec_of(opts: Options, catalog: Catalog) -> dict:
    return {"options": opts.as_dict(), "catalog_hash": catalog.hash, "catalog_version": catalog.version}


def spec_id(spec: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def dataset_columns(catalog: Catalog) -> list[str]:
    """The columns of every file of a dataset: the index columns, then each variable name of the catalog."""
    columns = list(COLUMN_NAMES)
    for system in catalog.values():
        columns += [v for v in system.variables if v not in columns]
    return columns


# -- the spec file and the directory lock ----------------------------------------------------------
def read_spec(out: Path) -> tuple[Path, dict] | None:
    """(path, spec) of the dataset in ``out``, None if there is none; a damaged file is named."""
    for name in (SPEC_FILE, LEGACY_SPEC_FILE):
        path = Path(out) / name
        if path.exists():
            try:
                return path, json.loads(path.read_text())["spec"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DamagedFileError(
                    f"dataset file '{path}' is damaged ({_first_line(exc)}); generate the "
                    "dataset again with the same settings to rewrite it",
                    path,
                ) from None
    return None


def _write_spec(out: Path, spec: dict) -> None:
    atomic_write(
        out / SPEC_FILE, json.dumps({"spec": spec, "chaosbench_version": __version__}, indent=1, sort_keys=True)
    )
    (out / LEGACY_SPEC_FILE).unlink(missing_ok=True)


@contextlib.contextmanager
def _writing(out: Path, spec: dict, overwrite: bool) -> Iterator[None]:
    """Hold ``out`` for writing ``spec`` for the duration of the block.

    Writers of the same spec share the directory (Dask workers write one system each); changing the
    spec (a new directory, or ``overwrite``) needs the directory alone, so a writer of another spec
    is refused rather than left to mix its files with ours."""
    with contextlib.ExitStack() as stack:
        try:
            out.mkdir(parents=True, exist_ok=True)
            mutex = stack.enter_context(open(out / MUTEX_FILE, "a"))
            writers = stack.enter_context(open(out / WRITERS_FILE, "a"))
        except OSError as exc:
            raise ChaosbenchError(
                f"output directory '{out}' is not writable ({exc.strerror}); choose another --out"
            ) from None
        flock(mutex, "exclusive")
        try:
            alone = flock(writers, "exclusive", wait=False)
            if alone:  # no writer is running, so any temporary file is a killed run's
                remove_stale_tmp(out)
            _settle_spec(out, spec, overwrite, alone)
            flock(writers, "shared")  # not atomic, but every exclusive taker holds the mutex first
        finally:
            flock(mutex, "unlock")
        yield


def _settle_spec(out: Path, spec: dict, overwrite: bool, alone: bool) -> None:
    """Make ``out``'s spec file say ``spec``, or refuse; old files go only with ``overwrite``."""
    try:
        found = read_spec(out)
        old, current = (None, True) if found is None else (found[1], found[0].name == SPEC_FILE)
    except DamagedFileError as exc:
        agree = _files_agree(out, spec)  # the files themselves say which spec the directory held
        if not (agree or overwrite):
            raise ChaosbenchError(
                f"dataset file '{exc.path}' is damaged and the files beside it were made with "
                "other settings; use --overwrite or another output directory"
            ) from None
        old, current = (spec if agree else {}), False
    if old == spec:
        if not current:  # damaged, or under its pre-underscore name
            _write_spec(out, spec)
        return
    if old is not None and not overwrite:
        raise ChaosbenchError(
            f"'{out}' holds a dataset made with other settings (differs in "
            f"{_differences(old, spec)}); use another output directory or --overwrite"
        )
    if not alone:
        raise ChaosbenchError(
            f"another chaosbench process is writing a dataset with other settings into "
            f"'{out}'; wait for it to finish or use another output directory"
        )
    if old is not None:
        for f in out.glob("*.parquet"):
            f.unlink()
    _write_spec(out, spec)


def _files_agree(out: Path, spec: dict) -> bool:
    """Whether every readable system file in ``out`` was made with ``spec``."""
    for path in out.glob("*.parquet"):
        try:
            if read_metadata(path).get("spec") != spec:
                return False
        except ChaosbenchError:
            continue
    return True


def _differences(a: dict, b: dict, prefix: str = "") -> str:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            sub = _differences(va, vb, prefix + k + ".")
            if sub:
                out.append(sub)
        elif va != vb:
            out.append(prefix + k)
    return ", ".join(out)


# -- what a dataset needs ----------------------------------------------------------------------------
def check_size(names: Sequence[str], catalog: Catalog, opts: Options, out: Path) -> None:
    """Refuse, before anything is written, a dataset this machine cannot hold.

    A trajectory is never split between batches, so one must fit in memory (its states, their
    observed copy and its columns: about 3 x 8 bytes per value); the files need about 8 bytes per
    value and time step on disk (float64 does not compress)."""
    todo = [catalog[n] for n in names if not system_file(out, n).exists()]
    if not todo:
        return
    widest = max(todo, key=lambda s: s.dimension)
    memory = opts.n_steps * (24 * widest.dimension + 32)
    available = available_memory()
    if available is not None and memory > available:
        raise ChaosbenchError(
            f"length={opts.n_steps}: one trajectory of '{widest.name}' needs about "
            f"{human_size(memory)} of memory, more than the {human_size(available)} "
            "available; use a smaller length"
        )
    disk = opts.n_trajectories * opts.n_steps * sum(8 * (s.dimension + 1) for s in todo)
    parent = next(p for p in [Path(out).absolute(), *Path(out).absolute().parents] if p.exists())
    usage = shutil.disk_usage(parent)
    if usage.total > 0 and disk > usage.free:  # pseudo file systems (/proc) say 0 of 0
        raise ChaosbenchError(
            f"the dataset needs about {human_size(disk)} of disk ({len(todo)} system(s) x "
            f"{opts.n_trajectories} trajectories x {opts.n_steps} steps), more than the "
            f"{human_size(usage.free)} free in '{parent}'; use a smaller length or fewer "
            "trajectories"
        )
    for what in ("n_steps", "n_trajectories"):
        if getattr(opts, what) >= 2**31:
            raise ChaosbenchError(
                f"{'length' if what == 'n_steps' else what} must be below 2**31 "
                "(steps and trajectories are stored as int32)"
            )


# -- system files ------------------------------------------------------------------------------------
def system_file(out: Path, name: str) -> Path:
    return Path(out) / f"{name}.parquet"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _reading(path: str | os.PathLike) -> Iterator[None]:
    """Turn pyarrow's complaints about a truncated or corrupted file into one line naming it."""
    import pyarrow as pa

    try:
        yield
    except ChaosbenchError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DamagedFileError(
            f"dataset file '{path}' is damaged ({_first_line(exc)}); generate the dataset "
            "again with the same settings to rewrite it",
            path,
        ) from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The chaosbench metadata of one system file."""
    import pyarrow.parquet as pq

    with _reading(path):
        meta = pq.read_schema(path).metadata or {}
        if META_KEY not in meta:
            raise ChaosbenchError(f"'{path}' is not a chaosbench dataset file (no metadata)")
        return json.loads(meta[META_KEY])


def _intact(path: Path, spec: dict, system) -> bool:
    """Whether ``path`` holds ``system`` at ``spec``, every page of its own columns matching its checksum
    (the null columns of other systems' variables would cost more to decode than all the rest)."""
    import pyarrow.parquet as pq

    try:
        meta = read_metadata(path)
        if meta.get("spec") != spec or meta.get("system_hash") != system.content_hash:
            return False
        with _reading(path):
            f = pq.ParquetFile(path, page_checksum_verification=True)
            for i in range(f.num_row_groups):
                f.read_row_group(i, columns=list(COLUMN_NAMES) + list(system.variables))
    except ChaosbenchError:
        return False
    return True


def write_system(out: Path, system, opts: Options, catalog: Catalog, spec: dict) -> Path:
    """Generate one system into ``out`` atomically; an intact file already there with this spec is kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = system_file(out, system.name)
    if path.exists() and _intact(path, spec, system):
        return path
    columns = dataset_columns(catalog)
    with atomic_path(path) as tmp:
        writer = None
        try:
            for first, times, states, info in batches(system, opts):
                b, n = states.shape[0], states.shape[1]
                nulls = pa.nulls(b * n, pa.float64())  # one buffer for every variable of other systems
                cols = {
                    "system": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(b * n, np.int32)), pa.array([system.name])
                    ),
                    "trajectory": pa.array(np.repeat(np.arange(first, first + b, dtype=np.int32), n)),
                    "step": pa.array(np.tile(np.arange(n, dtype=np.int32), b)),
                    "time": pa.array(np.tile(times, b)),
                }
                for c in columns[len(COLUMN_NAMES) :]:
                    i = system.variables.index(c) if c in system.variables else None
                    cols[c] = nulls if i is None else pa.array(states[:, :, i].reshape(-1))
                table = pa.table(cols)
                if writer is None:
                    meta = {
                        "chaosbench_version": __version__,
                        "catalog_hash": catalog.hash,
                        "catalog_version": catalog.version,
                        "system": system.name,
                        "system_hash": system.content_hash,
                        "variables": list(system.variables),
                        "spec": spec,
                        "integrator": info["method"],
                        "rtol": opts.rtol,
                        "atol": opts.atol,
                        "seed": opts.seed,
                        "dt": info["dt"],
                        "n_steps": opts.n_steps,
                        "n_trajectories": opts.n_trajectories,
                        "standardized": opts.standardize,
                        "attractor_mean": info["mean"],
                        "attractor_std": info["std"],
                        "noise_sigma": info["noise_sigma"],
                        "parameters": info["parameters"],
                        "invariants": system.invariants,
                        "period": system.period,
                        "kind": system.kind,
                    }
                    schema = table.schema.with_metadata({META_KEY: json.dumps(meta).encode()})
                    writer = pq.ParquetWriter(tmp, schema, compression="snappy", write_page_checksum=True)
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
        finally:
            if writer is not None:
                writer.close()
    return path


def resolve_systems(systems: str | Iterable[str] | None, catalog: Catalog) -> list[str]:
    if systems is None or systems == "all" or (not isinstance(systems, str) and list(systems) == ["all"]):
        return catalog.chaotic()
    names = [systems] if isinstance(systems, str) else list(systems)
    return [catalog[name].name for name in names]


def _progress(names: list[str]) -> Iterator[str]:
    """The names, with a progress bar on a terminal and one plain line per system elsewhere (logs)."""
    if not sys.stderr.isatty():
        for i, name in enumerate(names, 1):
            print(f"generate {i}/{len(names)}: {name}", file=sys.stderr, flush=True)
            yield name
        return
    from tqdm.auto import tqdm

    bar = tqdm(names, desc="generate", unit="system")
    for name in bar:
        bar.set_postfix_str(name)
        yield name


def generate(
    systems: str | Sequence[str] | None = "all",
    *,
    out: str | os.PathLike | None = None,
    catalog: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **options,
) -> Path:
    """Generate trajectories for ``systems`` into a dataset directory and return its path.

    Options are those of :func:`chaosbench.trajectories.make_options`: ``length``, ``pts_per_period``
    (default 100) or ``pts_per_lyapunov`` or ``dt``, ``n_trajectories``, ``seed``, ``initial``,
    ``method``, ``rtol``, ``atol``, ``noise``, ``standardize``. With ``noise`` the trajectories are
    integrated by stochastic Heun with a fixed step, so ``method`` (other than ``"heun"``), ``rtol``
    and ``atol`` are refused. Without ``out`` the dataset goes to ``data_root()/<spec id>``. Systems
    stream to disk one at a time, in batches of trajectories.
    """
    cat = load_catalog(catalog)
    names = resolve_systems(systems, cat)
    check_noise_options(options)
    opts = make_options(**options)
    for name in names:  # a map refuses a resolution: say so before a directory is made
        opts.resolution.step(cat[name])
    spec = spec_of(opts, cat)
    out = Path(out) if out is not None else data_root() / spec_id(spec)
    check_size(names, cat, opts, out)
    failures = []
    with _writing(out, spec, overwrite):
        for name in _progress(names) if progress else names:
            try:
                write_system(out, cat[name], opts, cat, spec)
            except ChaosbenchError as exc:
                failures.append(str(exc))
            except OSError as exc:  # a full disk, a lost mount: the partial file is already gone
                raise ChaosbenchError(f"cannot write '{system_file(out, name)}' ({_first_line(exc)})") from None
    if failures:
        raise GenerationFailed(failures, out)
    return out


class GenerationFailed(ChaosbenchError):
    """Some systems could not be generated; the others were written."""

    def __init__(self, failures: list[str], out: Path):
        self.failures = failures
        super().__init__(f"{len(failures)} system(s) failed (the others are in '{out}'): " + "; ".join(failures))


def load(
    source: str | os.PathLike | None = None,
    *,
    systems: str | Sequence[str] | None = None,
    trajectories: Sequence[int] | None = None,
    time_range: tuple[float, float] | None = None,
    columns: Sequence[str] | None = None,
    catalog: str | os.PathLike | None = None,
    **options,
):
    """Load a dataset as a tidy pandas DataFrame (system, trajectory, step, time, variables...).

    ``source`` is a dataset directory; without it the dataset is addressed by ``options`` (as for
    :func:`generate`) under :func:`data_root`, and whatever is missing is generated first. Filters
    are pushed down to parquet, so only the requested rows and columns are read. Each file's
    metadata is in ``df.attrs["chaosbench"][system]``.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    if source is None:
        cat = load_catalog(catalog)
        names = resolve_systems(systems if systems is not None else "all", cat)
        source = generate(names, catalog=catalog, **options)
    elif options:
        raise ChaosbenchError(f"generation options ({', '.join(options)}) only apply without a source directory")
    source = Path(source)
    found = read_spec(source)
    if found is None:
        raise ChaosbenchError(f"'{source}' is not a chaosbench dataset (no {SPEC_FILE}); generate one first")
    available = sorted(p.stem for p in source.glob("*.parquet"))
    if systems is None or systems == "all":
        wanted = available
    else:
        wanted = [systems] if isinstance(systems, str) else list(systems)
        missing = [s for s in wanted if s not in available]
        if missing:
            raise ChaosbenchError(f"'{source}' has no data for {', '.join(missing)}; generate them into it")
    filters: list[tuple[str, str, object]] = []  # pyarrow's (column, op, value) filters
    if trajectories is not None:
        filters.append(("trajectory", "in", [int(t) for t in trajectories]))
    if time_range is not None:
        filters += [("time", ">=", float(time_range[0])), ("time", "<=", float(time_range[1]))]
    frames, metadata = [], {}
    for name in wanted:
        path = system_file(source, name)
        meta = read_metadata(path)
        if meta.get("spec") != found[1]:
            raise ChaosbenchError(
                f"'{path}' was made with other settings than '{found[0]}'; generate the dataset again to replace it"
            )
        own = list(COLUMN_NAMES) + list(meta["variables"])
        if columns is not None:
            unknown = [c for c in columns if c not in own]
            if unknown and len(wanted) == 1:
                raise ChaosbenchError(f"system '{name}' has no column(s) {unknown}; it has {own}")
            own = list(COLUMN_NAMES) + [c for c in columns if c in own and c not in COLUMN_NAMES]
        with _reading(path):
            table = pq.read_table(path, columns=own, filters=filters or None, page_checksum_verification=True)
        frame = table.to_pandas()
        frame["system"] = frame["system"].astype(str)
        frames.append(frame)
        metadata[name] = meta
    if not frames:
        frame = pd.DataFrame(columns=list(COLUMN_NAMES))
    else:
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.attrs["chaosbench"] = metadata
    return frame


def to_darts(frame, *, system: str | None = None):
    """darts TimeSeries from a loaded frame: a dict (system, trajectory) -> TimeSeries.

    darts needs an integer or datetime index, so the series is indexed by ``step`` (a part of a
    trajectory keeps its steps); the float time step is kept in the series' metadata.
    """
    try:
        from darts import TimeSeries
    except ImportError:
        raise ChaosbenchError("to_darts needs darts: pip install 'chaosbench[darts]'") from None
    import pandas as pd

    out = {}
    for (name, traj), group in frame.groupby(["system", "trajectory"], sort=True):
        if system is not None and name != system:
            continue
        group = group.sort_values("step")
        values = group.drop(columns=["system", "trajectory", "step", "time"]).dropna(axis=1, how="all")
        steps = group["step"].to_numpy()
        if len(steps) and not np.array_equal(steps, np.arange(steps[0], steps[0] + len(steps))):
            raise ChaosbenchError(
                f"to_darts: system '{name}', trajectory {traj}: the steps are not consecutive "
                "(load a time range, not a selection of steps)"
            )
        dt = float(group["time"].iloc[1] - group["time"].iloc[0]) if len(group) > 1 else None
        index = pd.RangeIndex(int(steps[0]), int(steps[0]) + len(steps), name="step")
        series = TimeSeries.from_times_and_values(
            index,
            values.to_numpy(),
            columns=list(values.columns),
            metadata={"system": name, "dt": dt, "trajectory": int(traj)},
        )
        out[(name, int(traj))] = series
    return out
