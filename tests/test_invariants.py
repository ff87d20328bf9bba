"""Invariants: Lyapunov spectra against literature values, the identities they obey, and the stored catalog."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chaosbench.invariants import lyapunov_spectrum
from chaosbench.catalog import load_catalog
from chaosbench.errors import ChaosbenchError
from chaosbench.invariants.annotate import (
    SETTINGS,
    compute_invariants,
    dimension_method,
    drift,
    dynamics_hash,
    lyapunov_settings,
    write_invariants,
)
from chaosbench.invariants.dimension import correlation_dimension, kaplan_yorke_dimension, pesin_entropy
from chaosbench.invariants.spectrum import timescales

from .conftest import LORENZ_LAMBDA

ROOT = Path(__file__).resolve().parent.parent

#: literature spectra (base e) and tolerances (relative, or absolute for a zero exponent)
LITERATURE = {
    # Sprott, "Chaos and Time-Series Analysis" (2003), Table A.1 / his exponent table: (0.9056, 0, -14.5723)
    "Lorenz": ([LORENZ_LAMBDA, 0.0, -14.5723], [0.015, 0.01, 0.005]),
    # same source: (0.0714, 0, -5.3943) for a = b = 0.2, c = 5.7
    "Rossler": ([0.0714, 0.0, -5.3943], [0.05, 0.01, 0.005]),
    # Sprott (1997), "Simplest dissipative chaotic flow", Phys. Lett. A 228, 271: (0.0550, 0, -2.0720), A = 2.017
    "SprottJerk": ([0.0550, 0.0, -2.0720], [0.05, 0.01, 0.005]),
}


@pytest.fixture(scope="module")
def spectra(catalog):
    return {name: lyapunov_spectrum(catalog[name], n_initial=4, n_periods=1000) for name in LITERATURE}


@pytest.mark.parametrize("name", list(LITERATURE))
def test_spectrum_matches_the_literature(spectra, name):
    expected, tol = LITERATURE[name]
    got = spectra[name].mean
    for g, e, t in zip(got, expected, tol):
        assert abs(g - e) <= (t if e == 0 else t * abs(e)), f"{name}: {got} vs {expected}"


@pytest.mark.parametrize("name", list(LITERATURE))
def test_zero_exponent_and_sum_equals_mean_divergence(spectra, name):
    r = spectra[name]
    i = int(np.argmin(np.abs(r.mean)))
    assert abs(r.mean[i]) <= 3 * r.std[i] + 1e-4, f"{name}: {r.mean} +- {r.std}"
    div = r.divergence.mean()
    assert abs(r.mean.sum() - div) <= 0.01 * abs(div)


def test_hamiltonian_spectrum_is_symmetric(catalog):
    r = lyapunov_spectrum(catalog["HenonHeiles"], n_initial=3, n_periods=500)
    lam = r.mean
    assert lam[0] > 0
    assert np.allclose(lam + lam[::-1], 0.0, atol=3 * r.std.max() + 1e-3), lam


def test_delay_equation_leading_exponents(catalog):
    # Mackey-Glass at tau = 17: one positive exponent, one zero, Kaplan-Yorke dimension about 2.1
    # (Farmer 1982, Physica D 4, 366, Table 1)
    r = lyapunov_spectrum(catalog["MackeyGlass"], n_initial=2, n_periods=300, n_exponents=4)
    lam = r.mean
    assert 0.003 < lam[0] < 0.008 and abs(lam[1]) < 1e-3 and lam[2] < -0.02
    assert 2.0 < kaplan_yorke_dimension(lam) < 2.3


def test_kaplan_yorke_and_pesin():
    assert kaplan_yorke_dimension([0.9056, 0.0, -14.5723], 3) == pytest.approx(2 + 0.9056 / 14.5723)
    assert kaplan_yorke_dimension([-0.1, -1.0], 2) == 0.0
    assert kaplan_yorke_dimension([0.3, 0.0, -0.3], 3) == 3.0  # a conservative flow fills its dimension
    assert kaplan_yorke_dimension([0.5, 0.4, 0.3], None) is None  # too few exponents to tell
    assert pesin_entropy([0.5, 0.2, 0.0, -3.0]) == pytest.approx(0.7)


def test_correlation_dimension_of_known_sets(rng):
    circle = np.exp(2j * np.pi * rng.random(2000))
    c = correlation_dimension(np.c_[circle.real, circle.imag])
    assert abs(c.value - 1.0) < 0.05 and c.r_range[0] < c.r_range[1]
    assert abs(correlation_dimension(rng.random((2000, 2))).value - 2.0) < 0.15


def test_correlation_dimension_skips_gaps_below_min_dimension(rng):
    # 60 tight clusters on a circle: C(r) stalls between the cluster size and their spacing (slope 0),
    # the kind of gap a thin band sampled pass by pass shows; a flow's attractor has dimension >= 1
    angles = np.repeat(np.linspace(0, 2 * np.pi, 60, endpoint=False), 30) + rng.normal(0, 1e-4, 1800)
    points = np.c_[np.cos(angles), np.sin(angles)] + rng.normal(0, 1e-4, (1800, 2))
    assert correlation_dimension(points).value < 0.2
    assert correlation_dimension(points, min_dimension=1.0).value >= 1.0


def test_timescales_of_a_sine():
    t = np.arange(32768) * 0.05
    ts = timescales(np.c_[np.sin(2 * np.pi * t / 3.7)], 0.05)
    assert ts.dominant_period == pytest.approx(3.7, rel=0.01)
    assert ts.suggested_dt == pytest.approx(0.37, rel=0.05)


# --- the stored catalog ---------------------------------------------------------------------------------


def _stored(catalog):
    return {name: s for name, s in catalog.items() if s.invariants}


def test_every_system_is_annotated(catalog):
    keys = {
        "lyapunov_spectrum",
        "lyapunov_spectrum_std",
        "kaplan_yorke_dimension",
        "pesin_entropy",
        "lyapunov_time",
        "correlation_dimension",
        "dominant_period",
        "suggested_dt",
        "mean",
        "std",
        "method",
    }
    # an excluded map is left unannotated: some have no bounded orbit (its reason gives our numbers)
    missing = [name for name, s in catalog.items() if not keys <= set(s.invariants) and not (s.is_map and s.excluded)]
    assert not missing


def test_every_chaotic_system_has_a_positive_exponent_beyond_its_error_bar(catalog):
    bad = set()
    for name in catalog.chaotic():
        s = catalog[name]
        lam, err = s.invariants["lyapunov_spectrum"][0], s.invariants["lyapunov_spectrum_std"][0]
        assert s.max_lyapunov == lam  # one source: the spectrum's first entry
        if not lam - err > 0:
            bad.add(name)
    assert not bad, sorted(bad)
    assert len(catalog.chaotic()) >= 135
    for name, s in catalog.items():  # an excluded system says why, and is not chaotic by our numbers either
        if s.excluded and not s.is_map and name not in JUMP_ARTEFACTS:  # (maps: see test_maps)
            lam, err = s.invariants["lyapunov_spectrum"][0], s.invariants["lyapunov_spectrum_std"][0]
            assert lam - 2 * err <= 0, name


#: excluded flows whose stored spectrum came from variational equations blind to the jumps of their field
#: (the finite-difference method cannot follow their sliding orbits): each is checked independently below
JUMP_ARTEFACTS = {"StickSlipOscillator"}


def test_stick_slip_oscillator_settles_on_a_period_3_orbit_as_its_exclusion_says(catalog):
    """The catalog point's attractor, with sign(u) smoothed as tanh(u / 1e-4) and scipy's LSODA: the
    stroboscopic map at the forcing period returns to itself after 3 periods, not 1 or 2 (a stable
    periodic orbit, so lambda_max < 0), whatever the positive annotated exponent says."""
    from scipy.integrate import solve_ivp

    s = catalog["StickSlipOscillator"]
    assert s.excluded and "period-3" in s.excluded and s.invariants["lyapunov_spectrum"][0] > 0
    p = s.parameters

    def f(t, y):
        x, v, th = y
        friction = p["t0"] * np.tanh((v - p["vs"]) / 1e-4) - p["alpha"] * v + p["beta"] * (v - p["vs"]) ** 3
        return [v, p["eps"] * (p["gamma"] * np.cos(th) - friction) + p["a"] * x - p["b"] * x**3, p["w"]]

    period = 2 * np.pi / p["w"]
    strobe = np.arange(300, 331) * period
    sol = solve_ivp(f, (0, strobe[-1]), s.initial_conditions, "LSODA", t_eval=strobe, rtol=1e-10, atol=1e-12)
    x = sol.y[0]
    gap = {k: np.abs(x[k:] - x[:-k]).max() for k in (1, 2, 3)}
    assert gap[3] < 1e-5 and gap[1] > 0.1 and gap[2] > 0.1, gap
    assert sorted(np.round(x[-3:], 2)) == [0.71, 0.94, 1.18]


def test_kaplan_yorke_dimension_never_exceeds_the_dimension(catalog):
    for name, s in _stored(catalog).items():
        ky = s.invariants["kaplan_yorke_dimension"]
        if s.is_delay:  # infinite-dimensional: only the leading exponents are known
            assert ky is None or ky > 0, name
        else:
            assert ky is not None and 0 <= ky <= s.dimension + 1e-12, name


def test_jump_surfaces_are_the_switches_where_the_field_is_discontinuous(catalog):
    from chaosbench.invariants.jumps import jump_surfaces

    assert jump_surfaces(catalog["SprottMore"]) == ["z"]  # -sign(z)*y: a jump of 2|y| across z = 0
    assert jump_surfaces(catalog["StickSlipOscillator"]) == ["v - 2/5"]  # Coulomb friction
    # kinks are continuous: heaviside(x)*x**2 (C1), abs; and most systems have no switch at all
    for name in ("AnishchenkoAstakhov", "Chua", "LinzSprott", "Lorenz"):
        assert jump_surfaces(catalog[name]) == [], name


def test_finite_differences_of_the_flow_map_reproduce_the_lorenz_spectrum(catalog):
    from chaosbench.invariants.jumps import finite_difference_spectrum

    mean = finite_difference_spectrum(catalog["Lorenz"], n_initial=2, n_periods=100, transient_periods=10).mean
    lam = LITERATURE["Lorenz"][0]
    assert abs(mean[0] - lam[0]) < 0.03 * lam[0] and abs(mean[1]) < 0.03 and abs(mean[2] - lam[2]) < 0.01 * -lam[2]


def test_a_flow_that_jumps_gets_its_spectrum_from_finite_differences(catalog):
    """SprottMore's field jumps across z = 0; the variational equations, blind to the kick at each
    crossing, gave lambda_max = 0.0005 (a Lyapunov time of 2100), where an independent scipy DOP853
    two-trajectory estimate over 4000 time units gives 0.23."""
    s = catalog["SprottMore"]
    ly = lyapunov_spectrum(s, n_initial=2, n_periods=60, transient_periods=10)
    assert ly.settings["method"].startswith("finite differences") and "z = 0" in ly.settings["method"]
    assert 0.12 < ly.mean[0] < 0.4
    assert abs(s.max_lyapunov - 0.228) < 0.03 and s.invariants["method"]["lyapunov"]["method"].startswith("finite")


def test_an_orbit_sliding_along_a_switching_surface_fails_with_the_reason(catalog):
    from chaosbench.errors import IntegrationError

    with pytest.raises(IntegrationError, match="StickSlipOscillator.*event-aware integrator"):
        lyapunov_spectrum(catalog["StickSlipOscillator"], n_initial=2, n_periods=20, transient_periods=2)


#: kinks (abs, sign, min, max, ...) and near-jumps: the variational equations hold only almost everywhere,
#: RK4 loses its order across a kink, and a jump would need a saltation matrix (not implemented)
NONSMOOTH = re.compile(r"\b(abs|sign|heaviside|min|max|piecewise|mod|floor)\(")
#: steep tanh switches (blinking protocols, d1 = 2200) that a step of period/100 does not resolve
STEEP_SWITCHES = {"BlinkingRotlet", "BlinkingVortex", "InteriorSquirmer", "WindmiReduced"}


def test_stored_spectra_obey_the_flow_identities(catalog):
    checked = 0
    for name, s in _stored(catalog).items():
        if s.is_delay or name in STEEP_SWITCHES or any(NONSMOOTH.search(e) for e in s.equations):
            continue
        inv = s.invariants
        lam, err = np.array(inv["lyapunov_spectrum"]), np.array(inv["lyapunov_spectrum_std"])
        div, scale = inv["mean_divergence"], np.abs(lam).sum()
        assert abs(lam.sum() - div) <= 0.01 * max(abs(div), scale), (name, lam, div)
        if not (s.is_nonautonomous or s.is_map):  # the direction along the flow has exponent zero
            i = int(np.argmin(np.abs(lam)))
            assert abs(lam[i]) <= 3 * err[i] + 1e-3 * scale, (name, lam, err)
        if s.flags["hamiltonian"]:
            assert np.allclose(lam + lam[::-1], 0.0, atol=3 * err.max() + 1e-3 * scale), name
        checked += 1
    assert checked > 100


def test_drift_names_the_field():
    stored = {
        "lyapunov_spectrum": [0.9, 0.0, -14.5],
        "lyapunov_spectrum_std": [0.01, 0.001, 0.01],
        "mean": [0.0, 1.0],
        "std": [1.0, 1.0],
    }
    same = dict(stored)
    assert drift("X", stored, same) == []
    moved = dict(stored, lyapunov_spectrum=[1.2, 0.0, -14.5])
    assert len(drift("X", stored, moved)) == 1 and "lyapunov_spectrum[0]" in drift("X", stored, moved)[0]
    assert "no stored invariants" in drift("X", {}, same)[0]


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True)


def test_annotate_check_passes_on_a_fast_subset():
    r = _cli("annotate", "Lorenz", "SprottJerk", "--check")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "all within their error bars" in r.stdout


def test_annotate_check_fails_naming_the_drifted_field(tmp_path, catalog):
    entry = json.loads(json.dumps(catalog["Rossler"].raw))
    entry["invariants"]["lyapunov_spectrum"][0] = 0.2
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps({"version": "t", "systems": {"Rossler": entry}}))
    r = _cli("--catalog", str(path), "annotate", "Rossler", "--check")
    assert r.returncode == 1 and "Rossler: lyapunov_spectrum[0] stored 0.2" in r.stderr
    assert json.loads(path.read_text())["systems"]["Rossler"]["invariants"]["lyapunov_spectrum"][0] == 0.2


def test_writing_invariants_through_a_link_keeps_the_link(tmp_path, catalog):
    """As with the root systems.json, a link to the package's file: the file is written, the link stays."""
    entry = json.loads(json.dumps(catalog["Lorenz"].raw))
    target, link = tmp_path / "catalog.json", tmp_path / "link.json"
    target.write_text(json.dumps({"version": "t", "systems": {"Lorenz": entry}}))
    link.symlink_to(target.name)
    inv = {"lyapunov_spectrum": [0.9, 0.0, -14.5], "method": {"system_hash": dynamics_hash(entry)}}
    files, skipped = write_invariants({"Lorenz": inv}, [str(link)])
    assert files == [str(link)] and skipped == []
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads(target.read_text())["systems"]["Lorenz"]["invariants"] == inv


@pytest.mark.parametrize(
    "args, message",
    [
        (["annotate", "Lorenx"], "unknown system 'Lorenx'"),
        (["annotate", "Lorenz", "--workers", "0"], "--workers: must be a positive integer"),
    ],
)
def test_annotate_user_mistakes_are_one_line(args, message):
    r = _cli(*args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_row15_annotate_only_attractor_keeps_the_lyapunov_spectrum_and_the_hash(tmp_path, catalog):
    entry = json.loads(json.dumps(catalog["Rossler"].raw))
    entry["invariants"]["correlation_dimension"] = 9.0  # stale: recomputed
    entry["invariants"]["method"]["correlation_dimension"]["method"] = "an old wording"
    path = tmp_path / "user.json"
    path.write_text(json.dumps({"version": "t", "systems": {"Rossler": entry}}))
    before = load_catalog(path)["Rossler"].content_hash
    r = _cli("--catalog", str(path), "annotate", "Rossler", "--only", "attractor")
    assert r.returncode == 0, r.stderr[-2000:]
    inv = json.loads(path.read_text())["systems"]["Rossler"]["invariants"]
    old = catalog["Rossler"].invariants
    for field in ("lyapunov_spectrum", "lyapunov_spectrum_std", "kaplan_yorke_dimension", "lyapunov_time"):
        assert inv[field] == old[field]
    assert inv["method"]["lyapunov"] == old["method"]["lyapunov"]
    assert 1.5 < inv["correlation_dimension"] < 2.2
    assert inv["method"]["correlation_dimension"]["method"] == dimension_method(False)
    assert list(inv) == [k for k in old if k in inv]  # the catalog's layout is kept
    assert load_catalog(path)["Rossler"].content_hash == before  # no dataset, task or cell is invalidated


def test_an_entrys_lyapunov_periods_sets_the_run_length_and_scales_the_step_cap(tmp_path, catalog):
    """Bouali2's chaos comes in bursts: its entry asks for runs of 100,000 periods, and annotate obeys."""
    assert catalog["Bouali2"].invariants["method"]["lyapunov"]["periods"] == catalog["Bouali2"].raw["lyapunov_periods"]
    entry = json.loads(json.dumps(catalog["Rossler"].raw))
    entry["lyapunov_periods"] = 150
    path = tmp_path / "user.json"
    path.write_text(json.dumps({"version": "t", "systems": {"Rossler": entry}}))
    settings = lyapunov_settings(load_catalog(path)["Rossler"], SETTINGS)
    assert settings["n_periods"] == 150 and settings["max_steps"] == SETTINGS["lyapunov"]["max_steps"]
    entry["lyapunov_periods"] = 4000
    path.write_text(json.dumps({"version": "t", "systems": {"Rossler": entry}}))
    settings = lyapunov_settings(load_catalog(path)["Rossler"], SETTINGS)
    assert settings["max_steps"] == 4 * SETTINGS["lyapunov"]["max_steps"]
    entry["lyapunov_periods"] = 150
    path.write_text(json.dumps({"version": "t", "systems": {"Rossler": entry}}))
    r = _cli("--catalog", str(path), "annotate", "Rossler", "--only", "lyapunov")
    assert r.returncode == 0, r.stderr[-2000:]
    method = json.loads(path.read_text())["systems"]["Rossler"]["invariants"]["method"]["lyapunov"]
    assert method["periods"] == 150 and method["initial_conditions"] == SETTINGS["lyapunov"]["n_initial"]


def test_only_refuses_invariants_of_other_dynamics(catalog):
    system = catalog["Rossler"]
    stored = json.loads(json.dumps(system.invariants))
    stored["method"]["system_hash"] = "0" * 16
    with pytest.raises(ChaosbenchError, match="system 'Rossler': its stored invariants .* other dynamics"):
        compute_invariants(system, parts=("attractor",), stored=stored)


#: systems whose attractor invariants the code cannot sample again: one of four independent starts
#: (annotation seed 1) leaves during the 32,768-sample run (Sakarya: too many steps; PiecewiseCircuit:
#: non-finite), so they keep the values, and the method text, of the single-orbit sampling they came from
NOT_RESAMPLED = {"Sakarya", "PiecewiseCircuit"}


def test_row15_the_catalog_is_in_step_with_the_code(catalog):
    """The stored record of how each system's correlation dimension was computed is the code's (so
    `chaosbench annotate` rewrites numbers only), but for the systems named in NOT_RESAMPLED."""
    stale = {
        name
        for name, s in catalog.items()
        if s.invariants and s.invariants["method"]["correlation_dimension"]["method"] != dimension_method(s.is_map)
    }
    assert stale == NOT_RESAMPLED


def test_the_dominant_period_of_red_noise_is_the_edge_of_the_usable_band():
    """A spectrum falling through the lowest usable bin has no peak to refine: the parabola through a
    near-straight line put WangSun's dominant period at -1958 (and red noise's anywhere)."""
    from scipy.signal import lfilter

    dt, segment = 0.01, 4096
    edge = segment * dt / 8  # the period of the lowest usable bin (8 cycles per segment)
    for seed in (7, 13, 23):
        x = lfilter([1.0], [1.0, -0.995], np.random.default_rng(seed).standard_normal(32768))
        period = timescales(x[:, None], dt, segment=segment).dominant_period
        assert 0 < period <= edge * 1.01


def test_the_rk4_step_is_halved_until_lambda_max_no_longer_moves(catalog):
    """WindmiReduced's tanh switch (d1 = 2200) is not resolved by the first step: RK4's own map then has
    lambda_max = 0.17, twice the flow's (0.086 at a quarter of the step; independent scipy DOP853
    two-trajectory estimate 0.090). Lorenz keeps its first step."""
    windmi = lyapunov_spectrum(catalog["WindmiReduced"], n_initial=3, n_periods=200)
    assert "step halved" in windmi.settings["method"] and windmi.mean[0] < 0.12
    lorenz = lyapunov_spectrum(catalog["Lorenz"], n_initial=3, n_periods=200)
    assert "halved" not in lorenz.settings["method"] and lorenz.settings["dt"] == pytest.approx(0.0075)
