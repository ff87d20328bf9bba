"""Datasets under stress (issue 14): permissions, concurrent writers, huge requests, killed runs,
damaged files, reading a directory with pandas and pyarrow, darts indexing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from chaosbench import generate, load
from chaosbench.errors import ChaosbenchError, DamagedFileError
from chaosbench.store import LEGACY_SPEC_FILE, SPEC_FILE, read_metadata

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, **kw)


@pytest.fixture
def umask():
    def set_to(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_to
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)], ids=["022", "027"])
def test_row5_dataset_files_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    out = generate(["Lorenz"], out=tmp_path / "d", length=50)
    for name in ("Lorenz.parquet", SPEC_FILE):
        assert (out / name).stat().st_mode & 0o777 == mode, name


#: a CLI process that loads everything first, then waits for a file to appear, so that two of them
#: start generating within a millisecond of each other
RACER = """import os, sys, time
import chaosbench.integrate, chaosbench.store
from chaosbench.catalog import load_catalog
from chaosbench.cli import main
load_catalog()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
sys.exit(main(sys.argv[2:]))
"""


def _agree(out):
    spec = json.loads((out / SPEC_FILE).read_text())["spec"]
    meta = read_metadata(out / "Lorenz.parquet")
    return meta["spec"] == spec and len(load(out)) == meta["n_steps"] * meta["n_trajectories"]


def test_row6_two_generates_started_at_once_with_other_specs_never_mix(tmp_path):
    out, go = tmp_path / "d", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(go), "generate", "Lorenz", "--length", str(n), "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (60, 70)
    ]
    time.sleep(3)
    go.touch()
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "other settings" in refused and "Traceback" not in refused
    assert _agree(out)


def _large_generate_writing(out):
    """A large generate into ``out`` in its own process, returned once its temporary file exists."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "generate",
            "Lorenz",
            "--length",
            "1000000",
            "--trajectories",
            "2",
            "--out",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(p.suffix == ".tmp" for p in out.iterdir())):
        time.sleep(0.05)
    return proc


def test_row6_overwrite_while_another_generate_writes_is_refused(tmp_path):
    out = tmp_path / "d"
    slow = _large_generate_writing(out)
    r = cli("generate", "Lorenz", "--length", "60", "--overwrite", "--out", str(out))
    assert slow.wait(timeout=300) == 0
    assert r.returncode == 2 and "another chaosbench process is writing" in r.stderr, r.stderr
    assert _agree(out)


def test_row6_writers_of_one_spec_share_and_another_spec_is_refused_while_they_write(tmp_path):
    from chaosbench.catalog import load_catalog
    from chaosbench.trajectories import make_options
    from chaosbench.store import _writing, spec_of

    out = tmp_path / "d"
    spec = spec_of(make_options(length=50), load_catalog())
    with _writing(out, spec, overwrite=False):  # another writer of this spec, still running
        generate(["Lorenz"], out=out, length=50)
        with pytest.raises(ChaosbenchError, match="another chaosbench process is writing"):
            generate(["Lorenz"], out=out, length=60, overwrite=True)
    generate(["Lorenz"], out=out, length=60, overwrite=True)
    assert read_metadata(out / "Lorenz.parquet")["n_steps"] == 60


def test_row7_a_dataset_too_large_is_refused_up_front(tmp_path):
    out = tmp_path / "huge"
    r = cli("generate", "Lorenz", "--length", "100000000000", "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "length" in lines[0] and "of memory" in lines[0] and "TB" in lines[0]
    assert not out.exists()
    with pytest.raises(ChaosbenchError, match="of disk"):
        generate(["Lorenz"], out=out, length=10**6, n_trajectories=10**6)
    assert not out.exists()


def test_row9_temporary_files_of_a_killed_run_are_removed_at_the_next_start(tmp_path):
    out = generate(["Lorenz"], out=tmp_path / "d", length=50)
    stale = [out / ".Lorenz.k3j2h1.parquet.tmp", out / ".Rossler.parquet.0a1b2c3d.tmp"]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    generate(["Lorenz", "Rossler"], out=out, length=50)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_row9_sigterm_during_generate_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "d"
    proc = _large_generate_writing(out)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert "interrupted" in proc.stderr.read()
    assert not [p for p in out.iterdir() if p.suffix in (".tmp", ".parquet")]


def test_row9_an_interrupt_lost_in_a_destructor_still_stops_the_write(tmp_path, monkeypatch, capsys):
    """A signal handler that fires inside ``__del__`` has its KeyboardInterrupt printed and dropped
    (this is how the subprocess test above once exited 0: SIGTERM landed in llvmlite's destructor).
    The request it leaves behind must still stop the file from being renamed into place."""
    import chaosbench.store as store
    from chaosbench.cli import main
    from chaosbench.files import interrupt_requested

    class SignalsWhenCollected:
        def __del__(self):
            signal.raise_signal(signal.SIGTERM)

    write_system = store.write_system

    def lose_an_interrupt_then_write(*args, **kwargs):
        SignalsWhenCollected()  # collected at once: the handler's exception is dropped
        return write_system(*args, **kwargs)

    lost = []
    monkeypatch.setattr(sys, "unraisablehook", lost.append)  # where Python sends a dropped exception
    monkeypatch.setattr(store, "write_system", lose_an_interrupt_then_write)
    out = tmp_path / "d"
    assert main(["generate", "Lorenz", "--length", "50", "--out", str(out)]) == 130
    assert [type(x.exc_value) for x in lost] == [KeyboardInterrupt]  # it was lost...
    assert "interrupted" in capsys.readouterr().err  # ...and still honoured
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".chaosbench")) == ["_dataset.json"]
    assert not interrupt_requested()  # main leaves the process as it found it
    monkeypatch.setattr(store, "write_system", write_system)
    assert main(["generate", "Lorenz", "--length", "50", "--out", str(out)]) == 0
    assert len(load(out)) == 50


def _flip_bytes_in_a_page(path, column="x"):
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    chunk = chunk.column([chunk.column(i).path_in_schema for i in range(chunk.num_columns)].index(column))
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    at = start + chunk.total_compressed_size - 16  # inside the last page's values
    data[at : at + 4] = bytes(b ^ 0xFF for b in data[at : at + 4])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate", "flip bytes"])
def test_row10_a_damaged_parquet_is_named_and_regenerated(tmp_path, damage):
    out = generate(["Lorenz"], out=tmp_path / "d", length=200, n_trajectories=2)
    good = load(out)
    path = out / "Lorenz.parquet"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _flip_bytes_in_a_page(path)
    with pytest.raises(DamagedFileError) as err:
        load(out)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    generate(["Lorenz"], out=out, length=200, n_trajectories=2)  # not taken as done
    assert load(out).equals(good)


def test_row10_a_truncated_dataset_json_is_named_and_rewritten(tmp_path):
    out = generate(["Lorenz"], out=tmp_path / "d", length=50)
    spec_file = out / SPEC_FILE
    spec_file.write_text(spec_file.read_text()[:40])
    with pytest.raises(DamagedFileError, match=str(spec_file)):
        load(out)
    r = cli("generate", "Lorenz", "--length", "60", "--out", str(out))
    assert r.returncode == 2 and str(spec_file) in r.stderr and "--overwrite" in r.stderr
    generate(["Lorenz"], out=out, length=50)
    assert len(load(out)) == 50


def test_row11_pandas_and_pyarrow_read_a_dataset_directory(tmp_path):
    out = generate(["Lorenz", "Gissinger"], out=tmp_path / "d", length=40, n_trajectories=2)
    df = pd.read_parquet(out)
    assert len(df) == 2 * 2 * 40 and set(df["system"]) == {"Lorenz", "Gissinger"}
    lorenz, gissinger = df[df["system"] == "Lorenz"], df[df["system"] == "Gissinger"]
    assert lorenz[["x", "y", "z"]].notna().all().all() and lorenz["Q"].isna().all()
    assert gissinger[["Q", "D", "V"]].notna().all().all() and gissinger["x"].isna().all()
    table = ds.dataset(out).to_table()
    assert table.num_rows == len(df) and {"x", "Q"} <= set(table.schema.names)
    frame = load(out, systems="Gissinger")
    assert list(frame.columns) == ["system", "trajectory", "step", "time", "Q", "D", "V"]
    assert frame.attrs["chaosbench"]["Gissinger"]["dt"] == read_metadata(out / "Gissinger.parquet")["dt"]


def test_row11_a_directory_with_the_old_metadata_name_still_loads(tmp_path):
    out = generate(["Lorenz"], out=tmp_path / "d", length=50)
    (out / SPEC_FILE).rename(out / LEGACY_SPEC_FILE)
    assert len(load(out)) == 50
    generate(["Lorenz"], out=out, length=50)
    assert (out / SPEC_FILE).exists() and not (out / LEGACY_SPEC_FILE).exists()


def test_row14_to_darts_of_a_time_range_is_indexed_by_step(tmp_path):
    pytest.importorskip("darts")
    from chaosbench import to_darts

    out = generate(["Lorenz"], out=tmp_path / "d", length=2000)
    part = load(out, time_range=(5, 10))
    series = to_darts(part)[("Lorenz", 0)]
    first = int(part["step"].min())
    assert first > 0 and series.time_index[0] == first and len(series) == len(part)
    assert np.array_equal(series.values()[:, 0], part.sort_values("step")["x"].to_numpy())
