"""The rest of issue 14: a run where every cell failed, cells whatever the working directory, options that
cannot apply with noise, the README's examples, file permissions of cells, tasks and compiled modules,
the constraints file, the public errors, progress in logs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chaosbench as cb
from chaosbench import cli
from chaosbench.bench import results
from chaosbench.errors import ChaosbenchError
from chaosbench.trajectories import make_options, plan, record, trajectory
from tests.test_harness import SMALL

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TASK_SETTINGS = [a for k, v in SMALL.as_dict().items() for a in ("--set", f"task.{k}={json.dumps(v)}")]


def bench(catalog, out, *args, cwd=ROOT):
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "--catalog",
            catalog,
            "bench",
            "--systems",
            "Lorenz",
            "--out",
            str(out),
            *args,
            *TASK_SETTINGS,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


# -- row 1: cells import the installed package; a run where every cell failed is not a success -----------
@pytest.fixture(scope="module")
def decoy_run(lyapunov_catalog, tmp_path_factory, _task_dir):
    """A run started from a directory holding a decoy ``chaosbench`` package, its stderr not a terminal."""
    here = tmp_path_factory.mktemp("decoy")
    (here / "chaosbench").mkdir()
    (here / "chaosbench" / "__init__.py").write_text("# not chaosbench: no __version__\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAOSBENCH_DATA", str(_task_dir))
        return bench(lyapunov_catalog, here / "out", "--models", "persistence", "--seeds", "0", "1", cwd=here)


def test_row1_cells_import_the_installed_package_whatever_the_working_directory(decoy_run):
    assert decoy_run.returncode == 0, decoy_run.stderr
    assert "2 scored, 0 failed" in decoy_run.stdout


def test_row1_a_run_where_every_cell_failed_exits_1_in_one_line(lyapunov_catalog, tmp_path, task_cache):
    r = bench(lyapunov_catalog, tmp_path, "--models", "tests.models_for_tests:CrashModel", "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    said = [line for line in r.stderr.splitlines() if "every cell" in line]
    assert len(said) == 1 and "failed (1)" in said[0] and "the optimiser exploded" in said[0]
    assert "0 scored, 1 failed" in r.stdout


def test_small_bench_progress_is_one_line_per_cell_when_not_a_terminal(decoy_run):
    lines = [line for line in decoy_run.stderr.splitlines() if line.startswith("cell ")]
    assert len(lines) == 2 and "\r" not in decoy_run.stderr
    assert all(re.fullmatch(r"cell [12]/2: Lorenz / persistence / seed [01]: VPT \d+\.\d\d", line) for line in lines)


# -- row 2: options that cannot apply with noise; noise on the state only; failures state the limit ----------
@pytest.mark.parametrize(
    "given, message",
    [
        ({"method": "dop853"}, "method 'dop853' cannot apply with noise=0.02"),
        ({"method": "rk4"}, "method 'rk4' cannot apply with noise=0.02"),
        ({"rtol": 1e-11}, "rtol cannot apply with noise=0.02"),
        ({"rtol": 1e-11, "atol": 1e-11}, "rtol and atol cannot apply with noise=0.02"),
    ],
)
def test_row2_options_that_cannot_apply_with_noise_are_refused(given, message, tmp_path):
    with pytest.raises(ChaosbenchError, match=f"^{re.escape(message)}"):
        cb.generate(["Lorenz"], out=tmp_path / "d", length=50, noise=0.02, **given)
    assert not (tmp_path / "d").exists()
    with pytest.raises(ChaosbenchError, match=re.escape(message)):
        trajectory(cb.get_system("Lorenz"), length=50, noise=0.02, **given)


def test_row2_with_noise_heun_and_the_defaults_are_accepted_and_the_cli_refuses_in_one_line(tmp_path, capsys):
    cb.generate(["Lorenz"], out=tmp_path / "a", length=50, noise=0.02, method="heun")
    cb.generate(["Lorenz"], out=tmp_path / "b", length=50, method="dop853", rtol=1e-11)  # no noise: they apply
    assert cli.main(["generate", "Lorenz", "--length", "50", "--noise", "0.02", "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert (
        cli.main(
            ["generate", "Lorenz", "--length", "50", "--noise", "0.02", "--rtol", "1e-11", "--out", str(tmp_path / "d")]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rtol cannot apply with noise=0.02" in err[0]


def test_row2_noise_moves_the_state_not_a_forcing_clock():
    system = cb.get_system("ForcedVanDerPol")  # dz/dt = w: z is the forcing's phase, that is, time
    assert system.clock_variables == (2,)
    opts = make_options(length=200, noise=0.05, n_trajectories=2, seed=3)
    p = plan(system, opts)
    assert p.sigma[2] == 0 and (p.sigma[:2] > 0).all()
    _, raw = record(p, 0, 2, 200, opts, raw=True)
    w = system.parameters["w"]
    assert np.allclose(np.diff(raw[..., 2], axis=1), w * p.dt, rtol=1e-9)


def test_row2_a_noisy_failure_states_the_limit_of_additive_noise():
    # the tumour model's populations touch zero: additive noise carries them across, where they explode
    # (seed 1: at seeds 0 and 2 the noiseless start already leaves the attractor)
    with pytest.raises(ChaosbenchError) as info:
        trajectory(cb.get_system("ItikBanksTumor"), length=1000, noise=0.02, seed=1)
    assert "additive noise (noise=0.02)" in str(info.value) and "rtol" not in str(info.value)
    trajectory(cb.get_system("ItikBanksTumor"), length=1000, seed=1)  # without noise it is fine


# -- README examples run -----------------------------------------------------------------------------------
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
#: blocks that need something a test cannot have
CANNOT_RUN = {"SLURMCluster": "starts Slurm jobs and waits for a key press"}


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))])
def test_row2_readme_python_examples_run(block, tmp_path, monkeypatch):
    for marker, why in CANNOT_RUN.items():
        if marker in block:
            pytest.skip(f"the README's {marker} example {why}")
    if "to_darts" in block:
        pytest.importorskip("darts")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path / "cache"))  # cb.load without a directory generates here
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_row2_the_readme_has_python_examples_to_run():
    assert len(PYTHON_BLOCKS) >= 3 and any("noise=" in b for b in PYTHON_BLOCKS)


# -- row 5: cell files, task files and compiled modules follow the umask ---------------------------------
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)], ids=["022", "027"])
def test_row5_cell_task_and_compiled_files_follow_the_umask(mask, mode, tmp_path, umask, monkeypatch):
    from chaosbench import compiler
    from chaosbench.bench.tasks import Task, TaskSpec

    umask(mask)
    results.prepare(tmp_path / "res")
    cell = results.write_record(tmp_path / "res", {"cell_id": "abc", "status": "ok", "vpt_lyap": 1.0})
    assert cell.stat().st_mode & 0o777 == mode
    z = np.zeros((2, 1))
    task = Task(
        system="X",
        seed=0,
        spec=TaskSpec(),
        variables=("x",),
        dt=0.1,
        max_lyapunov=1.0,
        train=z,
        validation=z,
        contexts=z[None],
        targets=z[None],
        mean=z[0],
        std=z[0] + 1,
        truth_error=z.T,
        long_truth=z,
    )
    task.save(tmp_path / "t.npz")
    assert (tmp_path / "t.npz").stat().st_mode & 0o777 == mode
    assert Task.load(tmp_path / "t.npz").system == "X"
    monkeypatch.setenv("CHAOSBENCH_CACHE", str(tmp_path / "cache"))
    system = cb.get_system("Lorenz")
    key = compiler._module_key(system)
    monkeypatch.delitem(sys.modules, compiler._module_name(system, key, "rhs"), raising=False)
    compiler._load_module(system, key, "rhs")
    written = list((tmp_path / "cache" / "compiled").glob("cb_Lorenz_*.py"))
    assert len(written) == 1 and written[0].stat().st_mode & 0o777 == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "res", "t.npz"]  # no temporary file left


# -- row 16: the versions of the committed results, pinned ----------------------------------------------
def test_row16_a_constraints_file_pins_every_numeric_dependency_a_cell_records():
    from chaosbench.bench.cell import dependency_versions

    text = (ROOT / "constraints" / "results.txt").read_text()
    pins = dict(line.split("==") for line in text.splitlines() if line.strip() and not line.startswith("#"))
    recorded = set(dependency_versions()) - {"chaosbench", "python"}
    assert recorded <= set(pins), recorded - set(pins)
    assert {"numpy", "scipy", "numba", "llvmlite", "pandas", "torch", "darts", "dask", "distributed"} <= set(pins)
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in pins.values()), pins
    assert 'pip install -c constraints/results.txt -e ".[' in README


# -- the public errors, messages and README facts --------------------------------------------------------
def test_row10_damaged_file_error_is_public():
    assert "DamagedFileError" in cb.__all__ and issubclass(cb.DamagedFileError, cb.ChaosbenchError)


def test_small_length_1_from_python_names_length(tmp_path):
    with pytest.raises(ChaosbenchError, match=r"^length must be an integer of at least 2, got 1$"):
        make_options(length=1)
    with pytest.raises(ChaosbenchError, match="^length must"):
        cb.generate(["Lorenz"], out=tmp_path / "d", length=1)
    assert not (tmp_path / "d").exists()


def test_row11_readme_describes_the_dataset_layout_the_default_output_and_damaged_files():
    from chaosbench.catalog import COLUMN_NAMES
    from chaosbench.store import SPEC_FILE

    assert f"`{SPEC_FILE}`" in README
    assert ", ".join(f"`{c}`" for c in COLUMN_NAMES) in README
    assert "`runs/<preset>`" in README and "DamagedFileError" in README


def test_row9_cell_folders_of_a_killed_run_are_removed_at_the_next_start(tmp_path, monkeypatch):
    """A bench killed with SIGKILL leaves its cells' folders in the temporary directory; the next run
    removes those whose owner is gone and keeps those of a live run."""
    import subprocess
    import sys
    import tempfile

    from chaosbench.bench import cell

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{cell.TMP_PREFIX}{dead.pid}-abc"
    live = tmp_path / f"{cell.TMP_PREFIX}{os.getpid()}-def"
    for d in (stale, live):
        d.mkdir()
        (d / "task.npz").write_bytes(b"x" * 100)
    assert cell.remove_stale_folders() == [str(stale)]
    assert not stale.exists() and live.exists()
