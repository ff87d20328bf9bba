"""The command line under stress (issue 14): hyperparameters and seeds checked when a run is planned,
the default output directory, and the small items (list, info, --length, progress, compiling)."""

import subprocess
import sys
from pathlib import Path

import pytest

from chaosbench import cli
from chaosbench.catalog import load_catalog
from chaosbench.errors import ChaosbenchError
from chaosbench.models import make_model

ROOT = Path(__file__).resolve().parent.parent
BAD_VALUES = [
    ("var", {"maxlags": 0}),
    ("var", {"ic": "foo"}),
    ("var", {"maxlags": 2.5}),
    ("darts-linear", {"lags": 0}),
    ("darts-nbeats", {"n_epochs": -3}),
    ("darts-nbeats", {"layer_widths": "64"}),
    ("darts-nhits", {"num_stacks": 0}),
    ("darts-tcn", {"kernel_size": 60}),
    ("darts-tcn", {"batch_size": 0}),
    ("darts-transformer", {"nhead": 3}),
    ("darts-rnn", {"cell": "lstm"}),
    ("darts-rnn", {"training_length": 5}),
    ("darts-rnn", {"max_samples_per_epoch": 0}),
]


@pytest.fixture
def no_run(monkeypatch):
    """Planning only: a run that got past planning fails the test instead of training models."""
    from chaosbench.bench import runner

    def run(*args, **kwargs):
        raise AssertionError("the run was not refused at plan time")

    monkeypatch.setattr(runner, "run", run)


@pytest.mark.parametrize("model, bad", BAD_VALUES, ids=[f"{m}-{next(iter(b))}" for m, b in BAD_VALUES])
def test_row4_every_baseline_and_darts_hyperparameter_is_checked(model, bad):
    if model.startswith("darts"):
        pytest.importorskip("darts")
    make_model(model).check()  # the defaults pass
    name = next(iter(bad))
    with pytest.raises(ChaosbenchError, match=f"^{model}: {name} "):
        make_model(model, **bad).check()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "var", "--set", "var.maxlags=0"], "var: maxlags must be an integer >= 1, got 0"),
        (["--models", "var", "--set", "var.ic=foo"], "var: ic must be one of"),
        (["--models", "darts-nbeats", "--set", "darts-nbeats.n_epochs=-3"], "darts-nbeats: n_epochs must be"),
        (["--models", "var", "--seeds", "-1"], "--seeds: must be a non-negative integer, got -1"),
    ],
)
def test_row4_bad_settings_are_one_line_and_exit_2_at_plan_time(args, message, no_run, capsys):
    if "darts-nbeats" in args:
        pytest.importorskip("darts")
    assert cli.main(["bench", "--systems", "Lorenz", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_row4_config_seeds_are_checked(tmp_path, no_run, capsys):
    config = tmp_path / "run.json"
    config.write_text('{"seeds": [0, -2]}')
    assert cli.main(["bench", "--systems", "Lorenz", "--models", "var", "--config", str(config)]) == 2
    assert "seeds must be a list of non-negative integers" in capsys.readouterr().err


def test_row12_bench_without_out_does_not_write_into_the_committed_results(tmp_path, monkeypatch, capsys):
    from chaosbench.bench import runner

    seen = {}

    def run(cells, out, **kwargs):
        seen["out"] = out
        return runner.RunSummary(planned=len(cells))

    monkeypatch.setattr(runner, "run", run)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench", "--preset", "quick", "--systems", "Lorenz", "--models", "persistence"]) == 0
    assert Path(seen["out"]) == Path("runs/quick")
    assert "results/quick" not in capsys.readouterr().err


def test_small_list_does_not_cut_citations_mid_word(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines[0].index("source")
    catalog = load_catalog()
    for line in lines[1:-1]:
        name, shown = line.split()[0], line[at:].rstrip()
        full = catalog[name].citation.split("(")[0].strip()
        if shown.endswith("..."):
            kept = shown[:-3]
            assert full.startswith(kept) and full[len(kept)] == " ", (name, shown)
        else:
            assert shown == full, (name, shown)


def test_small_info_prints_the_method_dict_one_entry_a_line(capsys):
    assert cli.main(["info", "Lorenz"]) == 0
    lines = capsys.readouterr().out.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("citation"))
    invariants = lines[lines.index("invariants:") : end]
    assert "  method:" in invariants and "    lyapunov:" in invariants
    assert max(len(line) for line in invariants) <= 100


def test_small_length_1_names_the_length_option(tmp_path, capsys):
    assert cli.main(["generate", "Lorenz", "--length", "1", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--length" in err and "at least 2" in err and "n_steps" not in err
    assert not (tmp_path / "d").exists()


def test_small_progress_is_plain_lines_when_not_a_terminal(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "generate",
            "Lorenz",
            "Rossler",
            "--length",
            "50",
            "--out",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "generate 1/2: Lorenz\ngenerate 2/2: Rossler\n" in r.stderr and "\r" not in r.stderr


def test_small_a_cold_numba_cache_is_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    cli.note_first_compile()
    assert capsys.readouterr().err == ""  # not a terminal: stderr stays for errors
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    cli.note_first_compile()
    assert "compiling numba code" in capsys.readouterr().err
    (tmp_path / "module.rhs-3.py311.nbi").write_bytes(b"")
    cli.note_first_compile()
    assert capsys.readouterr().err == ""
