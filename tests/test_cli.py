"""The command line: real commands, and user mistakes as one line on stderr with exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "Lorenx"], "unknown system 'Lorenx'; did you mean 'Lorenz'"),
        (["generate", "Lorenz", "--length", "-5", "--out", "OUT"], "--length: must be a positive integer"),
        (["generate", "Lorenz", "--out", "/proc/forbidden/x"], "not writable"),
        (["generate", "Lorenz", "--dt", "0", "--out", "OUT"], "--dt: must be a positive number"),
        (["--catalog", "BROKEN", "list"], "not valid JSON"),
        (["--catalog", "MISSING", "list"], "cannot read"),
        (["frobnicate"], "invalid choice"),
        (["models", "alrn"], "unknown model 'alrn'; did you mean 'alrnn'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "broken.json").write_text('{"systems": {"X": ')
    args = [
        a.replace("OUT", str(tmp_path / "o"))
        .replace("BROKEN", str(tmp_path / "broken.json"))
        .replace("MISSING", str(tmp_path / "missing.json"))
        for a in args
    ]
    r = run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr


def test_list_info_generate(tmp_path):
    r = run("list", "--delay")
    assert r.returncode == 0 and "MackeyGlass" in r.stdout and "Lorenz " not in r.stdout
    r = run("info", "Lorenz")
    assert r.returncode == 0 and "dx/dt = sigma*(y - x)" in r.stdout and "Lorenz" in r.stdout
    r = run("generate", "Lorenz", "Rossler", "--length", "100", "--trajectories", "2", "--out", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "Lorenz.parquet").exists() and (tmp_path / "d" / "Rossler.parquet").exists()
    r = run("generate", "Lorenz", "--length", "100", "--trajectories", "3", "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "other settings" in r.stderr


def test_models_lists_the_registry_with_families_and_one_models_defaults():
    from chaosbench.models import REGISTRY

    r = run("models")
    assert r.returncode == 0
    rows = {
        line.split()[0]: line.split()
        for line in r.stdout.splitlines()[1:]
        if line.strip() and " " in line and not line.startswith("'")
    }
    assert (
        set(REGISTRY) <= set(rows)
        and rows["parrot"][1] == "baselines"
        and rows["esn"][1:3] == ["reservoir", "computing"]
    )
    r = run("models", "ngrc")
    assert r.returncode == 0 and "search_trials = 0" in r.stdout and r.stdout.startswith("ngrc: ")
