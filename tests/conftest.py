"""Shared fixtures: the real catalog, compiled classics, a small user catalog written to disk."""

import json
from pathlib import Path

import numpy as np
import pytest

from chaosbench.bench.tasks import TaskSpec
from chaosbench.catalog import load_catalog
from chaosbench.compiler import compile_system

#: literature values of the leading Lyapunov exponent, used to express times in Lyapunov times
LORENZ_LAMBDA = 0.9056  # Sprott, "Chaos and Time-Series Analysis" (2003), Table A.1


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def lorenz(catalog):
    return compile_system(catalog["Lorenz"])


@pytest.fixture(scope="session")
def mackey_glass(catalog):
    return compile_system(catalog["MackeyGlass"])


def write_catalog(path, systems: dict) -> str:
    path.write_text(json.dumps({"version": "test", "systems": systems}))
    return str(path)


def entry(**overrides) -> dict:
    """A valid user entry (a damped harmonic oscillator) with fields overridden."""
    base = {
        "description": "A lightly damped harmonic oscillator, used to test exact solutions.",
        "citation": "Any mechanics textbook.",
        "variables": ["x", "v"],
        "equations": {"x": "v", "v": "-w**2*x - 2*zeta*w*v"},
        "parameters": {"w": 1.0, "zeta": 0.01},
        "initial_conditions": [1.0, 0.0],
        "period": "6.283185307179586",
    }
    base["period"] = 6.283185307179586
    base.update(overrides)
    return base


@pytest.fixture
def user_catalog(tmp_path):
    def make(**systems):
        return write_catalog(tmp_path / "user.json", systems)

    return make


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


#: the Lorenz entry of systems.json with its Lyapunov spectrum, for the forecasting harness's tests
#: (Sprott, "Chaos and Time-Series Analysis", 2003, Table A.1: 0.9056, 0, -14.5723)
LORENZ_SPECTRUM = [0.9056, 0.0, -14.5723]
#: a Lorenz task small enough for a cell in a second (the harness's and rekey's tests)
SMALL_TASK = TaskSpec(
    n_train=1000,
    n_validation=100,
    n_windows=3,
    context=50,
    horizon_lyap=3.0,
    long_run_lyap=50.0,
    min_long_run_steps=2000,
)


@pytest.fixture(scope="session")
def lyapunov_catalog(tmp_path_factory):
    """A user catalog file: Lorenz from systems.json with its literature Lyapunov spectrum."""
    systems = json.loads((Path(__file__).resolve().parent.parent / "systems.json").read_text())["systems"]
    lorenz = dict(systems["Lorenz"], invariants={"lyapunov_spectrum": LORENZ_SPECTRUM})
    return write_catalog(tmp_path_factory.mktemp("catalog") / "lorenz.json", {"Lorenz": lorenz})


@pytest.fixture(scope="session")
def _task_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def task_cache(_task_dir, monkeypatch):
    """Task files go to a temporary data root (shared by the session), not the user's cache."""
    monkeypatch.setenv("CHAOSBENCH_DATA", str(_task_dir))
    return _task_dir
