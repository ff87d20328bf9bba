"""Leaderboard and plots of a results directory: ``chaosbench report RESULTS``.

Writes ``leaderboard.md`` (models ranked by mean rank of valid prediction time across
system-seed pairs, with median VPT and its interquartile range, long-term statistics D_stsp and
D_H, MASE, fit time, size; a per-system table; failures with their reasons; provenance) and three
PNG figures: VPT against the maximum Lyapunov exponent, error against horizon, and true against
forecast attractors for a few systems. A failed cell counts as VPT 0 (ranked last), never dropped.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import results
from .errors import ChaosbenchError
from .metrics import HORIZONS_LYAP

MARKERS = "osD^vP*Xh<>p"


def leaderboard(frame):
    """One row per model: cells, failures, median VPT and IQR, mean rank, medians of the other scores."""
    import pandas as pd

    f = frame.copy()
    f["vpt"] = np.where(f["status"] == "ok", f["vpt_lyap"], 0.0)
    f["rank"] = f.groupby(["system", "seed"])["vpt"].rank(ascending=False, method="average")
    ok = f[f["status"] == "ok"]
    rows = []
    for model, g in f.groupby("model"):
        q1, med, q3 = np.percentile(g["vpt"], [25, 50, 75])
        good = ok[ok["model"] == model]
        rows.append({"model": model, "cells": len(g), "failed": int((g["status"] != "ok").sum()),
                     "vpt_median": med, "vpt_q1": q1, "vpt_q3": q3, "mean_rank": g["rank"].mean(),
                     "vpt_smape_median": float(np.median(np.where(g["status"] == "ok", g["vpt_smape_lyap"], 0.0))),
                     "d_stsp": _median(good["d_stsp"]), "d_h": _median(good["d_h"]), "mase": _median(good["mase"]),
                     "fit_seconds": _median(g["fit_seconds"]), "forecast_seconds": _median(g["forecast_seconds"]),
                     "n_parameters": int(_median(g["n_parameters"]) or 0)})
    return pd.DataFrame(rows).sort_values(["mean_rank", "vpt_median"], ascending=[True, False]).reset_index(drop=True)


def _median(series) -> float:
    values = np.asarray(series, float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")


def _fmt(x, digits=2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.{digits}f}" if abs(x) < 1e6 else f"{x:.1e}"  # a blown-up forecast's error stays readable


def markdown(frame, board) -> str:
    specs = sorted(set(frame["task"]))
    lines = ["# chaosbench leaderboard", "",
             f"{frame['system'].nunique()} systems × {frame['model'].nunique()} models × "
             f"{frame['seed'].nunique()} seeds = {len(frame)} cells "
             f"({int((frame['status'] != 'ok').sum())} failed). VPT: valid prediction time in Lyapunov times "
             f"(NRMSE ≤ ε = {', '.join(f'{e:g}' for e in sorted(set(frame['eps'])))}), median over each cell's "
             "test windows; a failed cell counts as 0. Mean rank: rank of VPT among the models on each "
             "system and seed, averaged (1 is best). D_stsp (state-space KL divergence) and D_H (power-spectrum "
             "Hellinger distance) compare the free-running forecasts' statistics with the truth (lower is "
             "better; medians over the cells that succeeded). MASE: mean absolute scaled error over the horizon.",
             "",
             "| rank | model | mean rank | median VPT [IQR] | VPT (sMAPE>30) | D_stsp | D_H | MASE | fit s | params | failed |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for i, r in board.iterrows():
        lines.append(f"| {i + 1} | {r['model']} | {r['mean_rank']:.2f} | {r['vpt_median']:.2f} "
                     f"[{r['vpt_q1']:.2f}–{r['vpt_q3']:.2f}] | {_fmt(r['vpt_smape_median'])} | {_fmt(r['d_stsp'])} | "
                     f"{_fmt(r['d_h'], 3)} | {_fmt(r['mase'])} | {_fmt(r['fit_seconds'], 1)} | {r['n_parameters']} | "
                     f"{r['failed']}/{r['cells']} |")
    f = frame.copy()
    f["vpt"] = np.where(f["status"] == "ok", f["vpt_lyap"], 0.0)
    table = f.pivot_table(index="system", columns="model", values="vpt", aggfunc="median")
    order = list(board["model"])
    table = table[[m for m in order if m in table.columns]]
    lam = f.groupby("system")["max_lyapunov"].first()
    lines += ["", "## Median VPT per system (Lyapunov times)", "",
              "| system | λ_max | " + " | ".join(table.columns) + " |",
              "|---|---:|" + "---:|" * len(table.columns)]
    for system, row in table.iterrows():
        best = np.nanmax(row.values) if np.any(np.isfinite(row.values)) else np.nan
        cells = [(f"**{v:.2f}**" if np.isfinite(v) and v == best and best > 0 else _fmt(v)) for v in row.values]
        lines.append(f"| {system} | {_fmt(lam.get(system), 4)} | " + " | ".join(cells) + " |")
    lines += ["", "## Error against horizon (mean NRMSE over test windows, median over cells)", "",
              "| model | " + " | ".join(f"{h:g} λt" for h in HORIZONS_LYAP) + " |",
              "|---|" + "---:|" * len(HORIZONS_LYAP)]
    for m in order:
        g = frame[(frame["model"] == m) & (frame["status"] == "ok")]
        lines.append(f"| {m} | " + " | ".join(_fmt(_median(g[f'nrmse_at_{h:g}']), 3) for h in HORIZONS_LYAP) + " |")
    failed = frame[frame["status"] != "ok"]
    if len(failed):
        lines += ["", "## Failures", ""]
        lines += [f"- {r['system']} / {r['model']} / seed {r['seed']}: {r['reason']}" for _, r in failed.iterrows()]
    lines += ["", "## Provenance", "",
              f"- chaosbench {', '.join(sorted(set(frame['chaosbench_version'])))}; catalog "
              + ", ".join(f"{v} ({h[:12]})" for v, h in sorted(set(zip(frame['catalog_version'], frame['catalog_hash'])))),
              *[f"- task: `{s}`" for s in specs],
              *[f"- {m}: `{h}`" for m, h in sorted(set(zip(frame['model'], frame['hyperparameters'])))],
              f"- total fit time {np.nansum(frame['fit_seconds']):.0f} s, forecast time "
              f"{np.nansum(frame['forecast_seconds']):.0f} s over all cells", ""]
    return "\n".join(lines)


def _colors(models):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(models)}


def plot_vpt_vs_lyapunov(frame, order, path) -> None:
    import matplotlib.pyplot as plt

    colors = _colors(order)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, m in enumerate(order):
        g = frame[frame["model"] == m]
        vpt = np.where(g["status"] == "ok", g["vpt_lyap"], 0.0)
        ax.scatter(g["max_lyapunov"], vpt, label=m, color=colors[m], marker=MARKERS[i % len(MARKERS)], alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("maximum Lyapunov exponent λ_max")
    ax.set_ylabel("valid prediction time (Lyapunov times)")
    ax.set_title("Valid prediction time against chaoticity (NRMSE ≤ ε; failures at 0)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_error_vs_horizon(frame, order, path) -> None:
    import matplotlib.pyplot as plt

    colors = _colors(order)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for i, m in enumerate(order):
        g = frame[(frame["model"] == m) & (frame["status"] == "ok")]
        for ax, name in zip(axes, ("nrmse", "smape")):
            med = [_median(g[f"{name}_at_{h:g}"]) for h in HORIZONS_LYAP]
            ax.plot(HORIZONS_LYAP, med, marker=MARKERS[i % len(MARKERS)], color=colors[m], label=m)
    axes[0].axhline(frame["eps"].iloc[0], color="k", ls=":", lw=1, label="ε")
    axes[0].set_ylabel("NRMSE")
    axes[1].set_ylabel("sMAPE (%)")
    axes[1].axhline(30, color="k", ls=":", lw=1)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("horizon (Lyapunov times)")
        ax.set_xticks(HORIZONS_LYAP, [f"{h:g}" for h in HORIZONS_LYAP])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Forecast error against horizon (mean over test windows, median over systems)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _array(blob):
    return None if blob is None or (isinstance(blob, float) and np.isnan(blob)) else np.load(io.BytesIO(blob)).astype(float)


def _project(x: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    if x.shape[1] >= 2:
        return x[:, 0], x[:, 1]
    return x[lag:, 0], x[:-lag, 0]  # one variable: a delay embedding


def plot_attractors(frame, order, path, *, n_systems: int = 3, n_models: int = 4) -> None:
    import matplotlib.pyplot as plt

    if "sample_truth" not in frame:
        return
    systems = [s for s in dict.fromkeys(frame["system"])][:n_systems]
    models = order[:n_models]
    fig, axes = plt.subplots(len(systems), len(models) + 1, figsize=(2.6 * (len(models) + 1), 2.5 * len(systems)),
                             squeeze=False)
    for r, system in enumerate(systems):
        g = frame[(frame["system"] == system) & (frame["seed"] == frame["seed"].min())]
        truth = next((_array(b) for b in g["sample_truth"] if _array(b) is not None), None)
        if truth is None:
            continue
        lag = max(1, int(round(0.1 * len(truth) / max(1.0, g["horizon_lyap"].iloc[0]))))
        lo, hi = truth.min(0) - 0.5, truth.max(0) + 0.5
        for c, (label, data) in enumerate([("truth", truth)] + [
                (m, _array(g[g["model"] == m]["sample_forecast"].iloc[0]) if (g["model"] == m).any() else None)
                for m in models]):
            ax = axes[r, c]
            if data is not None and np.all(np.isfinite(data)):
                u, v = _project(np.clip(data, lo, hi), lag)
                ax.plot(u, v, lw=0.4, color="k" if c == 0 else "C0")
                ax.plot(u[-1:], v[-1:], "o", ms=3, color="k" if c == 0 else "C3")  # where it ends (a fixed point?)
                tu, tv = _project(truth, lag)
                ax.set_xlim(tu.min() - 0.3, tu.max() + 0.3)
                ax.set_ylim(tv.min() - 0.3, tv.max() + 0.3)
            elif data is not None:
                ax.text(0.5, 0.5, "non-finite", ha="center", transform=ax.transAxes)
            ax.set_title(f"{system}: {label}" if c == 0 else label, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("True against forecast trajectories (first test window, whole horizon; "
                 "first two variables or a delay embedding)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(root, *, out=None) -> list[Path]:
    """Write the leaderboard and figures for the results in ``root`` (into ``out``, default ``root``)."""
    import matplotlib

    matplotlib.use("Agg")
    frame = results.read(root)
    if frame.empty:
        raise ChaosbenchError(f"'{root}' holds no finished cells; run 'chaosbench bench --out {root}' first")
    out = Path(out or root)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard(frame)
    order = list(board["model"])
    paths = [out / "leaderboard.md", out / "vpt_vs_lyapunov.png", out / "error_vs_horizon.png",
             out / "attractors.png"]
    paths[0].write_text(markdown(frame, board))
    plot_vpt_vs_lyapunov(frame, order, paths[1])
    plot_error_vs_horizon(frame, order, paths[2])
    plot_attractors(frame, order, paths[3])
    board.to_csv(out / "leaderboard.csv", index=False)
    return paths + [out / "leaderboard.csv"]
