"""Flows whose vector field jumps, and their Lyapunov spectra from finite differences of the flow map.

The variational equations ``dQ/dt = J Q`` hold only where the vector field is smooth. Where it jumps across
a surface ``g(y) = 0`` (``sign(g)`` or ``heaviside(g)`` times a term that does not vanish there), a
perturbation that makes the orbit cross earlier or later picks up a finite kick, the saltation matrix
(Müller 1995; Dieci & Lopez 2011), which the tangent dynamics of the smooth pieces never see: their
exponents can be wrong by orders of magnitude. A kink (``abs``, ``max``, ``heaviside(x)*x**2``) is
harmless. For a flow that jumps, :func:`finite_difference_spectrum` follows the orbit and ``k`` perturbed
copies with the adaptive integrator, which resolves each crossing, and re-orthonormalises their
differences by QR (Benettin et al. 1980, with the flow map in place of its linearisation), so the kicks
are in the estimate.

References
----------
Benettin, G., Galgani, L., Giorgilli, A., & Strelcyn, J.-M. (1980). Lyapunov characteristic exponents for
smooth dynamical systems and for Hamiltonian systems; a method for computing all of them. Meccanica 15.
Müller, P. C. (1995). Calculation of Lyapunov exponents for dynamic systems with discontinuities. Chaos,
Solitons & Fractals 5(9), 1671-1681.
Dieci, L., & Lopez, L. (2011). Fundamental matrix solutions of piecewise smooth differential systems.
Mathematics and Computers in Simulation 81(5), 932-953.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..catalog import System
from ..compiler import compile_system, symbolic
from ..errors import IntegrationError
from ..integrate import integrate
from .lyapunov import LyapunovResult, starting_states

#: intervals between re-orthonormalisations per catalog period; relative size of the perturbations
INTERVALS_PER_PERIOD = 8
EPSILON = 1e-7
RTOL, ATOL = 1e-11, 1e-13
#: the functions of the expression language that can switch
SWITCHES = re.compile(r"\b(sign|heaviside|floor|mod)\(")
#: the least cap on the integrator's steps over one interval
MIN_STEPS_PER_INTERVAL = 5_000


def jump_surfaces(system: System) -> list[str]:
    """The switching functions ``g`` across which the right-hand side of a flow jumps, as text.

    Each ``sign(g)`` or ``heaviside(g)`` of the state is tested: the difference of the right-hand side
    between its two branches, taken on ``g = 0`` (solved for one state variable of ``g``), must vanish
    for the field to stay continuous. A ``floor`` or ``mod`` of the state always jumps; one of time
    alone does not count (a perturbation of the state does not move a switch in time). Maps and delay
    equations have none by this definition (their exponents do not come from variational equations).
    """
    if system.is_map or system.is_delay or not any(SWITCHES.search(e) for e in system.equations):
        return []
    import sympy as sp

    exprs, state, _ = symbolic(system)
    values = {sp.Symbol(f"p[{j}]", real=True): sp.nsimplify(v) for j, v in enumerate(system.parameters.values())}
    names = dict(zip(state, system.variables))
    surfaces: list[str] = []
    for expr in exprs:
        expr = expr.subs(values)
        for atom in expr.atoms(sp.sign, sp.Heaviside, sp.floor, sp.Mod):
            g = atom.args[0]
            if not g.free_symbols & set(state):
                continue
            text = str(g.subs(names))
            if isinstance(atom, (sp.floor, sp.Mod)) or _jumps(expr, atom, g, state):
                if text not in surfaces:
                    surfaces.append(text)
    return surfaces


def _jumps(expr, atom, g, state) -> bool:
    import sympy as sp

    high, low = (1, -1) if isinstance(atom, sp.sign) else (1, 0)
    gap = sp.simplify(expr.subs(atom, high) - expr.subs(atom, low))
    if gap == 0:
        return False
    for s in sorted(g.free_symbols & set(state), key=str):
        roots = sp.solve(sp.Eq(g, 0), s)
        if roots:
            return any(sp.simplify(gap.subs(s, r)) != 0 for r in roots)
    return True  # g = 0 could not be solved for a state variable: assume the worst


def finite_difference_spectrum(
    system: System,
    *,
    n_initial: int = 6,
    n_periods: float = 1000.0,
    transient_periods: float = 50.0,
    seed: int = 0,
    max_steps: int = 1_500_000,
) -> LyapunovResult:
    """Every Lyapunov exponent of a flow from finite differences of its flow map.

    Parameters
    ----------
    system : System
        An ordinary flow (neither a map nor a delay equation).
    n_initial : initial conditions on the attractor; the std over them is the error bar.
    n_periods : length of each run in catalog periods, after ``transient_periods`` that align the
        perturbations (not counted).
    seed : picks the initial conditions, as :func:`~chaosbench.invariants.lyapunov.lyapunov_spectrum`.
    max_steps : as for the variational equations, a cap on the steps of one run; here it bounds the
        integrator's steps over each interval at ``max_steps / (n_periods * INTERVALS_PER_PERIOD)``, at
        least ``MIN_STEPS_PER_INTERVAL``, so an orbit that slides along a switching surface (a Filippov
        sliding mode, where the adaptive steps chatter across it) fails instead of running for hours.

    Every ``period / INTERVALS_PER_PERIOD`` the orbit and ``dimension`` copies displaced by ``EPSILON``
    times the attractor's scale along orthonormal directions are integrated (DOP853 at ``RTOL``, ``ATOL``);
    the QR decomposition of their differences gives the growth of each direction and the next ones.
    """
    if system.is_map or system.is_delay:
        raise ValueError(f"system '{system.name}': finite differences of the flow map need an ordinary flow")
    cs = compile_system(system)
    n = system.dimension
    y0s, t0s, pool = starting_states(system, cs, 4 * n_initial, seed)
    scale = float(np.max(np.std(pool, axis=0))) or 1.0
    eps = EPSILON * scale
    tau = system.period / INTERVALS_PER_PERIOD
    n_transient = int(math.ceil(transient_periods * INTERVALS_PER_PERIOD))
    n_counted = int(math.ceil(n_periods * INTERVALS_PER_PERIOD))
    rng = np.random.default_rng(seed)
    step_cap = max(MIN_STEPS_PER_INTERVAL, int(max_steps / (n_periods * INTERVALS_PER_PERIOD)))
    logs: list[np.ndarray] = []
    divergence: list[float] = []
    capped = False
    for y0, t0 in zip(y0s, t0s):
        if len(logs) == n_initial:
            break
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        y, t, total = np.asarray(y0, float), float(t0), np.zeros(n)
        ok = True
        for step in range(n_transient + n_counted):
            states = np.vstack([y, y + eps * q.T])
            sol = integrate(cs, states, dt=tau, n_steps=2, t0=t, rtol=RTOL, atol=ATOL, max_steps=step_cap)
            end = sol.states[:, -1, :]
            if not sol.ok or not np.all(np.isfinite(end)):
                ok = False
                capped = capped or any("steps" in why for _, why in sol.failures())
                break
            q, r = np.linalg.qr(((end[1:] - end[0]) / eps).T)
            signs = np.sign(np.diag(r))
            signs[signs == 0] = 1.0
            q = q * signs
            if step >= n_transient:
                total += np.log(np.abs(np.diag(r)))
            y, t = end[0], t + tau
        if ok:
            logs.append(total)
            divergence.append(float(total.sum()))
    if len(logs) < max(2, n_initial // 2):
        why = (
            f"more than {step_cap} integrator steps in one interval of {tau:.3g} (an orbit sliding along a "
            "switching surface needs an event-aware integrator)"
            if capped
            else "the runs became non-finite"
        )
        raise IntegrationError(f"system '{system.name}': no finite-difference spectrum: {why}")
    duration = n_counted * tau
    per_initial = -np.sort(-np.array(logs) / duration, axis=1)
    settings = {
        "method": "finite differences of the flow map (DOP853 at rtol 1e-11), QR every period/"
        f"{INTERVALS_PER_PERIOD} (Benettin et al. 1980): the field jumps across "
        + ", ".join(f"{g} = 0" for g in jump_surfaces(system)),
        "exponents": "all",
        "dt": tau,
        "steps": n_counted,
        "duration": duration,
        "periods": duration / system.period,
        "transient": n_transient * tau,
        "initial_conditions": len(logs),
        "seed": seed,
        "epsilon": EPSILON,
    }
    return LyapunovResult(per_initial=per_initial, divergence=np.array(divergence) / duration, settings=settings)
