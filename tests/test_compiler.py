"""Compiled right-hand sides and exact Jacobians, and the on-disk cache."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from chaosbench.catalog import load_catalog
from chaosbench.compiler import compile_system
from chaosbench.errors import CatalogError

CATALOG = load_catalog()


@pytest.mark.parametrize("name", list(CATALOG))
def test_jacobian_matches_finite_differences(name):
    cs = compile_system(CATALOG[name])
    y = np.asarray(CATALOG[name].initial_conditions, float)
    t = 0.37
    lag = y[cs.lag_var] * 1.01 if cs.n_lag else None
    J = cs.jacobian(t, y, lag)
    f0 = cs.f(t, y, lag)
    assert np.all(np.isfinite(f0)) and np.all(np.isfinite(J))
    fd = np.empty_like(J)
    for j in range(len(y)):
        h = min(1e-4, 1e-4 * max(1.0, abs(y[j])))

        def central(step):
            up, down = y.copy(), y.copy()
            up[j] += step
            down[j] -= step
            return (cs.f(t, up, lag) - cs.f(t, down, lag)) / (2 * step)

        fd[:, j] = (4 * central(h / 2) - central(h)) / 3  # Richardson: error O(h^4)
    scale = np.maximum(np.abs(J), 1.0)
    # kinks (abs, max, heaviside) may sit exactly at the point; none of the catalog points do
    assert np.all(np.abs(J - fd) <= 1e-5 * scale), f"{name}: max error {np.max(np.abs(J - fd) / scale):.2e}"


def test_parameters_override_without_recompiling(catalog):
    a = compile_system(catalog["Lorenz"])
    b = compile_system(catalog["Lorenz"], {"rho": 10.0})
    assert a.rhs is b.rhs
    y = np.array([1.0, 2.0, 3.0])
    assert a.f(0, y)[1] == pytest.approx(1.0 * (28 - 3) - 2)
    assert b.f(0, y)[1] == pytest.approx(1.0 * (10 - 3) - 2)
    with pytest.raises(CatalogError, match="unknown parameter 'rh'"):
        compile_system(catalog["Lorenz"], {"rh": 1.0})


def test_second_process_loads_machine_code_from_cache(tmp_path):
    script = textwrap.dedent("""
        import json
        from chaosbench.catalog import load_catalog
        from chaosbench.compiler import compile_system
        cs = compile_system(load_catalog()["Rossler"])
        cs.jac
        print(json.dumps({"hits": sum(cs.rhs.stats.cache_hits.values()),
                          "misses": sum(cs.rhs.stats.cache_misses.values())}))
    """)
    env = dict(os.environ, CHAOSBENCH_CACHE=str(tmp_path))
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (eval(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["hits"] == 0
    assert second["hits"] >= 1 and second["misses"] == 0
