"""The catalog: size, coverage of dysts' names, strict validation, user overrides, hashing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaosbench.catalog import CATALOG_PATH, list_systems, load_catalog
from chaosbench.errors import CatalogError

from .conftest import entry

DYSTS_FLOWS = (Path(__file__).parent / "data" / "dysts_flows.txt").read_text().split()


def test_catalog_has_135_or_more_systems_with_every_dysts_flow(catalog):
    assert len(catalog) >= 135
    missing = [name for name in DYSTS_FLOWS if name not in catalog]
    assert not missing, f"dysts flows missing from the catalog: {missing}"


def test_every_entry_is_documented(catalog):
    for name, s in catalog.items():
        assert len(s.description) > 20, name
        assert len(s.citation) > 15, name
        assert s.period > 0, name


def test_catalog_fixes_known_dysts_mistakes(catalog):
    assert catalog["Lorenz"].parameters["beta"] == pytest.approx(8 / 3, rel=1e-15)
    # dysts issue #10: its Sakarya and LiuChen share one equation; ours must differ
    assert catalog["Sakarya"].equations != catalog["LiuChen"].equations


def test_flags_are_consistent(catalog):
    assert "MackeyGlass" in list_systems(delay=True)
    for name in list_systems(delay=True):
        assert "(t - " in " ".join(catalog[name].equations), name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"variables": []}, "field 'variables'"),
        ({"initial_conditions": [1.0]}, "field 'initial_conditions'"),
        ({"equations": {"x": "v"}}, "field 'equations'"),
        ({"parameters": {"x": 1.0}}, "field 'parameters.x'"),
        ({"period": -1}, "field 'period'"),
        ({"colour": "red"}, "unknown field"),
        ({"equations": {"x": "v", "v": "-x + sin(t)"}}, "flags.nonautonomous"),
        ({"flags": {"delay": True}}, "flags.delay"),
        ({"parameters": {"w": "w + 1", "zeta": 0.1}}, "parameters.w"),
        ({"lyapunov_periods": 10}, "field 'lyapunov_periods': .* >= 100"),
        ({"lyapunov_periods": "long"}, "field 'lyapunov_periods'"),
    ],
)
def test_validation_errors_name_system_and_field(user_catalog, change, message):
    path = user_catalog(Osc=entry(**change))
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(path)
    assert "system 'Osc'" in str(err.value)


def test_missing_field_and_malformed_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(broken)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.json")
    e = entry()
    del e["citation"]
    (tmp_path / "c.json").write_text(json.dumps({"systems": {"Osc": e}}))
    with pytest.raises(CatalogError, match="system 'Osc': missing field 'citation'"):
        load_catalog(tmp_path / "c.json")


def test_user_catalog_adds_and_overrides(user_catalog, catalog):
    lorenz = dict(catalog["Lorenz"].raw)
    lorenz["parameters"] = dict(lorenz["parameters"], rho=99.0)
    merged = load_catalog(user_catalog(Osc=entry(), Lorenz=lorenz))
    assert "Osc" in merged and len(merged) == len(catalog) + 1
    assert merged["Lorenz"].parameters["rho"] == 99.0
    assert merged.hash != catalog.hash
    assert merged["Rossler"].content_hash == catalog["Rossler"].content_hash


def test_unknown_system_suggests_a_name(catalog):
    with pytest.raises(CatalogError, match="did you mean 'Lorenz'"):
        catalog["Lorenx"]


def test_row11_a_variable_cannot_take_the_name_of_a_dataset_column(user_catalog):
    path = user_catalog(Clock=entry(variables=["time", "v"], equations={"time": "v", "v": "-time"}))
    with pytest.raises(CatalogError, match="system 'Clock', field 'variables': 'time' is a column of every dataset"):
        load_catalog(path)


def test_root_catalog_is_the_packaged_file():
    """The scheme (see ``catalog.CATALOG_PATH``): the root ``systems.json`` is a link to the package data."""
    root = Path(__file__).resolve().parent.parent / "systems.json"
    assert root.resolve() == CATALOG_PATH, "the root systems.json must be a link to chaosbench/systems.json"
    assert root.read_bytes() == CATALOG_PATH.read_bytes()
    assert load_catalog().sources == (str(CATALOG_PATH),)


def test_catalog_loads_from_the_package_alone(tmp_path, catalog):
    """As from a wheel: the package directory without the checkout around it."""
    shutil.copytree(CATALOG_PATH.parent, tmp_path / "chaosbench", ignore=shutil.ignore_patterns("__pycache__"))
    code = "import chaosbench as cb; c = cb.load_catalog(); print(c.sources[0]); print(c.hash)"
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str((tmp_path / "chaosbench" / "systems.json").resolve()), catalog.hash]


def test_row15_hashes_cover_what_determines_numbers_only(user_catalog, catalog):
    """Prose and the provenance of invariants can change without invalidating datasets, tasks and
    cells; anything that changes a trajectory or the Lyapunov time changes the hash."""
    base = json.loads(json.dumps(catalog["Lorenz"].raw))

    def hashes(edit) -> tuple[str, str]:
        e = json.loads(json.dumps(base))
        edit(e)
        merged = load_catalog(user_catalog(Lorenz=e))
        return merged["Lorenz"].content_hash, merged.hash

    same = hashes(lambda e: None)
    assert same == (catalog["Lorenz"].content_hash, catalog.hash)
    prose = [
        lambda e: e.update(description="Another description."),
        lambda e: e.update(citation="Another citation."),
        lambda e: e.update(notes="a note"),
        lambda e: e["invariants"]["method"]["correlation_dimension"].update(method="a reworded method"),
        lambda e: e["invariants"].update(correlation_dimension=2.5, pesin_entropy=0.8),
        lambda e: e["invariants"]["lyapunov_spectrum"].__setitem__(2, -14.0),
        lambda e: e["flags"].update(hamiltonian=False),  # a false flag spelt out
        lambda e: e.update(kind="flow"),  # the default kind spelt out
    ]
    for edit in prose:
        assert hashes(edit) == same
    numbers = [
        lambda e: e["parameters"].update(rho=28.5),
        lambda e: e["equations"].update(z="x*y - beta*z + 0"),
        lambda e: e.update(initial_conditions=[1.0, 1.0, 1.0]),
        lambda e: e.update(period=0.8),
        lambda e: e["invariants"]["lyapunov_spectrum"].__setitem__(0, 0.95),  # the Lyapunov time
    ]
    for edit in numbers:
        changed = hashes(edit)
        assert changed[0] != same[0] and changed[1] != same[1]
