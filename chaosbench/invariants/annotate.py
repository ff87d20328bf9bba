"""Compute every invariant of a system, write them into the catalog, and check stored ones for drift.

``chaosbench annotate [SYSTEMS] [--check] [--workers N]`` is :func:`main`'s command line; the work
runs in a process pool, one system per task, with numerical libraries pinned to one thread each.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..catalog import System, load_catalog, read_json
from ..errors import ChaosbenchError
from ..trajectories import trajectory
from .dimension import correlation_dimension, kaplan_yorke_dimension, pesin_entropy
from .lyapunov import lyapunov_spectrum
from .spectrum import timescales

#: everything that changes the numbers; stored with them under "method"
SETTINGS: dict[str, dict[str, Any]] = {
    "lyapunov": {"n_initial": 8, "n_periods": 1000.0, "transient_periods": 50.0, "max_steps": 1_500_000, "seed": 0},
    "sampling": {"n_trajectories": 4, "pts_per_period": 64, "length": 32768, "seed": 1},
    "correlation_dimension": {"points": 3000, "theiler_periods": 1.0, "delay_embedding": 7, "min_dimension": 1.0},
}
#: fields compared by --check, with their error-bar fields; a drift is |new - old| > Z * (combined std)
CHECKED = {
    "lyapunov_spectrum": "lyapunov_spectrum_std",
    "kaplan_yorke_dimension": "kaplan_yorke_dimension_std",
    "pesin_entropy": "pesin_entropy_std",
    "correlation_dimension": "correlation_dimension_std",
    "dominant_period": "dominant_period_std",
    "suggested_dt": "suggested_dt_std",
}
Z = 4.0
#: floors on the tolerance: spectral quantities are resolved to a frequency bin, statistics to sampling noise
RELATIVE_FLOOR = {"dominant_period": 0.02, "suggested_dt": 0.05}
STATISTICS_TOLERANCE = 0.15  # mean and std per variable may move by this fraction of the variable's std


#: the entry fields that determine the dynamics; the invariants are valid for one combination of them
DYNAMICS = ("variables", "equations", "parameters", "initial_conditions", "period", "flags", "delay", "observe")


def dynamics_hash(entry: dict) -> str:
    """A short hash of the fields of a catalog entry that the invariants depend on (its ``kind`` too,
    unless it is the default "flow", so flows' stored hashes stay valid)."""
    import hashlib

    fields = {k: entry.get(k) for k in DYNAMICS}
    if entry.get("kind", "flow") != "flow":
        fields["kind"] = entry["kind"]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sig(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _mean_std(values) -> tuple[float | None, float | None]:
    v = np.array([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return None, None
    return _sig(v.mean()), _sig(v.std(ddof=1) if len(v) > 1 else 0.0)


def _embed(x: np.ndarray, coordinates: int, lag: int) -> np.ndarray:
    span = (coordinates - 1) * lag
    return np.stack([x[span - i * lag : len(x) - i * lag] for i in range(coordinates)], axis=1)


#: what :func:`compute_invariants` can compute apart: the Lyapunov spectrum and what follows from it,
#: and what is measured on sampled trajectories of the attractor (dimension, timescales, statistics)
PARTS = ("lyapunov", "attractor")
#: the stored order of the fields (the catalog's layout), whichever parts were computed
ORDER = (
    "lyapunov_spectrum",
    "lyapunov_spectrum_std",
    "kaplan_yorke_dimension",
    "kaplan_yorke_dimension_std",
    "pesin_entropy",
    "pesin_entropy_std",
    "lyapunov_time",
    "lyapunov_time_std",
    "mean_divergence",
    "correlation_dimension",
    "correlation_dimension_std",
    "dominant_period",
    "dominant_period_std",
    "suggested_dt",
    "suggested_dt_std",
    "lyapunov_units",
    "mean",
    "std",
    "method",
)
METHOD_ORDER = ("lyapunov", "correlation_dimension", "timescales", "system_hash", "statistics")


def compute_invariants(
    system: System, settings: dict | None = None, *, parts: Iterable[str] = PARTS, stored: dict | None = None
) -> dict:
    """Every invariant of ``system`` with its error bar and the settings used, as stored in the catalog.

    Lyapunov exponents come from :func:`~chaosbench.invariants.lyapunov.lyapunov_spectrum`; the
    correlation dimension, power-spectrum timescales and per-variable statistics from trajectories
    on the attractor in observed coordinates (delay equations: a delay embedding of the scalar).
    Every scalar carries the standard deviation over initial conditions as ``<field>_std``.
    A map's exponents are per iteration, its samples every iterate, and it has no timescales (the
    dominant period and suggested dt are left empty); its correlation dimension may be below 1.

    ``parts`` (of :data:`PARTS`) computes only some; the others are taken from ``stored`` (the
    entry's invariants), so e.g. the attractor's can be brought in step with the code without
    touching the Lyapunov spectrum, which sets every task's Lyapunov time.
    """
    s = settings or SETTINGS
    parts = tuple(parts)
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise ChaosbenchError(f"parts must be among {', '.join(PARTS)}, got {', '.join(parts) or 'none'}")
    if set(parts) != set(PARTS):
        kept = (stored or {}).get("method", {}).get("system_hash")
        if kept != dynamics_hash(system.raw):
            raise ChaosbenchError(
                f"system '{system.name}': its stored invariants are missing or were computed for other "
                f"dynamics; compute every part (without --only)"
            )
    inv: dict = {k: v for k, v in (stored or {}).items() if k != "method"}
    method: dict = dict((stored or {}).get("method", {}))
    for part in parts:
        fields, how = (_lyapunov_part if part == "lyapunov" else _attractor_part)(system, s)
        inv.update(fields)
        method.update(how)
    method["system_hash"] = dynamics_hash(system.raw)
    inv["method"] = {k: method[k] for k in METHOD_ORDER if k in method}
    return {k: inv[k] for k in ORDER if k in inv} | {k: v for k, v in inv.items() if k not in ORDER}


def lyapunov_settings(system: System, s: dict) -> dict:
    """The Lyapunov settings for ``system``: ``s["lyapunov"]``, with the run length an entry's
    ``lyapunov_periods`` asks for (a system whose chaos comes in rare bursts needs a longer average)
    and the step cap scaled with it."""
    out = dict(s["lyapunov"])
    periods = system.raw.get("lyapunov_periods")
    if periods is not None:
        out["max_steps"] = int(math.ceil(out["max_steps"] * max(1.0, float(periods) / out["n_periods"])))
        out["n_periods"] = float(periods)
    return out


def _lyapunov_part(system: System, s: dict) -> tuple[dict, dict]:
    ly = lyapunov_spectrum(system, **lyapunov_settings(system, s))
    full = not system.is_delay
    per = ly.per_initial
    ky = [kaplan_yorke_dimension(row, system.dimension if full else None) for row in per]
    mean_spectrum = ly.mean
    lam1, lam1_std = float(mean_spectrum[0]), float(ly.std[0])
    inv: dict = {}
    inv["lyapunov_spectrum"] = [_sig(v) for v in mean_spectrum]
    inv["lyapunov_spectrum_std"] = [_sig(v) for v in ly.std]
    ky_mean = kaplan_yorke_dimension(mean_spectrum, system.dimension if full else None)
    inv["kaplan_yorke_dimension"] = _sig(ky_mean)
    inv["kaplan_yorke_dimension_std"] = _mean_std(ky)[1] if ky_mean is not None else None
    inv["pesin_entropy"] = _sig(pesin_entropy(mean_spectrum))
    inv["pesin_entropy_std"] = _mean_std([pesin_entropy(r) for r in per])[1]
    inv["lyapunov_time"] = _sig(1.0 / lam1) if lam1 > 0 else None
    inv["lyapunov_time_std"] = _sig(lam1_std / lam1**2) if lam1 > 0 else None
    if full:
        inv["mean_divergence"] = _sig(float(ly.divergence.mean()))
    if system.is_map:
        inv["lyapunov_units"] = "per iteration"
    method = {"lyapunov": {k: (_sig(v) if isinstance(v, float) else v) for k, v in ly.settings.items()}}
    return inv, method


def dimension_method(is_map: bool, settings: dict | None = None) -> str:
    """How the correlation dimension is estimated, in the words stored beside it."""
    cd = (settings or SETTINGS)["correlation_dimension"]
    text = (
        "Grassberger-Procaccia, standardised coordinates, least-squares slope over the window of "
        "0.8 decades in r with the most constant local slope"
    )
    if is_map:
        return text
    return text + f" among those with slope >= {cd['min_dimension']:g} (an attractor of a flow contains orbits)"


def _attractor_part(system: System, s: dict) -> tuple[dict, dict]:
    samp = s["sampling"]
    is_map = system.is_map
    per_period = 1 if is_map else samp["pts_per_period"]  # a map's time unit is one iteration
    dt = system.period / per_period
    states = trajectory(
        system,
        length=samp["length"],
        n_trajectories=samp["n_trajectories"],
        seed=samp["seed"],
        **({} if is_map else {"dt": dt}),
    )
    cd = s["correlation_dimension"]
    min_dimension = 0.0 if is_map else cd["min_dimension"]
    stride = max(1, samp["length"] // cd["points"])
    theiler = int(math.ceil(cd["theiler_periods"] * per_period / stride))
    d2, times, ranges = [], [], []
    if system.is_delay:
        from ..compiler import compile_system

        lag = max(1, int(round(0.5 * float(compile_system(system).lag_tau.max()) / dt)))
    for x in states:
        if not is_map:
            times.append(timescales(x, dt))
        if system.is_delay:
            pts = _embed(x[:, 0], cd["delay_embedding"], lag)[::stride]
        else:
            pts = x[::stride]
        c = correlation_dimension(pts, theiler=theiler, min_dimension=min_dimension)
        d2.append(c.value)
        ranges.append(c.r_range)

    inv: dict = {}
    inv["correlation_dimension"], inv["correlation_dimension_std"] = _mean_std(d2)
    inv["dominant_period"], inv["dominant_period_std"] = _mean_std([t.dominant_period for t in times])
    inv["suggested_dt"], inv["suggested_dt_std"] = _mean_std([t.suggested_dt for t in times])
    flat = states.reshape(-1, states.shape[-1])
    inv["mean"] = [_sig(v) for v in flat.mean(axis=0)]
    inv["std"] = [_sig(v) for v in flat.std(axis=0)]
    r = np.array(ranges)
    method = {
        "correlation_dimension": {
            "method": dimension_method(is_map, s),
            "coordinates": (
                f"delay embedding, {cd['delay_embedding']} coordinates, lag tau/2"
                if system.is_delay
                else "observed variables"
            ),
            "points": int(len(pts)),
            "spacing": _sig(stride * dt),
            "theiler_window": theiler,
            "scaling_region": [_sig(float(np.median(r[:, 0]))), _sig(float(np.median(r[:, 1])))],
            "trajectories": int(len(states)),
        },
        "timescales": (
            {"method": "none: a map's time step is one iteration"}
            if is_map
            else {
                "method": "Welch power spectrum summed over standardised variables; dominant period at "
                "its highest peak; suggested_dt gives 10 samples per cycle of the frequency "
                "below which 99% of the power lies",
                "dt": _sig(dt),
                "length": samp["length"],
                "segment": 4096,
            }
        ),
        "statistics": {
            "coordinates": "observed",
            "trajectories": samp["n_trajectories"],
            "length": samp["length"],
            "dt": _sig(dt),
            "seed": samp["seed"],
        },
    }
    return inv, method


def drift(name: str, stored: dict, new: dict) -> list[str]:
    """Fields of ``new`` that moved beyond their error bars from ``stored``, as readable lines."""
    if not stored:
        return [f"{name}: no stored invariants (run 'chaosbench annotate {name}')"]
    out = []
    old_hash, new_hash = stored.get("method", {}).get("system_hash"), new.get("method", {}).get("system_hash")
    if old_hash and new_hash and old_hash != new_hash:
        out.append(f"{name}: its equations, parameters or initial condition changed since it was annotated")
    for field, err in CHECKED.items():
        a, b = stored.get(field), new.get(field)
        if a is None and b is None:
            continue
        if (a is None) != (b is None):
            out.append(f"{name}: {field} stored {a}, now {b}")
            continue
        a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
        if a.shape != b.shape:
            out.append(f"{name}: {field} has {a.size} entries stored, {b.size} now")
            continue
        sa = np.atleast_1d(np.asarray(stored.get(err) or 0.0, float))
        sb = np.atleast_1d(np.asarray(new.get(err) or 0.0, float))
        tol = Z * np.sqrt(sa**2 + sb**2) + RELATIVE_FLOOR.get(field, 0.0) * np.abs(a) + 1e-12
        for i in np.nonzero(np.abs(b - a) > tol)[0]:
            where = f"{field}[{i}]" if a.size > 1 else field
            out.append(f"{name}: {where} stored {a[i]:.6g}, now {b[i]:.6g} (tolerance {tol[i]:.3g})")
    scale = np.asarray(stored.get("std") or [], float)
    for field in ("mean", "std"):
        a, b = np.asarray(stored.get(field) or [], float), np.asarray(new.get(field) or [], float)
        if a.shape != b.shape or a.size == 0:
            out.append(f"{name}: {field} stored {a.tolist()}, now {b.tolist()}")
            continue
        for i in np.nonzero(np.abs(b - a) > STATISTICS_TOLERANCE * scale + 1e-12)[0]:
            out.append(f"{name}: {field}[{i}] stored {a[i]:.6g}, now {b[i]:.6g}")
    return out


def _source_of(name: str, sources: Iterable[str]) -> str | None:
    """The catalog file that defines ``name`` (the last one wins, as when catalogs are merged)."""
    for path in reversed(list(sources)):
        if name in read_json(path)["systems"]:
            return path
    return None


def write_invariants(results: dict[str, dict], sources: Iterable[str]) -> tuple[list[str], list[str]]:
    """Write each system's invariants into the catalog file that defines it (same JSON layout).

    The file is read again just before writing, so other edits made meanwhile are kept; a system
    that disappeared or whose dynamics changed since it was computed is skipped. Returns (files
    written, messages about skipped systems).
    """
    by_file: dict[str, dict] = {}
    skipped = []
    for name, inv in results.items():
        path = _source_of(name, sources)
        if path is None:
            skipped.append(f"{name}: no longer in the catalog; not written")
            continue
        by_file.setdefault(path, {})[name] = inv
    for path, updates in by_file.items():
        data = read_json(path)
        for name, inv in updates.items():
            if dynamics_hash(data["systems"][name]) != inv["method"]["system_hash"]:
                skipped.append(f"{name}: its entry changed while it was computed; not written")
                continue
            data["systems"][name]["invariants"] = inv
        target = Path(path).resolve()  # through a link (the root systems.json) to its file; never replace the link
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, target)
    return list(by_file), skipped


def _work(name: str, catalog: tuple[str, ...], parts: tuple[str, ...] = PARTS) -> tuple[str, dict | None, str | None]:
    try:
        system = load_catalog(list(catalog[1:]) or None)[name]
        return name, compute_invariants(system, parts=parts, stored=system.invariants), None
    except Exception as exc:  # one failing system must not stop a run over the whole catalog
        return name, None, str(exc) if isinstance(exc, ChaosbenchError) else f"{type(exc).__name__}: {exc}"


_PINNED = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def annotate(
    systems: Iterable[str] | None = None,
    *,
    catalog=None,
    workers: int = 1,
    progress: bool = True,
    parts: Iterable[str] = PARTS,
) -> tuple[dict[str, dict], dict[str, str]]:
    """Compute the invariants of ``systems`` (default: every system), ``workers`` processes at a time;
    ``parts`` (of :data:`PARTS`) recomputes only some and keeps the stored others.

    Returns (invariants by name, error message by name for systems that failed).
    """
    parts = tuple(parts)
    if not parts or set(parts) - set(PARTS):
        raise ChaosbenchError(f"parts must be among {', '.join(PARTS)}, got {', '.join(parts) or 'none'}")
    cat = load_catalog(catalog)
    names = list(cat) if systems is None or list(systems) in ([], ["all"]) else [cat[n].name for n in systems]
    if not (isinstance(workers, int) and workers >= 1):
        raise ChaosbenchError(f"workers must be a positive integer, got {workers!r}")
    results: dict[str, dict] = {}
    failures: dict[str, str] = {}

    def collect(name: str, inv: dict | None, err: str | None) -> None:
        if inv is not None:
            results[name] = inv
        elif err is not None:  # always, when there are no invariants (see _work)
            failures[name] = err

    from tqdm import tqdm

    bar = tqdm(total=len(names), desc="annotate", unit="system", disable=not progress)
    if workers == 1 or len(names) == 1:
        for name in names:
            bar.set_postfix_str(name)
            collect(*_work(name, cat.sources, parts))
            bar.update()
    else:
        import multiprocessing as mp

        saved = {k: os.environ.get(k) for k in _PINNED}
        os.environ.update({k: "1" for k in _PINNED})  # inherited by the spawned workers
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_work, name, cat.sources, parts) for name in names]
                for fut in as_completed(futures):
                    name, inv, err = fut.result()
                    collect(name, inv, err)
                    bar.set_postfix_str(name)
                    bar.update()
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    bar.close()
    order = {n: i for i, n in enumerate(names)}
    return dict(sorted(results.items(), key=lambda kv: order[kv[0]])), failures
