"""Candidate systems drawn from catalog systems: perturbed parameters, or a drive-response coupling of two.

Candidate ``i`` is drawn by ``numpy.random.default_rng([seed, i])`` alone, so it does not depend on how
many candidates are drawn, in which order or on which machine:

- **perturbation** (parent ``parents[i % len(parents)]``): every parameter ``p`` becomes
  ``p * exp(sigma * xi)``, ``xi ~ N(0, 1)`` independently, ``sigma = SIGMA`` (0.1) by default: a
  log-normal factor with median 1, so a parameter keeps its sign, a zero stays zero and a change
  of 10% is one standard deviation. Parameters used as exponents (``x**n``) are kept, since a
  non-integer power of a negative state is not real.
- **drive-response coupling** (with probability ``couple``): drive ``parents[i % len(parents)]``, response
  drawn uniformly from ``parents``, both perturbed as above. The response's first state variable ``x_r``
  (its first that is not a clock) is pulled towards the drive's first, rescaled onto its own range::

      dx_r/dt = f_r(x_r, ...) + k (mu_r + sd_r (x_d - mu_d) / sd_d - x_r),   k = kappa / period_r,

  with ``mu``, ``sd`` the parents' stored attractor mean and std of those variables and ``kappa``
  uniform on ``COUPLING_RANGE`` (0.05–0.5 per response period). The drive is not affected (a skew
  product). Coupled parents must be ordinary differential equations (no delays).

:mod:`chaosbench.sampler` validates the candidates and writes the accepted ones as a catalog.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .catalog import System
from .errors import ChaosbenchError

SIGMA = 0.1
COUPLING_RANGE = (0.05, 0.5)


@dataclass
class Candidate:
    """One drawn system: its name, how it was made, and its parameter values."""

    index: int
    name: str
    kind: str  # "perturbation" or "coupling"
    parents: tuple[str, ...]
    parameters: dict[str, float]
    factors: dict[str, float] = field(default_factory=dict)
    kappa: float | None = None


# -- drawing -----------------------------------------------------------------------------------------
def exponent_parameters(system: System) -> set[str]:
    """Parameters that appear in an exponent (``x**n``): perturbing them would leave the reals."""
    out: set[str] = set()
    for text in system.equations:
        for node in ast.walk(ast.parse(text.strip(), mode="eval")):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
                out |= {n.id for n in ast.walk(node.right) if isinstance(n, ast.Name)}
    return out & set(system.parameters)


def _perturb(system: System, rng: np.random.Generator, sigma: float) -> tuple[dict[str, float], dict[str, float]]:
    names = list(system.parameters)
    xi = rng.standard_normal(len(names))  # drawn for every parameter, so kept ones shift nothing
    fixed = exponent_parameters(system)
    factors = {p: (1.0 if p in fixed else float(math.exp(sigma * x))) for p, x in zip(names, xi)}
    return {p: float(system.parameters[p] * factors[p]) for p in names}, factors


def draw(index: int, parents: Sequence[System], *, seed: int, sigma: float = SIGMA, couple: float = 0.0) -> Candidate:
    """Candidate ``index``: a function of (``seed``, ``index``) and the parents only (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    first = parents[index % len(parents)]
    if couple > 0 and rng.random() < couple:
        second = parents[int(rng.integers(len(parents)))]
        p_d, f_d = _perturb(first, rng, sigma)
        p_r, f_r = _perturb(second, rng, sigma)
        kappa = float(rng.uniform(*COUPLING_RANGE))
        params = {f"{k}_d": v for k, v in p_d.items()} | {f"{k}_r": v for k, v in p_r.items()}
        params |= _coupling_constants(first, second, kappa)
        factors = {f"{k}_d": v for k, v in f_d.items()} | {f"{k}_r": v for k, v in f_r.items()}
        return Candidate(
            index,
            f"{first.name}_{second.name}_s{seed}_{index}",
            "coupling",
            (first.name, second.name),
            params,
            factors,
            kappa,
        )
    params, factors = _perturb(first, rng, sigma)
    return Candidate(index, f"{first.name}_s{seed}_{index}", "perturbation", (first.name,), params, factors)


# -- coupled systems -----------------------------------------------------------------------------------
def _first_state(system: System) -> int:
    clocks = set(system.clock_variables) if system.is_nonautonomous else set()
    return next(i for i in range(system.dimension) if i not in clocks)


def _stats(system: System) -> tuple[np.ndarray, np.ndarray]:
    inv = system.invariants
    if inv.get("mean") and inv.get("std") and len(inv["std"]) == system.dimension:
        return np.asarray(inv["mean"], float), np.asarray(inv["std"], float)
    return np.zeros(system.dimension), np.ones(system.dimension)


def _coupling_constants(drive: System, response: System, kappa: float) -> dict[str, float]:
    (md, sd), (mr, sr) = _stats(drive), _stats(response)
    i, j = _first_state(drive), _first_state(response)
    return {
        "k_couple": kappa / response.period,
        "mu_drive": float(md[i]),
        "sd_drive": float(sd[i]) or 1.0,
        "mu_response": float(mr[j]),
        "sd_response": float(sr[j]) or 1.0,
    }


def _renamed(text: str, mapping: dict[str, str]) -> str:
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
    return ast.unparse(tree)


def coupled_template(drive: System, response: System) -> dict:
    """The catalog entry of ``drive`` -> ``response`` (see the module docstring), at the parents' parameters."""
    for s in (drive, response):
        if s.is_delay:
            raise ChaosbenchError(
                f"system '{s.name}' is a delay equation; coupling needs ordinary differential "
                "equations (use it without --couple)"
            )
    names_d = {n: f"{n}_d" for n in (*drive.variables, *drive.parameters)}
    names_r = {n: f"{n}_r" for n in (*response.variables, *response.parameters)}
    xd, xr = drive.variables[_first_state(drive)], response.variables[_first_state(response)]
    equations = {names_d[v]: _renamed(e, names_d) for v, e in zip(drive.variables, drive.equations)}
    for v, e in zip(response.variables, response.equations):
        equations[names_r[v]] = _renamed(e, names_r)
    equations[names_r[xr]] = (
        f"{equations[names_r[xr]]} + k_couple*(mu_response + sd_response*({names_d[xd]} - "
        f"mu_drive)/sd_drive - {names_r[xr]})"
    )
    params = {f"{k}_d": v for k, v in drive.parameters.items()} | {f"{k}_r": v for k, v in response.parameters.items()}
    params |= _coupling_constants(drive, response, sum(COUPLING_RANGE) / 2)
    observe = {names_d[v]: _renamed(t, names_d) for v, t in drive.observe.items()}
    observe |= {names_r[v]: _renamed(t, names_r) for v, t in response.observe.items()}
    entry = {
        "description": f"{drive.name} driving {response.name} through its variable {xd} (skew product).",
        "citation": f"Coupled by chaosbench.sample. Drive: {drive.citation} Response: {response.citation}",
        "variables": list(equations),
        "equations": equations,
        "parameters": params,
        "initial_conditions": list(drive.initial_conditions) + list(response.initial_conditions),
        "period": min(drive.period, response.period),
        "flags": {"nonautonomous": drive.is_nonautonomous or response.is_nonautonomous},
    }
    if observe:
        entry["observe"] = observe
    phases = [_renamed(t, names_d) for t in drive.forcing_phase]
    phases += [_renamed(t, names_r) for t in response.forcing_phase]
    if phases:
        entry["forcing_phase"] = phases
    return entry
