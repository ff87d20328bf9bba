"""Generalized teacher forcing (Hess, Monfared, Brenner & Durstewitz 2023, ICML): running a latent model
along data, pulled towards it after every step, and the adaptive choice of how hard to pull.

After every step the observed latents are pulled towards the data, ``z~_t[:N] = (1 - alpha) z_t[:N] +
alpha x_t`` (the unobserved latents untouched: partial forcing), which keeps gradients bounded when
``alpha`` is large enough. The adaptive ``alpha`` is estimated as ``1 - 1/G`` with ``G`` the largest,
over the batch, geometric mean along a sequence of the Jacobians' spectral norms at the data-inferred
states (a bound on the growth of Jacobian products), raised at once to a larger estimate and otherwise
annealed towards it (:func:`next_alpha`). ``alpha = 1`` every ``tau`` steps is sparse teacher forcing
(Mikhaeil, Monfared & Durstewitz 2022, NeurIPS).
"""

from __future__ import annotations

import torch

from .plrnn_nets import _AlmostLinearRNN, _LatentModel


def force(z: torch.Tensor, x: torch.Tensor, alpha) -> torch.Tensor:
    """GTF: ``(1 - alpha) z + alpha x`` on the observed latents ``z[..., :n]``, the rest untouched."""
    n = x.shape[-1]
    head = x if isinstance(alpha, float) and alpha == 1.0 else torch.lerp(z[..., :n], x, alpha)
    return head if z.shape[-1] == n else torch.cat([head, z[..., n:]], dim=-1)


def forced_run(net: _LatentModel, x: torch.Tensor, alpha: float, every: int = 1):
    """Run ``net`` along data ``x`` ``(B, T + 1, n)`` from ``z_0 = initial_state(x_0)``, forcing with
    ``alpha`` after every ``every``-th step.

    Returns the predictions ``z_t[:n]`` before forcing ``(B, T, n)`` and the states after forcing
    ``(B, T, m)``. ``alpha = 0``: free running; ``alpha = 1, every = 1``: one-step teacher forcing;
    ``alpha = 1, every = tau``: sparse teacher forcing.
    """
    n, m = x.shape[-1], net.m
    step = net.step_fn()
    z = net.initial_state(x[:, 0])
    weight: float | torch.Tensor = alpha
    if m > n:  # force all latents at once with a weight that is zero on the unobserved ones
        x = torch.cat([x, torch.zeros(*x.shape[:-1], m - n, dtype=x.dtype)], dim=-1)
        weight = torch.cat([torch.full((n,), float(alpha)), torch.zeros(m - n)])
    targets = x.unbind(1)
    before, after = [], []
    for t in range(1, len(targets)):
        z = step(z)
        before.append(z)
        if t % every == 0:
            z = torch.lerp(z, targets[t], weight)
        after.append(z)
    return torch.stack(before, 1)[..., :n], torch.stack(after, 1)


def free_run(net: _LatentModel, z: torch.Tensor, horizon: int, latents: bool = False) -> torch.Tensor:
    """Observed latents of ``horizon`` free steps from states ``z`` ``(B, m)``: ``(B, horizon, n)``
    (``latents=True``: every latent, ``(B, horizon, m)``)."""
    step, out = net.step_fn(), []
    for _ in range(horizon):
        z = step(z)
        out.append(z)
    return torch.stack(out, 1) if latents else torch.stack(out, 1)[..., : net.n]


@torch.no_grad()
def jacobian_growth(net: _LatentModel, states: torch.Tensor, per_subregion: bool = True) -> float:
    """Largest, over sequences, geometric mean of the Jacobians' spectral norms along a sequence of
    states ``(B, T, m)``: Hess et al. 2023's bound on the growth of products of Jacobians. An AL-RNN's
    norms are computed once per linear subregion (``per_subregion``; False: once per state)."""
    if isinstance(net, _AlmostLinearRNN) and per_subregion:
        norms = net.jacobian_norms(states)
    else:
        norms = torch.linalg.matrix_norm(net.jacobian(states), ord=2)  # (B, T)
    return float(sequence_growth(norms).max())


def sequence_growth(norms: torch.Tensor) -> torch.Tensor:
    """Geometric means of Jacobian norms ``(..., T)`` along the last (time) axis: ``(...)``."""
    return torch.exp(torch.log(norms.clamp_min(1e-12)).mean(dim=-1))


def next_alpha(alpha: float, growth: float, decay: float) -> float:
    """Hess et al. 2023's adaptive forcing: the estimate ``max(0, 1 - 1/G)`` from the Jacobians' growth
    ``G`` is taken at once if larger than ``alpha``, else ``alpha`` is annealed towards it,
    ``decay * alpha + (1 - decay) * estimate``."""
    est = max(0.0, 1.0 - 1.0 / growth)
    return est if est > alpha else decay * alpha + (1 - decay) * est
