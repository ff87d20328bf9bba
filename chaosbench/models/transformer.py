"""A causal decoder-only transformer over time steps, with a sliding-window KV cache for rollouts.

Each time step is one token: a linear embedding of the observed state. Pre-norm blocks (Xiong et
al. 2020) of multi-head self-attention (Vaswani et al. 2017) and a GELU MLP process the tokens; a
linear readout of the last block gives the next state as an increment,
``x_{t+1} = x_t + sigma * W h_t`` (``sigma``: the training increments' std). Used as a forecaster in
the decoder-only, GPT-style way (Li et al. 2019, "Enhancing the locality and breaking the memory
bottleneck of transformer on time series forecasting"; Radford et al. 2018).

Attention is causal and local: in every layer a token attends to itself and the ``seq_len - 1``
tokens before it (sliding-window attention, Beltagy et al. 2020; Child et al. 2019). Positions
enter through rotary embeddings (RoPE, Su et al. 2021, arXiv:2104.09864), which make a query-key
score depend only on the two tokens' distance. Together these let a closed-loop rollout keep, per
layer, a ring buffer of the keys and values of the last ``seq_len`` tokens: each new token costs the
same whatever the horizon, and the result equals recomputing the whole sequence every step with the
banded mask (:func:`rollout` with ``cache=False``; ``tests/test_transformer.py`` checks the two agree).

Training windows hold ``seq_len`` tokens, so the band is the plain causal mask there; every position
of a window is trained to predict its successor at once (teacher forcing).
"""

from __future__ import annotations

import functools

from ..errors import ChaosbenchError
from .torch_base import IncrementForecaster, check_positive_int


def _rotary(positions, dim: int, base: float = 10_000.0):
    """cos and sin ``(T, dim // 2)`` of the rotary angles at integer ``positions`` (float64, then float32:
    absolute positions grow with the horizon, and float32 angles would lose the relative ones)."""
    import torch

    inv_freq = base ** (-torch.arange(0, dim // 2, dtype=torch.float64) * 2 / dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None]
    return angles.cos().float(), angles.sin().float()


def _rotate(x, cos, sin):
    """Rotate the halves ``(x1, x2)`` of the last axis of ``x`` ``(..., T, dim)`` by the angles."""
    import torch

    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


@functools.cache
def _net_class():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        """Pre-norm attention + MLP block; returns the new stream and this layer's keys and values."""

        def __init__(self, d_model: int, n_heads: int, d_ff: int):
            super().__init__()
            self.n_heads = n_heads
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

        def _qkv(self, h, cos, sin):
            b, t, d = h.shape
            q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
            return _rotate(q, cos, sin), _rotate(k, cos, sin), v  # each (B, H, T, dh)

        def _finish(self, h, attended):
            b, _, t, _ = attended.shape
            h = h + self.proj(attended.transpose(1, 2).reshape(b, t, -1))
            return h + self.mlp(self.norm2(h))

        def forward(self, h, cos, sin, mask):
            q, k, v = self._qkv(h, cos, sin)
            return self._finish(h, F.scaled_dot_product_attention(q, k, v, attn_mask=mask)), k, v

        def step(self, h, cos, sin, keys, values, slot: int, valid):
            """One token ``h`` ``(B, 1, d)``: write its key and value at ``slot`` of the ring buffers
            ``(B, H, W, dh)`` (in place), attend over the ``valid`` slots."""
            q, k, v = self._qkv(h, cos, sin)
            keys[:, :, slot], values[:, :, slot] = k[:, :, 0], v[:, :, 0]
            return self._finish(h, F.scaled_dot_product_attention(q, keys, values, attn_mask=valid))

    class CausalTransformer(nn.Module):
        """Embedding, ``n_layers`` blocks with ``window``-wide causal attention, increment readout."""

        def __init__(self, n: int, d_model: int, n_heads: int, n_layers: int, d_ff: int, window: int):
            super().__init__()
            self.window, self.head_dim = window, d_model // n_heads
            self.embed = nn.Linear(n, d_model)
            self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
            self.norm = nn.LayerNorm(d_model)
            self.readout = nn.Linear(d_model, n)
            self.register_buffer("scale", torch.ones(n))

        def _band(self, t: int):
            i = torch.arange(t)
            return (i[None] <= i[:, None]) & (i[:, None] - i[None] < self.window)

        def forward(self, x):
            """Next-state predictions ``(B, T, n)`` for ``x`` ``(B, T, n)`` (positions 0..T-1), and every
            layer's keys and values ``(B, H, T, dh)``."""
            h, kv = self.features(x)
            return x + self.scale * self.readout(h), kv

        def features(self, x):
            """The readout's inputs ``(B, T, d_model)`` along ``x`` ``(B, T, n)``, and the keys and values."""
            cos, sin = _rotary(torch.arange(x.shape[1]), self.head_dim)
            h, mask, kv = self.embed(x), self._band(x.shape[1]), []
            for block in self.blocks:
                h, k, v = block(h, cos, sin, mask)
                kv.append((k, v))
            return self.norm(h), kv

        def start_cache(self, kv, length: int):
            """Ring buffers from the keys and values of a forward pass over ``length`` tokens."""
            w, keep = self.window, min(length, self.window)
            cache = []
            for k, v in kv:
                kb, vb = k.new_zeros(*k.shape[:2], w, k.shape[3]), v.new_zeros(*v.shape[:2], w, v.shape[3])
                slots = torch.arange(length - keep, length) % w  # position p lives in slot p mod window
                kb[:, :, slots], vb[:, :, slots] = k[:, :, -keep:], v[:, :, -keep:]
                cache.append((kb, vb))
            return cache

        def step(self, x, cache, position: int, angles=None):
            """The next state after ``x`` ``(B, n)`` at ``position``, with ``cache`` updated in place
            (``angles``: this position's rotary cos and sin, if already computed)."""
            w = self.window
            cos, sin = angles if angles is not None else _rotary(torch.tensor([position]), self.head_dim)
            valid = (torch.arange(w) <= position)[None]  # (1, W): slots not yet written hold no token
            h = self.embed(x[:, None])
            for block, (keys, values) in zip(self.blocks, cache):
                # ModuleList yields Module, whose unknown attributes torch's stubs type as Tensor | Module
                h = block.step(h, cos, sin, keys, values, position % w, valid)  # type: ignore[operator]
            return x + self.scale * self.readout(self.norm(h[:, 0]))

    return CausalTransformer


def rollout(net, contexts, horizon: int, *, cache: bool = True):
    """Closed-loop forecasts ``(K, horizon, n)`` after ``contexts`` ``(K, T, n)``.

    With ``cache`` the keys and values of the last ``window`` tokens are kept per layer (constant cost
    per step); without it the whole sequence so far is recomputed every step (quadratic; a check)."""
    import torch

    t = contexts.shape[1]
    pred, kv = net(contexts)
    x, out = pred[:, -1], []
    if cache:
        buffers = net.start_cache(kv, t)
        cos, sin = _rotary(torch.arange(t, t + horizon), net.head_dim)
        for k in range(horizon):
            out.append(x)
            if k + 1 < horizon:
                x = net.step(x, buffers, t + k, (cos[k : k + 1], sin[k : k + 1]))
    else:
        seq = contexts
        for k in range(horizon):
            out.append(x)
            if k + 1 < horizon:
                seq = torch.cat([seq, x[:, None]], dim=1)
                x = net(seq)[0][:, -1]
    return torch.stack(out, dim=1)


class Transformer(IncrementForecaster):
    """Causal decoder-only transformer forecaster with rotary positions and a sliding-window KV cache
    (Vaswani et al. 2017; Li et al. 2019; Su et al. 2021; see the module docstring).

    Parameters
    ----------
    d_model : int
        Width of the token stream (a multiple of ``2 * n_heads``).
    n_heads : int
        Attention heads per layer.
    n_layers : int
        Blocks.
    d_ff : int
        Hidden units of each block's MLP.
    **common
        :class:`~chaosbench.models.torch_base.IncrementForecaster` settings; ``seq_len`` is both the
        training window and the attention window (the KV cache's length).
    """

    def __init__(
        self,
        *,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int = 128,
        seq_len: int = 32,
        lr: float = 2e-3,
        **common,
    ):
        super().__init__(seq_len=seq_len, lr=lr, **common)
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.d_ff = d_ff

    def _check_hyperparameters(self) -> None:
        check_positive_int(
            self.name, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers, d_ff=self.d_ff
        )
        if self.d_model % (2 * self.n_heads):
            raise ChaosbenchError(
                f"{self.name}: d_model must be a multiple of 2 * n_heads = {2 * self.n_heads} "
                f"(rotary embeddings rotate pairs), got {self.d_model}"
            )

    def _build(self, n: int):
        net = _net_class()(n, self.d_model, self.n_heads, self.n_layers, self.d_ff, self.seq_len)
        return self._with_scale(net, net.scale)

    def _readout_layer(self, net):
        return net.readout

    def _features(self, net, x):
        return net.features(x)[0]

    def _feature_window(self) -> int:
        # attention reaches seq_len back: pieces of four windows, the first the warm-up
        return 4 * self.seq_len + 1

    def _loss(self, net, windows):
        """Mean squared next-step error over every position, in units of the increments' std."""
        pred, _ = net(windows[:, :-1])
        return (((pred - windows[:, 1:]) / net.scale) ** 2).mean()

    def _rollout(self, net, contexts, horizon):
        return rollout(net, contexts, horizon)


__all__ = ["Transformer", "rollout"]
