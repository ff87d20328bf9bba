"""The layers of the state-space forecasters (:mod:`chaosbench.models.ssm`), in plain PyTorch.

Every layer runs in two modes that compute the same function:

- **parallel** (``layer(x, state) -> (y, state)``): a whole sequence ``(B, T, ...)`` at once, for
  training and for reading a forecast's context; the linear recurrence goes through
  :func:`linear_scan`;
- **recurrent** (``layer.step(x_t, state) -> (y_t, state)``): one step in O(1) time and memory, for
  closed-loop forecasting.

``state`` is what a layer carries between steps (``None``: the zero state).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, chunk: int = 0) -> torch.Tensor:
    """All states of the diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` over axis 1.

    The sequence is cut into chunks of ``chunk`` steps (0: about sqrt(T), :func:`chunk_length`);
    the recurrence runs inside every chunk at once from a zero state, then once over the chunk ends
    to get the state entering each chunk, which is carried in by the running product of ``a`` (a
    two-level form of the parallel prefix scan, Blelloch 1990, "Prefix sums and their
    applications"). About ``2 sqrt(T)`` sequential steps on small tensors instead of ``T``; every
    factor is a product of the ``a`` the plain loop multiplies, so nothing overflows when ``|a| <= 1``.
    Autograd differentiates it (measured: as fast as a hand-written adjoint scan on the CPU).

    Parameters
    ----------
    a : tensor
        Decays, broadcastable to ``b`` with as many axes (``(1, 1, ...)`` for a time-invariant recurrence).
    b : tensor ``(B, T, ...)``
        Inputs (real or complex, as ``a``).
    h0 : tensor ``(B, ...)``, optional
        State before the first step (zero if None).
    chunk : int
        Chunk length (0: :func:`chunk_length`).
    """
    B, T = b.shape[:2]
    rest = b.shape[2:]
    if h0 is None:
        h0 = b.new_zeros((B,) + rest)
    L = chunk if chunk > 0 else chunk_length(T)
    a = a.expand(b.shape)
    pad = (-T) % L
    if pad:  # identity steps at the end: a = 1, b = 0
        a = torch.cat([a, a.new_ones((B, pad) + rest)], 1)
        b = torch.cat([b, b.new_zeros((B, pad) + rest)], 1)
    n_chunks = (T + pad) // L
    # unbind, not indexing: under autograd, the backward of an index fills a whole zero tensor per step
    a_steps = a.reshape((B, n_chunks, L) + rest).unbind(2)
    b_steps = b.reshape((B, n_chunks, L) + rest).unbind(2)
    h, decay = b_steps[0], a_steps[0]
    local, decays = [h], [decay]
    for i in range(1, L):  # every chunk at once, from a zero state
        h = a_steps[i] * h + b_steps[i]
        decay = a_steps[i] * decay
        local.append(h)
        decays.append(decay)
    entering, carry = [], h0
    for decay_j, h_j in zip(decay.unbind(1), h.unbind(1)):  # the state carried into each chunk
        entering.append(carry)
        carry = decay_j * carry + h_j
    states = torch.stack(local, 2) + torch.stack(decays, 2) * torch.stack(entering, 1).unsqueeze(2)
    return states.reshape((B, n_chunks * L) + rest)[:, :T]


def chunk_length(T: int) -> int:
    """A chunk length near sqrt(T) that divides T if one does (no padding), else ceil(sqrt(T))."""
    root = math.isqrt(T - 1) + 1 if T > 1 else 1
    return next((d for d in range(root, 2 * root + 1) if T % d == 0), root)


# -- linear recurrent unit ---------------------------------------------------------------------


class LRULayer(nn.Module):
    """Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long
    Sequences", ICML): a complex diagonal linear recurrence

        h_t = lambda * h_{t-1} + gamma * (B x_t),     y_t = Re(C h_t) + D * x_t,

    with the stable exponential parameterisation ``lambda = exp(-exp(nu_log) + i exp(theta_log))``
    (``|lambda| < 1`` for any parameters), ``|lambda|`` initialised uniformly on the ring
    ``[r_min, r_max]`` and phases on ``[0, max_phase]``, and the normalisation
    ``gamma = sqrt(1 - |lambda|^2)`` (a trained parameter, ``gamma_log``, initialised there).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        r_min: float = 0.5,
        r_max: float = 0.99,
        max_phase: float = math.pi,
        chunk: int = 0,
    ):
        super().__init__()
        u1, u2 = torch.rand(d_state), torch.rand(d_state)
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)  # -log|lambda|
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2.clamp(min=1e-4)))
        self.gamma_log = nn.Parameter(0.5 * torch.log1p(-torch.exp(-2 * nu)))
        self.B_re = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))
        self.chunk = chunk

    def eigenvalues(self) -> torch.Tensor:
        """``lambda`` (complex, ``(d_state,)``)."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def _drive(self, x):
        g = torch.exp(self.gamma_log)
        return torch.complex(x @ (g[:, None] * self.B_re).T, x @ (g[:, None] * self.B_im).T)

    def _read(self, h, x):
        return h.real @ self.C_re.T - h.imag @ self.C_im.T + self.D * x

    def forward(self, x, state=None):
        h = linear_scan(self.eigenvalues()[None, None], self._drive(x), state, self.chunk)
        return self._read(h, x), h[:, -1]

    def step(self, x, state=None):
        drive = self._drive(x)
        h = drive if state is None else self.eigenvalues() * state + drive
        return self._read(h, x), h


class LRUBlock(nn.Module):
    """Pre-norm residual block of Orvieto et al. (2023), Fig. 1: LayerNorm -> LRU -> GELU -> GLU."""

    def __init__(self, d_model: int, d_state: int, **lru):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.lru = LRULayer(d_model, d_state, **lru)
        self.glu = nn.Linear(d_model, 2 * d_model)

    def _mix(self, x, y):
        return x + F.glu(self.glu(F.gelu(y)), dim=-1)

    def forward(self, x, state=None):
        y, state = self.lru(self.norm(x), state)
        return self._mix(x, y), state

    def step(self, x, state=None):
        y, state = self.lru.step(self.norm(x), state)
        return self._mix(x, y), state


# -- selective state space (Mamba) -------------------------------------------------------------


class SelectiveSSMLayer(nn.Module):
    """The Mamba mixer (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State
    Spaces", Algorithm 2 and Fig. 3), written for the CPU.

    ``x -> (u, z)`` by one projection to ``expand * d_model`` channels each; ``u`` goes through a
    short causal depthwise convolution and SiLU; from ``u`` come the input-dependent step
    ``Delta = softplus(W u + b)`` (low rank), ``B_t`` and ``C_t``; with the diagonal
    ``A = -exp(A_log)`` (S4D-real initialisation, ``A_n = -(n + 1)``), ZOH for ``A`` and Euler for
    ``B``::

        h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t u_t,     y_t = C_t h_t + D * u_t,

    gated by ``SiLU(z)`` and projected back to ``d_model``. ``Delta``'s bias is initialised so that
    ``softplus(b)`` is log-uniform on ``[dt_min, dt_max]``. The state is ``(conv_buffer, h)``: the
    last ``d_conv - 1`` convolution inputs ``(B, d_conv - 1, d_inner)`` and ``h`` ``(B, d_inner, d_state)``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        *,
        expand: int = 2,
        d_conv: int = 4,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        chunk: int = 0,
    ):
        super().__init__()
        d_inner, self.d_state, self.chunk = expand * d_model, d_state, chunk
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(d_inner, d_conv).uniform_(-1, 1) / math.sqrt(d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(d_inner))
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1.0)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def _selection(self, u):
        dt_raw, Bt, Ct = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt_raw)), Bt, Ct

    def _empty_buffer(self, x):
        return x.new_zeros(x.shape[0], self.conv_weight.shape[1] - 1, self.conv_weight.shape[0])

    def forward(self, x, state=None):
        u, z = self.in_proj(x).chunk(2, dim=-1)
        buffer, h0 = state if state is not None else (self._empty_buffer(x), None)
        padded = torch.cat([buffer, u], 1)  # (B, k - 1 + T, d_inner): causal, continues the buffer
        conv = F.conv1d(
            padded.transpose(1, 2), self.conv_weight[:, None], self.conv_bias, groups=len(self.conv_bias)
        ).transpose(1, 2)
        u_conv = F.silu(conv)
        dt, Bt, Ct = self._selection(u_conv)
        A = -torch.exp(self.A_log)
        h = linear_scan(torch.exp(dt[..., None] * A), (dt * u_conv)[..., None] * Bt[:, :, None], h0, self.chunk)
        y = (h @ Ct[..., None]).squeeze(-1) + self.D * u_conv
        k = buffer.shape[1]
        return self.out_proj(y * F.silu(z)), (padded[:, padded.shape[1] - k :], h[:, -1])

    def step(self, x, state=None):
        u, z = self.in_proj(x).chunk(2, dim=-1)
        buffer, h = state if state is not None else (self._empty_buffer(x), None)
        window = torch.cat([buffer, u[:, None]], 1)  # (B, k, d_inner)
        u_conv = F.silu((window * self.conv_weight.T).sum(1) + self.conv_bias)
        dt, Bt, Ct = self._selection(u_conv)
        A = -torch.exp(self.A_log)
        drive = (dt * u_conv)[..., None] * Bt[:, None]
        h = drive if h is None else torch.exp(dt[..., None] * A) * h + drive
        y = (h @ Ct[..., None]).squeeze(-1) + self.D * u_conv
        return self.out_proj(y * F.silu(z)), (window[:, 1:], h)


class MambaBlock(nn.Module):
    """Pre-norm residual Mamba block (Gu & Dao 2023): ``x + Mixer(RMSNorm(x))``."""

    def __init__(self, d_model: int, d_state: int, **mixer):
        super().__init__()
        self.norm = nn.RMSNorm(d_model)
        self.mixer = SelectiveSSMLayer(d_model, d_state, **mixer)

    def forward(self, x, state=None):
        y, state = self.mixer(self.norm(x), state)
        return x + y, state

    def step(self, x, state=None):
        y, state = self.mixer.step(self.norm(x), state)
        return x + y, state


# -- the forecasting network -------------------------------------------------------------------


class SSMNet(nn.Module):
    """Encoder -> residual blocks -> norm -> head predicting the next increment ``x_{t+1} - x_t``
    in units of the training increments' std (``increment_scale``, saved with the weights)."""

    increment_scale: torch.Tensor  # a buffer (register_buffer below); declared for the type checker

    def __init__(self, n: int, blocks: list[nn.Module], d_model: int):
        super().__init__()
        self.encoder = nn.Linear(n, d_model)
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n)
        self.register_buffer("increment_scale", torch.ones(n))

    def forward(self, x, states=None):
        """Normalised increments after every step of ``x`` ``(B, T, n)``, and the final states."""
        h, out = self.features(x, states)
        return self.head(h), out

    def features(self, x, states=None):
        """The head's inputs ``(B, T, d_model)`` along ``x`` ``(B, T, n)``, and the final states."""
        h, out = self.encoder(x), []
        for i, block in enumerate(self.blocks):
            h, s = block(h, None if states is None else states[i])
            out.append(s)
        return self.norm(h), out

    def step(self, x, states=None):
        """One step of ``x`` ``(B, n)``: the normalised increment and the new states (pure)."""
        h, out = self.encoder(x), []
        for i, block in enumerate(self.blocks):
            h, s = block.step(h, None if states is None else states[i])
            out.append(s)
        return self.head(self.norm(h)), out
