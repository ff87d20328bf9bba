"""Parquet datasets: exact round trip, metadata, atomic writes, spec identity, filtered loading."""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import chaosbench
from chaosbench import generate, load
from chaosbench.errors import ChaosbenchError
from chaosbench.trajectories import make_options, trajectory
from chaosbench.store import read_metadata


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    generate(["Lorenz", "MackeyGlass"], out=out, length=300, n_trajectories=3, seed=5)
    return out


def test_round_trip_is_exact(dataset, catalog):
    df = load(dataset, systems="Lorenz")
    want = trajectory(catalog["Lorenz"], length=300, n_trajectories=3, seed=5)
    got = df.sort_values(["trajectory", "step"])[["x", "y", "z"]].to_numpy().reshape(3, 300, 3)
    assert np.array_equal(got, want)
    assert df["x"].dtype == np.float64
    assert list(df.columns[:4]) == ["system", "trajectory", "step", "time"]


def test_metadata_describes_the_file(dataset, catalog):
    meta = read_metadata(dataset / "Lorenz.parquet")
    assert meta["chaosbench_version"] == chaosbench.__version__
    assert meta["catalog_hash"] == catalog.hash
    assert meta["rtol"] == 1e-10 and meta["seed"] == 5 and meta["integrator"] == "dop853"
    assert meta["dt"] == pytest.approx(catalog["Lorenz"].period / 100)
    assert meta["parameters"]["beta"] == pytest.approx(8 / 3)


def test_filters_read_only_what_is_asked(dataset):
    df = load(dataset, systems=["Lorenz"], trajectories=[1], time_range=(0.0, 0.5), columns=["z"])
    assert set(df["trajectory"]) == {1} and df["time"].max() <= 0.5
    assert list(df.columns) == ["system", "trajectory", "step", "time", "z"]
    both = load(dataset)
    assert set(both["system"]) == {"Lorenz", "MackeyGlass"}


def test_same_spec_is_a_no_op_and_other_spec_is_refused(dataset):
    before = os.stat(dataset / "Lorenz.parquet").st_mtime_ns
    generate(["Lorenz"], out=dataset, length=300, n_trajectories=3, seed=5)
    assert os.stat(dataset / "Lorenz.parquet").st_mtime_ns == before
    with pytest.raises(ChaosbenchError, match="differs in options.seed"):
        generate(["Lorenz"], out=dataset, length=300, n_trajectories=3, seed=6)


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    import chaosbench.store as store

    def failing(system, opts, **kw):
        yield from store_batches(system, opts, **kw)
        raise KeyboardInterrupt

    store_batches = store.batches
    monkeypatch.setattr(store, "batches", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(["Lorenz"], out=tmp_path, length=100)
    assert not list(tmp_path.glob("*.parquet")) and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_batches_bound_memory_and_stream_row_groups(tmp_path, catalog):
    import chaosbench.store as store
    from chaosbench.trajectories import batches

    opts = make_options(length=200, n_trajectories=5, seed=2)
    sizes = [s.shape[0] for _, _, s, _ in batches(catalog["Lorenz"], opts, max_bytes=200 * 3 * 8 * 2)]
    assert sizes == [2, 2, 1]
    spec = store.spec_of(opts, catalog)
    (tmp_path / "dataset.json").write_text(json.dumps({"spec": spec}))
    path = store.write_system(tmp_path, catalog["Lorenz"], opts, catalog, spec)
    assert pq.ParquetFile(path).metadata.num_row_groups == 1


def test_load_regenerates_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAOSBENCH_DATA", str(tmp_path))
    df = load(systems=["Rossler"], length=50, seed=1)
    assert len(df) == 50 and set(df["system"]) == {"Rossler"}
    again = load(systems=["Rossler"], length=50, seed=1)
    assert df.equals(again)
