"""The latent models of the PLRNN family, each a pure one-step map ``z_{t-1} -> z_t`` with its Jacobian.

- :class:`_ShallowPLRNN`: the clipped shallow PLRNN of Hess, Monfared, Brenner & Durstewitz 2023,
  "Generalized Teacher Forcing for Learning Chaotic Dynamics", ICML (PMLR 202, 13017):
  ``z_t = A z_{t-1} + W1 [relu(W2 z_{t-1} + h2) - relu(W2 z_{t-1})] + h1``, ``A`` diagonal.
- :class:`_AlmostLinearRNN`: the almost-linear RNN of Brenner et al. 2024 (NeurIPS),
  ``z_t = A z_{t-1} + W phi(z_{t-1}) + h`` with ``phi`` the identity on the first ``M - P`` units and ReLU
  on the last ``P`` (``P = M``: the PLRNN of Durstewitz 2017, PLoS Comput. Biol. 13, e1005542).

The first ``n`` latents are the observed variables; the other ``m - n`` start at ``B x_0 + b`` (Brenner
et al. 2022, ICML, "Tractable dendritic RNNs"). Training and forecasting (:mod:`.plrnn_gtf`) only
call :meth:`_LatentModel.step_fn`, :meth:`_LatentModel.initial_state` and the Jacobians.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .plrnn_init import init_almost_linear, init_shallow
from .plrnn_subregions import subregion_norms


def _uniform(shape, fan_in: int) -> nn.Parameter:
    r = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-r, r))


class _LatentModel(nn.Module):
    """``n`` observed latents first, ``m - n`` unobserved ones initialised by a learned map ``B``.

    :meth:`step_fn` returns the one-step map ``z_{t-1} -> z_t`` with its weights arranged for speed
    once per run (a sequential loop pays per operation, so each step is a few fused ones)."""

    def __init__(self, n: int, m: int):
        super().__init__()
        self.n, self.m = n, m
        self.B = _uniform((m - n, n), n) if m > n else None
        self.b = nn.Parameter(torch.zeros(m - n)) if m > n else None

    def initial_state(self, x0: torch.Tensor) -> torch.Tensor:
        """The latent state of an observation ``x0`` ``(..., n)``: ``[x0, B x0 + b]``."""
        return (
            x0
            if self.B is None or self.b is None  # both or neither: they exist exactly when m > n
            else torch.cat(
                [x0, torch.addmm(self.b, x0.reshape(-1, self.n), self.B.T).reshape(*x0.shape[:-1], -1)], dim=-1
            )
        )

    def least_squares_init(self, x: np.ndarray, x_next: np.ndarray, ridges, rng: np.random.Generator) -> list[dict]:
        """Weights (a ``state_dict`` per value in ``ridges``) with which the observed latents follow
        the ridge-regression one-step map ``x_t -> x_{t+1}`` (float64 pairs ``(K, n)``) that this
        architecture expresses with random first-layer weights, every other latent consistent with
        it (:mod:`.plrnn_init`). The module is left holding the last of them."""
        raise NotImplementedError

    def step_fn(self):
        """The one-step map for states ``(batch, m)``."""
        raise NotImplementedError

    def step(self, z: torch.Tensor) -> torch.Tensor:
        """``z_{t-1} -> z_t`` for states ``(batch, m)``."""
        return self.step_fn()(z)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """``d step / d z`` at states ``(..., m)``: ``(..., m, m)``."""
        raise NotImplementedError


class _ShallowPLRNN(_LatentModel):
    def __init__(self, n: int, m: int, hidden: int, clipped: bool = True, max_abs_a: float | None = None):
        super().__init__(n, m)
        self.clipped = clipped
        self.max_abs_a = max_abs_a  # a bound on |A_i| that the least-squares start respects
        # near the identity map (as a finely sampled flow's one-step map is), with ramps as wide as the
        # (standardised) data rather than the papers' 1/sqrt(L): measured, 10x lower loss after 200 steps
        self.A = nn.Parameter(torch.ones(m))
        self.W1 = nn.Parameter(0.1 * _uniform((m, hidden), hidden).data)
        self.W2 = _uniform((hidden, m), m)
        self.h1 = nn.Parameter(torch.zeros(m))
        self.h2 = nn.Parameter(torch.empty(hidden).uniform_(-3.0, 3.0))

    def step_fn(self):
        A, h1 = self.A, self.h1
        if not self.clipped:
            w2, b2, w1 = self.W2.T, self.h2, self.W1.T
        else:  # relu(W2 z + h2) - relu(W2 z) = [W1, -W1] relu([W2; W2] z + [h2; 0])
            w2 = torch.cat([self.W2, self.W2]).T
            b2 = torch.cat([self.h2, torch.zeros_like(self.h2)])
            w1 = torch.cat([self.W1, -self.W1], dim=1).T
        return lambda z: torch.addcmul(torch.addmm(h1, torch.relu(torch.addmm(b2, z, w2)), w1), A, z)

    def least_squares_init(self, x, x_next, ridges, rng):
        return init_shallow(self, x, x_next, ridges, rng)

    def jacobian(self, z):
        u = z @ self.W2.T
        slope = (u + self.h2 > 0).to(z.dtype)
        if self.clipped:
            slope = slope - (u > 0).to(z.dtype)
        return torch.diag_embed(self.A.expand_as(z)) + (self.W1 * slope.unsqueeze(-2)) @ self.W2


class _AlmostLinearRNN(_LatentModel):
    def __init__(self, n: int, m: int, pwl_units: int):
        super().__init__(n, m)
        self.A = nn.Parameter(torch.ones(m))
        self.W = nn.Parameter(0.01 * torch.randn(m, m))
        self.h = nn.Parameter(torch.zeros(m))
        self.register_buffer("relu_units", torch.arange(m) >= m - pwl_units)  # the last P units

    def phi(self, z):
        """Identity on the first ``M - P`` units, ReLU on the last ``P``."""
        return torch.where(self.relu_units, torch.relu(z), z)

    def step_fn(self):
        A, w, h, phi = self.A, self.W.T, self.h, self.phi
        return lambda z: torch.addcmul(torch.addmm(h, phi(z), w), A, z)

    def least_squares_init(self, x, x_next, ridges, rng):
        return init_almost_linear(self, x, x_next, ridges, rng)

    def jacobian(self, z):
        slope = torch.where(self.relu_units, (z > 0).to(z.dtype), torch.ones_like(z))
        return torch.diag_embed(self.A.expand_as(z)) + self.W * slope.unsqueeze(-2)

    def jacobian_norms(self, z):
        """Spectral norms of the Jacobians at states ``(..., m)``. The Jacobian is constant on each linear
        subregion (the signs of the ReLU units), so each distinct subregion's matrix is decomposed once:
        ``matrix_norm(jacobian(z), 2)`` (to float32 rounding of the decomposition) for a few SVDs instead
        of one per state: with the AL-RNN's P = 2 ReLU units, at most 4 per model."""
        return subregion_norms(self.A[None], self.W[None], self.relu_units, z[None])[0]
