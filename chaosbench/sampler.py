"""New chaotic systems drawn from catalog systems, kept only if :mod:`chaosbench.validate` finds them chaotic.

Candidate ``i`` is drawn by :func:`chaosbench.candidates.draw` from (``seed``, ``i``) and the parents alone
(a perturbation of a parent's parameters or, with ``couple``, a drive-response coupling of two; see that
module). Each candidate is integrated and tested by :func:`chaosbench.validate.validate`; accepted ones
are written as a user catalog ``OUT/systems.json`` in the schema of ``chaosbench/systems.json`` (so
``chaosbench --catalog OUT/systems.json ...`` works), rejected ones to ``OUT/rejected.jsonl`` with the
test that rejected them and its measured value, and the provenance of the accepted ones (parents,
perturbation factors, seed, index, every test's value) to ``OUT/accepted.jsonl`` and to each entry's
``provenance`` field.

Runs are resumable: candidates are validated in chunks of ``CHUNK`` and each finished chunk is written
atomically to ``OUT/chunks/``; rerunning with the same parents, sigma, couple and seed skips finished
chunks (a larger ``n`` only adds candidates). The catalog and logs are assembled from the chunks at the
end, atomically. With ``scheduler`` or ``dask_workers`` the chunks run as Dask tasks (results travel back
to this process, so workers need no shared disk).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import __version__
from .candidates import SIGMA, Candidate, _stats, coupled_template, draw, exponent_parameters  # noqa: F401
from .catalog import Catalog, System, load_catalog, validate_system
from .errors import ChaosbenchError
from .files import atomic_write, remove_stale_tmp

#: candidates per chunk: the unit of resumption and of a Dask task
CHUNK = 16
#: the measured dominant period becomes the entry's period, kept within these factors of the parent's
PERIOD_RANGE = (0.25, 4.0)
SPEC_FILE = "_sample.json"
#: bumped when a change to the sampler or validator changes which candidates are accepted
SAMPLER_VERSION = 2


# -- one candidate -----------------------------------------------------------------------------------
@dataclass
class _Parents:
    """The parents' systems and, per coupled pair, the template system (compiled once per process)."""

    systems: dict[str, System]
    templates: dict[tuple[str, ...], System] = field(default_factory=dict)

    def base(self, c: Candidate) -> System:
        if c.kind == "perturbation":
            return self.systems[c.parents[0]]
        if c.parents not in self.templates:
            d, r = (self.systems[p] for p in c.parents)
            self.templates[c.parents] = validate_system(f"Coupled_{d.name}_{r.name}", coupled_template(d, r))
        return self.templates[c.parents]


def _sig(x: float | None) -> float | None:
    return float(f"{x:.6g}") if x is not None and math.isfinite(x) else None


def _entry(c: Candidate, base: System, parents: _Parents, verdict, sigma: float, seed: int) -> dict:
    from .invariants.annotate import dynamics_hash
    from .invariants.dimension import kaplan_yorke_dimension

    entry = copy.deepcopy(base.raw)
    for key in ("doi", "dt", "excluded", "invariants", "notes", "provenance"):  # a sampled parent's too
        entry.pop(key, None)
    cites = " ".join(f"{p}: {parents.systems[p].citation}" for p in c.parents)
    how = (
        f"each parameter x exp({sigma:g} N(0,1))"
        if c.kind == "perturbation"
        else f"drive {c.parents[0]} -> response {c.parents[1]} with kappa = {c.kappa:.4g}, parameters each x "
        f"exp({sigma:g} N(0,1))"
    )
    entry["description"] = (
        f"{' -> '.join(c.parents)}, {how} (seed {seed}, candidate {c.index}); found chaotic by chaosbench.validate."
    )
    entry["citation"] = f"Sampled by chaosbench.sampler from {' and '.join(c.parents)}. Parent(s): {cites}"
    entry["parameters"] = {k: float(v) for k, v in c.parameters.items()}
    if not base.is_nonautonomous:  # a nonautonomous system keeps its parent's point at t = 0
        entry["initial_conditions"] = [float(x) for x in verdict.final_state]
    period = verdict.settings["recording"]["period"]
    lo, hi = PERIOD_RANGE
    entry["period"] = _sig(min(max(verdict.dominant_period or period, lo * period), hi * period))
    spectrum = verdict.lyapunov_spectrum
    lam = float(spectrum[0])
    full = not base.is_delay
    inv: dict[str, Any] = {
        "lyapunov_spectrum": [_sig(v) for v in spectrum],
        "lyapunov_spectrum_std": [_sig(v) for v in verdict.lyapunov_std],
        "kaplan_yorke_dimension": _sig(kaplan_yorke_dimension(spectrum, base.dimension if full else None)),
        "lyapunov_time": _sig(1.0 / lam),
        "dominant_period": _sig(verdict.dominant_period),
        "suggested_dt": _sig(verdict.suggested_dt),
        "mean": [_sig(v) for v in verdict.mean],
        "std": [_sig(v) for v in verdict.std],
        "method": {
            "computed_by": "chaosbench.validate (the sampler's validation run); run 'chaosbench annotate' "
            "for the full set of invariants",
            "lyapunov": {k: (_sig(v) if isinstance(v, float) else v) for k, v in verdict.settings["lyapunov"].items()},
            "recording": verdict.settings["recording"],
        },
    }
    entry["invariants"] = inv
    entry["provenance"] = _provenance(c, verdict, sigma, seed)
    inv["method"]["system_hash"] = dynamics_hash(entry)
    validate_system(c.name, entry)  # what --catalog will check, checked before it is written
    return entry


def _provenance(c: Candidate, verdict, sigma: float, seed: int) -> dict:
    out = {
        "sampler": f"chaosbench.sampler {__version__}",
        "kind": c.kind,
        "parents": list(c.parents),
        "seed": seed,
        "index": c.index,
        "sigma": sigma,
        "factors": {k: _sig(v) for k, v in c.factors.items()},
        "verdicts": {ch.name: _sig(ch.value) if ch.value is not None else None for ch in verdict.checks},
    }
    if c.kappa is not None:
        out["kappa"] = _sig(c.kappa)
    return out


def evaluate(c: Candidate, parents: _Parents, *, sigma: float, seed: int) -> dict:
    """Validate one candidate; its record for the logs (with the catalog entry if it was accepted)."""
    from .validate import validate

    base = parents.base(c)
    record = {
        "index": c.index,
        "name": c.name,
        "kind": c.kind,
        "parents": list(c.parents),
        "parameters": {k: _sig(v) for k, v in c.parameters.items()},
        "factors": {k: _sig(v) for k, v in c.factors.items()},
    }
    if c.kappa is not None:
        record["kappa"] = _sig(c.kappa)
    kwargs: dict[str, Any] = {}
    if c.kind == "coupling":
        d, r = (parents.systems[p] for p in c.parents)
        (md, sd), (mr, sr) = _stats(d), _stats(r)
        cols = [
            i for i in range(base.dimension) if i not in (set(base.clock_variables) if base.is_nonautonomous else set())
        ]
        kwargs["reference"] = (np.concatenate([md, mr])[cols], np.concatenate([sd, sr])[cols])
        times = [s.lyapunov_time for s in (d, r) if s.lyapunov_time]
        kwargs["lyapunov_time"] = min(times) if times else None
    try:
        verdict = validate(base, c.parameters, **kwargs)
    except ChaosbenchError as exc:  # e.g. a Jacobian that cannot be evaluated at these values
        return record | {"accepted": False, "rejected_by": "bounded", "value": None, "detail": str(exc), "checks": {}}
    record["seconds"] = round(verdict.seconds, 4)
    record["checks"] = verdict.summary()
    if not verdict.chaotic:
        failed = verdict.rejected_by
        if failed is None:  # cannot happen: a verdict that is not chaotic has a failed check
            raise RuntimeError(f"{c.name}: not chaotic, yet no check failed")
        return record | {
            "accepted": False,
            "rejected_by": failed.name,
            "value": failed.as_dict()["value"],
            "detail": failed.detail,
        }
    record["accepted"] = True
    record["entry"] = _entry(c, base, parents, verdict, sigma, seed)
    return record


def run_chunk(
    indices: Sequence[int], parent_entries: dict[str, dict], *, seed: int, sigma: float, couple: float
) -> list[dict]:
    """Validate candidates ``indices``; ``parent_entries`` are raw catalog entries, so a Dask worker needs no
    catalog file of the user's."""
    parents = _Parents({name: validate_system(name, e) for name, e in parent_entries.items()})
    order = [parents.systems[n] for n in parent_entries]
    out = []
    for i in indices:
        c = draw(i, order, seed=seed, sigma=sigma, couple=couple)
        with np.errstate(all="ignore"):
            out.append(evaluate(c, parents, sigma=sigma, seed=seed))
    return out


# -- the run -------------------------------------------------------------------------------------------
@dataclass
class SampleSummary:
    """What a run produced: counts per parent, where the files are, how long it took."""

    out: Path
    candidates: int
    accepted: int
    per_parent: dict[str, tuple[int, int]]  # parent (or "A->B") -> (accepted, candidates)
    rejected_by: dict[str, int]
    seconds: float
    skipped: int = 0


def _spec(parents: list[str], cat: Catalog, seed: int, sigma: float, couple: float) -> dict:
    from . import validate as v

    thresholds = {k: getattr(v, k) for k in dir(v) if k.isupper() and isinstance(getattr(v, k), (int, float))}
    entries = {p: cat[p].raw for p in parents}
    parent_hash = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "parents": parents,
        "seed": seed,
        "sigma": sigma,
        "couple": couple,
        "chunk": CHUNK,
        "sampler_version": SAMPLER_VERSION,
        "validator": thresholds,
        "parents_hash": parent_hash,
    }


def _check_arguments(parents: Sequence[str], n: object, seed: object, sigma: object, couple: object) -> None:
    if isinstance(parents, str) or not parents:
        raise ChaosbenchError("parents must be a non-empty list of system names")
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise ChaosbenchError(f"n must be a positive integer (the number of candidates), got {n!r}")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63):
        raise ChaosbenchError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and 0 < sigma <= 2):
        raise ChaosbenchError(f"sigma must be a number in (0, 2], got {sigma!r}")
    if not (isinstance(couple, (int, float)) and 0 <= couple <= 1):
        raise ChaosbenchError(f"couple must be a fraction in [0, 1], got {couple!r}")


def _settle(out: Path, spec: dict, overwrite: bool) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "chunks").mkdir(exist_ok=True)
    except OSError as exc:
        raise ChaosbenchError(
            f"output directory '{out}' is not writable ({exc.strerror}); choose another --out"
        ) from None
    path = out / SPEC_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text())["spec"]
        except (ValueError, KeyError, TypeError):
            old = None
        if old != spec and not overwrite:
            what = ", ".join(k for k in spec if old.get(k) != spec[k]) if isinstance(old, dict) else "a damaged file"
            raise ChaosbenchError(
                f"'{out}' holds a sample made with other settings ({what}); use another --out or --overwrite"
            )
        if old != spec:
            for f in (out / "chunks").glob("*.json"):
                f.unlink()
    remove_stale_tmp(out / "chunks")
    atomic_write(path, json.dumps({"spec": spec, "chaosbench_version": __version__}, indent=1, sort_keys=True))


def _chunk_path(out: Path, k: int) -> Path:
    return out / "chunks" / f"chunk-{k:07d}.json"


def _read_chunk(path: Path, spec: dict) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("spec") == spec else None


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    lines = enabled and not sys.stderr.isatty()
    bar = tqdm(total=total, desc="sample", unit="candidate", disable=not enabled or lines)
    state = {"done": 0, "accepted": 0}

    def update(records: list[dict]) -> None:
        state["done"] += len(records)
        state["accepted"] += sum(r["accepted"] for r in records)
        if lines:
            print(
                f"sample: {state['done']}/{total} candidates, {state['accepted']} accepted", file=sys.stderr, flush=True
            )
        else:
            bar.update(len(records))
            bar.set_postfix_str(f"{state['accepted']} accepted")

    return update, bar


def sample(
    parents: Sequence[str],
    n: int,
    *,
    out: str | os.PathLike,
    seed: int = 0,
    sigma: float = SIGMA,
    couple: float = 0.0,
    catalog: str | os.PathLike | Iterable[str] | None = None,
    trajectories: bool = False,
    length: int = 1000,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> SampleSummary:
    """Draw ``n`` candidate systems from ``parents``, keep the chaotic ones, and write them to ``out``.

    Parameters
    ----------
    parents : catalog system names to perturb (and, with ``couple``, to couple).
    n : number of candidates (accepted + rejected).
    out : directory receiving ``systems.json``, ``rejected.jsonl``, ``accepted.jsonl`` (and ``trajectories/``).
    seed : candidate ``i`` is drawn from ``default_rng([seed, i])``.
    sigma : log-normal spread of each parameter's factor ``exp(sigma N(0,1))``.
    couple : fraction of candidates that are drive -> response couplings of two perturbed parents.
    catalog : user catalog files in which to look up the parents (as ``--catalog``).
    trajectories : also write one trajectory of ``length`` points per accepted system as a parquet dataset
        in ``out/trajectories`` (one file per system, :func:`chaosbench.store.generate`; readable at once by
        ``pyarrow.dataset.dataset``). The dataset's spec holds the catalog's hash, so when more systems are
        accepted (a larger ``n``) it is written again whole.
    scheduler, dask_workers : run the chunks on this Dask scheduler, or on a local cluster of that many workers.
    overwrite : replace a sample made with other settings in ``out``.
    progress : a bar on a terminal, a line per chunk otherwise.

    Returns
    -------
    SampleSummary
    """
    import time

    t0 = time.perf_counter()
    _check_arguments(parents, n, seed, sigma, couple)
    cat = load_catalog(catalog)
    names = list(dict.fromkeys(cat[p].name for p in parents))
    for p in names:
        if getattr(cat[p], "kind", "flow") != "flow":
            raise ChaosbenchError(f"system '{p}' is a {cat[p].kind}; the sampler's validator handles flows only")
        if not cat[p].parameters:
            raise ChaosbenchError(f"system '{p}' has no parameters to perturb; choose another parent")
    if couple > 0:
        for p in names:
            if cat[p].is_delay:
                raise ChaosbenchError(
                    f"system '{p}' is a delay equation; coupling needs ordinary differential "
                    "equations (leave it out or use couple=0)"
                )
    out = Path(out)
    spec = _spec(names, cat, seed, float(sigma), float(couple))
    _settle(out, spec, overwrite)
    entries = {p: cat[p].raw for p in names}
    n_chunks = math.ceil(n / CHUNK)
    chunks = {k: list(range(k * CHUNK, min(n, (k + 1) * CHUNK))) for k in range(n_chunks)}
    records: dict[int, dict] = {}
    todo: dict[int, list[int]] = {}  # chunk -> its candidates still to validate
    for k, idx in chunks.items():
        data = _read_chunk(_chunk_path(out, k), spec) if _chunk_path(out, k).exists() else None
        have = {r["index"]: r for r in data["records"]} if data else {}
        records.update({i: have[i] for i in idx if i in have})
        missing = [i for i in idx if i not in have]
        if missing:
            todo[k] = missing
    skipped = len(records)
    update, bar = _progress(n - skipped, progress)

    def finish(k: int, recs: list[dict]) -> None:
        data = _read_chunk(_chunk_path(out, k), spec)
        merged = {r["index"]: r for r in (data["records"] if data else [])} | {r["index"]: r for r in recs}
        atomic_write(_chunk_path(out, k), json.dumps({"spec": spec, "records": [merged[i] for i in sorted(merged)]}))
        records.update({r["index"]: r for r in recs})
        update(recs)

    try:
        if scheduler or dask_workers:
            _run_dask(todo, entries, spec, seed, sigma, couple, scheduler, dask_workers, finish)
        else:
            for k, idx in todo.items():
                finish(k, run_chunk(idx, entries, seed=seed, sigma=sigma, couple=couple))
    finally:
        bar.close()
    summary = _assemble(out, [records[i] for i in range(n)], spec)
    if trajectories and summary.accepted:
        _write_trajectories(
            out, [records[i]["name"] for i in range(n) if records[i]["accepted"]], length, scheduler, dask_workers
        )
    summary.seconds, summary.skipped = time.perf_counter() - t0, skipped
    return summary


def _run_dask(todo: dict[int, list[int]], entries, spec, seed, sigma, couple, scheduler, dask_workers, finish) -> None:
    from .distributed import dask_client

    with dask_client(scheduler, dask_workers) as client:
        from dask.distributed import as_completed

        futures = {
            client.submit(
                run_chunk,
                idx,
                entries,
                seed=seed,
                sigma=sigma,
                couple=couple,
                key=f"chaosbench-sample-{spec_id(spec)}-{k}",
                pure=False,
            ): k
            for k, idx in todo.items()
        }
        try:
            for fut in as_completed(futures):
                finish(futures[fut], fut.result())
        except BaseException:
            client.cancel(list(futures))
            raise


def spec_id(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _assemble(out: Path, records: list[dict], spec: dict) -> SampleSummary:
    """Write ``systems.json``, ``accepted.jsonl`` and ``rejected.jsonl`` from the candidates' records."""
    systems, accepted, rejected = {}, [], []
    per_parent: dict[str, list[int]] = {}
    rejected_by: dict[str, int] = {}
    for r in records:
        key = " -> ".join(r["parents"])
        tally = per_parent.setdefault(key, [0, 0])
        tally[1] += 1
        if r["accepted"]:
            tally[0] += 1
            systems[r["name"]] = r["entry"]
            accepted.append({k: v for k, v in r.items() if k != "entry"})
        else:
            rejected_by[r["rejected_by"]] = rejected_by.get(r["rejected_by"], 0) + 1
            rejected.append(r)
    atomic_write(out / "systems.json", json.dumps({"version": f"sample-{spec_id(spec)}", "systems": systems}, indent=1))
    atomic_write(out / "accepted.jsonl", "".join(json.dumps(r) + "\n" for r in accepted))
    atomic_write(out / "rejected.jsonl", "".join(json.dumps(r) + "\n" for r in rejected))
    return SampleSummary(
        out=out,
        candidates=len(records),
        accepted=len(systems),
        per_parent={k: (a, c) for k, (a, c) in per_parent.items()},
        rejected_by=rejected_by,
        seconds=0.0,
    )


def _write_trajectories(out: Path, names: list[str], length: int, scheduler, dask_workers) -> Path:
    catalog = str((out / "systems.json").resolve())
    options: dict[str, Any] = {"length": int(length)}
    if scheduler or dask_workers:
        from .distributed import generate_distributed

        return generate_distributed(
            names,
            out=out / "trajectories",
            catalog=catalog,
            overwrite=True,
            scheduler=scheduler,
            dask_workers=dask_workers,
            progress=False,
            **options,
        )
    from .store import generate

    return generate(names, out=out / "trajectories", catalog=catalog, overwrite=True, **options)
