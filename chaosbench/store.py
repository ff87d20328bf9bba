"""Datasets on disk: one parquet file per system, float64 values, self-describing metadata.

A dataset is a directory holding ``dataset.json`` (the generation options, package version and
catalog hash) and ``<System>.parquet`` files written atomically (temporary file, then rename),
one row group per batch of trajectories. Generating into a directory that holds another spec is
refused; generating the same spec again skips the systems already there. :func:`load` reads with
filters (systems, trajectories, time range, columns) so only what is asked for is read, and
regenerates what is missing.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from . import __version__
from .catalog import Catalog, load_catalog
from .errors import ChaosbenchError
from .generate import Options, batches, make_options

META_KEY = b"chaosbench"
SPEC_FILE = "dataset.json"


def data_root() -> Path:
    """Default home of datasets addressed by their spec (``$CHAOSBENCH_DATA`` overrides)."""
    return Path(os.environ.get("CHAOSBENCH_DATA") or Path.home() / ".cache" / "chaosbench" / "datasets")


def spec_of(opts: Options, catalog: Catalog) -> dict:
    return {"options": opts.as_dict(), "catalog_hash": catalog.hash, "catalog_version": catalog.version}


def spec_id(spec: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _prepare(out: Path, spec: dict, overwrite: bool) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ChaosbenchError(f"output directory '{out}' is not writable ({exc.strerror}); choose another --out") \
            from None
    spec_path = out / SPEC_FILE
    if spec_path.exists():
        old = json.loads(spec_path.read_text())
        if old.get("spec") != spec:
            if not overwrite:
                diff = _differences(old.get("spec", {}), spec)
                raise ChaosbenchError(f"'{out}' holds a dataset made with other settings (differs in {diff}); "
                                      "use another output directory or --overwrite")
            for f in out.glob("*.parquet"):
                f.unlink()
    _atomic_text(spec_path, json.dumps({"spec": spec, "chaosbench_version": __version__}, indent=1, sort_keys=True))


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


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def system_file(out: Path, name: str) -> Path:
    return Path(out) / f"{name}.parquet"


def read_metadata(path: str | os.PathLike) -> dict:
    """The chaosbench metadata of one system file."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        raise ChaosbenchError(f"'{path}' is not a chaosbench dataset file (no metadata)")
    return json.loads(meta[META_KEY])


def write_system(out: Path, system, opts: Options, catalog: Catalog, spec: dict) -> Path:
    """Generate one system into ``out`` atomically; a file already there with this spec is kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = system_file(out, system.name)
    if path.exists():
        try:
            meta = read_metadata(path)
            if meta.get("spec") == spec and meta.get("system_hash") == system.content_hash:
                return path
        except Exception:
            pass
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{system.name}.", suffix=".parquet.tmp")
    os.close(fd)
    writer = None
    try:
        for first, times, states, info in batches(system, opts):
            b, n = states.shape[0], states.shape[1]
            cols = {
                "system": pa.array([system.name] * (b * n)).dictionary_encode(),
                "trajectory": pa.array(np.repeat(np.arange(first, first + b, dtype=np.int32), n)),
                "step": pa.array(np.tile(np.arange(n, dtype=np.int32), b)),
                "time": pa.array(np.tile(times, b)),
            }
            for i, v in enumerate(system.variables):
                cols[v] = pa.array(states[:, :, i].reshape(-1))
            table = pa.table(cols)
            if writer is None:
                meta = {
                    "chaosbench_version": __version__, "catalog_hash": catalog.hash,
                    "catalog_version": catalog.version, "system": system.name,
                    "system_hash": system.content_hash, "variables": list(system.variables),
                    "spec": spec, "integrator": info["method"], "rtol": opts.rtol, "atol": opts.atol,
                    "seed": opts.seed, "dt": info["dt"], "n_steps": opts.n_steps,
                    "n_trajectories": opts.n_trajectories, "standardized": opts.standardize,
                    "attractor_mean": info["mean"], "attractor_std": info["std"],
                    "noise_sigma": info["noise_sigma"], "parameters": info["parameters"],
                    "invariants": system.invariants, "period": system.period,
                }
                schema = table.schema.with_metadata({META_KEY: json.dumps(meta).encode()})
                writer = pq.ParquetWriter(tmp, schema, compression="snappy")
            writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def resolve_systems(systems: str | Iterable[str] | None, catalog: Catalog) -> list[str]:
    if systems is None or systems == "all" or (not isinstance(systems, str) and list(systems) == ["all"]):
        return catalog.chaotic()
    names = [systems] if isinstance(systems, str) else list(systems)
    return [catalog[name].name for name in names]


def generate(systems: str | Sequence[str] | None = "all", *, out: str | os.PathLike | None = None,
             catalog: str | os.PathLike | None = None, overwrite: bool = False, progress: bool = False,
             **options) -> Path:
    """Generate trajectories for ``systems`` into a dataset directory and return its path.

    Options are those of :func:`chaosbench.generate.make_options`: ``length``, ``pts_per_period``
    (default 100) or ``pts_per_lyapunov`` or ``dt``, ``n_trajectories``, ``seed``, ``initial``,
    ``method``, ``rtol``, ``atol``, ``noise``, ``standardize``. Without ``out`` the dataset goes to
    ``data_root()/<spec id>``. Systems stream to disk one at a time, in batches of trajectories.
    """
    cat = load_catalog(catalog)
    names = resolve_systems(systems, cat)
    opts = make_options(**options)
    spec = spec_of(opts, cat)
    out = Path(out) if out is not None else data_root() / spec_id(spec)
    _prepare(out, spec, overwrite)
    failures = []
    iterator = names
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(names, desc="generate", unit="system")
    for name in iterator:
        if progress:
            iterator.set_postfix_str(name)
        try:
            write_system(out, cat[name], opts, cat, spec)
        except ChaosbenchError as exc:
            failures.append(str(exc))
    if failures:
        raise GenerationFailed(failures, out)
    return out


class GenerationFailed(ChaosbenchError):
    """Some systems could not be generated; the others were written."""

    def __init__(self, failures: list[str], out: Path):
        self.failures = failures
        super().__init__(f"{len(failures)} system(s) failed (the others are in '{out}'): " + "; ".join(failures))


def load(source: str | os.PathLike | None = None, *, systems: str | Sequence[str] | None = None,
         trajectories: Sequence[int] | None = None, time_range: tuple[float, float] | None = None,
         columns: Sequence[str] | None = None, catalog: str | os.PathLike | None = None, **options):
    """Load a dataset as a tidy pandas DataFrame (system, trajectory, step, time, variables...).

    ``source`` is a dataset directory; without it the dataset is addressed by ``options`` (as for
    :func:`generate`) under :func:`data_root`, and whatever is missing is generated first. Filters
    are pushed down to parquet, so only the requested rows and columns are read.
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
    if not (source / SPEC_FILE).exists():
        raise ChaosbenchError(f"'{source}' is not a chaosbench dataset (no {SPEC_FILE}); generate one first")
    available = sorted(p.stem for p in source.glob("*.parquet"))
    if systems is None or systems == "all":
        wanted = available
    else:
        wanted = [systems] if isinstance(systems, str) else list(systems)
        missing = [s for s in wanted if s not in available]
        if missing:
            raise ChaosbenchError(f"'{source}' has no data for {', '.join(missing)}; generate them into it")
    filters = []
    if trajectories is not None:
        filters.append(("trajectory", "in", [int(t) for t in trajectories]))
    if time_range is not None:
        filters += [("time", ">=", float(time_range[0])), ("time", "<=", float(time_range[1]))]
    frames = []
    for name in wanted:
        path = system_file(source, name)
        names_in_file = pq.read_schema(path).names
        cols = None
        if columns is not None:
            unknown = [c for c in columns if c not in names_in_file]
            if unknown and len(wanted) == 1:
                raise ChaosbenchError(f"system '{name}' has no column(s) {unknown}; it has {names_in_file}")
            keep = ["system", "trajectory", "step", "time"]
            cols = keep + [c for c in columns if c in names_in_file and c not in keep]
        table = pq.read_table(path, columns=cols, filters=filters or None)
        frame = table.to_pandas()
        frame["system"] = frame["system"].astype(str)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["system", "trajectory", "step", "time"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def to_darts(frame, *, system: str | None = None):
    """darts TimeSeries from a loaded frame: a dict (system, trajectory) -> TimeSeries.

    darts needs an integer or datetime index, so the series is indexed by ``step``; the float
    time step is kept in the series' metadata.
    """
    try:
        from darts import TimeSeries
    except ImportError:
        raise ChaosbenchError("to_darts needs darts: pip install 'chaosbench[darts]'") from None
    out = {}
    for (name, traj), group in frame.groupby(["system", "trajectory"], sort=True):
        if system is not None and name != system:
            continue
        group = group.sort_values("step")
        values = group.drop(columns=["system", "trajectory", "step", "time"]).dropna(axis=1, how="all")
        dt = float(group["time"].iloc[1] - group["time"].iloc[0]) if len(group) > 1 else None
        values.index = group["step"].to_numpy()
        series = TimeSeries.from_dataframe(values.reset_index(drop=True), metadata={"system": name, "dt": dt,
                                                                                    "trajectory": int(traj)})
        out[(name, int(traj))] = series
    return out
