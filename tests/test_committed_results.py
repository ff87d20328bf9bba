"""The committed results are in step with the catalog: no cell of a system that left the chaotic catalog or
whose equations changed since it was scored, and the comparison with dysts shows the invariants stored now."""

import csv
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
#: the leaderboards of the current protocol (``results/superseded`` is an archive and keeps its own)
CURRENT = ("standard", "data-limited", "quick", "forcing-ablation")


@pytest.mark.parametrize("preset", CURRENT)
def test_every_committed_cell_is_of_a_chaotic_system_as_the_catalog_has_it(catalog, preset):
    files = sorted((RESULTS / preset / "cells").glob("*.parquet"))
    assert files, f"no cells in results/{preset}"
    chaotic = set(catalog.chaotic())
    outside, stale = set(), set()
    for path in files:
        table = pq.read_table(path, columns=["system", "system_hash"]).to_pydict()
        for system, digest in zip(table["system"], table["system_hash"]):
            if system not in chaotic:
                outside.add(system)
            elif digest != catalog[system].content_hash:
                stale.add(system)
    assert not outside, f"results/{preset} holds cells of systems outside the chaotic catalog: {sorted(outside)}"
    assert not stale, f"results/{preset} holds cells scored on other equations or exponents: {sorted(stale)}"


def test_the_comparison_with_dysts_shows_the_invariants_stored_now(catalog):
    with open(RESULTS / "annotations" / "invariants_vs_dysts.csv", newline="") as fh:
        rows = {row["system"]: row for row in csv.DictReader(fh)}
    assert set(rows) == set(catalog.systems)
    for name, row in rows.items():
        s = catalog[name]
        assert (row["chaotic"] == "True") == (s.excluded is None), name
        stored = s.invariants
        for column, key in (
            ("correlation_dimension", "correlation_dimension"),
            ("kaplan_yorke", "kaplan_yorke_dimension"),
            ("dominant_period", "dominant_period"),
        ):
            value = stored.get(key)
            if value is None or row[column] == "":
                assert value is None and row[column] == "", (name, column)
            else:
                assert math.isclose(float(row[column]), value, rel_tol=1e-9), (name, column)
        spectrum = stored.get("lyapunov_spectrum")
        if spectrum:
            assert math.isclose(float(row["lambda_max"]), spectrum[0], rel_tol=1e-9), name


def test_the_lyapunov_cross_check_covers_every_flow_as_stored_now(catalog):
    import json

    record = json.loads((RESULTS / "annotations" / "lyapunov_crosscheck.json").read_text())
    rows = {r["system"]: r for r in record["rows"]}
    flows = {n for n in catalog.chaotic() if not catalog[n].is_delay}
    assert set(rows) == flows
    for name, row in rows.items():
        assert row["hash"] == catalog[name].content_hash, name
        assert row["stored"] == catalog[name].invariants["lyapunov_spectrum"][0], name
