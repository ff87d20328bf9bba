"""The report on synthetic results whose leaderboard numbers are worked out by hand."""

import hashlib
import io
import json

import numpy as np
import pytest

from chaosbench.bench import results
from chaosbench.metrics import HORIZONS_LYAP
from chaosbench.bench.report import leaderboard, write_report
from chaosbench.bench.scoring import censored_median

FIGURES = (
    "ranks.png",
    "win_rate.png",
    "vpt_vs_lyapunov.png",
    "families.png",
    "error_vs_horizon.png",
    "forecasts.png",
    "attractors.png",
)
LAMBDA = {"A": 0.5, "B": 1.0, "C": 2.0}
HORIZON_STEPS, HORIZON_LYAP, N_WINDOWS = 2000, 20.0, 4


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, np.float16))
    return buf.getvalue()


def _trajectory(system, shift=0.0) -> np.ndarray:
    t = np.linspace(0, 12, 200) + shift
    return np.stack([np.sin(t), np.sin(2 * t) * np.cos(t), np.cos(3 * t)], axis=1) * LAMBDA[system]


def record(system, model, seed, vpt, *, censored=(), diverged=0, d_stsp=0.5, d_h=0.05, hyper=None) -> dict:
    """A cell of the new record; ``vpt=None`` makes it a failed cell (VPT 0, NaN scores, a reason)."""
    hyper = {"seed": seed, **(hyper or {})}
    ident = json.dumps([system, model, seed, hyper], sort_keys=True)
    rec = {
        "cell_id": hashlib.sha1(ident.encode()).hexdigest()[:16],
        "system": system,
        "model": model,
        "seed": seed,
        "status": "ok",
        "reason": "",
        "hyperparameters": hyper,
        "task": {"horizon_lyap": HORIZON_LYAP, "n_windows": N_WINDOWS},
        "eps": 0.3,
        "max_lyapunov": LAMBDA[system],
        "period": 1.0,
        "dt": 0.01,
        "dimension": 3,
        "horizon_steps": HORIZON_STEPS,
        "horizon_lyap": HORIZON_LYAP,
        "n_windows": N_WINDOWS,
        "certified_lyap": 18.0,
        "horizon_capped": system == "C",
        "d_stsp_floor": 0.1,
        "d_h_floor": 0.02,
        "long_run_steps": 100_000,
        "fit_seconds": 2.0,
        "forecast_seconds": 0.5,
        "n_parameters": 100,
        "versions": {"chaosbench": "0.2.0", "numpy": "2.4.0"},
        "chaosbench_version": "0.2.0",
        "catalog_hash": "ab" * 32,
        "catalog_version": "0.2.0",
        "system_hash": "cd" * 32,
        "sample_truth": _npy(_trajectory(system)),
    }
    if vpt is None:
        nan = float("nan")
        return {
            **rec,
            "status": "failed",
            "reason": "fit raised LinAlgError: singular matrix",
            "vpt_lyap": nan,
            "d_stsp": nan,
            "d_h": nan,
            "mase": nan,
            "diverged": 0,
            "censored_fraction": nan,
        }
    windows = [0.5 * vpt, vpt, vpt, 1.5 * vpt]
    flags = [i in censored for i in range(N_WINDOWS)]
    rec.update(
        {
            "vpt_lyap": vpt,
            "vpt_periods": vpt * 2,
            "vpt_windows": windows,
            "censored_windows": flags,
            "censored_fraction": sum(flags) / N_WINDOWS,
            "vpt_censored": flags[1],
            "diverged": diverged,
            "vpt_smape_lyap": vpt,
            "d_stsp": d_stsp,
            "d_h": d_h,
            "mase": 1.0 / (1 + vpt),
            "curve_lyap": list(HORIZONS_LYAP),
            "nrmse_curve": [0.01 * h / (1 + vpt) for h in HORIZONS_LYAP],
            "sample_forecast": _npy(_trajectory(system, shift=0.05 * (10 - vpt))),
        }
    )
    for h in HORIZONS_LYAP:
        rec[f"nrmse_at_{h:g}"] = 0.01 * np.exp(h / (1 + vpt))
        rec[f"smape_at_{h:g}"] = min(200.0, 5 * h / (1 + vpt))
        rec[f"nmae_at_{h:g}"] = 0.01 * h
    return rec


# VPT per (model, system) for seeds 0 and 1; None is a failed cell
VPT = {
    "esn": {"A": (10, 12), "B": (8, 6), "C": (4, 4)},
    "ngrc": {"A": (14, 16), "B": (None, 5), "C": (3, 5)},
    "var": {"A": (1, 1), "B": (0.5, 0.5), "C": (0.2, 0.4)},
}


def standard_records() -> list[dict]:
    out = []
    for model, systems in VPT.items():
        for system, pair in systems.items():
            for seed, vpt in enumerate(pair):
                kw = {}
                if model == "esn" and system == "A" and seed == 0:
                    kw["censored"] = (3,)  # one window reached the horizon
                if model == "ngrc" and system == "A":
                    kw["censored"] = (1, 2, 3)  # the median itself is a lower bound
                if model == "var":
                    diverged = system in ("A", "C")  # the free run blew up: D_stsp = inf, D_H = 1
                    kw.update(
                        d_stsp=np.inf if diverged else 3.0,
                        d_h=1.0 if diverged else 0.3,
                        diverged={"C": 2 - seed}.get(system, 0),
                    )
                out.append(record(system, model, seed, vpt, **kw))
    return out


def write(root, records):
    results.prepare(root)
    for rec in records:
        results.write_record(root, rec)
    return root


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    return write(tmp_path_factory.mktemp("standard"), standard_records())


def test_leaderboard_numbers_by_hand(standard):
    board = leaderboard(results.read(standard)).set_index("model")
    assert list(board.index) == ["esn", "ngrc", "var"]
    # ranks per system (seeds averaged): esn A 2, B 1, C 1.5; ngrc A 1, B 2.5 (failed = last), C 1.5;
    # var A 3, B 2.5 (beats the failed cell), C 3
    assert board.at["esn", "mean_rank"] == pytest.approx(1.5)
    assert board.at["ngrc", "mean_rank"] == pytest.approx(5 / 3)
    assert board.at["var", "mean_rank"] == pytest.approx(17 / 6)
    # median over seeds per system, then over systems: esn (11, 7, 4), ngrc (15, 2.5, 4), var (1, 0.5, 0.3)
    assert board.at["esn", "vpt_median"] == 7.0
    assert board.at["ngrc", "vpt_median"] == 4.0
    assert board.at["var", "vpt_median"] == 0.5
    for model, r in board.iterrows():
        assert r["vpt_low"] <= r["vpt_median"] <= r["vpt_high"]
        assert r["rank_low"] <= r["mean_rank"] <= r["rank_high"]
    assert (board.at["esn", "vpt_low"], board.at["esn", "vpt_high"]) == (4.0, 11.0)
    # censored: 1 of esn's 24 windows; 6 of ngrc's 20 windows in scored cells; diverged: 3 of var's 24
    assert board.at["esn", "censored_pct"] == pytest.approx(100 / 24)
    assert board.at["ngrc", "censored_pct"] == pytest.approx(30.0)
    assert board.at["var", "diverged_pct"] == pytest.approx(12.5) and board.at["esn", "diverged_pct"] == 0
    assert (board.at["ngrc", "failed"], board.at["ngrc", "cells"]) == (1, 6)
    assert board.at["var", "d_stsp"] == np.inf and board.at["esn", "d_stsp"] == 0.5  # 4 of 6 cells diverged
    assert board.at["var", "d_stsp_floor"] == 0.1


def test_report_tables_and_every_figure(standard, tmp_path):
    paths = write_report(standard, out=tmp_path)
    assert {p.name for p in paths} == {"leaderboard.md", "leaderboard.csv", *FIGURES}
    for name in FIGURES:
        data = (tmp_path / name).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5000, name
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 | esn | 1.50 [" in md and "| 3 | var |" in md
    assert "| ∞ (0.10) |" in md  # var's D_stsp beside the noise floor
    assert "**≥ 15.00**" in md  # ngrc's censored, best median on A
    assert "| C † |" in md  # a horizon-capped system
    assert "lower bound" in md and "failed cell counts as 0" in md
    assert "Mean ranks stand on" not in md  # every model ran every seed: every cell is ranked
    assert "- **ngrc**, 1 cell: fit raised LinAlgError: singular matrix — B (seed 1)" not in md
    assert "- **ngrc**, 1 cell: fit raised LinAlgError: singular matrix — B (seed 0)" in md
    assert "numpy 2.4.0" in md and "abababababab" in md
    assert (tmp_path / "leaderboard.csv").read_text().startswith("model,")


def test_settings_of_one_model_are_separate_rows(tmp_path):
    recs = [
        record(s, "var", seed, v, hyper={"maxlags": lags, "trend": "c"})
        for s in ("A", "B")
        for seed in (0, 1)
        for lags, v in ((3, 1.0), (5, 2.0))
    ]
    recs += [record(s, "esn", seed, 4.0) for s in ("A", "B") for seed in (0, 1)]
    board = leaderboard(results.read(write(tmp_path, recs))).set_index("model")
    assert list(board.index) == ["esn", "var (maxlags=5)", "var (maxlags=3)"]  # the seed is not a setting
    assert board.at["var (maxlags=3)", "vpt_median"] == 1.0 and board.at["var (maxlags=3)", "cells"] == 4


def test_a_model_on_fewer_systems_says_so_in_both_tables(tmp_path):
    # a run still going: esn on all three systems, var on one; var's median is over its one system
    recs = [record(s, "esn", 0, 4.0) for s in ("A", "B", "C")] + [record("A", "var", 0, 9.0)]
    write_report(write(tmp_path, recs))
    md = (tmp_path / "leaderboard.md").read_text()
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| ") and " | 0/" in line}
    assert "| 0/1 | 1 of 3 |" in rows["var"] and "| 0/3 | 3 |" in rows["esn"]
    assert "a model on fewer systems than the results hold" in md
    one_of_three = [line for line in md.splitlines() if line.startswith("| ") and "1 of 3 |" in line]
    assert len(one_of_three) == 3  # var's leaderboard row, its family's row and its row against esn on A:
    assert "| var | 1 of 3 | 0 | 9.00 | 1 of 2 | 4.00 |" in one_of_three


def test_a_model_on_fewer_seeds_says_which_and_the_header_counts_the_missing_cells(tmp_path):
    # esn on seeds 0-2 of two systems, var on seeds 0 and 2 only: 6 + 4 of the grid's 12 cells
    recs = [record(s, "esn", seed, 4.0) for s in ("A", "B") for seed in (0, 1, 2)]
    recs += [record(s, "var", seed, 1.0) for s in ("A", "B") for seed in (0, 2)]
    write_report(write(tmp_path, recs))
    md = (tmp_path / "leaderboard.md").read_text()
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| ") and " | 0/" in line}
    assert "| 0/6 | 2 | 0–2 |" in rows["esn"] and "| 0/4 | 2 | 0, 2 |" in rows["var"]
    assert "10 cells (0 failed) of the 12 of 2 systems × 2 models × 3 seeds" in md
    full = tmp_path / "full"
    full.mkdir()
    write_report(write(full, [record(s, m, 0, 1.0) for s in ("A", "B") for m in ("esn", "var")]))
    assert "2 systems × 2 models × 1 seeds = 4 cells (0 failed)." in (full / "leaderboard.md").read_text()


def test_mean_ranks_are_taken_on_the_seeds_every_model_on_the_system_has_run(tmp_path):
    # z is on seed 0 only and beats y, which beats x there; on seeds 1 and 2 x beats y. Averaging every
    # seed would put x (3, 1, 1) above y (2, 2, 2) on the strength of seeds z never ran
    vpt = {"x": (1.0, 4.0, 4.0), "y": (3.0, 3.0, 3.0), "z": (5.0,)}
    recs = [record("A", m, seed, v) for m, vs in vpt.items() for seed, v in enumerate(vs)]
    # on system B no seed has both models: each keeps its own seed (rank 1 of 1)
    recs += [record("B", "x", 0, 2.0), record("B", "y", 1, 1.0)]
    board = leaderboard(results.read(write(tmp_path, recs))).set_index("model")
    assert board.at["z", "mean_rank"] == 1.0
    assert board.at["y", "mean_rank"] == pytest.approx((2 + 1) / 2)
    assert board.at["x", "mean_rank"] == pytest.approx((3 + 1) / 2)
    assert list(board.index) == ["z", "y", "x"]
    write_report(tmp_path)
    assert "Mean ranks stand on 5 of the 9 cells" in (tmp_path / "leaderboard.md").read_text()


def test_every_cell_failed_gives_a_list_of_failures(tmp_path):
    # failure records as a timed-out run writes them: no score column at all
    recs = [
        {
            "cell_id": f"c{i}",
            "system": s,
            "model": m,
            "seed": 0,
            "status": "failed",
            "reason": "fit exceeded the time budget of 0.5 s",
            "hyperparameters": json.dumps({"seed": 0}),
            "task": "{}",
            "eps": 0.3,
            "max_lyapunov": LAMBDA[s],
        }
        for i, (s, m) in enumerate((s, m) for s in ("A", "B") for m in ("esn", "var"))
    ]
    paths = write_report(write(tmp_path, recs))
    md = (tmp_path / "leaderboard.md").read_text()
    assert "Every cell failed" in md and "4 of 4 cells failed" in md
    assert "- **esn**, 2 cells: fit exceeded the time budget of 0.5 s — A (seed 0), B (seed 0)" in md
    for p in paths:
        assert p.stat().st_size > 0, p


def test_missing_optional_columns_show_a_dash(tmp_path):
    dropped = (
        "censored_windows",
        "censored_fraction",
        "vpt_censored",
        "diverged",
        "certified_lyap",
        "horizon_capped",
        "d_stsp_floor",
        "d_h_floor",
        "versions",
        "n_windows",
        "sample_truth",
        "sample_forecast",
        "vpt_windows",
        *(f"smape_at_{h:g}" for h in HORIZONS_LYAP),
    )
    recs = [{k: v for k, v in r.items() if k not in dropped} for r in standard_records()]
    write_report(write(tmp_path, recs))
    md = (tmp_path / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| 1 | esn |"))
    assert "| – | – |" in row  # censored and diverged unknown
    assert "- versions: –" in md
    for name in FIGURES:
        assert (tmp_path / name).stat().st_size > 0


def test_a_median_of_lower_bounds_is_a_lower_bound_only_when_they_can_move_it():
    assert censored_median([1, 2, 3], [False, False, True]) == (2.0, False)  # raising 3 leaves the median
    assert censored_median([1, 2, 3], [False, True, False]) == (2.0, True)
    assert censored_median([1, 3], [False, True]) == (2.0, True)  # the mean of the two middles can rise
    assert censored_median([0, 0, 5], [True, False, False]) == (0.0, True)


def test_the_report_names_cells_whose_fit_hit_a_wall_time_safety_limit():
    """The one way a score can depend on the machine's load is said in the report, including for cells
    written before the flag had its own column (their fit_info says it)."""
    import json

    import pandas as pd

    from chaosbench.bench.report import _safety_note

    frame = pd.DataFrame(
        [
            {"system": "Lorenz", "model": "lstm", "seed": 0, "safety_limit_hit": True, "fit_info": "{}"},
            {
                "system": "Rossler",
                "model": "lstm",
                "seed": 0,
                "safety_limit_hit": None,
                "fit_info": json.dumps({"stopped": "time budget of 240 s reached"}),
            },
            {
                "system": "Lorenz",
                "model": "esn",
                "seed": 0,
                "safety_limit_hit": None,
                "fit_info": json.dumps({"search": {"safety_limit_hit": False}}),
            },
        ]
    )
    note = _safety_note(frame)[0]
    assert note.startswith("**2 cells reached") and "lstm 2" in note and "esn" not in note
    assert "independent of the machine's load" in _safety_note(frame.iloc[2:])[0]


def test_a_family_panel_says_when_its_member_covers_part_of_the_catalog():
    from chaosbench.bench.plots import family_title

    assert (
        family_title("state-space models", "lru", 0.0, 1, 136)
        == "state-space models: lru (median 0.00, 1 of 136 systems)"
    )
    assert family_title("gated RNNs", "lstm", 1.594, 136, 136) == "gated RNNs: lstm (median 1.59)"


def test_families_take_each_familys_best_member_from_the_leaderboard():
    import pandas as pd

    from chaosbench.bench.report import families

    board = pd.DataFrame(
        [  # sorted as the leaderboard is: best first
            {
                "model": "ngrc",
                "base_model": "ngrc",
                "vpt_median": 9.0,
                "vpt_low": 8.0,
                "vpt_high": 10.0,
                "mean_rank": 1.2,
                "systems": 3,
            },
            {
                "model": "lstm",
                "base_model": "lstm",
                "vpt_median": 3.0,
                "vpt_low": 2.0,
                "vpt_high": 4.0,
                "mean_rank": 2.5,
                "systems": 3,
            },
            {
                "model": "esn",
                "base_model": "esn",
                "vpt_median": 8.0,
                "vpt_low": 7.0,
                "vpt_high": 9.0,
                "mean_rank": 2.0,
                "systems": 3,
            },
            {
                "model": "gru",
                "base_model": "gru",
                "vpt_median": 2.0,
                "vpt_low": 1.0,
                "vpt_high": 3.0,
                "mean_rank": 3.0,
                "systems": 3,
            },
            {
                "model": "mine:Model",
                "base_model": "mine:Model",
                "vpt_median": 1.0,
                "vpt_low": 0.5,
                "vpt_high": 1.5,
                "mean_rank": 4.0,
                "systems": 3,
            },
        ]
    )
    fams = families(board, None)
    assert list(fams["family"]) == ["reservoir computing", "gated RNNs", "other"]
    assert list(fams["best"]) == ["ngrc", "lstm", "mine:Model"] and fams["members"].iloc[0] == "ngrc, esn"


def test_a_cell_median_is_a_lower_bound_when_a_censored_window_lies_below_it(tmp_path):
    """Cells written before the rule flagged only a censored middle window; the report derives the flag
    from the windows again, so a censored low window makes the cell's (and the system's) median a bound."""
    from chaosbench.bench.report import prepare
    from chaosbench.bench import results as results_table

    low, high = record("A", "esn", 0, 10, censored=(0,)), record("A", "var", 0, 1, censored=(3,))
    low["vpt_censored"] = high["vpt_censored"] = False  # as the older rule wrote them
    root = write(tmp_path, [low, high])
    f = prepare(results_table.read(root)).set_index("model")
    assert f.at["esn", "vpt_censored"] and not f.at["var", "vpt_censored"]  # window 3 lies above the middle
    write_report(root)
    row = next(line for line in (tmp_path / "leaderboard.md").read_text().splitlines() if line.startswith("| A |"))
    assert "≥ 10.00" in row and "≥ 1.00" not in row


def test_the_per_system_table_shows_a_small_exponent_in_significant_digits(tmp_path):
    # a system measured in slow time units: four decimals would print its exponent as 0.0000
    slow = record("A", "esn", 0, 2.0)
    slow["max_lyapunov"] = 3.21e-5
    write_report(write(tmp_path, [slow, record("B", "esn", 0, 2.0)]))
    lines = (tmp_path / "leaderboard.md").read_text().splitlines()
    assert "| A | 3.21e-05 | 20.0 | 18.0 | **2.00** |" in lines and "| B | 1 | 20.0 | 18.0 | **2.00** |" in lines


def test_no_bold_best_where_every_model_prints_zero(tmp_path):
    # a best of 0.003 Lyapunov times prints as 0.00 like its neighbours: nothing to single out
    rows = [record("A", "esn", 0, 0.003), record("A", "var", 0, 0.001), record("B", "esn", 0, 2.0)]
    write_report(write(tmp_path, rows + [record("B", "var", 0, 1.0)]))
    lines = (tmp_path / "leaderboard.md").read_text().splitlines()
    row_a = next(line for line in lines if line.startswith("| A |"))
    row_b = next(line for line in lines if line.startswith("| B |"))
    assert "0.00" in row_a and "**" not in row_a
    assert "**2.00**" in row_b and "**1.00**" not in row_b


def test_reading_columns_that_a_failed_cell_lacks(tmp_path):
    from chaosbench.bench import results as results_table

    root = write(tmp_path, [record("A", "esn", 0, 10), record("A", "var", 0, None)])
    frame = results_table.read(root, columns=["model", "vpt_windows"]).set_index("model")
    assert list(frame.columns) == ["vpt_windows"] and len(frame.at["esn", "vpt_windows"]) == N_WINDOWS
    assert frame.at["var", "vpt_windows"] is None or np.isnan(frame.at["var", "vpt_windows"])


def test_an_unfinished_model_is_compared_with_the_others_on_its_own_cells(tmp_path):
    # lstm has only A/seed 1 (VPT 9) and B/seed 0 (VPT 3): median 6 over those two systems. On exactly
    # those cells esn has 12 and 8 (median 10), ngrc 16 and a failed cell (0; median 8), var 1 and 0.5.
    recs = standard_records() + [record("A", "lstm", 1, 9.0), record("B", "lstm", 0, 3.0)]
    write_report(write(tmp_path / "partial", recs))
    md = (tmp_path / "partial" / "leaderboard.md").read_text().splitlines()
    start = md.index("## Unfinished models against the others on the same cells")
    header, _, row, after = md[start + 4 : start + 8]
    cells = dict(zip(header.strip("| ").split(" | "), row.strip("| ").split(" | ")))
    assert cells == {
        "model": "lstm",
        "systems": "2 of 3",
        "seeds": "0, 1",
        "its median VPT": "6.00",
        "place": "3 of 4",
        "esn": "10.00",
        "ngrc": "8.00",
        "var": "0.75",
    }
    assert after == ""  # the complete models get no row
    write_report(write(tmp_path / "complete", standard_records()))
    assert "Unfinished models" not in (tmp_path / "complete" / "leaderboard.md").read_text()
    # two models on different systems: neither has anything to be set beside
    write_report(write(tmp_path / "apart", [record("A", "esn", 0, 1.0), record("B", "var", 0, 2.0)]))
    assert "Unfinished models" not in (tmp_path / "apart" / "leaderboard.md").read_text()


def test_a_place_shared_by_equal_medians_is_a_range():
    from chaosbench.bench.report import _place

    assert _place(2.0, [3.0, 1.0]) == "2"
    assert _place(0.0, [0.0, 0.0, 1.0]) == "2–4"
