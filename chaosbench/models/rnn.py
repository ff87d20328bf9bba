"""Gated recurrent networks trained by teacher forcing: LSTM and GRU.

The network reads the observed state ``x_t`` and its recurrent state ``s_t`` and predicts the next
observed state, either as an increment ``x_{t+1} = x_t + sigma * W h_t`` (``predict="increment"``;
``sigma`` is the per-variable std of the training increments, so the readout works at unit scale)
or directly ``x_{t+1} = W h_t + b`` (``predict="state"``).

Training is one-step-ahead on the true past (teacher forcing) with torch's fused ``nn.LSTM`` /
``nn.GRU`` over whole windows. With ``rollout_steps = R > 0`` the last ``R`` steps of every training
window are instead predicted free-running from the teacher-forced prefix (the model's own outputs
fed back, gradients through the whole continuation), which trains the closed loop that forecasting
runs. Forecasting warms the recurrent state up on the context, then feeds its outputs back.

Both training and forecasting go through :meth:`RecurrentNet.forward`; the closed loop calls it
one step at a time (:meth:`RecurrentNet.step`) with the same fused module and state ``(h, c)``, so
the one-step update and the training forward cannot drift apart (``tests/test_rnn.py`` checks
they agree).
"""

from __future__ import annotations

import functools

from ..errors import ChaosbenchError
from .torch_base import IncrementForecaster, check_positive_int

PREDICT = ("increment", "state")


@functools.cache
def _net_class():
    import torch
    from torch import nn

    class RecurrentNet(nn.Module):
        """``cell`` (``"lstm"`` or ``"gru"``) layers and a linear readout of the next state."""

        def __init__(self, cell: str, n: int, hidden_size: int, num_layers: int, predict: str):
            super().__init__()
            layer = nn.LSTM if cell == "lstm" else nn.GRU
            self.rnn = layer(n, hidden_size, num_layers, batch_first=True)
            self.readout = nn.Linear(hidden_size, n)
            self.increments = predict == "increment"
            # per-variable scale of the readout (the training increments' std), saved with the weights
            self.register_buffer("scale", torch.ones(n))

        def forward(self, x, state=None):
            """Next-state predictions ``(B, T, n)`` for inputs ``x`` ``(B, T, n)``, and the final state."""
            h, state = self.rnn(x, state)
            out = self.readout(h)
            return (x + self.scale * out if self.increments else out), state

        def step(self, x, state):
            """The one-step update ``(x_t, s_t) -> (x_{t+1}, s_{t+1})`` for a batch ``x`` ``(B, n)``."""
            y, state = self.forward(x[:, None], state)
            return y[:, 0], state

        def normalised_error(self, pred, target):
            """Prediction error in units of the readout (increments over their std, or states)."""
            if self.increments:
                return (pred - target) / self.scale
            return pred - target

    return RecurrentNet


class _Recurrent(IncrementForecaster):
    """Shared code of :class:`LSTM` and :class:`GRU` (the cell is the only difference)."""

    cell = "lstm"

    def __init__(
        self,
        *,
        hidden_size: int = 128,
        num_layers: int = 1,
        predict: str = "increment",
        rollout_steps: int = 8,
        seq_len: int = 48,
        lr: float = 3e-3,
        **common,
    ):
        super().__init__(seq_len=seq_len, lr=lr, **common)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.predict = predict
        self.rollout_steps = rollout_steps

    def _check_hyperparameters(self) -> None:
        check_positive_int(self.name, hidden_size=self.hidden_size, num_layers=self.num_layers)
        if self.predict not in PREDICT:
            raise ChaosbenchError(f"{self.name}: predict must be one of {', '.join(PREDICT)}, got {self.predict!r}")
        r = self.rollout_steps
        if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < self.seq_len:
            raise ChaosbenchError(
                f"{self.name}: rollout_steps must be an integer in [0, seq_len - 1 = {self.seq_len - 1}], got {r!r}"
            )

    def _build(self, n: int):
        net = _net_class()(self.cell, n, self.hidden_size, self.num_layers, self.predict)
        return self._with_scale(net, net.scale)

    def _readout_layer(self, net):
        return net.readout

    def _features(self, net, x):
        return net.rnn(x)[0]

    def _readout_targets(self, piece):
        return piece[1:] if self.predict == "state" else super()._readout_targets(piece)

    def _loss(self, net, windows):
        """Mean squared one-step error on the teacher-forced prefix and free-running error after it."""
        import torch

        inputs, targets = windows[:, :-1], windows[:, 1:]
        prefix = inputs.shape[1] - self.rollout_steps
        pred, state = net(inputs[:, :prefix])
        preds = [pred]
        x = pred[:, -1]
        for _ in range(self.rollout_steps):
            x, state = net.step(x, state)
            preds.append(x[:, None])
        pred = torch.cat(preds, dim=1)
        return (net.normalised_error(pred, targets) ** 2).mean()

    def _rollout(self, net, contexts, horizon):
        import torch

        pred, state = net(contexts)
        x, out = pred[:, -1], []
        for k in range(horizon):
            out.append(x)
            if k + 1 < horizon:
                x, state = net.step(x, state)
        return torch.stack(out, dim=1)


class LSTM(_Recurrent):
    """Long short-term memory network (Hochreiter & Schmidhuber 1997, Neural Computation 9, 1735) as a
    closed-loop forecaster, trained by teacher forcing with an optional free-running continuation.

    Parameters
    ----------
    hidden_size : int
        Units per layer.
    num_layers : int
        Stacked LSTM layers.
    predict : {"increment", "state"}
        Predict ``x_{t+1} - x_t`` (scaled by the training increments' std) or ``x_{t+1}`` itself.
    rollout_steps : int
        The last ``rollout_steps`` steps of each training window are predicted free-running after
        the teacher-forced prefix (0: pure teacher forcing). A multi-step loss of this kind trains
        the closed loop that forecasting runs (cf. scheduled sampling, Bengio et al. 2015).
    **common
        :class:`~chaosbench.models.torch_base.IncrementForecaster` settings (``seq_len``, ``lr``, ...).
    """

    cell = "lstm"


class GRU(_Recurrent):
    """Gated recurrent unit network (Cho et al. 2014, EMNLP, arXiv:1406.1078) as a closed-loop
    forecaster; the same training and hyperparameters as :class:`LSTM`, with 64 units by default
    (on the standard Lorenz task 128 units overfit: median VPT 1.98 against 4.16 Lyapunov times)."""

    cell = "gru"

    def __init__(self, *, hidden_size: int = 64, **kwargs):
        super().__init__(hidden_size=hidden_size, **kwargs)
