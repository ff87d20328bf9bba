"""Leaderboard and figures of a results directory: ``chaosbench report RESULTS``.

Writes ``leaderboard.md`` and ``leaderboard.csv`` (one row per model, or per model and
hyperparameter setting when a directory holds several settings of one model; the unfinished models
beside the others on their own cells; a per-system table;
long-run statistics beside each system's noise floor; failures with their reasons; provenance) and
the figures of :mod:`chaosbench.bench.plots`. A failed cell counts as VPT 0 (ranked last), never dropped.

Aggregation, the same everywhere: a cell's VPT is the median over its test windows; a system's
VPT for a model is the median over seeds; a model's VPT is the median over systems, with a
bootstrap interval that resamples systems (the unit a reader generalises over). Ranks are taken
among the models on each system and seed, averaged over seeds, then over systems; while a run is
incomplete, only the seeds every model on a system has run count for that system's ranks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ChaosbenchError
from ..metrics import HORIZONS_LYAP, bootstrap_median_ci
from . import plots, results
from .scoring import censored_median

#: the columns without which a table is not a results table; every other column is optional
REQUIRED = ("system", "model", "seed", "status")
#: optional columns, filled with NaN when a directory predates them (shown as "–")
OPTIONAL = (
    "reason",
    "hyperparameters",
    "task",
    "versions",
    "chaosbench_version",
    "catalog_hash",
    "catalog_version",
    "eps",
    "max_lyapunov",
    "horizon_lyap",
    "horizon_steps",
    "n_windows",
    "vpt_lyap",
    "vpt_windows",
    "censored_windows",
    "censored_fraction",
    "vpt_censored",
    "certified_lyap",
    "horizon_capped",
    "vpt_periods",
    "diverged",
    "d_stsp",
    "d_h",
    "d_stsp_floor",
    "d_h_floor",
    "mase",
    "fit_seconds",
    "forecast_seconds",
    "n_parameters",
    "sample_truth",
    "sample_forecast",
    *(f"{m}_at_{h:g}" for m in ("nrmse", "smape") for h in HORIZONS_LYAP),
)
#: bootstrap resamples and interval level of every interval in the report
N_BOOT, LEVEL = 2000, 0.95


def _seq(x) -> np.ndarray | None:
    """A list-valued cell (parquet gives lists) as an array; None where the column is missing or empty."""
    return np.asarray(x, float) if isinstance(x, (list, tuple, np.ndarray)) and len(x) else None


def _flag(x) -> bool:
    return bool(x) if x is not None and not (isinstance(x, float) and np.isnan(x)) else False


def _median(values) -> float:
    """Median ignoring NaN (a score that is missing) but keeping inf (the score of a diverged run)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    return float(np.median(v)) if len(v) else float("nan")


def _json(value) -> dict:
    """A JSON-text column's value as a dict ({} where missing; unreadable text kept under its own key)."""
    if isinstance(value, dict):
        return dict(value)
    try:
        found = json.loads(value) if isinstance(value, str) and value.strip() else {}
    except json.JSONDecodeError:
        found = None
    return found if isinstance(found, dict) else {"text": str(value)}


def _settings(hyperparameters) -> dict:
    """A cell's hyperparameters without ``seed``: every model is seeded by its cell's seed, not a setting."""
    found = _json(hyperparameters)
    found.pop("seed", None)
    return found


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 24 else text[:23] + "…"


def variant_names(frame):
    """Each cell's row name: its model, or, when the frame holds several settings of that model, the
    model with the hyperparameters that differ among its settings, e.g. ``var (maxlags=3)``; a thread
    count other than 1 counts as a setting (it changes the numbers)."""
    import pandas as pd

    threads = frame["threads"] if "threads" in frame else pd.Series(1, index=frame.index)
    keys = pd.Series(
        [
            json.dumps(
                {**_settings(h), **({"threads": int(t)} if t and int(t) > 1 else {})}, sort_keys=True, default=str
            )
            for h, t in zip(frame["hyperparameters"], threads)
        ],
        index=frame.index,
    )
    names = frame["model"].astype(str).copy()
    for model in frame["model"].unique():
        mine = frame["model"] == model
        settings = {k: json.loads(k) for k in keys[mine].unique()}
        if len(settings) < 2:
            continue
        differing = sorted(
            {
                p
                for s in settings.values()
                for p in s
                if len({json.dumps(t.get(p), default=str) for t in settings.values()}) > 1
            }
        )
        for key, s in settings.items():
            s = {"threads": 1, **s}  # a thread count left out is one thread
            label = ", ".join(f"{p}={_short(s[p]) if p in s else '–'}" for p in differing)
            names[mine & (keys == key)] = f"{model} ({label})"
    return names


def _failed_as_zero(frame, column: str) -> np.ndarray:
    """``column`` as floats, 0 for a failed cell: a failure ranks last and is never dropped."""
    return np.where(frame["ok"], np.asarray(frame[column], float), 0.0)


def prepare(frame):
    """A copy of a results frame with every optional column present and three derived columns:
    ``variant`` (the row name), ``vpt`` (VPT in Lyapunov times, 0 for a failed cell) and ``rank``
    (of ``vpt`` among the variants on the cell's system and seed, 1 best, ties averaged; NaN on a seed
    not every variant on the system has run, see :func:`_shared_seeds`)."""
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise ChaosbenchError(f"the results lack the columns {missing}: not a chaosbench results table")
    f = frame.copy()
    for column in OPTIONAL:
        if column not in f:
            f[column] = np.nan
    f["reason"] = f["reason"].fillna("").astype(str)
    f["ok"] = f["status"] == "ok"
    f["variant"] = variant_names(f)
    # a cell's median is a lower bound when any censored window lies at or below its upper middle;
    # cells written before that rule flagged only a censored middle window, so it is derived again
    f["vpt_censored"] = [
        censored_median(v, c)[1] if v is not None and c is not None and len(v) == len(c) else _flag(flag)
        for v, c, flag in zip(map(_seq, f["vpt_windows"]), map(_seq, f["censored_windows"]), f["vpt_censored"])
    ]
    f["vpt"] = _failed_as_zero(f, "vpt_lyap")
    f["rank"] = f.groupby(["system", "seed"])["vpt"].rank(ascending=False, method="average")
    f.loc[~_shared_seeds(f), "rank"] = np.nan
    return f


def _shared_seeds(f) -> np.ndarray:
    """Which cells are ranked: those on the seeds that every variant on the cell's system has run
    (every seed once a run is complete), so a variant still on seed 0 is ranked against the others'
    seed 0 rather than a variant on more seeds gaining by the smaller fields of its later seeds. A
    system on which no seed is shared by all its variants keeps every seed."""
    on_system = f.groupby("system")["variant"].transform("nunique")
    on_seed = f.groupby(["system", "seed"])["variant"].transform("nunique")
    shared = on_seed.eq(on_system)
    return np.asarray(shared | ~shared.groupby(f["system"]).transform("any"), bool)


def system_scores(f):
    """One row per system and variant (``f`` from :func:`prepare`): median VPT over seeds and whether
    it is a lower bound, the interquartile range of its windows' VPTs, long-run scores (median over
    scored cells, inf kept) and the system's horizon, certified truth time and noise floors."""
    import pandas as pd

    rows = []
    for (system, variant), g in f.groupby(["system", "variant"], sort=False):
        ok = g[g["ok"]]
        vpt, lower_bound = _seed_median(g)
        windows = [w for w in map(_seq, ok["vpt_windows"]) if w is not None]
        spread = np.concatenate(windows) if windows else np.asarray(g["vpt"], float)
        q1, q3 = np.nanpercentile(spread, [25, 75]) if np.isfinite(spread).any() else (np.nan, np.nan)
        rows.append(
            {
                "system": system,
                "variant": variant,
                "vpt": vpt,
                "lower_bound": lower_bound,
                "q1": q1,
                "q3": q3,
                "d_stsp": _median(ok["d_stsp"]),
                "d_h": _median(ok["d_h"]),
                "max_lyapunov": _median(g["max_lyapunov"]),
                "horizon_lyap": _median(g["horizon_lyap"]),
                "certified_lyap": _median(ok["certified_lyap"]),
                "vpt_periods": _median(_failed_as_zero(g, "vpt_periods")),
                "horizon_capped": bool(g["horizon_capped"].map(_flag).any()),
                "d_stsp_floor": _median(ok["d_stsp_floor"]),
                "d_h_floor": _median(ok["d_h_floor"]),
            }
        )
    return pd.DataFrame(rows)


def _seed_median(g) -> tuple[float, bool]:
    """One system and variant's VPT: the censored median over its seeds' cells, and whether it is a
    lower bound."""
    return censored_median(g["vpt"], g["ok"] & g["vpt_censored"].map(_flag))


def _bootstrap_mean_ci(values, *, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0):
    """Percentile bootstrap interval of the mean (resampling ``values``, here one per system)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    means = np.random.default_rng(seed).choice(v, size=(n_boot, len(v))).mean(axis=1)
    return tuple(float(q) for q in np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))


def _window_counts(ok) -> tuple[float, float, float]:
    """Test windows of the scored cells ``ok``, how many of them are censored and how many diverged
    (NaN where the columns are missing)."""
    windows = censored = diverged = 0.0
    for _, r in ok.iterrows():
        flags, vpts = _seq(r["censored_windows"]), _seq(r["vpt_windows"])
        n = len(flags) if flags is not None else len(vpts) if vpts is not None else float(r["n_windows"])
        windows += n
        censored += flags.sum() if flags is not None else float(r["censored_fraction"]) * n
        diverged += float(r["diverged"])
    return windows, censored, diverged


def leaderboard(frame):
    """One row per model (or model setting), best first: mean rank with its bootstrap interval over
    systems, median VPT over systems with its bootstrap interval and interquartile range, censored
    and diverged windows (%), failed cells, long-run scores beside the noise floor, MASE, cost."""
    import pandas as pd

    f = prepare(frame)
    scores = system_scores(f)
    system_rank = f.groupby(["variant", "system"])["rank"].mean()
    rows = []
    for variant, g in f.groupby("variant", sort=False):
        ok = g[g["ok"]]
        per_system = scores.loc[scores["variant"] == variant, "vpt"].to_numpy(float)
        known = per_system[~np.isnan(per_system)]  # NaN only where an old directory lacks vpt_lyap
        median, low, high = (
            bootstrap_median_ci(known, n_boot=N_BOOT, level=LEVEL, seed=0) if len(known) else (float("nan"),) * 3
        )
        q1, q3 = np.quantile(known, [0.25, 0.75]) if len(known) else (float("nan"),) * 2
        rank_low, rank_high = _bootstrap_mean_ci(system_rank[variant])
        windows, censored, diverged = _window_counts(ok)
        rows.append(
            {
                "model": variant,
                "base_model": g["model"].iloc[0],
                "cells": len(g),
                "failed": int((~g["ok"]).sum()),
                "systems": len(per_system),
                "seeds": _seed_list(g["seed"]),
                "mean_rank": float(system_rank[variant].mean()),
                "rank_low": rank_low,
                "rank_high": rank_high,
                "vpt_median": median,
                "vpt_low": low,
                "vpt_high": high,
                "vpt_q1": q1,
                "vpt_q3": q3,
                "windows": windows,
                "censored_pct": 100 * censored / windows if windows else float("nan"),
                "diverged_pct": 100 * diverged / windows if windows else float("nan"),
                "d_stsp": _median(ok["d_stsp"]),
                "d_stsp_floor": _median(ok["d_stsp_floor"]),
                "d_h": _median(ok["d_h"]),
                "d_h_floor": _median(ok["d_h_floor"]),
                "mase": _median(ok["mase"]),
                "fit_seconds": _median(g["fit_seconds"]),
                "forecast_seconds": _median(g["forecast_seconds"]),
                "n_parameters": _median(g["n_parameters"]),
            }
        )
    board = pd.DataFrame(rows).sort_values(["mean_rank", "vpt_median"], ascending=[True, False])
    return board.reset_index(drop=True)


def win_rates(f):
    """Matrix (variant × variant) of the fraction of the systems both ran on which the row's median VPT
    over seeds beats the column's, a tie counting one half."""
    import pandas as pd

    table = system_scores(f).pivot(index="system", columns="variant", values="vpt")
    names = list(table.columns)
    out = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            both = table[[a, b]].dropna()
            if i != j and len(both):
                out[i, j] = float(np.mean((both[a] > both[b]) + 0.5 * (both[a] == both[b])))
    return pd.DataFrame(out, index=names, columns=names)


def partial_comparison(f, board):
    """For each row of ``board`` with cells on fewer (system, seed) pairs than the results hold (a run
    still going), its median VPT beside those of the other rows that have every one of its pairs,
    all over exactly those pairs (``f`` from :func:`prepare`). Columns: ``model``, ``systems``,
    ``seeds``, ``vpt_median``, ``place`` (:func:`_place`) and ``others`` ({row: median VPT}, in board
    order); no row for a model that no other covers, and none when every row covers every pair."""
    import pandas as pd

    pairs = {v: set(zip(g["system"], g["seed"])) for v, g in f.groupby("variant", sort=False)}
    everything = set().union(*pairs.values())
    row_pairs = pd.Series(list(zip(f["system"], f["seed"])), index=f.index)
    rows = []
    for variant in board["model"]:
        mine = pairs[variant]
        if mine == everything:
            continue
        rivals = [v for v in board["model"] if v != variant and mine <= pairs[v]]
        if not rivals:  # nothing to set it beside
            continue
        sub = f[row_pairs.isin(mine) & f["variant"].isin([variant, *rivals])]
        per_system = {key: _seed_median(g)[0] for key, g in sub.groupby(["system", "variant"], sort=False)}
        medians = pd.Series(per_system).groupby(level=1).median()
        others = {v: float(medians[v]) for v in rivals}
        rows.append(
            {
                "model": variant,
                "systems": len({s for s, _ in mine}),
                "seeds": _seed_list([seed for _, seed in mine]),
                "vpt_median": float(medians[variant]),
                "place": _place(float(medians[variant]), list(others.values())),
                "others": others,
            }
        )
    return pd.DataFrame(rows, columns=["model", "systems", "seeds", "vpt_median", "place", "others"])


def _place(mine: float, others: list[float]) -> str:
    """Position by median among ``others`` and itself, 1 the highest: ``"3"``, or ``"2–4"`` where it ties."""
    higher = sum(m > mine for m in others)
    tied = sum(m == mine for m in others)
    return f"{higher + 1}" if not tied else f"{higher + 1}–{higher + tied + 1}"


def _partial_table(partial, order, total: int) -> list[str]:
    """The models still running against the others on their own systems and seeds (nothing when none)."""
    if partial.empty:
        return []
    columns = [v for v in order if any(v in o for o in partial["others"])]
    lines = _section(
        "Unfinished models against the others on the same cells",
        "A model with cells on fewer systems or seeds than the results hold is summarised above over its own "
        "cells, so its median is over another set than its neighbours'. Here each such model's median VPT "
        "beside the medians of every model that has all of its (system, seed) cells, over exactly those cells "
        "(median over seeds, then over systems; failed = 0); *place*: its position among them by median.",
        ["model", "systems", "seeds", "its median VPT", "place"],
        columns,
    )
    for _, r in partial.iterrows():
        others = [_fmt(r["others"][v]) if v in r["others"] else "–" for v in columns]
        lines.append(
            f"| {r['model']} | {_coverage(r['systems'], total)} | {r['seeds']} | {_fmt(r['vpt_median'])} | "
            f"{r['place']} of {len(r['others']) + 1} | " + " | ".join(others) + " |"
        )
    return lines


def _fmt(x, digits: int = 2) -> str:
    """A number as the tables show it: "–" when missing, "∞" for a diverged run's score."""
    if x is None or np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}" if abs(x) < 1e5 else f"{x:.1e}"


def _sig(x, digits: int = 2) -> str:
    """``digits`` significant digits, for numbers that span many decades (errors, exponents)."""
    return _fmt(x) if not np.isfinite(x) else f"{x:.{digits}g}"


def _pct(x) -> str:
    return "–" if np.isnan(x) else f"{x:.0f}%" if x >= 1 or x == 0 else f"{x:.1f}%"


def _section(title: str, note: str, columns: list[str], order) -> list[str]:
    """A section's heading, its note and the head of its table: ``columns`` (the first left-aligned,
    the rest numbers), then one numeric column per variant in ``order``."""
    return [
        f"## {title}",
        "",
        note,
        "",
        "| " + " | ".join([*columns, *order]) + " |",
        "|---|" + "---:|" * (len(columns) - 1 + len(order)),
    ]


def _coverage(systems: int, total: int) -> str:
    """``"136"``, or ``"30 of 136"`` for a model scored on fewer systems than the results hold."""
    return f"{systems}" if systems >= total else f"{systems} of {total}"


def _seed_list(seeds) -> str:
    """The seeds a model has cells on, runs of consecutive seeds joined: ``"0–2"``, ``"0"``, ``"0, 2"``."""
    values = sorted({int(s) for s in seeds})
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def _leaderboard_table(board, eps, total: int) -> list[str]:
    lines = [
        "| rank | model | mean rank [95% CI] | median VPT [95% CI] | IQR | censored | diverged | failed | systems | "
        "seeds | D_stsp (floor) | D_H (floor) | MASE | fit s | params |",
        "|---:|---|---|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for i, r in board.iterrows():
        lines.append(
            f"| {i + 1} | {r['model']} | {_fmt(r['mean_rank'])} [{_fmt(r['rank_low'])}–{_fmt(r['rank_high'])}] | "
            f"{_fmt(r['vpt_median'])} [{_fmt(r['vpt_low'])}–{_fmt(r['vpt_high'])}] | "
            f"{_fmt(r['vpt_q1'])}–{_fmt(r['vpt_q3'])} | {_pct(r['censored_pct'])} | {_pct(r['diverged_pct'])} | "
            f"{r['failed']}/{r['cells']} | {_coverage(r['systems'], total)} | {r['seeds']} | "
            f"{_fmt(r['d_stsp'])} ({_fmt(r['d_stsp_floor'])}) | "
            f"{_fmt(r['d_h'], 3)} ({_fmt(r['d_h_floor'], 3)}) | {_fmt(r['mase'])} | {_fmt(r['fit_seconds'], 1)} | "
            f"{_fmt(r['n_parameters'], 0)} |"
        )
    lines += [
        "",
        f"*Mean rank*: the rank of each model's VPT among the models on one system and seed (1 is best, "
        "ties share), averaged over seeds and then systems. *Median VPT*: valid prediction time in Lyapunov "
        f"times — how long the forecast's NRMSE stays within ε = {eps} — taken as the median over a cell's "
        "test windows, then over seeds, then over systems; a failed cell counts as 0. Both intervals are "
        f"{LEVEL:.0%} bootstrap intervals ({N_BOOT} resamples of the systems); *IQR* is the interquartile "
        "range over systems. *Censored*: the share of test windows whose VPT is only a lower bound, because "
        "the forecast was still valid when the horizon or the truth's certified time ended. *Diverged*: the "
        "share of windows whose forecast became non-finite (scored up to that point, not failed). *Failed*: "
        "cells that raised, timed out or were non-finite from their first step. *Systems*: how many systems "
        "the model has cells on; a model on fewer systems than the results hold (a run still going) is ranked "
        "and summarised on those alone, so its median is over another set of systems: compare it in the "
        "per-system table. *Seeds*: the task seeds the model has cells on; where they are fewer than another "
        "model's, its median over seeds is over fewer seeds; mean ranks are taken on the seeds that every "
        "model on a system has run, so all models are ranked on the same cells. "
        "*D_stsp* (state-space "
        "divergence) and *D_H* (power-spectrum Hellinger distance) compare a long free run of the model "
        "with an independent long true run (median over cells, lower is better, ∞ when the free run "
        "diverged); in brackets the median noise floor, the same score between two independent true runs. "
        "*MASE*: mean absolute error scaled by the in-sample one-step naive error. *fit s*: median fitting "
        "time per cell in seconds; *params*: median number of fitted parameters.",
    ]
    return lines


def _per_system_table(scores, order) -> list[str]:
    vpt = scores.pivot(index="system", columns="variant", values="vpt").reindex(columns=order)
    lower = scores.pivot(index="system", columns="variant", values="lower_bound").reindex(columns=order)
    system = scores.groupby("system").agg(
        {"max_lyapunov": "median", "horizon_lyap": "median", "certified_lyap": "median", "horizon_capped": "any"}
    )
    lines = _section(
        "Median VPT per system (Lyapunov times)",
        'Median over seeds (failed = 0); "≥" marks a median that is only a lower bound, the best per '
        "system is bold unless it prints as 0.00. *Horizon* and *certified*: how far the forecasts were "
        "scored and how far the true trajectory is certified (median over windows); † marks a system whose "
        "horizon was capped in periods and steps because its Lyapunov time spans many periods.",
        ["system", "λ_max", "horizon", "certified"],
        order,
    )
    for name, row in vpt.iterrows():
        values = row.to_numpy(float)
        best = np.nanmax(values) if np.isfinite(values).any() else np.nan
        cells = []
        for variant, v in zip(order, values):
            text = ("≥ " if _flag(lower.at[name, variant]) else "") + _fmt(v)
            shown = np.isfinite(v) and v == best and _fmt(best) != _fmt(0.0)  # no bold "0.00" among zeros
            cells.append(f"**{text}**" if shown else text)
        s = system.loc[name]
        lines.append(
            f"| {name}{' †' if s['horizon_capped'] else ''} | {_sig(s['max_lyapunov'], 3)} | "
            f"{_fmt(s['horizon_lyap'], 1)} | {_fmt(s['certified_lyap'], 1)} | " + " | ".join(cells) + " |"
        )
    return lines


def _capped_table(scores, order) -> list[str]:
    """Systems whose Lyapunov time spans many periods: their VPT in dominant periods, the unit that still
    separates models there (in Lyapunov times every model scores a small fraction)."""
    capped = scores[scores["horizon_capped"]]
    if not len(capped):
        return []
    periods = capped.pivot(index="system", columns="variant", values="vpt_periods").reindex(columns=order)
    lines = _section(
        "Horizon-capped systems: median VPT in periods",
        "One Lyapunov time of these systems spans many periods, so the horizon is capped (250 periods by "
        "default) and the valid prediction time is read in dominant periods (median over seeds, failed = 0).",
        ["system"],
        order,
    )
    for name, row in periods.iterrows():
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in row.to_numpy(float)) + " |")
    return lines


def _long_run_table(scores, order) -> list[str]:
    d_stsp = scores.pivot(index="system", columns="variant", values="d_stsp").reindex(columns=order)
    d_h = scores.pivot(index="system", columns="variant", values="d_h").reindex(columns=order)
    floor = scores.groupby("system")[["d_stsp_floor", "d_h_floor"]].median()
    lines = _section(
        "Long-run statistics per system (D_stsp / D_H)",
        "Each entry is D_stsp / D_H of the model's long free run against an independent true run (median "
        "over scored seeds, lower is better, ∞ / 1 when the run diverged, – when no cell was scored). The "
        "noise floor is the same pair between two independent true runs: a model cannot meaningfully beat it.",
        ["system", "noise floor"],
        order,
    )
    for name in d_stsp.index:
        pairs = [
            f"{_fmt(a)} / {_fmt(b, 3)}" if not (np.isnan(a) and np.isnan(b)) else "–"
            for a, b in zip(d_stsp.loc[name].to_numpy(float), d_h.loc[name].to_numpy(float))
        ]
        lines.append(
            f"| {name} | {_fmt(floor.at[name, 'd_stsp_floor'])} / {_fmt(floor.at[name, 'd_h_floor'], 3)} | "
            + " | ".join(pairs)
            + " |"
        )
    return lines


def error_curves(f, order):
    """NRMSE and sMAPE at each horizon of ``HORIZONS_LYAP`` (columns ``nrmse_at_1`` …), one row per variant
    in ``order``: the median over systems of the median over seeds of scored cells (NaN where none)."""
    columns = [f"{m}_at_{h:g}" for m in ("nrmse", "smape") for h in HORIZONS_LYAP]
    ok = f[f["ok"]]
    per_system = ok.groupby(["variant", "system"])[columns].agg(_median)
    return per_system.groupby("variant").agg(_median).reindex(order)


def _error_table(curves) -> list[str]:
    lines = [
        "## Error against horizon (NRMSE, median over systems of the median over seeds; scored cells)",
        "",
        "| model | " + " | ".join(f"{h:g} LT" for h in HORIZONS_LYAP) + " |",
        "|---|" + "---:|" * len(HORIZONS_LYAP),
    ]
    for variant, row in curves.iterrows():
        lines.append(f"| {variant} | " + " | ".join(_sig(row[f"nrmse_at_{h:g}"]) for h in HORIZONS_LYAP) + " |")
    return lines


def _failures(f) -> list[str]:
    failed = f[~f["ok"]]
    if not len(failed):
        return ["## Failures", "", "None: every cell was scored."]
    lines = ["## Failures", "", f"{len(failed)} of {len(f)} cells failed (each counts as VPT 0):", ""]
    reasons = failed["reason"].map(lambda r: (r.strip().splitlines() or ["(no reason recorded)"])[0][:300])
    for (variant, reason), g in failed.groupby([failed["variant"], reasons], sort=False):
        where = ", ".join(f"{s} (seed {seed})" for s, seed in zip(g["system"], g["seed"]))
        lines.append(f"- **{variant}**, {len(g)} cell{'s' * (len(g) > 1)}: {reason} — {where}")
    return lines


def _distinct(series) -> list[str]:
    return sorted({str(v) for v in series if isinstance(v, str) and v})


def _provenance(f) -> list[str]:
    versions: dict[str, set] = {}
    for text in _distinct(f["versions"]):
        for package, version in _json(text).items():
            versions.setdefault(package, set()).add(str(version))
    catalogs = sorted(
        {(str(v), str(h)[:12]) for v, h in zip(f["catalog_version"], f["catalog_hash"]) if isinstance(h, str)}
    )
    settings = sorted(
        {(v, json.dumps(_settings(h), sort_keys=True, default=str)) for v, h in zip(f["variant"], f["hyperparameters"])}
    )
    fit, forecast = np.nansum(np.asarray(f["fit_seconds"], float)), np.nansum(np.asarray(f["forecast_seconds"], float))
    return [
        "## Provenance",
        "",
        "- chaosbench "
        + (", ".join(_distinct(f["chaosbench_version"])) or "–")
        + "; catalog "
        + (", ".join(f"{v} ({h})" for v, h in catalogs) or "–"),
        "- versions: " + ("; ".join(f"{p} {' / '.join(sorted(v))}" for p, v in sorted(versions.items())) or "–"),
        *[f"- task: `{spec}`" for spec in _distinct(f["task"])],
        *[f"- {variant}: `{text}` (seeded by the cell's seed)" for variant, text in settings],
        f"- compute: {fit:.0f} s fitting and {forecast:.0f} s forecasting over {len(f)} cells "
        f"({(fit + forecast) / 3600:.2f} h)",
        "",
    ]


def _eps(f) -> list[float]:
    return sorted({float(e) for e in np.asarray(f["eps"], float) if np.isfinite(e)})


def families(board, scores):
    """One row per model family present (:data:`chaosbench.models.FAMILIES`), best first: its best
    member (the highest on the leaderboard), that member's median VPT over systems with its bootstrap
    interval and mean rank, and the family's members."""
    import pandas as pd

    from ..models import family

    b = board.assign(family=board["base_model"].map(family))
    rows = []
    for fam, g in b.groupby("family", sort=False):  # the board is sorted: the first row is the best member
        best = g.iloc[0]
        rows.append(
            {
                "family": fam,
                "best": best["model"],
                "members": ", ".join(g["model"]),
                "vpt_median": best["vpt_median"],
                "vpt_low": best["vpt_low"],
                "vpt_high": best["vpt_high"],
                "mean_rank": best["mean_rank"],
                "systems": best["systems"],
            }
        )
    return pd.DataFrame(rows)


def _family_table(fams, total: int) -> list[str]:
    lines = [
        "## Model families",
        "",
        "Each family's best member (the highest on the leaderboard above), its median VPT over systems with "
        f"the {LEVEL:.0%} bootstrap interval, and its mean rank; `families.png` shows it system by system.",
        "",
        "| family | best member | median VPT [95% CI] | mean rank | systems | members |",
        "|---|---|---|---:|---:|---|",
    ]
    for _, r in fams.iterrows():
        lines.append(
            f"| {r['family']} | {r['best']} | {_fmt(r['vpt_median'])} [{_fmt(r['vpt_low'])}–"
            f"{_fmt(r['vpt_high'])}] | {_fmt(r['mean_rank'])} | {_coverage(r['systems'], total)} | {r['members']} |"
        )
    return lines


def _safety_note(f) -> list[str]:
    """Cells whose fit hit a wall-time safety limit (a torch fit's or a search's): the one way a score
    can depend on the machine's load, so the report names them."""

    def hit_in(row) -> bool:  # cells written before the column existed say it in their fit_info
        flag = row.get("safety_limit_hit")
        if isinstance(flag, (bool, np.bool_)):
            return bool(flag)
        try:
            info = json.loads(row.get("fit_info") or "{}")
        except (TypeError, ValueError):
            return False
        return bool(
            info.get("safety_limit_hit")
            or (info.get("search") or {}).get("safety_limit_hit")
            or "time budget" in str(info.get("stopped", ""))
        )

    hit = f[[hit_in(r) for r in f.to_dict("records")]]
    if not len(hit):
        return [
            "No fit reached its wall-time safety limit: every score comes from a fixed amount of work "
            "(epochs, trials), independent of the machine's load.",
            "",
        ]
    counts = ", ".join(f"{m} {n}" for m, n in hit.groupby("model").size().items())
    return [
        f"**{len(hit)} cells reached a wall-time safety limit** before their epochs or trials ended ({counts}); "
        "their scores depend on the machine's load: "
        + ", ".join(f"{r.system}/{r.model}/seed {r.seed}" for r in hit.head(20).itertuples())
        + (" …" if len(hit) > 20 else ""),
        "",
    ]


def _cell_count(f, n_models: int, n_failed: int) -> str:
    """``"3 systems × 2 models × 3 seeds = 18 cells (1 failed)."``, or, where some model has not run on
    every system and seed, how many of the full grid's cells the results hold."""
    systems, seeds = f["system"].nunique(), f["seed"].nunique()
    grid = f"{systems} systems × {n_models} models × {seeds} seeds"
    if len(f) == systems * n_models * seeds:
        return f"{grid} = {len(f)} cells ({n_failed} failed)."
    return (
        f"{len(f)} cells ({n_failed} failed) of the {systems * n_models * seeds} of {grid}: some models have "
        "not run on every system and seed (*systems* and *seeds* below)."
    )


def _rank_note(f) -> list[str]:
    """Which cells the mean ranks stand on, when some were left out (see :func:`_shared_seeds`)."""
    ranked = f["rank"].notna()
    if ranked.all():
        return []
    seeds = f.loc[ranked, "seed"]
    return [
        f"Mean ranks stand on {int(ranked.sum())} of the {len(f)} cells: on each system, the seeds every model "
        f"there has run (here seed{'s' if seeds.nunique() > 1 else ''} {_seed_list(seeds)}), so all models are "
        "ranked on the same cells; medians use every seed.",
        "",
    ]


def markdown(frame, board) -> str:
    """The whole ``leaderboard.md`` of a results frame and its :func:`leaderboard`."""
    f = prepare(frame)
    scores = system_scores(f)
    order = list(board["model"])
    eps = ", ".join(f"{e:g}" for e in _eps(f)) or "–"
    n_failed = int((~f["ok"]).sum())
    lines = [
        "# chaosbench leaderboard",
        "",
        _cell_count(f, len(order), n_failed),
        "",
    ]
    lines += _rank_note(f)
    lines += _safety_note(f)
    if n_failed == len(f):  # nothing to rank: the reasons are the report
        return "\n".join(
            lines + ["**Every cell failed**, so there is no ranking.", ""] + _failures(f) + [""] + _provenance(f)
        )
    total = f["system"].nunique()
    lines += _leaderboard_table(board, eps, total) + [""]
    partial = _partial_table(partial_comparison(f, board), order, total)
    lines += partial + ([""] if partial else [])
    lines += _family_table(families(board, scores), total) + [""]
    lines += _per_system_table(scores, order) + [""]
    capped = _capped_table(scores, order)
    lines += capped + ([""] if capped else [])
    lines += _long_run_table(scores, order) + [""] + _error_table(error_curves(f, order)) + [""]
    return "\n".join(lines + _failures(f) + [""] + _provenance(f))


def write_report(root, *, out=None) -> list[Path]:
    """Write the leaderboard and figures for the results in ``root`` (into ``out``, default ``root``)."""
    import matplotlib

    matplotlib.use("Agg")
    frame = results.read(root)
    if frame.empty:
        raise ChaosbenchError(f"'{root}' holds no finished cells; run 'chaosbench bench --out {root}' first")
    out = Path(out or root)
    out.mkdir(parents=True, exist_ok=True)
    f = prepare(frame)
    board = leaderboard(frame)
    order = list(board["model"])
    scores = system_scores(f)
    eps = (_eps(f) or [float("nan")])[0]
    paths = [out / "leaderboard.md", out / "leaderboard.csv"]
    paths[0].write_text(markdown(frame, board))
    board.to_csv(paths[1], index=False)
    figures = {
        "ranks.png": lambda p: plots.plot_ranks(board, p),
        "win_rate.png": lambda p: plots.plot_win_rates(win_rates(f).loc[order, order], p),
        "vpt_vs_lyapunov.png": lambda p: plots.plot_vpt_vs_lyapunov(scores, order, p),
        "families.png": lambda p: plots.plot_families(families(board, scores), scores, p),
        "error_vs_horizon.png": lambda p: plots.plot_error_vs_horizon(error_curves(f, order), eps, order, p),
        "forecasts.png": lambda p: plots.plot_forecasts(f, scores, order, p),
        "attractors.png": lambda p: plots.plot_attractors(f, scores, order, p),
    }
    for name, draw in figures.items():
        draw(out / name)
        paths.append(out / name)
    return paths
