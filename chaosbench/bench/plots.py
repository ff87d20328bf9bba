"""The figures of a results directory, drawn for :func:`chaosbench.bench.report.write_report`.

Each figure stands alone: a title, axis labels with units, a legend and a caption line saying what
a point, bar or line is. The functions take tables that ``report`` has already aggregated (the
leaderboard, per-system scores, error curves) or its prepared per-cell frame, so every number in a
figure is the number in ``leaderboard.md``. A figure with nothing to draw still writes a file saying
why, so a report always has the same files.
"""

from __future__ import annotations

import io
import math
import textwrap

import numpy as np

from ..metrics import HORIZONS_LYAP

MARKERS = "osD^vP*Xh<>p"
#: the forecast panels cut the time axis at this multiple of the longest window-0 VPT (at least 2 LT)
ZOOM_VPT = 1.5
#: representative systems drawn in the forecast and attractor figures, and the most oscillations per
#: Lyapunov time a preferred one has (more is a solid band in a panel)
N_SYSTEMS, MAX_CYCLES = 3, 5.0


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _colors(order) -> dict:
    cmap = _plt().get_cmap("tab10" if len(order) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(order)}


def _save(fig, path, caption: str | None = None) -> None:
    fig.tight_layout()
    if caption:
        width = int(fig.get_figwidth() * 15)
        fig.text(0.01, 0.0, textwrap.fill(caption, width), ha="left", va="top", fontsize=8, color="0.25")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _plt().close(fig)


def _empty(path, title: str, message: str) -> None:
    fig, ax = _plt().subplots(figsize=(6, 2))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    _save(fig, path)


def plot_ranks(board, path) -> None:
    """Mean rank and median VPT of each model, each with its bootstrap interval over systems."""
    plt = _plt()
    n = len(board)
    colors = _colors(list(board["model"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.42 * n + 1.6), sharey=True)
    y = np.arange(n)
    for i, r in board.iterrows():
        c = colors[r["model"]]
        for ax, mid, lo, hi in (
            (left, r["mean_rank"], r["rank_low"], r["rank_high"]),
            (right, r["vpt_median"], r["vpt_low"], r["vpt_high"]),
        ):
            if np.isfinite(mid):
                ax.errorbar([mid], [i], xerr=[[max(0, mid - lo)], [max(0, hi - mid)]], fmt="o", color=c, capsize=3)
    left.set_yticks(y, list(board["model"]))
    left.invert_yaxis()
    left.set_xlim(0.5, n + 0.5)
    left.set_xlabel("mean rank of VPT (1 = best)")
    right.set_xlabel("median valid prediction time (Lyapunov times)")
    right.set_xlim(left=0)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
    n_systems = int(board["systems"].max()) if n else 0
    fig.suptitle(f"Ranking of {n} models over {n_systems} systems, with 95% bootstrap intervals")
    _save(
        fig,
        path,
        "Left: each model's rank of VPT among the models on one system and seed, averaged over the seeds "
        "every model on the system has run and then over systems. Right: median over systems of the median "
        "VPT over seeds. Bars: 95% percentile bootstrap intervals resampling systems. A failed cell counts as "
        "VPT 0 and ranks last.",
    )


def plot_win_rates(matrix, path) -> None:
    """Heat map of the pairwise win rates from :func:`chaosbench.bench.report.win_rates`."""
    plt = _plt()
    names = list(matrix.index)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 * n + 3.2, 0.8 * n + 2))
    image = ax.imshow(matrix.to_numpy(float), cmap="RdYlGn", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            v = matrix.iat[i, j]
            ax.text(
                j, i, "—" if i == j else f"{v:.0%}" if np.isfinite(v) else "–", ha="center", va="center", fontsize=8
            )
    ax.set_xticks(range(n), names, rotation=35, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("opponent (column)")
    ax.set_ylabel("model (row)")
    fig.colorbar(image, ax=ax, label="share of systems won", fraction=0.046, pad=0.04)
    ax.set_title("How often the row model's VPT beats the column model's")
    _save(
        fig,
        path,
        "Share of the systems both models ran on where the row model's median VPT over seeds is "
        "higher than the column model's (a tie counts one half; failed cells count as 0).",
    )


def _plain_log_ticks(axis, values) -> None:
    """Log-axis labels as plain numbers (0.05, not 5×10⁻²); minor ticks labelled only within a decade."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda x, _: f"{x:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if np.ptp(np.log10(values)) < 1 else NullFormatter())


def _notable(scores) -> list[str]:
    """A few systems worth naming: the extremes of λ_max, the longest VPT, the hardest system."""
    s = scores.dropna(subset=["max_lyapunov", "vpt"])
    if not len(s):
        return []
    best = s.groupby("system")["vpt"].max()
    picks = [
        s.loc[s["max_lyapunov"].idxmin(), "system"],
        s.loc[s["max_lyapunov"].idxmax(), "system"],
        best.idxmax(),
        best.idxmin(),
    ]
    return list(dict.fromkeys(picks))


def plot_vpt_vs_lyapunov(scores, order, path) -> None:
    """One point per system and model: median VPT over seeds against λ_max, IQR over windows as bars."""
    plt = _plt()
    s = scores.dropna(subset=["max_lyapunov"])
    s = s[s["max_lyapunov"] > 0]
    if not len(s):
        return _empty(path, "Valid prediction time against λ_max", "no system with a positive λ_max in the results")
    colors = _colors(order)
    fig, ax = plt.subplots(figsize=(9, 5.4))
    for i, m in enumerate(order):
        g = s[s["variant"] == m]
        x = g["max_lyapunov"].to_numpy(float) * 10 ** (0.025 * (i - (len(order) - 1) / 2))  # models side by side
        y = g["vpt"].to_numpy(float)
        err = np.clip([y - g["q1"].to_numpy(float), g["q3"].to_numpy(float) - y], 0, None)
        ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="none", ecolor=colors[m], alpha=0.45, lw=0.9)
        hollow = g["lower_bound"].to_numpy(bool)
        marker = MARKERS[i % len(MARKERS)]
        ax.scatter(x[~hollow], y[~hollow], marker=marker, color=colors[m], s=30, label=m, zorder=3)
        ax.scatter(x[hollow], y[hollow], marker=marker, facecolors="white", edgecolors=colors[m], s=30, zorder=3)
    for system in _notable(s):
        g = s[s["system"] == system]
        ax.annotate(
            system,
            (g["max_lyapunov"].iloc[0], np.nanmax(np.r_[g["vpt"], g["q3"]])),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="0.2",
        )
    ax.scatter([], [], marker="o", facecolors="white", edgecolors="k", label="censored median (lower bound)")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis, s["max_lyapunov"])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("maximum Lyapunov exponent λ_max (1 / system time unit, log scale)")
    ax.set_ylabel("valid prediction time (Lyapunov times)")
    ax.set_title("Valid prediction time against the system's chaoticity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(
        fig,
        path,
        "One point per system and model: the median over seeds of the cell's median VPT (failed "
        "cells 0). Bars: interquartile range over the test windows of all seeds. Hollow: the median is only a "
        "lower bound (the forecasts were still valid where the horizon or the certified truth ended). Models are "
        "shifted slightly sideways so they do not hide each other. Named: the systems with the smallest and "
        "largest λ_max, the longest VPT and the lowest best VPT.",
    )


def family_title(family: str, best: str, median: float, covered: int, systems: int) -> str:
    """A family panel's title; a member that covers fewer systems than the figure says how many, so a
    median over a handful of systems is not read as one over the catalog."""
    coverage = f", {covered} of {systems} systems" if covered < systems else ""
    return f"{family}: {best} (median {median:.2f}{coverage})"


def plot_families(fams, scores, path) -> None:
    """One panel per model family: its best member's median VPT on every system, against the best
    VPT any model reached there; systems sorted by that best VPT."""
    plt = _plt()
    if not len(fams):
        return _empty(path, "Model families", "no scored model")
    vpt = scores.pivot(index="system", columns="variant", values="vpt")
    lower = scores.pivot(index="system", columns="variant", values="lower_bound")
    best = vpt.max(axis=1).sort_values(ascending=False)
    x = np.arange(len(best))
    k = len(fams)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), sharex=True, sharey=True, squeeze=False)
    colors = _colors(list(fams["family"]))
    for ax, (_, r) in zip(axes.flat, fams.iterrows()):
        y = vpt[r["best"]].reindex(best.index).to_numpy(float)
        hollow = lower[r["best"]].reindex(best.index).map(_flag_bool).to_numpy(bool)
        ax.fill_between(x, 0, best.to_numpy(float), color="0.88", step="mid", label="best of any model")
        c = colors[r["family"]]
        ax.scatter(x[~hollow], y[~hollow], s=9, color=c, label=r["best"], zorder=3)
        ax.scatter(x[hollow], y[hollow], s=9, facecolors="white", edgecolors=c, zorder=3)
        ax.set_title(family_title(r["family"], r["best"], r["vpt_median"], int(r["systems"]), len(x)), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes.flat[k:]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("VPT (Lyapunov times)")
    for ax in axes[-1]:
        ax.set_xlabel(f"system (all {len(best)}, sorted by the best VPT any model reached)")
    fig.suptitle("Each model family's best member, system by system")
    _save(
        fig,
        path,
        "One panel per family of models (chaosbench.models.FAMILIES); in each, the family's best member "
        "on the leaderboard: its median VPT over seeds on every system (dots; hollow: only a lower bound, the "
        "forecasts were still valid where the horizon or the certified truth ended). Grey: the best median VPT "
        "any model reached on that system. Systems are in the same order in every panel, sorted by that best "
        "value, so a family's gap to the best is the white space under the grey.",
    )


def _flag_bool(v) -> bool:
    return bool(v) if isinstance(v, (bool, np.bool_)) else False


def plot_error_vs_horizon(curves, eps, order, path) -> None:
    """NRMSE (log scale) and sMAPE against lead time: ``curves`` from :func:`chaosbench.bench.report.error_curves`."""
    plt = _plt()
    values = curves.to_numpy(float)
    if not (np.isfinite(values) & (values > 0)).any():
        return _empty(path, "Forecast error against lead time", "no scored cell has error values at these horizons")
    colors = _colors(order)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for i, m in enumerate(order):
        for ax, name in zip(axes, ("nrmse", "smape")):
            y = np.array([curves.at[m, f"{name}_at_{h:g}"] for h in HORIZONS_LYAP], float)
            y[~np.isfinite(y) | ((y <= 0) & (name == "nrmse"))] = np.nan  # a log axis has no room for 0; ∞: diverged
            ax.plot(HORIZONS_LYAP, y, marker=MARKERS[i % len(MARKERS)], color=colors[m], label=m)
    if np.isfinite(eps):
        axes[0].axhline(eps, color="k", ls=":", lw=1.2, label=f"ε = {eps:g} (VPT threshold)")
    axes[1].axhline(30, color="k", ls="--", lw=1, label="30% (sMAPE VPT threshold)")
    nrmse = curves[[f"nrmse_at_{h:g}" for h in HORIZONS_LYAP]].to_numpy(float)
    if (np.isfinite(nrmse) & (nrmse > 0)).any():
        axes[0].set_yscale("log")
    axes[0].set_ylabel("NRMSE (normalised by the attractor's std, log scale)")
    axes[1].set_ylabel("sMAPE (%)")
    axes[1].set_ylim(0, 200)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlim(0.8 * HORIZONS_LYAP[0], 1.25 * HORIZONS_LYAP[-1])
        ax.set_xticks(HORIZONS_LYAP, [f"{h:g}" for h in HORIZONS_LYAP])
        ax.set_xlabel("lead time (Lyapunov times)")
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    h2, l2 = axes[1].get_legend_handles_labels()
    fig.legend(handles + h2[-1:], labels + l2[-1:], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle("Forecast error against lead time")
    _save(
        fig,
        path,
        "Error at each lead time, averaged over a cell's test windows, then the median over seeds and "
        "the median over systems, scored cells only. A missing point: the horizon is shorter, or the median "
        "error is infinite (diverged forecasts).",
    )


def _array(blob):
    """A plot sample (bytes of a .npy array) as floats; None where there is none."""
    if not isinstance(blob, (bytes, bytearray)):
        return None
    a = np.load(io.BytesIO(blob)).astype(float)
    return a[:, None] if a.ndim == 1 else a


def _sample_times(n: int, horizon_steps: float, horizon_lyap: float) -> np.ndarray:
    """Times (Lyapunov times) of a sample that keeps every k-th of ``horizon_steps`` forecast steps."""
    if not np.isfinite(horizon_lyap):
        return np.arange(n, dtype=float)
    if np.isfinite(horizon_steps) and horizon_steps >= n:
        k = math.ceil(horizon_steps / n)
        return (np.arange(n) * k + 1) * horizon_lyap / horizon_steps
    return np.arange(1, n + 1) * horizon_lyap / n


def representative_systems(f, scores, n: int = N_SYSTEMS) -> list[str]:
    """Up to ``n`` systems with a plot sample, spread over λ_max (its 10%, 50% and 90% quantiles),
    preferring systems whose horizon was not capped and whose truth swings at most ``MAX_CYCLES``
    times per Lyapunov time (denser curves are a solid band at this scale)."""
    has = set(f.loc[f["sample_truth"].map(lambda b: isinstance(b, (bytes, bytearray))), "system"])
    s = scores[scores["system"].isin(has)].groupby("system")[["max_lyapunov", "horizon_capped"]].first()
    if not len(s):
        return []
    readable = np.array([_cycles_per_lyap(f, name) <= MAX_CYCLES for name in s.index])
    for keep in (~s["horizon_capped"].to_numpy(bool) & readable, ~s["horizon_capped"].to_numpy(bool)):
        if keep.sum() >= min(n, len(s)):
            s = s[keep]
            break
    s = s.sort_values("max_lyapunov")
    # quantiles rather than extremes: the extreme λ_max of a large catalog are its oddest systems
    where = np.linspace(0.1, 0.9, n) if len(s) > n else np.linspace(0, 1, len(s))
    return list(s.index[np.unique(np.quantile(np.arange(len(s)), where).round().astype(int))])


def _cycles_per_lyap(f, system) -> float:
    """How many times the first variable of the truth sample swings through its mean per Lyapunov time."""
    _, truth, cells = _window0(f, system)
    x = truth[:, 0] - truth[:, 0].mean()
    horizon = float(cells["horizon_lyap"].iloc[0])
    return np.count_nonzero(np.diff(np.sign(x)) != 0) / 2 / horizon if horizon > 0 else 0.0


def _window0(f, system):
    """The lowest seed of ``system`` with a truth sample: (seed, truth, its cells)."""
    g = f[(f["system"] == system) & f["sample_truth"].map(lambda b: isinstance(b, (bytes, bytearray)))]
    seed = g["seed"].min()
    cells = f[(f["system"] == system) & (f["seed"] == seed)]
    return seed, _array(g[g["seed"] == seed]["sample_truth"].iloc[0]), cells


def _vpt0(cell) -> float:
    windows = cell["vpt_windows"]
    return float(windows[0]) if isinstance(windows, (list, tuple, np.ndarray)) and len(windows) else float("nan")


def plot_forecasts(f, scores, order, path) -> None:
    """Truth and every model's forecast of test window 0 against time, one row per representative
    system, one panel per variable (up to 3), each model's VPT of that window marked."""
    plt = _plt()
    from matplotlib.lines import Line2D

    systems = representative_systems(f, scores)
    if not systems:
        return _empty(path, "Forecasts against truth", "no cell kept a plot sample")
    colors = _colors(order)
    n_var = min(3, max(_window0(f, s)[1].shape[1] for s in systems))
    fig, axes = plt.subplots(len(systems), n_var, figsize=(4.4 * n_var, 2.9 * len(systems)), squeeze=False)
    for r, system in enumerate(systems):
        seed, truth, cells = _window0(f, system)
        row = cells.iloc[0]
        t = _sample_times(len(truth), float(row["horizon_steps"]), float(row["horizon_lyap"]))
        vpts = {m: _vpt0(c) for m, (_, c) in zip(cells["variant"], cells.iterrows())}
        longest = np.nanmax(list(vpts.values()) + [0.0])
        t_max = min(t[-1], max(2.0, ZOOM_VPT * longest))
        lo, hi = truth.min(0), truth.max(0)
        for c, ax in enumerate(axes[r]):
            if c >= truth.shape[1]:
                ax.set_axis_off()
                continue
            ax.plot(t, truth[:, c], color="k", lw=2.2, zorder=1)
            for m in order:
                cell = cells[cells["variant"] == m]
                forecast = _array(cell["sample_forecast"].iloc[0]) if len(cell) else None
                if forecast is not None and forecast.shape == truth.shape:
                    ax.plot(t, forecast[:, c], color=colors[m], lw=1.0, alpha=0.9, zorder=2)
                if np.isfinite(vpts.get(m, np.nan)):
                    ax.axvline(vpts[m], color=colors[m], ls="--", lw=1.0, zorder=3)
            pad = 0.25 * max(hi[c] - lo[c], 1e-9)
            ax.set_ylim(lo[c] - pad, hi[c] + pad)
            ax.set_xlim(0, t_max)
            ax.set_title(f"{system}, seed {seed}, window 0: variable {c + 1}", fontsize=9)
            ax.set_xlabel("time after the context (Lyapunov times)")
            ax.set_ylabel(f"x{c + 1} (normalised)")
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="k", lw=2.2, label="truth")]
    handles += [Line2D([], [], color=colors[m], lw=1.2, label=m) for m in order]
    handles += [Line2D([], [], color="0.3", ls="--", lw=1, label="model's VPT (window 0)")]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle("Forecasts against the truth over time (first test window)")
    _save(
        fig,
        path,
        "Rows: systems at the 10%, 50% and 90% quantiles of λ_max among those with plot samples "
        f"(preferring systems that oscillate at most {MAX_CYCLES:g} times per Lyapunov time). "
        f"Variables are normalised by the training data's mean and std. Dashed lines: where each model's NRMSE "
        f"first exceeds ε in this window. The time axis ends at {ZOOM_VPT:g}× the longest VPT shown (at least 2 "
        "Lyapunov times) or at the horizon; curves are sampled at up to 1000 points over the whole horizon.",
    )


def _project(x: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    if x.shape[1] >= 2:
        return x[:, 0], x[:, 1]
    return x[lag:, 0], x[:-lag, 0]  # one variable: a delay embedding


def plot_attractors(f, scores, order, path) -> None:
    """Every model's forecast of test window 0 (colour) over the truth (grey) in the plane of the first
    two variables (a delay embedding for one variable), one row per representative system."""
    plt = _plt()
    systems = representative_systems(f, scores)
    if not systems:
        return _empty(path, "Forecast attractors", "no cell kept a plot sample")
    colors = _colors(order)
    fig, axes = plt.subplots(
        len(systems), len(order), figsize=(2.5 * len(order) + 0.6, 2.5 * len(systems) + 0.4), squeeze=False
    )
    for r, system in enumerate(systems):
        seed, truth, cells = _window0(f, system)
        lag = max(1, int(round(0.1 * len(truth) / max(1.0, float(cells["horizon_lyap"].iloc[0]) or 1.0))))
        tu, tv = _project(truth, lag)
        pad_u, pad_v = 0.1 * (np.ptp(tu) or 1.0), 0.1 * (np.ptp(tv) or 1.0)
        for c, m in enumerate(order):
            ax = axes[r, c]
            ax.plot(tu, tv, color="0.7", lw=0.7)
            cell = cells[cells["variant"] == m]
            forecast = _array(cell["sample_forecast"].iloc[0]) if len(cell) else None
            if forecast is None or forecast.shape != truth.shape:
                ax.text(
                    0.5,
                    0.5,
                    "no forecast\n(cell failed)" if len(cell) else "not run",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                )
            else:
                u, v = _project(forecast, lag)
                ax.plot(u, v, color=colors[m], lw=0.7)
                if np.ptp(u) < 0.01 * np.ptp(tu) and np.ptp(v) < 0.01 * np.ptp(tv):  # a line too short to see
                    ax.plot(u[:1], v[:1], "o", color=colors[m], ms=5)
                    ax.text(0.03, 0.9, "constant forecast (dot)", transform=ax.transAxes, fontsize=7, color="0.2")
                inside = (
                    (u >= tu.min() - pad_u)
                    & (u <= tu.max() + pad_u)
                    & (v >= tv.min() - pad_v)
                    & (v <= tv.max() + pad_v)
                )
                if inside.mean() < 0.99:
                    ax.text(
                        0.03,
                        0.03,
                        f"{1 - inside.mean():.0%} of points outside",
                        transform=ax.transAxes,
                        fontsize=7,
                        color="0.2",
                    )
            ax.set_xlim(tu.min() - pad_u, tu.max() + pad_u)
            ax.set_ylim(tv.min() - pad_v, tv.max() + pad_v)
            ax.tick_params(labelsize=7)
            one = truth.shape[1] == 1
            ax.set_xlabel("x1(t)" if one else "x1", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{system}, seed {seed}\n" + ("x1(t − τ)" if one else "x2"), fontsize=8)
            if r == 0:
                ax.set_title(m, fontsize=9, color=colors[m])
    fig.suptitle("Forecast (colour) over the true trajectory (grey), first test window, all models")
    _save(
        fig,
        path,
        "Each panel: the whole forecast horizon of test window 0 projected on the first two "
        "(normalised) variables; for a one-variable system a delay embedding with τ = 0.1 Lyapunov times. "
        "Axes are the truth's range plus 10%; a note gives the share of forecast points beyond them. Rows: the "
        "systems of the forecast figure (forecasts.png).",
    )
