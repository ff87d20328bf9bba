"""The linear subregions of an AL-RNN/PLRNN: where its one-step map is linear, and what visits them.

An AL-RNN (Brenner, Hemmer, Monfared & Durstewitz 2024, "Almost-Linear RNNs Yield Highly
Interpretable Symbolic Codes in Dynamical Systems Reconstruction", NeurIPS) is linear inside each
region of its latent space where the signs of its ReLU units are fixed. :func:`subregions` counts the
regions a run visits (their sequence is the paper's symbolic code); :func:`subregion_norms` uses
that the Jacobian is constant on each region to compute its spectral norms once per region.
"""

from __future__ import annotations

import math

import numpy as np
import torch


@torch.no_grad()
def subregion_norms(A: torch.Tensor, W: torch.Tensor, relu_units: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Spectral norms of the AL-RNN Jacobians ``diag(A_k) + W_k diag(slope)`` of ``K`` models (``A``
    ``(K, m)``, ``W`` ``(K, m, m)``) at states ``z`` ``(K, ..., m)``: one SVD per distinct (model,
    subregion) pair, gathered back to ``(K, ...)``."""
    k_models, m = A.shape
    relu = torch.nonzero(relu_units).flatten()
    n_states = math.prod(z.shape[1:-1])
    p = len(relu)
    signs = (z[..., relu] > 0).reshape(k_models, n_states, p)  # (K, S, P)
    if p <= 48:  # a subregion as one integer (bit i: unit i positive), distinct per model
        code = signs.to(torch.int64) @ (2 ** torch.arange(p, dtype=torch.int64))  # (K, S)
        code = code + torch.arange(k_models)[:, None] * (2**p)
        unique, inverse = torch.unique(code, return_inverse=True)
        model, pattern = unique // (2**p), unique % (2**p)
        slope = torch.ones(len(unique), m, dtype=z.dtype)
        slope[:, relu] = ((pattern[:, None] >> torch.arange(p)) & 1).to(z.dtype)
    else:  # too many units for an int64 code: the sign rows themselves, with the model's index
        rows = torch.cat([torch.arange(k_models)[:, None, None].expand(k_models, n_states, 1), signs.long()], dim=-1)
        unique, inverse = torch.unique(rows.reshape(-1, p + 1), dim=0, return_inverse=True)
        model = unique[:, 0]
        slope = torch.ones(len(unique), m, dtype=z.dtype)
        slope[:, relu] = unique[:, 1:].to(z.dtype)
    jac = torch.diag_embed(A[model]) + W[model] * slope.unsqueeze(-2)
    norms = torch.linalg.matrix_norm(jac, ord=2)  # (U,)
    return norms[inverse].reshape(z.shape[:-1])


def subregions(states, relu_units) -> dict[str, int]:
    """The linear subregions that latent states visit, with their number of visits, most visited first.

    An AL-RNN is linear inside each subregion, fixed by which of its ReLU units are positive; the
    sequence of these sign patterns is Brenner et al. 2024's symbolic code (NeurIPS, "Almost-Linear
    RNNs Yield Highly Interpretable Symbolic Codes in Dynamical Systems Reconstruction"). ``states``
    ``(..., M)``; ``relu_units`` a boolean mask ``(M,)`` of the ReLU units (or their count ``P``: the
    last ``P``). A code is a string of ``1`` (positive) and ``0``, one per ReLU unit in order; the
    number of subregions visited is ``len`` of the result (one, ``""``, without ReLU units).
    """
    z = np.asarray(states, float)
    z = z.reshape(-1, z.shape[-1])
    mask = np.asarray(relu_units)
    if mask.dtype != bool:
        mask = np.arange(z.shape[1]) >= z.shape[1] - int(mask)
    codes, counts = np.unique((z[:, mask] > 0).astype(np.uint8), axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {"".join(map(str, codes[i])): int(counts[i]) for i in order}
