"""The least-squares start of the PLRNN family: weights that make a latent model follow the one-step
map ``x_t -> x_{t+1}`` that ridge regression fits with random first-layer weights.

This is how an extreme learning machine or a reservoir readout is fitted (Huang, Zhu & Siew 2006,
Neurocomputing 70, 489): the shPLRNN's random ramps are its features; an AL-RNN's ReLU units are
made to hold random projections ``u = C x + c`` of the observation, and their own rows are set so
that they keep holding them, which turns its one-step map into such a regression too. Gradient
training (generalized teacher forcing) then starts from these weights.

Each function returns one set of weights (a ``state_dict``) per regularisation value it is given,
from one eigendecomposition of the features' Gram matrix (:func:`bordered_ridge_path`), so that the
caller can choose among them on validation data as the reservoirs choose their ridge.

:func:`positive_definite_diagonal` is the other start on offer: the Durstewitz lab's start of ``A``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import eigh

from .search import ridge_path

#: least-squares initialisation: random ramps ``relu(w.x + c)`` with ``w`` uniform in
#: ``+-RAMP_SLOPE/sqrt(n)`` and ``c`` in ``+-RAMP_OFFSET`` on standardised data (measured on the goal
#: task, shPLRNN L = 256, ridge only: median VPT 3.1 Lyapunov times with slope 2, 2.5 with 1 or 3)
RAMP_SLOPE, RAMP_OFFSET = 2.0, 3.0
#: unobserved latents the initialisation leaves at zero: decay and scale of their small random rows
HIDDEN_DECAY, HIDDEN_SCALE = 0.9, 0.01


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def one_step_ridge(
    x: np.ndarray,
    features: np.ndarray,
    target: np.ndarray,
    ridges: Sequence[float],
    own: np.ndarray,
    max_abs_own: float | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per output ``i``, the ridge regressions of ``target[:, i]`` on ``[x_i (if own[i]), features, 1]``
    for every value in ``ridges`` (regularisation per row, as the reservoirs' readouts; the bias is
    not penalised: features and targets are centred).

    Returns, per ridge value, the coefficients on ``x_i`` plus one where ``own[i]`` (a diagonal
    ``A_i``; zero elsewhere), ``(n, F)`` on the features and ``(n,)`` biases. Where ``own[i]`` the
    regression is of the increment ``target - x``, so the caller passes ``x_{t+1}`` as target.

    With ``max_abs_own``, a row whose ``A_i`` breaks that bound is fitted again on the features alone,
    ``A_i`` held at the bound (the regression of ``target_i - A_i x_i``).

    The features' Gram matrix is decomposed once for all outputs and bounded rows (:func:`bordered_ridge_path`
    adds an output's own column), so ``n`` outputs cost one ``F x F`` eigendecomposition, not ``n``."""
    k, n = x.shape
    f = features.shape[1]
    phi = np.hstack([x, features])
    y = target - np.where(own, x, 0.0)
    phi_mean, y_mean = phi.mean(axis=0), y.mean(axis=0)
    phi, y = phi - phi_mean, y - y_mean
    gram, cross = phi.T @ phi / k, phi.T @ y / k
    fits = [(np.zeros(n), np.zeros((n, f)), np.zeros(n)) for _ in ridges]
    feats = np.arange(n, n + f)
    shared = all(r > 0 for r in ridges) and len(ridges) > 1
    if shared:
        e, q = eigh(gram[n:, n:], check_finite=False)
        eig = (np.maximum(e, 0.0), q)

    def features_only(c: np.ndarray, r: float) -> np.ndarray:
        if shared:
            return q @ ((q.T @ c) / (eig[0] + r))
        return ridge_path(gram[n:, n:], c[:, None], [r])[0][:, 0]

    for i in range(n):
        cols = np.r_[[i] if own[i] else [], feats].astype(int)
        if shared:
            sols = bordered_ridge_path(eig, gram[n:, i] if own[i] else None, gram[i, i], cross[:, i], i, n, ridges)
        else:
            sols = [s[:, 0] for s in ridge_path(gram[np.ix_(cols, cols)], cross[cols, i : i + 1], ridges)]
        for r, (a, coef, bias), sol in zip(ridges, fits, sols):
            bias[i] = y_mean[i] - sol @ phi_mean[cols]
            if own[i]:
                a[i], sol = 1.0 + sol[0], sol[1:]
                if max_abs_own is not None and abs(a[i]) > max_abs_own:
                    # target_i - A x_i = y_i + (1 - A) x_i, whose cross with the features is linear in A
                    a[i] = float(np.clip(a[i], -max_abs_own, max_abs_own))
                    shift = 1.0 - a[i]
                    sol = features_only(cross[n:, i] + shift * gram[n:, i], float(r))
                    bias[i] = y_mean[i] + shift * phi_mean[i] - sol @ phi_mean[n:]
            coef[i] = sol
    return fits


def bordered_ridge_path(
    eig: tuple[np.ndarray, np.ndarray],
    border: np.ndarray | None,
    corner: float,
    cross: np.ndarray,
    i: int,
    n: int,
    ridges: Sequence[float],
) -> list[np.ndarray]:
    """Ridge solutions on ``[x_i, features]`` (or the features alone when ``border`` is None) from the
    eigendecomposition ``eig = (e, Q)`` of the features' Gram matrix ``G_ff``: with the own column's
    Gram entries ``corner = g_ii`` and ``border = G_fi``, the block system
    ``[[g_ii + r, G_fi^T], [G_fi, G_ff + r I]] [s; w] = [c_i; c_f]`` is solved by its Schur complement,
    ``s = (c_i - G_fi^T M c_f) / (g_ii + r - G_fi^T M G_fi)``, ``w = M (c_f - G_fi s)``, with
    ``M = (G_ff + r I)^{-1} = Q diag(1 / (e + r)) Q^T`` (every ``r > 0``). ``cross`` is the output's
    column of the cross matrix over ``[x, features]``; returns one coefficient vector per ridge value."""
    e, q = eig
    qc = q.T @ cross[n:]
    if border is None:
        return [q @ (qc / (e + r)) for r in map(float, ridges)]
    qb = q.T @ border
    out = []
    for r in map(float, ridges):
        inv = 1.0 / (e + r)
        s = (cross[i] - qb @ (inv * qc)) / (corner + r - qb @ (inv * qb))
        out.append(np.r_[s, q @ (inv * (qc - qb * s))])
    return out


@torch.no_grad()
def init_shallow(
    net, x: np.ndarray, x_next: np.ndarray, ridges: Sequence[float], rng: np.random.Generator
) -> list[dict]:
    """Random ramps ``relu(w.x + h2) - relu(w.x)`` (``w`` uniform in ``+-RAMP_SLOPE/sqrt(n)``,
    ``h2`` in ``+-RAMP_OFFSET``) as features; per observed row, ``A_i``, ``W1_i`` and ``h1_i``
    by ridge regression of ``x_{t+1, i}`` on ``[x_i, features, 1]`` (a row whose ``|A_i|`` exceeds
    ``net.max_abs_a`` is fitted again with ``A_i`` at that bound). Unobserved latents start at
    zero (``B``, ``b`` zero) and cannot move the observed ones (their columns of ``W2`` are zero),
    but get small random rows of ``W1`` so that gradients reach them."""
    n, m, hidden = net.n, net.m, net.W2.shape[0]
    w = rng.uniform(-RAMP_SLOPE, RAMP_SLOPE, (hidden, n)) / math.sqrt(n)
    h2 = rng.uniform(-RAMP_OFFSET, RAMP_OFFSET, hidden)
    hidden_rows = HIDDEN_SCALE * rng.standard_normal((m - n, hidden)) / math.sqrt(hidden)
    u = x @ w.T
    ramps = np.maximum(u + h2, 0.0) - np.maximum(u, 0.0) if net.clipped else np.maximum(u + h2, 0.0)
    net.W2.zero_()
    net.W2[:, :n] = _tensor(w)
    net.h2.copy_(_tensor(h2))
    for p in (net.A, net.W1, net.h1):
        p.zero_()
    if m > n:
        net.B.zero_()
        net.b.zero_()
        net.A[n:] = HIDDEN_DECAY
        net.W1[n:] = _tensor(hidden_rows)
    states = []
    fits = one_step_ridge(x, ramps, x_next, ridges, own=np.ones(n, bool), max_abs_own=net.max_abs_a)
    for own, coef, bias in fits:
        net.A[:n] = _tensor(own)
        net.W1[:n] = _tensor(coef)
        net.h1[:n] = _tensor(bias)
        states.append(copy.deepcopy(net.state_dict()))
    return states


@torch.no_grad()
def init_almost_linear(
    net, x: np.ndarray, x_next: np.ndarray, ridges: Sequence[float], rng: np.random.Generator
) -> list[dict]:
    """Hidden ReLU units hold random affine projections ``u = C x + c`` of the observation
    (``C`` uniform in ``+-RAMP_SLOPE/sqrt(n)``, ``c`` in ``+-RAMP_OFFSET``; drawn in pairs
    ``(C, c), (-C, -c)`` when the observed units are ReLU themselves, so that linear functions
    of ``x`` stay expressible); the observed rows are the ridge regression of ``x_{t+1}`` on
    ``[phi(x), relu(u), 1]`` (with ``A_i = 1`` on a linear observed unit, ``0`` on a ReLU one);
    the rows of the ReLU units are set to ``u_{t+1} = C x_{t+1} + c``, so they stay
    consistent; hidden linear units start at zero and cannot move the others (their columns of
    ``W`` are zero) but get small random rows so that gradients reach them."""
    n, m = net.n, net.m
    relu = net.relu_units.cpu().numpy()
    hidden_relu = np.flatnonzero(relu[n:]) + n
    hidden_linear = np.flatnonzero(~relu[n:]) + n
    k = len(hidden_relu)
    if relu[:n].any():
        half = rng.uniform(-RAMP_SLOPE, RAMP_SLOPE, ((k + 1) // 2, n)) / math.sqrt(n)
        half_c = rng.uniform(-RAMP_OFFSET, RAMP_OFFSET, (k + 1) // 2)
        C, c = np.concatenate([half, -half])[:k], np.concatenate([half_c, -half_c])[:k]
    else:
        C = rng.uniform(-RAMP_SLOPE, RAMP_SLOPE, (k, n)) / math.sqrt(n)
        c = rng.uniform(-RAMP_OFFSET, RAMP_OFFSET, k)
    cols = np.concatenate([np.arange(n), hidden_relu])
    hidden_rows = HIDDEN_SCALE * rng.standard_normal((len(hidden_linear), len(cols))) / math.sqrt(len(cols))
    a_obs = (~relu[:n]).astype(float)  # A_i: 1 on linear observed units, 0 on ReLU ones
    phi_x = np.where(relu[:n], np.maximum(x, 0.0), x)
    features = np.hstack([phi_x, np.maximum(x @ C.T + c, 0.0)])
    if net.B is not None:
        net.B.zero_()
        net.b.zero_()
        net.B[hidden_relu - n] = _tensor(C)
        net.b[hidden_relu - n] = _tensor(c)
    states = []
    for _, coef, bias in one_step_ridge(x, features, x_next - a_obs * x, ridges, own=np.zeros(n, bool)):
        W, h, A = np.zeros((m, m)), np.zeros(m), np.zeros(m)
        W[np.ix_(np.arange(n), cols)] = coef
        h[:n], A[:n] = bias, a_obs
        # u_{t+1} = C x_{t+1} + c, with x_{t+1} = A_x x + W_x phi(z) + h_x and x = phi(z)[:n] where A_x = 1
        W_x = W[:n].copy()
        W_x[np.arange(n), np.arange(n)] += a_obs
        W[hidden_relu] = C @ W_x
        h[hidden_relu] = C @ bias + c
        A[hidden_linear] = HIDDEN_DECAY
        W[np.ix_(hidden_linear, cols)] = hidden_rows
        net.A.copy_(_tensor(A))
        net.W.copy_(_tensor(W))
        net.h.copy_(_tensor(h))
        states.append(copy.deepcopy(net.state_dict()))
    return states


def positive_definite_diagonal(m: int, rng: np.random.Generator) -> np.ndarray:
    """The diagonal of ``K / max|eig K|`` with ``K = R^T R / m + I``, ``R`` standard normal ``(m, m)``:
    the start of ``A`` in the Durstewitz lab's code (ALRNN-DSR, ``src/models/initialization.jl``;
    Brenner et al. 2024), entries in (0, 1), about 0.4 for ``m = 20``: a contracting start."""
    r = rng.standard_normal((m, m))
    k = r.T @ r / m + np.eye(m)
    return np.diag(k) / np.abs(np.linalg.eigvalsh(k)).max()
